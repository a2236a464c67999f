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
    """Two categories of four photos: one flat colour per photo, a different one per photo."""
    colours = {"Cherry": [(150, 20, 40), (200, 40, 40), (230, 200, 120), (120, 10, 30)],
               "Corn": [(170, 190, 120), (160, 180, 110), (230, 200, 60), (150, 170, 100)]}
    for cat, cols in colours.items():
        for j, col in enumerate(cols):
            save(disk_image(48, col, radius=0.3 + 0.03 * j), root / cat / f"{cat.lower()}_{j}.png")
    return root


def test_flat_colour_paints_the_true_mean_inside_the_object_only(tr, tmp_path):
    from colorsurvey.data import open_dataset
    ds = open_dataset(str(disks(tmp_path / "p")), split="all", size=32)
    b = ds.batch(list(range(len(ds))))
    out = tr._FlatColour("per photo", None).predict(b)
    m = b["mask"][:, 0] > 0.5
    for i in range(len(ds)):
        assert m[i].any() and (~m[i]).any()
        assert torch.all(out[i][:, ~m[i]] == 0)                      # the white background stays ab = 0
        torch.testing.assert_close(out[i][:, m[i]].mean(1), b["ab"][i][:, m[i]].mean(1), atol=1e-3, rtol=0)
        assert out[i][:, m[i]].std(1).max() < 1e-4                   # one flat colour
    per_cat = {0: torch.tensor([30.0, 10.0]), 1: torch.tensor([-5.0, 20.0])}
    out = tr._FlatColour("per category", per_cat).predict(b)
    for i in range(len(ds)):
        torch.testing.assert_close(out[i][:, m[i]].mean(1), per_cat[int(b["label"][i])])


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


def test_main_records_each_seed_and_keeps_other_tags(tr, tmp_path):
    photos = str(disks(tmp_path / "p"))
    out = tmp_path / "t.csv"
    # a CSV written before --seeds existed: no seed column
    pd.DataFrame([{"renderer": "before", "method": "gray", "category": "all", "psnr": 1.0, "ssim": 0.5,
                   "images": 8, "note": "", "profile": "smoke", "date": "2026-01-01", "commit": "x",
                   "command": "c"},
                  {"renderer": "after", "method": "gray", "category": "all", "psnr": 2.0, "ssim": 0.5,
                   "images": 8, "note": "", "profile": "smoke", "date": "2026-01-01", "commit": "x",
                   "command": "c"}]).to_csv(out, index=False)
    assert tr.main([photos, "--tag", "after", "--seeds", "0,1", "--methods", "gray,mean-ab", "--profile", "smoke",
                    "--ceilings", "--out", str(out)]) == 0
    df = pd.read_csv(out)
    before = df[df.renderer == "before"]
    assert before.psnr.tolist() == [1.0] and before.seed.tolist() == [0]          # kept, read as seed 0
    after = df[df.renderer == "after"]
    assert 2.0 not in after.psnr.tolist()                                         # replaced
    assert sorted(after.seed.unique()) == [0, 1]
    assert set(after.method) == {"gray", "mean-ab"}
    for m in ("gray", "mean-ab"):
        assert set(after[after.method == m].category) == {"Cherry", "Corn", "all"}
    g = after[(after.method == "gray") & (after.category == "all")].set_index("seed").psnr
    assert g[0] == g[1]                                                            # gray does not depend on a seed
    assert "--seeds 0,1" in after.command.iloc[0]
    ceil = df[df.renderer == "ceiling"]
    assert set(ceil.method) == {"ceiling: one colour per photo", "ceiling: one colour per category"}
    assert np.isfinite(ceil.psnr).all()


def test_main_rejects_bad_seeds_and_missing_folder(tr, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        tr.main([str(tmp_path), "--tag", "x", "--seeds", "0,one"])
    assert e.value.code == 2 and "--seeds takes comma-separated integers" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        tr.main([str(tmp_path / "nowhere"), "--tag", "x"])
    assert e.value.code == 2 and "no such photo folder" in capsys.readouterr().err


def test_ceilings_skip_photos_without_an_object(tr, tmp_path):
    """A photo with no object on white gets nothing painted, and a category where no object is
    found still gets rows (equal to gray's) instead of an error."""
    photos = disks(tmp_path / "p")
    save(np.full((48, 48, 3), 255, np.uint8), photos / "Empty" / "blank.png")
    ce = tr.ceilings(str(photos), profile="smoke").set_index(["method", "category"])
    gray = tr.run(str(photos), methods=("gray",), profile="smoke").set_index("category")
    for key in ("ceiling: one colour per photo", "ceiling: one colour per category"):
        assert ce.loc[(key, "Empty"), "psnr"] == gray.loc["Empty", "psnr"]        # both exact: inf
        assert ce.loc[(key, "Corn"), "psnr"] > gray.loc["Corn", "psnr"]
