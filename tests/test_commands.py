"""colorsurvey train / evaluate / colorize, resumable checkpoints and colorsurvey.load."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import colorsurvey
from colorsurvey import cli, models
from colorsurvey import metrics as M
from colorsurvey import train as T
from colorsurvey.color import rgb_to_lab
from colorsurvey.photos import compose, upsample_rows, work_shape


pytestmark = pytest.mark.usefixtures("one_thread")
REPO = Path(__file__).resolve().parent.parent


def _photo(h, w, seed=0, white=True) -> np.ndarray:
    """A coloured disc and stripes on white (or grey), uint8 (h, w, 3)."""
    g = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.full((h, w, 3), 245 if white else 120, np.uint8)
    col = g.integers(30, 230, 3)
    disc = (y - h / 2) ** 2 + (x - w / 2) ** 2 < (min(h, w) / 3) ** 2
    img[disc] = col
    img[(x // 7) % 5 == 0] = g.integers(0, 255, 3)
    return img


def _folder(root: Path, sizes=((40, 60), (52, 36), (48, 48), (30, 70)), categories=("Red", "Blue")) -> Path:
    for c, cat in enumerate(categories):
        (root / cat).mkdir(parents=True, exist_ok=True)
        for i, (h, w) in enumerate(sizes):
            Image.fromarray(_photo(h, w, seed=10 * c + i)).save(root / cat / f"{i}.png")
    return root


def _cli(*argv, capsys=None):
    rc = cli.main([str(a) for a in argv])
    out = capsys.readouterr() if capsys is not None else None
    return rc, out


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return _folder(tmp_path_factory.mktemp("photos"))


def _train(out: Path, method: str, photos: Path, steps: int) -> Path:
    assert cli.main(["train", "--method", method, "--data", str(photos), "--profile", "smoke", "--steps", str(steps),
                     "--batch-size", "4", "--out", str(out), "--quiet", "--device", "cpu"]) == 0
    return out


@pytest.fixture(scope="module")
def unet_run(tmp_path_factory, photos):
    return _train(tmp_path_factory.mktemp("runs") / "unet", "unet", photos, 3)


# -- checkpoints ------------------------------------------------------------------------------------

@pytest.mark.parametrize("fail_at", range(1, 7))
def test_an_interrupted_save_leaves_a_complete_checkpoint(tmp_path, tiny, monkeypatch, fail_at):
    """Whichever rename or removal a save is killed at, the checkpoint read is a matching pair
    (the old one or the new one), never the new weights with the old optimiser state."""
    model = models.create("unet", size="smoke", seed=0)
    T.train(model, tiny, steps=2, batch_size=4, progress=False, checkpoint=tmp_path, checkpoint_every=2)
    old = {k: v.clone() for k, v in model.state_dict().items()}
    T.train(model, tiny, steps=4, batch_size=4, progress=False)      # new weights, not saved yet
    new = {k: v.clone() for k, v in model.state_dict().items()}
    calls = []
    real_replace, real_unlink = os.replace, Path.unlink

    def dying(kind, real):
        def f(*a, **k):
            calls.append(kind)
            if len(calls) == fail_at:
                raise KeyboardInterrupt("killed")
            return real(*a, **k)
        return f

    monkeypatch.setattr(T.os, "replace", dying("replace", real_replace))
    monkeypatch.setattr(Path, "unlink", dying("unlink", real_unlink))
    with pytest.raises(KeyboardInterrupt):
        T.save_checkpoint(model, tmp_path, T.TrainResult(step=4))
    monkeypatch.undo()
    fresh = models.create("unet", size="smoke")
    r = T.load_checkpoint(fresh, tmp_path)
    want = new if r.step == 4 else old
    assert r.step in (2, 4) and (fail_at < 5 or r.step == 4)     # from the 5th call on, the new pair is in place
    assert all(torch.equal(v, want[k]) for k, v in fresh.state_dict().items())


def test_a_killed_training_resumes_and_finishes(tmp_path, photos):
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "colorsurvey", "train", "--method", "unet", "--data", str(photos), "--profile",
           "smoke", "--steps", "150", "--batch-size", "2", "--checkpoint-every", "5", "--out", str(out), "--quiet",
           "--device", "cpu"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    partial = tmp_path / "run.partial"
    deadline = time.time() + 240
    while not (partial / "state.pt").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the training finished before it could be killed"
    assert not out.exists() and (partial / "model.safetensors").exists()     # no finished run from a killed one
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 1 and "--resume" in again.stderr and len(again.stderr.strip().splitlines()) == 1
    resumed = subprocess.run(cmd + ["--resume"], env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    at = int(resumed.stdout.split("resuming from step ")[1].split()[0])
    assert 5 <= at < 150 and at % 5 == 0
    record = json.loads((out / "run.json").read_text())
    assert record["info"]["steps"] == 150 and not partial.exists()
    model = colorsurvey.load(out, device="cpu")
    assert model.card.key == "unet" and not model.training


def test_load_gives_the_runs_model(tmp_path, tiny):
    from colorsurvey.profiles import get_profile
    from colorsurvey.runs import RunStore

    P = get_profile("smoke").scaled(name="tiny", steps=2, batch_size=4)
    run = RunStore(tmp_path, verbose=False).fit("colorful", tiny, profile=P, device="cpu", progress=False)
    model = colorsurvey.load(run.path.name, root=tmp_path)
    L = tiny.batch([0, 1])["L"]
    assert torch.equal(model.colorize(L), run.model.colorize(L))
    with pytest.raises(FileNotFoundError, match="no trained run"):
        colorsurvey.load(tmp_path / "nothing")


# -- evaluate -------------------------------------------------------------------------------------

def test_evaluate_scores_a_folder_at_each_images_own_size(tmp_path, photos, unet_run, capsys):
    rc, out = _cli("evaluate", "--run", unet_run, "--data", photos, "--out", tmp_path / "ev", "--quiet",
                   "--baseline-data", photos, capsys=capsys)
    assert rc == 0, out.err
    per_image = __import__("pandas").read_csv(tmp_path / "ev" / "per_image.csv")
    assert set(per_image["method"]) == {"unet", "gray", "mean-ab"}
    assert len(per_image) == 3 * 8                                    # a folder is all test data
    sizes = {(int(r.height), int(r.width)) for r in per_image.itertuples()}
    assert sizes == {(40, 60), (52, 36), (48, 48), (30, 70)}           # scored at their own size
    # the gray column is the photo with ab = 0, at full size
    row = per_image[(per_image.method == "gray")].iloc[0]
    gt = np.array(Image.open(row.file).convert("RGB"))
    L = rgb_to_lab(torch.from_numpy(gt).permute(2, 0, 1)[None].float() / 255)[:, :1]
    from colorsurvey.color import lab_to_rgb
    gray = M.to_uint8(lab_to_rgb(torch.cat([L, torch.zeros(1, 2, *L.shape[-2:])], 1))[0])
    assert row.psnr == pytest.approx(M.psnr(gt, gray), abs=1e-6)
    table = (tmp_path / "ev" / "per_category.csv").read_text()
    assert "Red" in table and "Blue" in table and "Dataset" in table
    assert "gray" in out.out and "mean-ab" in out.out and "PCQI" in out.out


def test_evaluate_square_and_categories(tmp_path, photos, unet_run, capsys):
    rc, out = _cli("evaluate", "--run", unet_run, "--data", photos, "--square", "32", "--categories", "blue",
                   "--no-baselines", "--out", tmp_path / "ev", "--quiet", "--metrics", "psnr", "ssim", capsys=capsys)
    assert rc == 0, out.err
    per_image = __import__("pandas").read_csv(tmp_path / "ev" / "per_image.csv")
    assert set(per_image.category) == {"Blue"} and len(per_image) == 4
    rc, out = _cli("evaluate", "--run", unet_run, "--data", photos, "--categories", "Green", "--out",
                   tmp_path / "ev2", capsys=capsys)
    assert rc == 1 and "no category 'Green'" in out.err and "Blue, Red" in out.err and not (tmp_path / "ev2").exists()


# -- colorize ---------------------------------------------------------------------------------------

def test_full_resolution_compose_is_the_upsampled_ab_with_the_photos_L():
    rgb = _photo(61, 47)
    ab = torch.randn(1, 2, 9, 7) * 20
    out = compose(rgb, ab, rows=16)                      # in strips
    full = torch.nn.functional.interpolate(ab, size=(61, 47), mode="bilinear", align_corners=False)
    assert torch.allclose(upsample_rows(ab, (61, 47), 10, 30), full[:, :, 10:30], atol=1e-3)
    from colorsurvey.color import lab_to_rgb
    L = rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255)[:, :1]
    ref = M.to_uint8(lab_to_rgb(torch.cat([L, full], 1))[0])
    assert np.abs(out.astype(int) - ref.astype(int)).max() <= 1
    assert work_shape(3000, 4000, 256) == (256, 341) and work_shape(100, 80, 256) == (100, 80)


def test_colorize_any_mode_and_orientation_keeping_size_and_lightness(tmp_path, unet_run, capsys):
    src = tmp_path / "in"
    (src / "deep").mkdir(parents=True)
    rot = Image.fromarray(_photo(30, 50))                 # stored 50 wide, 30 high, shown rotated: 30 x 50
    exif = Image.Exif()
    exif[0x0112] = 6
    rot.save(src / "rotated.jpg", exif=exif, quality=95)
    rgba = np.dstack([_photo(33, 41, 1), np.full((33, 41), 200, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(src / "deep" / "alpha.png")
    Image.fromarray(_photo(25, 37, 2)[..., 0].astype(np.uint16) * 257).save(src / "deep" / "gray16.png")
    (src / "deep" / "broken.jpg").write_bytes(b"not a jpeg")
    before = {p: p.read_bytes() for p in _files(src)}
    rc, out = _cli("colorize", src, "--run", unet_run, "--out", tmp_path / "out", "--work-size", "16", "--quiet",
                   capsys=capsys)
    assert rc == 0, out.err
    assert "skipped" in out.err and "broken.jpg" in out.err and "colourised 3 of 4" in out.out
    assert {p: p.read_bytes() for p in _files(src)} == before            # inputs untouched
    res = tmp_path / "out" / "in"
    assert sorted(p.relative_to(res).as_posix() for p in _files(res)) == ["deep/alpha.png", "deep/gray16.png",
                                                                         "rotated.jpg"]
    assert Image.open(res / "rotated.jpg").size == (30, 50)             # the displayed orientation
    from colorsurvey.data.real import load_image
    for name in ("deep/alpha.png", "deep/gray16.png"):
        a, b = load_image(src / name), load_image(res / name)
        assert a.shape == b.shape
        La = rgb_to_lab(torch.tensor(a).permute(2, 0, 1)[None].float() / 255)[:, 0]
        Lb = rgb_to_lab(torch.tensor(b).permute(2, 0, 1)[None].float() / 255)[:, 0]
        assert (La - Lb).abs().mean() < 1.0                             # the photo's own lightness


def _bad(tmp_path, capsys, *argv):
    out = tmp_path / "out"
    rc, res = _cli("colorize", *argv, "--out", out, "--quiet", capsys=capsys)
    assert rc == 1 and len(res.err.strip().splitlines()) == 1 and res.err.startswith("colorsurvey: error:")
    assert _files(out) == []                                             # nothing half-written
    return res.err


def test_colorize_bad_input_is_one_line_and_writes_nothing(tmp_path, unet_run, capsys):
    img = tmp_path / "p.png"
    Image.fromarray(_photo(20, 30)).save(img)
    (tmp_path / "empty").mkdir()
    assert "no images in the folder" in _bad(tmp_path, capsys, tmp_path / "empty", "--run", unet_run)
    assert "no such file or folder" in _bad(tmp_path, capsys, tmp_path / "missing.jpg", "--run", unet_run)
    assert "not 'colorful'" in _bad(tmp_path, capsys, img, "--run", unet_run, "--method", "colorful")
    assert "no trained run" in _bad(tmp_path, capsys, img, "--run", tmp_path / "norun")
    assert "takes no user hints" in _bad(tmp_path, capsys, img, "--run", unet_run, "--hints", img)
    assert "gives one colourisation" in _bad(tmp_path, capsys, img, "--run", unet_run, "--samples", "3")
    assert "needs weights" in _bad(tmp_path, capsys, img, "--method", "unet")


@pytest.fixture(scope="module")
def hint_run(tmp_path_factory, photos):
    return _train(tmp_path_factory.mktemp("runs") / "rt", "realtime-ug", photos, 2)


def test_colorize_with_hints(tmp_path, hint_run, capsys):
    img = tmp_path / "p.png"
    Image.fromarray(_photo(60, 80, white=False)).save(img)
    hints = tmp_path / "h.json"
    hints.write_text(json.dumps({"points": [{"x": 40, "y": 30, "ab": [60, 50], "size": 20},
                                            {"x": 5, "y": 5, "rgb": "#2050e0"}]}))
    rc, out = _cli("colorize", img, "--run", hint_run, "--hints", hints, "--out", tmp_path / "a", "--quiet",
                   "--work-size", "32", capsys=capsys)
    assert rc == 0, out.err
    rc, out = _cli("colorize", img, "--run", hint_run, "--out", tmp_path / "b", "--quiet", "--work-size", "32",
                   capsys=capsys)
    assert rc == 0, out.err
    a, b = (np.asarray(Image.open(tmp_path / d / "p.png")).astype(int) for d in "ab")
    assert a.shape == (60, 80, 3) and np.abs(a - b).max() > 0           # the hints reach the method
    for bad, msg in [({"points": [{"x": 80, "y": 10, "ab": [1, 2]}]}, "lies outside"),
                     ({"points": [{"x": 1, "y": 1, "ab": [300, 2]}]}, "outside the Lab range"),
                     ({"points": [{"x": 1, "y": 1}]}, "no colour"),
                     ({"points": []}, "holds no points")]:
        hints.write_text(json.dumps(bad))
        assert msg in _bad(tmp_path, capsys, img, "--run", hint_run, "--hints", hints)
    hints.write_text("{not json")
    assert "not valid JSON" in _bad(tmp_path, capsys, img, "--run", hint_run, "--hints", hints)


def test_colorize_exemplar_needs_a_readable_reference(tmp_path, photos, capsys):
    out = _train(tmp_path / "ex", "fast-exemplar", photos, 1)
    capsys.readouterr()
    img = tmp_path / "p.png"
    Image.fromarray(_photo(40, 50)).save(img)
    bad_ref = tmp_path / "ref.jpg"
    bad_ref.write_bytes(b"\xff\xd8 truncated")
    assert "give --reference" in _bad(tmp_path, capsys, img, "--run", out)
    assert "cannot read image" in _bad(tmp_path, capsys, img, "--run", out, "--reference", bad_ref)
    ref = tmp_path / "good.png"
    Image.fromarray(_photo(50, 40, 7)).save(ref)
    rc, res = _cli("colorize", img, "--run", out, "--reference", ref, "--out", tmp_path / "o", "--quiet",
                   capsys=capsys)
    assert rc == 0, res.err
    assert Image.open(tmp_path / "o" / "p.png").size == (50, 40)


def test_colorize_text_and_samples_reach_the_methods_that_take_them(tmp_path, photos, capsys):
    img = tmp_path / "p.png"
    Image.fromarray(_photo(36, 44, white=False)).save(img)
    text = _train(tmp_path / "t", "color-from-language", photos, 1)
    outs = []
    for i, caption in enumerate(("a red apple", "a blue plum")):
        rc, res = _cli("colorize", img, "--run", text, "--text", caption, "--out", tmp_path / f"t{i}", "--quiet",
                       capsys=capsys)
        assert rc == 0, res.err
        outs.append(np.asarray(Image.open(tmp_path / f"t{i}" / "p.png")).astype(int))
    assert np.abs(outs[0] - outs[1]).max() > 0                          # the caption reaches the method
    diverse = _train(tmp_path / "d", "cao-cgan", photos, 1)
    rc, res = _cli("colorize", img, "--run", diverse, "--samples", "3", "--out", tmp_path / "s", "--quiet",
                   capsys=capsys)
    assert rc == 0, res.err
    s = [np.asarray(Image.open(tmp_path / "s" / f"p_sample{k}.png")).astype(int) for k in range(3)]
    assert np.abs(s[0] - s[1]).max() > 0 and np.abs(s[1] - s[2]).max() > 0
    assert "takes no caption" in _bad(tmp_path, capsys, img, "--run", diverse, "--text", "red")
