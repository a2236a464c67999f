"""Sim-to-real transfer: train methods on the rendered set only, score them on real photos.

Trains each method on :class:`colorsurvey.data.SyntheticNCD` under a profile's budget (the
``cpu`` profile: small models, 64 px, 400 steps of 8) and evaluates it on a folder of real
photos (``<folder>/<Category>/*.jpg``, e.g. ``produce_calib``), per category. Writes a CSV of
mean PSNR / SSIM per (method, category) with its provenance (command, date, profile, git
commit, renderer tag). The photos are only read, never trained on.

    OMP_NUM_THREADS=1 python scripts/transfer_real.py /path/to/produce_calib \
        --tag after --out data/transfer_produce_calib.csv

Methods that need inputs the photos cannot give (``de2co`` colorizes depth maps; photos have
none) are listed in the CSV with empty scores and the reason.

``--seeds 0,1,2`` trains and scores every method once per seed (the rendered training set and
the initialisation both follow the seed): one seed's gain over gray can move by a decibel or
more per category, so a target is read on the mean over seeds.

``--ceilings`` adds two rows that are *not* methods: they read the photos' true colours and paint
one flat ab inside the object (its mask; ab = 0 on the white background), either the category's
mean or each photo's own mean. They bound what knowing the right colour, but not its variation
over the fruit, can score, e.g. to see whether a target is within reach at all.

Rows of an existing ``--out`` CSV with another ``--tag`` are kept (before/after in one file).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from colorsurvey import models  # noqa: E402
from colorsurvey.data import SyntheticNCD, open_dataset  # noqa: E402
from colorsurvey.evaluate import evaluate  # noqa: E402
from colorsurvey.profiles import get_profile  # noqa: E402
from colorsurvey.train import train  # noqa: E402

METHODS = ("gray", "mean-ab", "unet", "deep-colorization", "colorful", "de2co", "realtime-ug")


def _commit() -> str:
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _scores(key: str, df: pd.DataFrame, seed) -> list[dict]:
    """Per-category and overall mean PSNR / SSIM rows of one evaluated method."""
    g = df.groupby("category")[["psnr", "ssim"]].agg(["mean", "count"])
    rows = [{"method": key, "seed": seed, "category": cat, "psnr": g.loc[cat, ("psnr", "mean")],
             "ssim": g.loc[cat, ("ssim", "mean")], "images": int(g.loc[cat, ("psnr", "count")]), "note": ""}
            for cat in g.index]
    rows.append({"method": key, "seed": seed, "category": "all", "psnr": df.psnr.mean(), "ssim": df.ssim.mean(),
                 "images": len(df), "note": ""})
    return rows


def run(photos: str, methods=METHODS, profile: str = "cpu", seeds=(0,), device: str = "cpu") -> pd.DataFrame:
    """Per (method, seed, category) mean PSNR / SSIM of methods trained on rendered data only."""
    P = get_profile(profile)
    test_set = open_dataset(photos, split="all", size=P.resolution)
    rows = []
    for seed in seeds:
        train_set = SyntheticNCD("train", size=P.resolution, n=P.train_images, seed=seed)
        for key in methods:
            model = models.create(key, size=P.size, seed=seed, references=train_set)
            t0 = time.perf_counter()
            train(model, train_set, steps=P.steps, batch_size=P.batch_size, device=device, seed=seed, progress=False)
            dt = time.perf_counter() - t0
            try:
                df = evaluate(model, test_set, device=device, progress=False, metrics=("psnr", "ssim"))
            except (KeyError, ValueError) as e:
                print(f"{key}: cannot be scored on photos ({e})", flush=True)
                rows.append({"method": key, "seed": seed, "category": "all", "psnr": float("nan"),
                             "ssim": float("nan"), "images": 0, "note": str(e).split(":")[0]})
                continue
            rows += _scores(key, df, seed)
            print(f"{key} (seed {seed}): trained {dt:.0f} s; PSNR {df.psnr.mean():.2f} SSIM {df.ssim.mean():.4f}",
                  flush=True)
    return pd.DataFrame(rows)


class _FlatColour(torch.nn.Module):
    """Not a method: paints one flat ab, read from the photo's truth, inside the object mask."""

    eval_samples = 0

    def __init__(self, key: str, per_category: dict | None):
        super().__init__()
        self.card = SimpleNamespace(key=key)
        self.per_category = per_category          # label -> ab (2,), or None: each photo's own mean

    def predict(self, batch) -> torch.Tensor:
        ab, mask = batch["ab"].float(), batch["mask"][:, :1] > 0.5
        out = torch.zeros_like(ab)
        for i in range(ab.shape[0]):
            if not mask[i].any():
                continue                          # no object found on white: nothing to paint
            if self.per_category is not None:
                mean = self.per_category.get(int(batch["label"][i]), torch.zeros(2))
            else:
                mean = ab[i][:, mask[i, 0]].mean(1)
            out[i] = torch.where(mask[i], mean.view(2, 1, 1), out[i])
        return out


