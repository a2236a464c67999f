"""The evaluation protocol of the survey's NCD table: per-image metrics, the per-category
table, and a compute table.

The survey's NCD table (in the authors' repository; the survey's §3.2 names PSNR and SSIM as
the usual metrics, its §4 proposes PCQI, UIQM and a colour-channels-only comparison) reports,
per NCD category and for the whole set, PSNR, SSIM, PCQI and UIQM of each method's colorized
images against the ground truth. This module adds the §4 proposal of a chroma-only PSNR,
Hasler–Süsstrunk colorfulness, Zhang et al.'s AuC, and PSNR/SSIM over the object's pixels
only (``psnr_obj``, ``ssim_obj``: the data's mask; on NCD-like photos the white background
otherwise dominates). Tables are pandas DataFrames with rows = categories + ``Dataset`` and
columns = (method, metric), written as CSV, HTML and LaTeX with the best value of each row
marked.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from . import metrics as M
from .color import merge_lab
from .models.base import ColorizationModel, count_parameters
from .train import pick_device

__all__ = [
    "TABLE_METRICS", "SURVEY_METRICS", "SAMPLE_METRICS", "image_metrics", "sample_metrics", "evaluate", "evaluation_sample", "per_category_table",
    "dataset_row",
    "write_table", "colorized_rgb", "count_gflops", "inference_ms", "compute_row",
]

#: metric key -> (column label, higher is better?)
TABLE_METRICS: dict[str, tuple[str, bool | None]] = {
    "psnr": ("PSNR", True),
    "ssim": ("SSIM", True),
    "psnr_obj": ("PSNR obj", True),    # over the object's pixels (the data's mask), issue 16
    "ssim_obj": ("SSIM obj", True),
    "pcqi": ("PCQI", True),
    "uiqm": ("UIQM", True),
    "chroma_psnr": ("ab-PSNR", True),
    "auc": ("AuC", True),
    "colorfulness": ("Colorfulness", None),  # not better or worse: compare with ground truth
    # methods that sample (the diverse class, issue 13): N colourings per image
    "best_psnr": ("PSNR best-of-N", True),    # the best of the N samples against the ground truth
    "diversity": ("Diversity", None),         # mean pairwise ab distance of the samples, Lab units
}
#: metrics that need N samples per image (:func:`evaluate` with ``samples``)
SAMPLE_METRICS = ("best_psnr", "diversity")
SURVEY_METRICS = ("psnr", "ssim", "pcqi", "uiqm")
DATASET_ROW = "Dataset"


@torch.no_grad()
def colorized_rgb(model: ColorizationModel, batch: dict) -> torch.Tensor:
    """The method's colorized image for a batch: input L with predicted ab, sRGB (B, 3, H, W)."""
    ab = model.predict(batch)
    return merge_lab(batch["L"].float(), ab.to(batch["L"].device))


def image_metrics(gt_rgb: np.ndarray, out_rgb: np.ndarray, gt_ab: np.ndarray, out_ab: np.ndarray,
                  which=tuple(TABLE_METRICS), mask=None) -> dict[str, float]:
    """Every table metric for one image pair (uint8 RGB (H, W, 3), ab (2, H, W) in Lab units).

    ``mask`` (H, W) or (1, H, W): the object, for ``psnr_obj``/``ssim_obj``; None uses the
    white-background mask of ``gt_rgb`` (:func:`colorsurvey.metrics.object_mask_or_background`)."""
    r: dict[str, float] = {}
    if "psnr" in which:
        r["psnr"] = M.psnr(gt_rgb, out_rgb)
    if "ssim" in which:
        r["ssim"] = M.ssim(gt_rgb, out_rgb)
    if "psnr_obj" in which or "ssim_obj" in which:
        obj = M.object_mask_or_background(gt_rgb, mask)
        if "psnr_obj" in which:
            r["psnr_obj"] = M.masked_psnr(gt_rgb, out_rgb, obj)
        if "ssim_obj" in which:
            r["ssim_obj"] = M.masked_ssim(gt_rgb, out_rgb, obj)
    if "pcqi" in which:
        r["pcqi"] = M.pcqi(gt_rgb, out_rgb)
    if "uiqm" in which:
        r["uiqm"] = M.uiqm(out_rgb).uiqm
    if "chroma_psnr" in which:
        r["chroma_psnr"] = M.chroma_psnr(gt_ab, out_ab)
    if "auc" in which:
        r["auc"] = M.auc(gt_ab, out_ab)
    if "colorfulness" in which:
        r["colorfulness"] = M.colorfulness(out_rgb)
    return r


