"""Figures: image grids, loss curves, the ab gamut, and the survey-style comparison rows.

Every function returns the matplotlib Figure and, given ``save=path``, also writes it (PNG,
atomically) so notebooks can collect their figures in the output folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from .color import gray_rgb_from_L, lab_to_rgb, merge_lab

__all__ = ["to_image", "show_images", "sample_grid", "plot_history", "comparison_grid",
           "taxonomy_figure", "per_category_bars", "quality_vs_compute",
           "ab_gamut_image", "plot_ab_gamut", "save_figure"]


def save_figure(fig, path: str | os.PathLike | None, dpi: int = 110) -> None:
    if path is None:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    os.replace(tmp, path)


def to_image(x) -> np.ndarray:
    """A (3, H, W) / (1, H, W) tensor or (H, W[, 3]) array in [0, 1] -> (H, W, 3) float array."""
    if isinstance(x, torch.Tensor):
        x = x.detach().float().cpu()
        if x.dim() == 3 and x.shape[0] in (1, 3):
            x = x.permute(1, 2, 0)
        x = x.numpy()
    x = np.asarray(x)
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 255.0
    if x.ndim == 2:
        x = x[..., None]
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    return np.clip(x, 0, 1)


def show_images(rows: Sequence[Sequence], titles: Sequence[Sequence[str]] | None = None,
                row_labels: Sequence[str] | None = None, cell: float = 1.6, save=None, suptitle: str = ""):
    """A grid of images: ``rows[i][j]`` is anything :func:`to_image` accepts."""
    nr, nc = len(rows), max(len(r) for r in rows)
    fig, axes = plt.subplots(nr, nc, figsize=(cell * nc, cell * nr), squeeze=False)
    for i in range(nr):
        for j in range(nc):
            ax = axes[i][j]
            ax.set_xticks([]), ax.set_yticks([])
            for s in ax.spines.values():
                s.set_visible(False)
            if j < len(rows[i]) and rows[i][j] is not None:
                ax.imshow(to_image(rows[i][j]), interpolation="nearest")
            if titles is not None and j < len(titles[i]) and titles[i][j]:
                ax.set_title(titles[i][j], fontsize=8)
        if row_labels is not None:
            axes[i][0].set_ylabel(row_labels[i], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    save_figure(fig, save)
    return fig


def sample_grid(dataset, per_category: int = 1, columns: int = 10, save=None, cell: float = 1.2):
    """One image per category (or more), labelled — the survey's Fig. 9 for our data."""
    labels = dataset.labels()
    picks = []
    for c in range(len(dataset.categories)):
        idx = torch.nonzero(labels == c).flatten()[:per_category].tolist()
        picks += idx
    if not picks:
        raise ValueError(f"{dataset!r} has no images to show")
    batch = dataset.batch(picks)
    imgs = [batch["rgb"][i] for i in range(len(picks))]
    names = [dataset.categories[int(batch["label"][i])] for i in range(len(picks))]
    rows = [imgs[i:i + columns] for i in range(0, len(imgs), columns)]
    titles = [names[i:i + columns] for i in range(0, len(names), columns)]
    return show_images(rows, titles, cell=cell, save=save)


