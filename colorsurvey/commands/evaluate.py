"""``colorsurvey evaluate``: the survey's per-category table for one run (or published weights) on a
folder, NCD or the rendered set, with the ``gray`` and ``mean-ab`` baselines beside it.

    colorsurvey evaluate --run output/runs/unet-small-cpu-s0-... --data ~/photos/kodak24
    colorsurvey evaluate --pretrained colorful --data ncd --categories Apple Banana

A folder is all test data. Images are scored at their own size and aspect ratio (ab predicted at
the working size, upsampled, with the image's own L); ``--square S`` scores them centre-cropped to
S x S instead, as the notebooks do.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

HELP = "score a run (or published weights) on a folder, ncd or synthetic: the per-category table with baselines"
DEFAULT_METRICS = ("psnr", "ssim", "chroma_psnr", "pcqi", "uiqm", "colorfulness")


def add_parser(sub) -> None:
    s = sub.add_parser("evaluate", help=HELP, description=__doc__,
                       formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    w = s.add_mutually_exclusive_group(required=True)
    w.add_argument("--run", help="a run's folder, or its name in the run store")
    w.add_argument("--pretrained", metavar="KEY", help="a method with published weights (colorsurvey list)")
    s.add_argument("--size", default="paper", help="model size of --pretrained (default paper)")
    s.add_argument("--data", required=True, help="a folder of images (all of it), ncd or synthetic (their test split)")
    s.add_argument("--categories", nargs="*", default=None, help="only these categories (folder names)")
    s.add_argument("--work-size", type=int, default=None,
                   help="the shorter side the method sees, px (default: the run's training resolution; 256 for "
                        "published weights)")
    s.add_argument("--square", type=int, default=None, metavar="S",
                   help="score images centre-cropped to S x S instead of at their own size")
    s.add_argument("--limit", type=int, default=None, help="score at most N images (stratified over the categories)")
    s.add_argument("--metrics", nargs="*", default=list(DEFAULT_METRICS),
                   help=f"metric keys (default: {' '.join(DEFAULT_METRICS)}; also psnr_obj ssim_obj auc)")
    s.add_argument("--no-baselines", action="store_true", help="leave out the gray and mean-ab columns")
    s.add_argument("--baseline-data", default=None,
                   help="the data mean-ab measures its mean on (default: the run's training data, else synthetic)")
    s.add_argument("--out", default=None, help="where the tables go (default: output/evaluate/<method>-<data>)")
    s.add_argument("--runs", default=None, help="the run store (default: $COLORSURVEY_RUNS or output/runs)")
    s.add_argument("--device", default=None)
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(fn=run)


class _Subset:
    """The images of ``dataset`` at ``indices`` (for the stratified sample of some categories)."""

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, list(indices)
        self.files = [dataset.files[i] for i in self.indices] if hasattr(dataset, "files") else None
        self.categories = dataset.categories
        self._labels = dataset.labels()[self.indices]

    def __len__(self):
        return len(self.indices)

    def labels(self):
        return self._labels

    def batch(self, idx, device=None):
        """The images at these positions of the subset (``index``: their indices in the whole set)."""
        return self.dataset.batch([self.indices[int(i)] for i in idx], device)


def _open_test_data(data: str, size: int):
    from ..data import open_dataset

    low = str(data).lower()
    if low in ("synthetic", "ncd"):
        return open_dataset(low, split="test", size=size)
    p = Path(data).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"no such data folder: {data}. Give a folder of images, ncd or synthetic")
    return open_dataset(p, split="all", size=size)


def _select(dataset, categories):
    if not categories:
        return dataset
    known = {c.lower(): i for i, c in enumerate(dataset.categories)}
    bad = [c for c in categories if c.lower() not in known]
    if bad:
        raise ValueError(f"no category {', '.join(map(repr, bad))} in the data; its categories: "
                         f"{', '.join(dataset.categories)}")
    want = {known[c.lower()] for c in categories}
    return _Subset(dataset, [i for i, lab in enumerate(dataset.labels().tolist()) if lab in want])


def _baseline_models(args, record, resolution, device):
    """gray and mean-ab (its mean measured on the run's training data when known, else the rendered set)."""
    from .. import models
    from ..data import open_dataset
    from ..train import fit_statistics

    source = args.baseline_data or ((record or {}).get("info") or {}).get("data_source") or "synthetic"
    if str(source).lower() == "synthetic":
        train_set = open_dataset("synthetic", split="train", size=resolution)
    elif str(source).lower() == "ncd":
        train_set = open_dataset("ncd", split="train", size=resolution)
    else:
        if not Path(source).exists():
            raise FileNotFoundError(f"mean-ab's data {source} does not exist (any more): give --baseline-data "
                                    "synthetic|ncd|PATH, or --no-baselines")
        train_set = open_dataset(source, split="all", size=resolution, progress=False if args.quiet else None)
    gray, mean = models.create("gray").to(device), models.create("mean-ab").to(device)
    fit_statistics(mean, train_set, 16, 0, device)
    return {"gray": gray, "mean-ab": mean}, source


def run(args) -> int:
    import pandas as pd

    from .. import models
    from ..evaluate import TABLE_METRICS, evaluate, per_category_table, write_table
    from ..photos import evaluate_photos
    from ..runs import atomic_write_text, load
    from ..train import pick_device

    bad = [m for m in args.metrics if m not in TABLE_METRICS]
    if bad:
        raise ValueError(f"unknown metric {', '.join(bad)}; choose from {', '.join(TABLE_METRICS)}")
    for name in ("work_size", "square", "limit"):
        v = getattr(args, name)
        if v is not None and v < (8 if name != "limit" else 1):
            raise ValueError(f"--{name.replace('_', '-')} must be {'at least 8 px' if name != 'limit' else 'positive'}")
    device = pick_device(args.device)
    record = None
    if args.run:
        model = load(args.run, device=device, root=args.runs)
        record = model.run_record
        resolution = (record.get("info") or {}).get("resolution") or record["spec"]["profile"].get("resolution", 64)
        name = record["spec"]["method"]
    else:
        model = models.create(args.pretrained, size=args.size, pretrained=True).to(device)
        resolution, name = 256, f"{args.pretrained} (published)"
    work = args.work_size or resolution
    square = args.square
    data = _open_test_data(args.data, square or work)
    subset = _select(data, args.categories)
    contenders = {name: model}
    source = None
    if not args.no_baselines:
        base, source = _baseline_models(args, record, resolution, device)
        contenders.update(base)
    t0 = time.perf_counter()
    results = {}
    for label, m in contenders.items():
        if square:
            results[label] = evaluate(m, subset, limit=args.limit, device=device, progress=not args.quiet,
                                      metrics=tuple(args.metrics))
        else:
            results[label] = evaluate_photos(m, subset, work, limit=args.limit, metrics=args.metrics,
                                             progress=not args.quiet)
        results[label]["method"] = label
    table = per_category_table(results, categories=list(data.categories), metrics=args.metrics)
    data_name = Path(args.data).expanduser().name if Path(args.data).expanduser().exists() else args.data
    out = Path(args.out) if args.out else Path("output") / "evaluate" / f"{model.card.key}-{data_name}"
    how = f"{square}x{square} centre crops" if square else f"own size, ab at shorter side {work} px"
    caption = f"{name} on {data_name} ({how})" + (f"; mean-ab measured on {source}" if source else "")
    paths = write_table(table, out, "per_category", caption=caption)
    atomic_write_text(out / "per_image.csv", pd.concat(results.values()).to_csv(index=False))
    atomic_write_text(out / "evaluate.json", json.dumps(
        {"run": str(getattr(model, "run_path", "")) or None, "pretrained": args.pretrained, "data": str(args.data),
         "work_size": None if square else work, "square": square, "categories": args.categories,
         "metrics": args.metrics, "mean_ab_data": source, "seconds": round(time.perf_counter() - t0, 1)}, indent=1))
    with pd.option_context("display.width", 200, "display.max_columns", 40):
        print(table.round(3).to_string())
    print(f"{table.attrs.get('evaluated', '')}; {caption}")
    print(f"tables: {paths['csv']} (+ .html, .tex), per image: {out / 'per_image.csv'}")
    return 0