def sample_metrics(gt_rgb: np.ndarray, L: torch.Tensor, ab_samples: torch.Tensor, which=SAMPLE_METRICS) -> dict[str, float]:
    """The sample columns for one image: ``best_psnr``, the highest PSNR of its N colourings
    (each merged with L and quantised to 8-bit like the single prediction), and ``diversity``
    (:func:`colorsurvey.metrics.ab_diversity`). gt_rgb uint8 (H, W, 3); L (1, H, W) in 0..100;
    ab_samples (N, 2, H, W) in Lab units."""
    r: dict[str, float] = {}
    if "best_psnr" in which:
        rgb = merge_lab(L.float()[None].expand(ab_samples.shape[0], -1, -1, -1), ab_samples.float())
        r["best_psnr"] = max(M.psnr(gt_rgb, M.to_uint8(x)) for x in rgb)
    if "diversity" in which:
        r["diversity"] = M.ab_diversity(ab_samples)
    return r


def evaluation_sample(dataset, limit: int | None = None) -> tuple[list[int], str]:
    """Which test images to score: every one when ``limit`` is None or covers the set, else
    ``limit`` of them stratified over the categories — the categories take turns (in order, each
    its images in index order) until ``limit`` are drawn, so every category enters the table
    with as even a share as its size allows. Returns (sorted indices, a sentence saying which
    and how many, for table captions)."""
    n = len(dataset)
    if limit is None or limit >= n:
        return list(range(n)), f"all {n} test images"
    if limit < 1:
        raise ValueError(f"limit must be a positive number of images, got {limit}")
    labels = dataset.labels().tolist()
    queues: dict[int, list[int]] = {}
    for i, lab in enumerate(labels):
        queues.setdefault(int(lab), []).append(i)
    order = [queues[k] for k in sorted(queues)]
    picked: list[int] = []
    depth = 0
    while len(picked) < limit:
        for q in order:
            if depth < len(q) and len(picked) < limit:
                picked.append(q[depth])
        depth += 1
    chosen = set(picked)
    cats = sum(1 for q in order if q[0] in chosen)
    return sorted(picked), (f"{limit} of {n} test images, a sample stratified over the categories "
                            f"({cats} of {len(order)} categories present)")


@torch.no_grad()
def evaluate(model: ColorizationModel, dataset, *, batch_size: int = 32, limit: int | None = None,
             device: str | torch.device | None = None, progress: bool = True,
             metrics=tuple(TABLE_METRICS), samples: int | None = None, sample_seed: int = 0) -> pd.DataFrame:
    """Per-image metrics of ``model`` on ``dataset`` (one row per image: index, category, metrics).

    ``samples``: N colourings per image for the sample columns (``best_psnr``, ``diversity``;
    :func:`sample_metrics`), drawn with ``model.sample(L, N, seed=sample_seed, ...)``. None
    takes the model's ``eval_samples`` (the diverse methods declare N = 8) and leaves other
    methods without those columns; 0 turns sampling off. ValueError for a positive N with a
    model that has no ``sample`` method. The frame's ``attrs["samples"]`` holds N.

    ``limit``: score at most this many images, a sample stratified over the categories
    (:func:`evaluation_sample`); ``None`` scores every image. The returned frame's
    ``attrs["evaluated"]`` says which and how many (tables print it in their caption).

    The colorized image keeps the ground truth's L and takes the predicted ab; both are
    quantised to 8-bit sRGB before the RGB metrics, as image files would be.
    """
    device = pick_device(str(device) if device is not None else None)
    model.to(device).eval()
    n_samples = int(getattr(model, "eval_samples", 0) or 0) if samples is None else int(samples)
    sample_which = [m for m in SAMPLE_METRICS if m in metrics] if n_samples > 0 else []
    if sample_which and not getattr(model, "eval_samples", 0):
        raise ValueError(f"samples={n_samples}: {model.card.key} is not scored best-of-N (its eval_samples is 0: "
                         "it draws no samples); pass samples=0")
    indices, note = evaluation_sample(dataset, limit)
    rows = []
    bar = tqdm(total=len(indices), desc=f"eval {model.card.key}", disable=not progress, leave=False)
    for s in range(0, len(indices), batch_size):
        batch = dataset.batch(indices[s:s + batch_size], device)
        ab_pred = model.predict(batch).float()
        if sample_which:
            drawn = model.sample(batch["L"], n_samples, seed=sample_seed, **model.conditions_from_batch(batch)).float()
        out = merge_lab(batch["L"].float(), ab_pred)
        ab_out = ab_pred.cpu().numpy()
        ab_gt = batch["ab"].float().cpu().numpy()
        for i in range(out.shape[0]):
            gt8 = M.to_uint8(batch["rgb"][i])
            out8 = M.to_uint8(out[i])
            rec = {"index": int(batch["index"][i]), "category": dataset.categories[int(batch["label"][i])]}
            mask = batch["mask"][i] if "mask" in batch else None      # the object, for *_obj
            rec.update(image_metrics(gt8, out8, ab_gt[i], ab_out[i], which=metrics, mask=mask))
            if sample_which:
                rec.update(sample_metrics(gt8, batch["L"][i], drawn[i], which=sample_which))
            rows.append(rec)
        bar.update(out.shape[0])
    bar.close()
    df = pd.DataFrame(rows)
    df.attrs["evaluated"] = note
    df.attrs["samples"] = n_samples if sample_which else 0
    return df


