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


def run(photos: str, methods=METHODS, profile: str = "cpu", seed: int = 0, device: str = "cpu") -> pd.DataFrame:
    """Per (method, category) mean PSNR / SSIM of methods trained on rendered data only."""
    P = get_profile(profile)
    train_set = SyntheticNCD("train", size=P.resolution, n=P.train_images, seed=seed)
    test_set = open_dataset(photos, split="all", size=P.resolution)
    rows = []
    for key in methods:
        model = models.create(key, size=P.size, seed=seed, references=train_set)
        t0 = time.perf_counter()
        train(model, train_set, steps=P.steps, batch_size=P.batch_size, device=device, seed=seed, progress=False)
        dt = time.perf_counter() - t0
        try:
            df = evaluate(model, test_set, device=device, progress=False, metrics=("psnr", "ssim"))
        except (KeyError, ValueError) as e:
            print(f"{key}: cannot be scored on photos ({e})", flush=True)
            rows.append({"method": key, "category": "all", "psnr": float("nan"), "ssim": float("nan"),
                         "images": 0, "note": str(e).split(":")[0]})
            continue
        g = df.groupby("category")[["psnr", "ssim"]].agg(["mean", "count"])
        for cat in g.index:
            rows.append({"method": key, "category": cat, "psnr": g.loc[cat, ("psnr", "mean")],
                         "ssim": g.loc[cat, ("ssim", "mean")], "images": int(g.loc[cat, ("psnr", "count")]),
                         "note": ""})
        rows.append({"method": key, "category": "all", "psnr": df.psnr.mean(), "ssim": df.ssim.mean(),
                     "images": len(df), "note": ""})
        print(f"{key}: trained {dt:.0f} s; PSNR {df.psnr.mean():.2f} SSIM {df.ssim.mean():.4f}", flush=True)
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("photos", help="folder of real photos, <folder>/<Category>/*.jpg")
    ap.add_argument("--tag", required=True, help="renderer tag stored in the CSV (e.g. before, after)")
    ap.add_argument("--out", default=str(REPO / "data" / "transfer_produce_calib.csv"))
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    if not Path(a.photos).is_dir():
        ap.error(f"no such photo folder: {a.photos} (give <folder>/<Category>/*.jpg)")
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    commit = _commit()              # the renderer measured is the one at the start
    df = run(a.photos, [m.strip() for m in a.methods.split(",") if m.strip()], a.profile, a.seed)
    df.insert(0, "renderer", a.tag)
    df["profile"] = a.profile
    df["date"] = _dt.date.today().isoformat()
    df["commit"] = commit
    df["command"] = "OMP_NUM_THREADS=1 python scripts/transfer_real.py <produce_calib> " + " ".join(
        x for x in (argv if argv is not None else sys.argv[2:]) if x != a.photos)
    out = Path(a.out)
    if out.exists():
        old = pd.read_csv(out)
        df = pd.concat([old[old.renderer != a.tag], df], ignore_index=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".csv.tmp")
    os.close(fd)
    df.to_csv(tmp, index=False, float_format="%.4f")
    os.replace(tmp, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
