"""Sim-to-real transfer: train methods on the rendered set only, score them on real photos.

Trains each method on :class:`colorsurvey.data.SyntheticNCD` under a profile's budget (the
``cpu`` profile: small models, 64 px, 400 steps of 8) and evaluates it on a folder of real
photos (``<folder>/<Category>/*.jpg``, e.g. ``produce_calib``), per category. Writes a CSV of
mean PSNR / SSIM per (method, category) with its provenance (command, date, profile, git
commit, renderer tag). The photos are only read, never trained on.

    OMP_NUM_THREADS=1 python scripts/transfer_real.py /path/to/produce_calib \
        --tag after --seeds 0,1,2 --ceilings --out data/transfer_produce_calib.csv

Methods that need inputs the photos cannot give (``de2co`` colorizes depth maps; photos have
none) are listed in the CSV with empty scores and the reason.

``--seeds 0,1,2`` trains and scores every method once per seed (the rendered training set and
the initialisation both follow the seed): one seed's gain over gray can move by a decibel or
more per category, so a target is read on the mean over seeds.

``--ceilings`` adds two rows that are *not* methods: they read the photos' true colours and paint
one flat ab inside the object (its mask; ab = 0 on the white background), either the category's
mean (the unweighted mean of its photos' means, on the same photos it scores) or each photo's own
mean. They bound what knowing the right colour, but not its variation
over the fruit, can score, e.g. to see whether a target is within reach at all.

``--out`` is required: rows of an existing CSV are kept unless this run measures the same
(tag, photo folder, method, seed) again, so before/after, other folders and other seeds live in
one file. The CSV is checked before anything trains, and replaced whole (written beside it, then
renamed). Photos without colour (ab = 0 everywhere: grayscale photos, blank frames) measure no
colorization and would score an infinite PSNR; they are left out, and the run says how many.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from colorsurvey import models  # noqa: E402
from colorsurvey.data import SyntheticNCD, open_dataset  # noqa: E402
from colorsurvey.data.base import ColorDataset  # noqa: E402
from colorsurvey.data.subset import Subset  # noqa: E402
from colorsurvey.evaluate import evaluate  # noqa: E402
from colorsurvey.profiles import PROFILES, get_profile  # noqa: E402
from colorsurvey.runs import atomic_write_text  # noqa: E402
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


def photos(folder: str, resolution: int, chroma: float = 1.0) -> tuple[ColorDataset, int]:
    """The photo folder at ``resolution`` px without its colourless photos (max |ab| < ``chroma``),
    and how many were left out. ValueError when the folder holds no photo with colour."""
    try:
        ds = open_dataset(folder, split="all", size=resolution)
    except ValueError as e:
        if str(e).startswith("found no images"):
            raise ValueError(f"no photos in {folder}: give a folder <folder>/<Category>/*.jpg (or .png)") from None
        raise
    keep = []
    for b in ds.iterate(256):
        keep += b["index"][b["ab"].flatten(1).abs().amax(1) >= chroma].tolist()
    if not keep:
        raise ValueError(f"none of the {len(ds)} photos in {folder} has colour (ab = 0 everywhere): "
                         "nothing to measure a colorization against")
    return (ds if len(keep) == len(ds) else Subset(ds, keep)), len(ds) - len(keep)


def _photo_set(photo_folder, resolution: int) -> ColorDataset:
    """A data set as it is, or :func:`photos` of a folder (saying how many photos it left out)."""
    if isinstance(photo_folder, ColorDataset):
        return photo_folder
    test_set, dropped = photos(str(photo_folder), resolution)
    if dropped:
        print(f"left out {dropped} photo(s) without colour (grayscale or blank): they measure no colorization",
              flush=True)
    return test_set


def _scores(key: str, df: pd.DataFrame, seed) -> list[dict]:
    """Per-category and overall (mean over images) PSNR / SSIM rows of one evaluated method."""
    g = df.groupby("category")[["psnr", "ssim"]].agg(["mean", "count"])
    rows = [{"method": key, "seed": seed, "category": cat, "psnr": g.loc[cat, ("psnr", "mean")],
             "ssim": g.loc[cat, ("ssim", "mean")], "images": int(g.loc[cat, ("psnr", "count")]), "note": ""}
            for cat in g.index]
    rows.append({"method": key, "seed": seed, "category": "all", "psnr": df.psnr.mean(), "ssim": df.ssim.mean(),
                 "images": len(df), "note": ""})
    return rows


def _unscorable(model, test_set: ColorDataset, device: str) -> str | None:
    """Why ``model`` cannot colorize these photos (e.g. it needs a depth map), or None: tried on
    one photo before any training."""
    try:
        with torch.no_grad():
            model.to(device).eval().predict(test_set.batch([0], device))
    except (KeyError, ValueError) as e:
        return str(e.args[0] if e.args else e).split(":")[0]
    return None


def _unknown(methods) -> list[str]:
    return [m for m in methods if m not in models.list_models()]


def run(photo_folder, methods=METHODS, profile: str = "cpu", seeds=(0,), device: str = "cpu") -> pd.DataFrame:
    """Per (method, seed, category) mean PSNR / SSIM of methods trained on rendered data only.

    ``methods``: registered keys (KeyError for an unknown one, before anything trains);
    ``seeds``: one training run per seed (the rendered training set and the initialisation);
    ``photo_folder``: a folder, or the data set :func:`photos` made of one.
    """
    P = get_profile(profile)
    if _unknown(methods):
        raise KeyError(f"unknown method(s) {', '.join(map(repr, _unknown(methods)))}; "
                       f"known: {', '.join(sorted(models.list_models()))}")
    test_set = _photo_set(photo_folder, P.resolution)
    rows = []
    for seed in seeds:
        train_set = SyntheticNCD("train", size=P.resolution, n=P.train_images, seed=seed)
        for key in methods:
            model = models.create(key, size=P.size, seed=seed, references=train_set)
            why = _unscorable(model, test_set, device)
            if why:
                print(f"{key}: cannot be scored on photos ({why}); not trained", flush=True)
                rows.append({"method": key, "seed": seed, "category": "all", "psnr": float("nan"),
                             "ssim": float("nan"), "images": 0, "note": why})
                continue
            t0 = time.perf_counter()
            train(model, train_set, steps=P.steps, batch_size=P.batch_size, device=device, seed=seed, progress=False)
            dt = time.perf_counter() - t0
            df = evaluate(model, test_set, device=device, progress=False, metrics=("psnr", "ssim"))
            rows += _scores(key, df, seed)
            print(f"{key} (seed {seed}): trained {dt:.0f} s; PSNR {df.psnr.mean():.2f} SSIM {df.ssim.mean():.4f}",
                  flush=True)
    return pd.DataFrame(rows)


class _FlatColour(torch.nn.Module):
    """Not a method: paints one flat ab, read from the photos' truth, inside the object mask.

    ``table``: ab (2,) by the batch's ``label`` (``by="label"``, one colour per category) or by
    its ``index`` (``by="index"``, each photo's own); a photo not in it gets nothing painted."""

    eval_samples = 0

    def __init__(self, key: str, table: dict, by: str):
        super().__init__()
        self.card = SimpleNamespace(key=key)
        self.table, self.by = table, by

    def predict(self, batch) -> torch.Tensor:
        ab, mask = batch["ab"].float(), batch["mask"][:, :1] > 0.5
        out = torch.zeros_like(ab)
        for i, k in enumerate(batch[self.by].tolist()):
            if k in self.table:
                out[i] = torch.where(mask[i], self.table[k].view(2, 1, 1), out[i])
        return out


def flat_colours(test_set: ColorDataset) -> tuple[dict, dict]:
    """(photo index -> its mean ab inside the object, label -> the unweighted mean of its photos'
    means); photos where no object is found on white are in neither."""
    own, label = {}, {}
    for b in test_set.iterate(256):
        mask = b["mask"][:, 0] > 0.5
        for i, m, ab, y in zip(b["index"].tolist(), mask, b["ab"], b["label"].tolist()):
            if m.any():
                own[i], label[i] = ab[:, m].mean(1), y
    per_cat = {k: torch.stack([own[i] for i in own if label[i] == k]).mean(0) for k in set(label.values())}
    return own, per_cat


def ceilings(photo_folder, profile: str = "cpu") -> pd.DataFrame:
    """Scores of one flat, true colour inside each photo's object (see the module docstring);
    ``photo_folder``: a folder, or the data set :func:`photos` made of one."""
    test_set = _photo_set(photo_folder, get_profile(profile).resolution)
    own, per_cat = flat_colours(test_set)
    rows = []
    for model in (_FlatColour("ceiling: one colour per category", per_cat, by="label"),
                  _FlatColour("ceiling: one colour per photo", own, by="index")):
        df = evaluate(model, test_set, progress=False, metrics=("psnr", "ssim"))
        rows += _scores(model.card.key, df, pd.NA)
        print(f"{model.card.key}: PSNR {df.psnr.mean():.2f} SSIM {df.ssim.mean():.4f}", flush=True)
    out = pd.DataFrame(rows)
    out["note"] = "not a method: reads the photos' true colours"
    return out


KEY = ["renderer", "photos", "method", "seed"]          # a row is replaced when all four match


def _read_existing(path: Path) -> pd.DataFrame | None:
    """The CSV at ``path`` (older files: no ``seed`` column -> seed 0, no ``photos`` -> '?'),
    None when there is none; ValueError naming the problem when it is not this script's CSV."""
    if not path.exists():
        return None
    if path.is_dir():
        raise ValueError(f"--out {path} is a folder: give a .csv file")
    try:
        old = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise ValueError(f"--out {path} is not a CSV this script wrote ({type(e).__name__}): "
                         "give a new file or that CSV") from None
    need = {"renderer", "method", "category", "psnr", "ssim"}
    if not need <= set(old.columns):
        raise ValueError(f"--out {path} is not a CSV this script wrote: it lacks {', '.join(sorted(need - set(old.columns)))}")
    if "seed" not in old:
        old.insert(old.columns.get_loc("method") + 1, "seed", 0)     # recorded before --seeds: seed 0
    if "photos" not in old:
        old.insert(old.columns.get_loc("renderer") + 1, "photos", "?")
    return old


def _merge(old: pd.DataFrame | None, new: pd.DataFrame) -> pd.DataFrame:
    if old is None or old.empty:
        return new
    def key(d):
        cols = [d[k].map(lambda x: "" if pd.isna(x) else str(int(x)) if k == "seed" else str(x)) for k in KEY]
        return cols[0].str.cat(cols[1:], sep="|")

    return pd.concat([old[~key(old).isin(set(key(new)))], new], ignore_index=True)


def _split(text: str, what: str, ap, cast=str) -> list:
    items = [x.strip() for x in text.split(",") if x.strip()]
    if not items:
        ap.error(f"{what} is empty")
    try:
        items = [cast(x) for x in items]
    except ValueError:
        ap.error(f"{what} takes comma-separated integers, not {text!r}")
    dup = sorted({x for x in items if items.count(x) > 1}, key=str)
    if dup:
        ap.error(f"{what} lists {', '.join(map(str, dup))} more than once")
    return items


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("photos", help="folder of real photos, <folder>/<Category>/*.jpg")
    ap.add_argument("--tag", required=True, help="renderer tag stored in the CSV (e.g. before, after)")
    ap.add_argument("--out", required=True, help="CSV to write (existing rows of other runs are kept), "
                    "e.g. data/transfer_produce_calib.csv")
    ap.add_argument("--profile", default="cpu", choices=sorted(PROFILES))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--seeds", default="0", help="comma-separated seeds (e.g. 0,1,2): one run per seed")
    ap.add_argument("--ceilings", action="store_true",
                    help="also store the flat-true-colour ceilings (tag 'ceiling'; not methods)")
    ap.add_argument("--device", default="cpu", help="torch device to train and score on (cpu, cuda, cuda:1 ...)")
    a = ap.parse_args(argv)
    folder = Path(a.photos)
    if not folder.is_dir():
        ap.error(f"no such photo folder: {a.photos} (give <folder>/<Category>/*.jpg)")
    if not a.tag.strip() or a.tag == "ceiling":
        ap.error(f"--tag {a.tag!r}: give a name for the renderer measured ('ceiling' is the ceilings' own)")
    seeds = _split(a.seeds, "--seeds", ap, int)
    methods = _split(a.methods, "--methods", ap)
    if _unknown(methods):
        ap.error(f"unknown method(s) {', '.join(_unknown(methods))}; known: {', '.join(sorted(models.list_models()))}")
    threads = os.environ.get("OMP_NUM_THREADS", "1")
    if not threads.isdigit() or int(threads) < 1:
        ap.error(f"OMP_NUM_THREADS={threads!r}: give a positive integer")
    out = Path(a.out)
    try:
        old = _read_existing(out)
        test_set = _photo_set(str(folder), get_profile(a.profile).resolution)    # read once, checked first
    except ValueError as e:
        ap.error(str(e))
    torch.set_num_threads(int(threads))
    commit = _commit()              # the renderer measured is the one at the start
    df = run(test_set, methods, a.profile, seeds, a.device)
    df.insert(0, "renderer", a.tag)
    if a.ceilings:
        ce = ceilings(test_set, a.profile)
        ce.insert(0, "renderer", "ceiling")
        df = pd.concat([df, ce], ignore_index=True)
    df.insert(1, "photos", folder.resolve().name)
    df["profile"] = a.profile
    df["date"] = _dt.date.today().isoformat()
    df["commit"] = commit
    df["command"] = " ".join(
        [f"OMP_NUM_THREADS={threads} python scripts/transfer_real.py <{folder.resolve().name}> --tag {a.tag}",
         f"--seeds {','.join(map(str, seeds))} --methods {','.join(methods)}", f"--profile {a.profile}"]
        + (["--ceilings"] if a.ceilings else []) + ([f"--device {a.device}"] if a.device != "cpu" else []))
    df = _merge(old, df)
    df["seed"] = pd.to_numeric(df["seed"], errors="coerce").astype("Int64")     # ceilings have none
    atomic_write_text(out, df.to_csv(index=False, float_format="%.4f"))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