def evaluated_note(frames) -> str:
    """The ``attrs["evaluated"]`` sentences of :func:`evaluate`'s frames, each said once."""
    notes = [f.attrs.get("evaluated") for f in frames if hasattr(f, "attrs")]
    return "; ".join(dict.fromkeys(n for n in notes if n))


def per_category_table(results: dict[str, pd.DataFrame], categories: list[str] | None = None,
                       metrics=None) -> pd.DataFrame:
    """Survey-style table: rows = categories + ``Dataset`` (mean over all images), columns =
    (method, metric). ``results`` maps a method name to :func:`evaluate`'s output."""
    frames = {}
    for name, df in results.items():
        cols = [m for m in (metrics or TABLE_METRICS) if m in df.columns]
        g = df.groupby("category")[cols].mean()
        if categories is not None:
            g = g.reindex([c for c in categories if c in g.index])
        g.loc[DATASET_ROW] = df[cols].mean()
        frames[name] = g.rename(columns={m: TABLE_METRICS[m][0] for m in cols})
    table = pd.concat(frames, axis=1)
    table.columns.names = ["method", "metric"]
    table.index.name = "category"
    note = evaluated_note(results.values())
    if note:
        table.attrs["evaluated"] = note
    return table


def dataset_row(table: pd.DataFrame) -> pd.DataFrame:
    """The dataset-level row as a small method x metric table."""
    return table.loc[DATASET_ROW].unstack("metric")


def _best_mask(table: pd.DataFrame) -> pd.DataFrame:
    """True where a value is the best of its row for its metric (ties all marked)."""
    mask = pd.DataFrame(False, index=table.index, columns=table.columns)
    label_to_dir = {label: hib for label, hib in TABLE_METRICS.values()}
    for metric in table.columns.get_level_values("metric").unique():
        hib = label_to_dir.get(metric)
        if hib is None:
            continue
        sub = table.xs(metric, axis=1, level="metric")
        if sub.shape[1] < 2:
            continue
        best = sub.max(axis=1) if hib else sub.min(axis=1)
        for method in sub.columns:
            mask[(method, metric)] = np.isclose(sub[method], best, rtol=0, atol=1e-12) & sub[method].notna()
    return mask


def write_table(table: pd.DataFrame, out_dir: str | os.PathLike, stem: str, digits: int = 3,
                caption: str = "") -> dict[str, Path]:
    """Write ``table`` as ``stem.csv``, ``stem.html`` and ``stem.tex`` (best per row in bold),
    atomically (each file appears complete or not at all). Returns the paths. The caption
    ends with which test images were scored (``table.attrs["evaluated"]``, set by
    :func:`per_category_table`)."""
    note = table.attrs.get("evaluated")
    if note and note not in caption:
        caption = f"{caption} ({note})" if caption else f"Scored on {note}"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    best = _best_mask(table)
    fmt = table.map(lambda v: "—" if pd.isna(v) else f"{v:.{digits}f}")
    html_cells = fmt.where(~best, "<b>" + fmt + "</b>")
    tex_cells = fmt.where(~best, "\\textbf{" + fmt + "}")

    paths = {"csv": out / f"{stem}.csv", "html": out / f"{stem}.html", "tex": out / f"{stem}.tex"}
    texts = {
        "csv": table.to_csv(float_format=f"%.{digits + 2}f"),
        "html": (f"<p>{caption}</p>\n" if caption else "") + html_cells.to_html(escape=False),
        "tex": _latex(tex_cells, caption),
    }
    for k, p in paths.items():
        tmp = p.with_suffix(p.suffix + ".tmp")
        tmp.write_text(texts[k])
        os.replace(tmp, p)
    return paths