def plot_history(results: dict, save=None, title: str = "training loss", logy: bool = True):
    """Loss curves: ``results`` maps a name to a :class:`~colorsurvey.train.TrainResult`."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for name, r in results.items():
        for k, v in r.history.items():
            ax.plot(r.steps[:len(v)], v, label=f"{name}: {k}" if len(r.history) > 1 or len(results) > 1 else k)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if logy:
        ax.set_yscale("log")
    ax.set_title(title)
    if ax.lines:
        ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, save)
    return fig


@torch.no_grad()
def comparison_grid(batch: dict, predictions: dict[str, torch.Tensor], n: int = 6, save=None, cell: float = 1.5,
                    gap: int = 2):
    """Rows of gray input / each method's result / ground truth (the survey's qualitative figures).

    ``predictions`` maps a method name to its predicted ab (B, 2, H, W) in Lab units for
    ``batch``. The grid is drawn as one mosaic image (tiles ``gap`` pixels apart on white) with
    the column names above it: one image per figure rather than one plot per tile, so a
    benchmark's grid of 30+ methods draws in a fraction of the time.
    """
    n = min(n, batch["L"].shape[0])
    L = batch["L"][:n].float().cpu()
    names = ["gray input", *predictions.keys(), "ground truth"]
    tiles = []
    for i in range(n):
        row = [gray_rgb_from_L(L[i:i + 1])[0]]
        row += [merge_lab(L[i:i + 1], ab[i:i + 1].float().cpu())[0] for ab in predictions.values()]
        row.append(batch["rgb"][i].cpu())
        tiles.append([to_image(t) for t in row])
    H, W = tiles[0][0].shape[:2]
    k = len(names)
    mosaic = np.ones((n * H + (n - 1) * gap, k * W + (k - 1) * gap, 3))
    for i, row in enumerate(tiles):
        for j, t in enumerate(row):
            mosaic[i * (H + gap):i * (H + gap) + H, j * (W + gap):j * (W + gap) + W] = np.clip(t, 0, 1)
    fig, ax = plt.subplots(figsize=(cell * k, cell * n))
    ax.imshow(mosaic, interpolation="nearest")
    ax.set_axis_off()
    for j, name in enumerate(names):
        ax.text(j * (W + gap) + W / 2, -H * 0.04, name, ha="center", va="bottom", fontsize=8)
    fig.subplots_adjust(left=0, right=1, bottom=0, top=1)
    save_figure(fig, save)
    return fig


def ab_gamut_image(L: float = 50.0, extent: float = 110.0, n: int = 221) -> np.ndarray:
    """The ab plane at lightness ``L`` as an image; out-of-sRGB-gamut colours are white.

    Rows go from b = +extent (top) to -extent; columns from a = -extent to +extent.
    """
    a = torch.linspace(-extent, extent, n)
    b = torch.linspace(extent, -extent, n)
    bb, aa = torch.meshgrid(b, a, indexing="ij")
    lab = torch.stack([torch.full_like(aa, float(L)), aa, bb])
    rgb = lab_to_rgb(lab, clip=False)
    inside = ((rgb >= -1e-3) & (rgb <= 1 + 1e-3)).all(dim=0)
    img = rgb.clamp(0, 1).permute(1, 2, 0).numpy()
    img[~inside.numpy()] = 1.0
    return img


def plot_ab_gamut(L: float = 50.0, bins: torch.Tensor | None = None, points=None, ax=None,
                  extent: float = 110.0, save=None, title: str | None = None):
    """The in-gamut ab plane at ``L``, optionally with bin centres and marked points."""
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(3.6, 3.6))
    ax.imshow(ab_gamut_image(L, extent), extent=(-extent, extent, -extent, extent))
    if bins is not None:
        b = bins.cpu().numpy()
        ax.scatter(b[:, 0], b[:, 1], s=3, c="k", alpha=0.5, label=f"{len(b)} bins")
    if points is not None:
        p = np.asarray(points, dtype=float).reshape(-1, 2)
        ax.scatter(p[:, 0], p[:, 1], s=40, facecolors="none", edgecolors="k")
    ax.set_xlabel("a")
    ax.set_ylabel("b")
    ax.set_title(title or f"ab gamut at L = {L:g}")
    if fig is not None:
        fig.tight_layout()
        save_figure(fig, save)
    return fig if fig is not None else ax.figure


# --------------------------------------------------------------------------------------
# Benchmark figures (notebook 08)
# --------------------------------------------------------------------------------------

TAXONOMY_CLASSES = [  # the survey's seven classes (§2.1-§2.7), in its order
    ("plain", "Plain networks", "2.1"), ("user-guided", "User-guided networks", "2.2"),
    ("domain-specific", "Domain-specific", "2.3"), ("text-based", "Text-based", "2.4"),
    ("diverse", "Diverse colorization", "2.5"), ("multi-path", "Multi-path networks", "2.6"),
    ("exemplar-based", "Exemplar-based", "2.7"),
]


def taxonomy_figure(cards, save=None):
    """The survey's taxonomy (its Fig. 1) drawn from the registry: one column per class, the
    methods implemented here listed under it (classes with none say so)."""
    fig, ax = plt.subplots(figsize=(13, 4.2))
    ax.axis("off")
    ax.text(0.5, 0.97, "Deep image colorization (survey taxonomy)", ha="center", va="top", fontsize=13,
            weight="bold", transform=ax.transAxes)
    n = len(TAXONOMY_CLASSES)
    for i, (key, title, sec) in enumerate(TAXONOMY_CLASSES):
        x = (i + 0.5) / n
        ax.annotate("", xy=(x, 0.80), xytext=(0.5, 0.90), xycoords="axes fraction",
                    arrowprops=dict(arrowstyle="-", color="#888"))
        mine = [c for c in cards if c.taxonomy == key]
        color = "#d9f0d3" if mine else "#eeeeee"
        ax.text(x, 0.78, f"§{sec}\n{title}", ha="center", va="top", fontsize=9, weight="bold",
                transform=ax.transAxes, bbox=dict(boxstyle="round", fc=color, ec="#777"))
        body = "\n".join(f"{c.title.split(':')[0][:26]}\n({c.year})" for c in mine) or "(not implemented yet)"
        ax.text(x, 0.60, body, ha="center", va="top", fontsize=7.5, transform=ax.transAxes,
                color="#222" if mine else "#999")
    fig.tight_layout()
    save_figure(fig, save)
    return fig


def per_category_bars(table, metric: str = "PSNR", save=None):
    """Bar chart of one metric per category, one bar per method (rows of a per-category table)."""
    sub = table.xs(metric, axis=1, level="metric")
    fig, ax = plt.subplots(figsize=(max(8, 0.55 * len(sub)), 3.6))
    k = sub.shape[1]
    width = 0.8 / max(k, 1)
    x = np.arange(len(sub))
    for j, method in enumerate(sub.columns):
        ax.bar(x + (j - (k - 1) / 2) * width, sub[method].values, width, label=method)
    ax.set_xticks(x)
    ax.set_xticklabels(sub.index, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel(metric)
    lo = np.nanmin(sub.values)
    ax.set_ylim(lo - 0.1 * abs(lo) if np.isfinite(lo) else 0, None)
    ax.legend(fontsize=7, ncol=min(k, 4))
    fig.tight_layout()
    save_figure(fig, save)
    return fig


def quality_vs_compute(dataset_table, compute_table, metric: str = "PSNR",
                       baselines=("gray", "mean-ab"), save=None):
    """Dataset-level ``metric`` against parameters and against GFLOPs (one point per method;
    the trivial baselines, which have no parameters, drawn as horizontal lines)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    cols = [c for c in compute_table.columns if c.startswith("GFLOPs")]
    for ax, (col, label) in zip(axes, (("parameters", "parameters"), (cols[0] if cols else None, "GFLOPs at 256x256"))):
        for method in compute_table.index:
            if method in baselines or method not in dataset_table.index or col is None:
                continue
            xv, yv = compute_table.loc[method, col], dataset_table.loc[method, metric]
            if not (np.isfinite(xv) and xv > 0 and np.isfinite(yv)):
                continue
            err = dataset_table.loc[method].get(metric + " ±", np.nan)
            ax.errorbar(xv, yv, yerr=err if np.isfinite(err) else None, fmt="o", capsize=3)
            ax.annotate(method, (xv, yv), textcoords="offset points", xytext=(4, 4), fontsize=8)
        for b, style in zip(baselines, ("--", ":")):
            if b in dataset_table.index:
                ax.axhline(dataset_table.loc[b, metric], ls=style, c="k", lw=1, label=f"{b} baseline")
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel(f"dataset {metric}")
        ax.legend(fontsize=8)
    fig.suptitle(f"quality vs compute ({metric})")
    fig.tight_layout()
    save_figure(fig, save)
    return fig
