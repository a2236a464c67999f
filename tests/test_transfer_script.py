"""scripts/transfer_real.py: per-seed runs, the flat-colour ceilings, and the CSV it keeps.

Offline and small: the photos are flat disks on white written into tmp_path; the smoke profile
trains for a few steps.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tests.test_data_real import disk_image, save

pytestmark = pytest.mark.usefixtures("one_thread")

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "transfer_real.py"


@pytest.fixture(scope="module")
def tr():
    spec = importlib.util.spec_from_file_location("transfer_real", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def disks(root: Path) -> Path:
    """Two categories of four and two photos: one flat colour per photo, a different one per photo."""
    colours = {"Cherry": [(150, 20, 40), (200, 40, 40), (230, 200, 120), (120, 10, 30)],
               "Corn": [(170, 190, 120), (230, 200, 60)]}
    for cat, cols in colours.items():
        for j, col in enumerate(cols):
            save(disk_image(48, col, radius=0.3 + 0.03 * j), root / cat / f"{cat.lower()}_{j}.png")
    return root


def test_flat_colour_paints_the_true_mean_inside_the_object_only(tr, tmp_path):
    from colorsurvey.data import open_dataset
    ds = open_dataset(str(disks(tmp_path / "p")), split="all", size=32)
    b = ds.batch(list(range(len(ds))))
    own, _ = tr.flat_colours(ds)
    out = tr._FlatColour("per photo", own, by="index").predict(b)
    m = b["mask"][:, 0] > 0.5
    for i in range(len(ds)):
        assert m[i].any() and (~m[i]).any()
        assert torch.all(out[i][:, ~m[i]] == 0)                      # the white background stays ab = 0
        torch.testing.assert_close(out[i][:, m[i]].mean(1), b["ab"][i][:, m[i]].mean(1), atol=1e-3, rtol=0)
        assert out[i][:, m[i]].std(1).max() < 1e-4                   # one flat colour
    per_cat = {0: torch.tensor([30.0, 10.0]), 1: torch.tensor([-5.0, 20.0])}
    out = tr._FlatColour("per category", per_cat, by="label").predict(b)
    for i in range(len(ds)):
        torch.testing.assert_close(out[i][:, m[i]].mean(1), per_cat[int(b["label"][i])])
        assert torch.all(out[i][:, ~m[i]] == 0)


def test_flat_colours_are_each_photos_mean_and_its_categorys_mean_of_those(tr, tmp_path):
    from colorsurvey.data import open_dataset
    ds = open_dataset(str(disks(tmp_path / "p")), split="all", size=32)
    b = ds.batch(list(range(len(ds))))
    own, per_cat = tr.flat_colours(ds)
    m = b["mask"][:, 0] > 0.5
    assert sorted(own) == list(range(len(ds)))
    for i in own:
        torch.testing.assert_close(own[i], b["ab"][i][:, m[i]].mean(1))
    labels = b["label"].tolist()
    assert sorted(per_cat) == [0, 1]
    for k in per_cat:                     # the mean (not the median) of that category's photos only
        mine = torch.stack([own[i] for i in own if labels[i] == k])
        torch.testing.assert_close(per_cat[k], mine.mean(0))
        assert not torch.allclose(per_cat[k], torch.stack(list(own.values())).mean(0), atol=1.0)


def test_ceilings_rank_photo_over_category_over_gray(tr, tmp_path):
    photos = str(disks(tmp_path / "p"))
    ce = tr.ceilings(photos, profile="smoke").set_index(["method", "category"])
    gray = tr.run(photos, methods=("gray",), profile="smoke").set_index("category")
    for cat in ("Cherry", "Corn", "all"):
        photo = ce.loc[("ceiling: one colour per photo", cat), "psnr"]
        category = ce.loc[("ceiling: one colour per category", cat), "psnr"]
        # flat disks: each photo's own mean is its colour, up to the resized edge pixels
        assert photo > 30.0
        assert photo > category > gray.loc[cat, "psnr"]
    assert set(ce.note) == {"not a method: reads the photos' true colours"}


def test_main_records_each_seed_and_keeps_other_runs(tr, tmp_path):
    photos = str(disks(tmp_path / "p"))
    out = tmp_path / "t.csv"
    # a CSV written before --seeds existed: no seed or photos column
    base = {"category": "all", "ssim": 0.5, "images": 8, "note": "", "profile": "smoke", "date": "2026-01-01",
            "commit": "x", "command": "c"}
    pd.DataFrame([{"renderer": "before", "method": "gray", "psnr": 1.0, **base},
                  {"renderer": "after", "method": "gray", "psnr": 2.0, **base},
                  {"renderer": "after", "method": "unet", "psnr": 3.0, **base}]).to_csv(out, index=False)
    argv = [photos, "--tag", "after", "--seeds", "0,1", "--methods", "gray,mean-ab", "--profile", "smoke",
            "--ceilings", "--out", str(out)]
    assert tr.main(argv) == 0
    df = pd.read_csv(out)
    old = df[df.photos == "?"]                       # read as seed 0 of an unknown folder, and all kept
    assert sorted(old.psnr) == [1.0, 2.0, 3.0] and set(old.seed) == {0}
    after = df[(df.renderer == "after") & (df.photos == "p")]
    assert sorted(after.seed.unique()) == [0, 1]
    assert set(after.method) == {"gray", "mean-ab"}
    for m in ("gray", "mean-ab"):
        assert set(after[after.method == m].category) == {"Cherry", "Corn", "all"}
    per = after.set_index(["method", "seed", "category"]).sort_index()
    assert per.loc[("gray", 0, "all"), "psnr"] == per.loc[("gray", 1, "all"), "psnr"]   # gray has no seed
    # the seed sets the rendered training set: mean-ab's colour is that set's average
    assert per.loc[("mean-ab", 0, "all"), "psnr"] != per.loc[("mean-ab", 1, "all"), "psnr"]
    # 'all' is the mean over images (4 cherries, 2 cobs), not over categories
    g = per.loc[("gray", 0)]
    assert g.loc["all", "psnr"] == pytest.approx((4 * g.loc["Cherry", "psnr"] + 2 * g.loc["Corn", "psnr"]) / 6,
                                                 abs=1e-3)
    assert g.loc["all", "images"] == 6
    assert after.command.iloc[0].startswith("OMP_NUM_THREADS=1 python scripts/transfer_real.py <p> --tag after "
                                            "--seeds 0,1 --methods gray,mean-ab --profile smoke --ceilings")
    ceil = df[df.renderer == "ceiling"]
    assert set(ceil.method) == {"ceiling: one colour per photo", "ceiling: one colour per category"}
    assert np.isfinite(ceil.psnr).all() and ceil.seed.isna().all()
    # the same run again with one seed replaces only that seed's rows; the folder given last works too
    n = len(df)
    assert tr.main(["--tag", "after", "--seeds", "1", "--methods", "gray", "--profile", "smoke",
                    "--out", str(out), photos]) == 0
    df2 = pd.read_csv(out)
    assert len(df2) == n
    assert "--tag after --seeds 1 --methods gray" in df2[(df2.seed == 1) & (df2.method == "gray")].command.iloc[0]


@pytest.mark.parametrize("extra, says", [
    (["--seeds", "0,one"], "--seeds takes comma-separated integers"),
    (["--seeds", ","], "--seeds is empty"),
    (["--seeds", "0,1,0"], "--seeds lists 0 more than once"),
    (["--methods", "gray,unett"], "unknown method(s) unett"),
    (["--methods", "gray,gray"], "--methods lists gray more than once"),
    (["--tag", "ceiling"], "'ceiling' is the ceilings' own"),
    (["--tag", " "], "give a name for the renderer"),
    (["--profile", "bogus"], "invalid choice: 'bogus'"),
])
def test_main_rejects_bad_arguments_before_training(tr, tmp_path, capsys, extra, says):
    photos = str(disks(tmp_path / "p"))
    argv = [photos, "--tag", "x", "--out", str(tmp_path / "o.csv"), "--profile", "smoke"]
    with pytest.raises(SystemExit) as e:
        tr.main(argv + extra)
    assert e.value.code == 2 and says in capsys.readouterr().err
    assert not (tmp_path / "o.csv").exists()


def test_main_rejects_bad_folders_and_outputs_before_training(tr, tmp_path, capsys, monkeypatch):
    photos = str(disks(tmp_path / "p"))
    (tmp_path / "empty").mkdir()
    (tmp_path / "notcsv.csv").write_bytes(b"\x00\xff\xfe binary")
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    (tmp_path / "zero.csv").write_text("")
    (tmp_path / "adir.csv").mkdir()
    save(np.full((32, 32, 3), 128, np.uint8), tmp_path / "graypix" / "A" / "g.png")
    cases = [([str(tmp_path / "nowhere"), "--out", str(tmp_path / "o.csv")], "no such photo folder"),
             ([str(tmp_path / "empty"), "--out", str(tmp_path / "o.csv")], "no photos in"),
             ([str(tmp_path / "graypix"), "--out", str(tmp_path / "o.csv")], "has colour"),
             ([photos], "--out"),
             ([photos, "--out", str(tmp_path / "notcsv.csv")], "is not a CSV this script wrote"),
             ([photos, "--out", str(tmp_path / "other.csv")], "it lacks"),
             ([photos, "--out", str(tmp_path / "zero.csv")], "is not a CSV this script wrote"),
             ([photos, "--out", str(tmp_path / "adir.csv")], "is a folder")]
    trained = []
    monkeypatch.setattr(tr, "train", lambda *a, **k: trained.append(a))
    for argv, says in cases:
        with pytest.raises(SystemExit) as e:
            tr.main(argv + ["--tag", "x", "--profile", "smoke"])
        assert e.value.code == 2 and says in capsys.readouterr().err, argv
    assert trained == []
    assert (tmp_path / "notcsv.csv").read_bytes() == b"\x00\xff\xfe binary"       # left as it was
    monkeypatch.setenv("OMP_NUM_THREADS", "abc")
    with pytest.raises(SystemExit) as e:
        tr.main([photos, "--tag", "x", "--out", str(tmp_path / "o.csv")])
    assert e.value.code == 2 and "OMP_NUM_THREADS='abc'" in capsys.readouterr().err


def test_photos_without_colour_are_left_out_and_without_an_object_get_nothing(tr, tmp_path, capsys):
    """A grayscale or blank photo measures no colorization (every method would score an infinite
    PSNR on it): left out, and said. A colourful photo with no white around it is all object."""
    photos = disks(tmp_path / "p")
    save(np.full((48, 48, 3), 255, np.uint8), photos / "Corn" / "blank.png")
    save(np.full((48, 48, 3), 90, np.uint8), photos / "Corn" / "gray.png")
    save(np.full((48, 48, 3), 255, np.uint8), photos / "Empty" / "blank.png")
    two_tone = np.full((48, 48, 3), (200, 120, 40), np.uint8)
    two_tone[:, 24:] = (170, 100, 60)
    save(two_tone, photos / "Full" / "orange.png")
    ce = tr.ceilings(str(photos), profile="smoke").set_index(["method", "category"])
    gray = tr.run(str(photos), methods=("gray",), profile="smoke").set_index("category")
    assert "left out 3 photo(s) without colour" in capsys.readouterr().out
    assert "Empty" not in gray.index and gray.loc["Corn", "images"] == 2 and gray.loc["all", "images"] == 7
    assert np.isfinite(gray.psnr).all() and np.isfinite(ce.psnr).all()
    for key in ("ceiling: one colour per photo", "ceiling: one colour per category"):
        assert ce.loc[(key, "Corn"), "psnr"] > gray.loc["Corn", "psnr"]
        assert ce.loc[(key, "Full"), "psnr"] > gray.loc["Full", "psnr"] + 5   # the whole frame is the object


def test_a_method_that_cannot_colorize_photos_is_not_trained(tr, tmp_path, monkeypatch):
    trained = []
    real_train = tr.train
    monkeypatch.setattr(tr, "train", lambda m, *a, **k: (trained.append(m.card.key), real_train(m, *a, **k))[1])
    df = tr.run(str(disks(tmp_path / "p")), methods=("gray", "de2co"), profile="smoke")
    assert trained == ["gray"]
    row = df[df.method == "de2co"].iloc[0]
    assert row.images == 0 and np.isnan(row.psnr) and row.note.startswith("(DE)²CO colorizes depth maps")


def test_each_seed_renders_its_own_training_set_and_initialises_its_own_model(tr, tmp_path, monkeypatch):
    rendered, created = [], []
    real_set, real_create = tr.SyntheticNCD, tr.models.create
    monkeypatch.setattr(tr, "SyntheticNCD", lambda *a, seed, **k: (rendered.append(seed), real_set(*a, seed=seed, **k))[1])
    monkeypatch.setattr(tr.models, "create", lambda key, *a, seed, **k: (created.append((key, seed)),
                                                                          real_create(key, *a, seed=seed, **k))[1])
    tr.run(str(disks(tmp_path / "p")), methods=("gray", "mean-ab"), profile="smoke", seeds=(3, 7))
    assert rendered == [3, 7]
    assert created == [("gray", 3), ("mean-ab", 3), ("gray", 7), ("mean-ab", 7)]