def ceilings(photos: str, profile: str = "cpu") -> pd.DataFrame:
    """Scores of one flat, true colour inside each photo's object (see the module docstring)."""
    test_set = open_dataset(photos, split="all", size=get_profile(profile).resolution)
    own, labels = {}, []                          # photo -> its mean ab inside the object; labels
    for s in range(0, len(test_set), 256):
        b = test_set.batch(list(range(s, min(s + 256, len(test_set)))))
        mask = b["mask"][:, 0] > 0.5
        own.update({s + i: b["ab"][i][:, mask[i]].mean(1) for i in range(mask.shape[0]) if mask[i].any()})
        labels += b["label"].tolist()
    per_cat = {k: torch.stack([own[i] for i in own if labels[i] == k]).mean(0)
               for k in set(labels[i] for i in own)}     # categories with at least one object found
    rows = []
    for key, table in (("ceiling: one colour per category", per_cat), ("ceiling: one colour per photo", None)):
        df = evaluate(_FlatColour(key, table), test_set, progress=False, metrics=("psnr", "ssim"))
        rows += _scores(key, df, "")
        print(f"{key}: PSNR {df.psnr.mean():.2f} SSIM {df.ssim.mean():.4f}", flush=True)
    out = pd.DataFrame(rows)
    out["note"] = "not a method: reads the photos' true colours"
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("photos", help="folder of real photos, <folder>/<Category>/*.jpg")
    ap.add_argument("--tag", required=True, help="renderer tag stored in the CSV (e.g. before, after)")
    ap.add_argument("--out", default=str(REPO / "data" / "transfer_produce_calib.csv"))
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--seeds", default="0", help="comma-separated seeds (e.g. 0,1,2): one run per seed")
    ap.add_argument("--ceilings", action="store_true",
                    help="also store the flat-true-colour ceilings (tag 'ceiling'; not methods)")
    a = ap.parse_args(argv)
    if not Path(a.photos).is_dir():
        ap.error(f"no such photo folder: {a.photos} (give <folder>/<Category>/*.jpg)")
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    commit = _commit()              # the renderer measured is the one at the start
    try:
        seeds = [int(x) for x in a.seeds.split(",") if x.strip()]
    except ValueError:
        ap.error(f"--seeds takes comma-separated integers, not {a.seeds!r}")
    df = run(a.photos, [m.strip() for m in a.methods.split(",") if m.strip()], a.profile, seeds)
    df.insert(0, "renderer", a.tag)
    if a.ceilings:
        ce = ceilings(a.photos, a.profile)
        ce.insert(0, "renderer", "ceiling")
        df = pd.concat([df, ce], ignore_index=True)
    df["profile"] = a.profile
    df["date"] = _dt.date.today().isoformat()
    df["commit"] = commit
    df["command"] = "OMP_NUM_THREADS=1 python scripts/transfer_real.py <produce_calib> " + " ".join(
        x for x in (argv if argv is not None else sys.argv[2:]) if x != a.photos)
    out = Path(a.out)
    if out.exists():
        old = pd.read_csv(out)
        if "seed" not in old:
            old.insert(2, "seed", 0)                       # recorded before --seeds: seed 0
        replaced = old.renderer.isin(set(df.renderer))
        df = pd.concat([old[~replaced], df], ignore_index=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".csv.tmp")
    os.close(fd)
    df.to_csv(tmp, index=False, float_format="%.4f")
    os.replace(tmp, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