def _latex(cells: pd.DataFrame, caption: str) -> str:
    """A booktabs tabular with a two-level header (method over metric)."""
    methods = list(dict.fromkeys(cells.columns.get_level_values(0)))
    per = [sum(1 for c in cells.columns if c[0] == m) for m in methods]
    esc = lambda s: str(s).replace("_", "\\_").replace("&", "\\&").replace("%", "\\%")  # noqa: E731
    lines = ["\\begin{table}[t]", "\\centering", "\\small"]
    if caption:
        lines.append(f"\\caption{{{esc(caption)}}}")
    lines.append("\\begin{tabular}{l" + "r" * cells.shape[1] + "}")
    lines.append("\\toprule")
    lines.append(" & " + " & ".join(f"\\multicolumn{{{n}}}{{c}}{{{esc(m)}}}" for m, n in zip(methods, per)) + " \\\\")
    lines.append(esc(cells.index.name or "") + " & " + " & ".join(esc(c[1]) for c in cells.columns) + " \\\\")
    lines.append("\\midrule")
    for idx, row in cells.iterrows():
        if idx == DATASET_ROW:
            lines.append("\\midrule")
        lines.append(esc(idx) + " & " + " & ".join(row.tolist()) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Compute: parameters, GFLOPs, speed
# --------------------------------------------------------------------------------------

def _example_inputs(model: ColorizationModel, size: int, device) -> tuple[torch.Tensor, dict]:
    """A size x size L (a brighter square on mid-gray) and the method's stand-in conditions."""
    L = torch.full((1, 1, size, size), 50.0, device=device)
    L[..., size // 4: 3 * size // 4, size // 4: 3 * size // 4] = 70.0
    return L, model.example_conditions(L)


@torch.no_grad()
def count_gflops(model: ColorizationModel, size: int = 256) -> float:
    """Forward GFLOPs (2 x multiply-accumulates) of ``colorize`` at size x size, counted by
    torch's FlopCounterMode on the CPU (convolutions and matrix products)."""
    from torch.utils.flop_counter import FlopCounterMode

    device = next(iter(model.parameters()), torch.empty(0)).device
    model.cpu().eval()
    try:
        L, cond = _example_inputs(model, size, torch.device("cpu"))
        with FlopCounterMode(display=False) as fc:
            model.colorize(L, **cond)
    finally:
        model.to(device)                  # back where the caller had it
    return fc.get_total_flops() / 1e9


@torch.no_grad()
def inference_ms(model: ColorizationModel, size: int = 256, device=None, repeats: int = 5) -> float:
    """Median wall time of one ``colorize`` call on one size x size image with the method's
    conditions (:meth:`~colorsurvey.models.base.ColorizationModel.example_conditions`), in ms."""
    device = pick_device(str(device) if device is not None else None)
    model.to(device).eval()
    L, cond = _example_inputs(model, size, device)
    model.colorize(L, **cond)  # warm-up
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        model.colorize(L, **cond)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return 1000 * float(np.median(times))


def compute_row(model: ColorizationModel, train_images_per_s: float | None = None, size: int = 256,
                device=None, repeats: int = 3) -> dict:
    """One row of the compute table for ``model``: parameters of what colourises, those used only
    in training (the ``training_only`` parts: discriminators, critics, loss networks) apart,
    GFLOPs and time of ``colorize``."""
    row = {
        "method": model.card.key,
        "size": model.size_name,
        "parameters": count_parameters(model, part="inference"),            # what colourises
        "training-only parameters": count_parameters(model, part="training_only"),   # discriminators, critics...
        f"GFLOPs@{size}": count_gflops(model, size),
        "train img/s": train_images_per_s,
        f"infer ms@{size}": inference_ms(model, size, device, repeats),
        "device": str(pick_device(str(device) if device is not None else None)),
        "CPU threads": torch.get_num_threads(),   # timings on a CPU scale with these
    }
    return row
