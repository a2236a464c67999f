"""The rendered set's colour targets: per category and variant, what colour real produce shows.

The table lives in ``colorsurvey/data/produce_colors.json`` (package data) (documented there, entry by
entry, with its source: "measured on produce_calib, N photos" by ``scripts/calibrate_colors.py``,
or a stated public fact). Per category it lists colour *variants* (red, golden and green
apples; ripe and unripe bananas; ...), each with

* ``caption`` (``{n}`` = the category's noun) and ``weight`` (share of the category's images);
* its target: ``measured`` (a variety key into ``measured.varieties``: the photos' mean CIE Lab
  inside the object mask, and its spread over photos) or ``target`` (``lab_mean``,
  ``lab_spread``, from a public fact);
* ``albedo``: the Lab body colour the renderer paints before shading, fitted by
  ``scripts/calibrate_colors.py fit`` so that the *rendered* mean Lab inside the mask (shading,
  highlights, secondary colours and camera effects included) meets the target;
* ``secondary`` and ``part`` (sRGB in [0, 1]): streaks, blush, stripes, seeds or spots, and
  stem, leaves, calyx or husk.

Lab is CIE L*a*b* (D65), L in 0..100, a and b about -128..127 (:mod:`colorsurvey.color`).
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from pathlib import Path

import torch

__all__ = ["DATA_FILE", "load_table", "set_table", "write_table", "variant_target", "category_target", "compiled"]

DATA_FILE = Path(__file__).resolve().parent / "produce_colors.json"   # package data: installs with the package
_override: dict | None = None


@functools.lru_cache(maxsize=1)
def _read(path: str) -> dict:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"the rendered set's colour table {p} is missing: it ships inside the package "
                                "(colorsurvey/data/produce_colors.json); reinstall colorsurvey (pip install -e .)")
    return json.loads(p.read_text())


def load_table() -> dict:
    """The colour table (``data/produce_colors.json``, or the one given to :func:`set_table`)."""
    return _override if _override is not None else _read(str(DATA_FILE))


def set_table(data: dict | None) -> None:
    """Render with ``data`` instead of the file (``None``: back to the file). For fitting."""
    global _override
    _override = data
    compiled.cache_clear()


def write_table(data: dict, path: str | os.PathLike = DATA_FILE) -> None:
    """Write the table atomically (temp file in the same folder, then ``os.replace``)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".json.tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)
    _read.cache_clear()
    compiled.cache_clear()


def variant_target(data: dict, category: str, i: int) -> dict:
    """``{"lab_mean": [L, a, b], "lab_spread": [...], "source": str}`` of variant ``i``."""
    v = data["categories"][category]["variants"][i]
    if v.get("measured"):
        m = data["measured"]["varieties"][v["measured"]]
        return {"lab_mean": m["lab_mean"], "lab_spread": m["lab_spread"],
                "source": f"measured on {data['measured']['source'].split(',')[0].split()[-1]}, "
                          f"{m['photos']} photos ({v['measured']})"}
    return {**v["target"], "source": v["source"]}


def category_target(data: dict, category: str) -> torch.Tensor:
    """The category's target mean Lab (3,): the variants' targets weighted by their share."""
    vs = data["categories"][category]["variants"]
    w = torch.tensor([v["weight"] for v in vs], dtype=torch.float64)
    m = torch.tensor([variant_target(data, category, i)["lab_mean"] for i in range(len(vs))], dtype=torch.float64)
    return (w / w.sum()) @ m


@functools.lru_cache(maxsize=1)
def compiled(categories: tuple[str, ...]) -> dict:
    """Tensors for the renderer, per (category, variant), padded to the most variants:
    ``cum`` (C, V) cumulative weights, ``albedo`` and ``spread`` (C, V, 3) Lab, ``sec`` and
    ``part`` (C, V, 3) sRGB, and ``captions`` (list of lists)."""
    data = load_table()
    V = max(len(data["categories"][c]["variants"]) for c in categories)
    C = len(categories)
    cum = torch.ones(C, V)
    albedo, spread = torch.zeros(C, V, 3), torch.zeros(C, V, 3)
    sec, part = torch.zeros(C, V, 3), torch.zeros(C, V, 3)
    captions = []
    for ci, c in enumerate(categories):
        vs = data["categories"][c]["variants"]
        w = torch.tensor([v["weight"] for v in vs], dtype=torch.float64)
        cs = torch.cumsum(w / w.sum(), 0).float()
        cum[ci, :len(vs)] = cs
        cum[ci, len(vs) - 1:] = 1.0 + 1e-6
        for vi, v in enumerate(vs):
            albedo[ci, vi] = torch.tensor(v["albedo"])
            spread[ci, vi] = torch.tensor(variant_target(data, c, vi)["lab_spread"])
            sec[ci, vi] = torch.tensor(v["secondary"])
            part[ci, vi] = torch.tensor(v["part"])
        captions.append([v["caption"] for v in vs])
    return {"cum": cum, "albedo": albedo, "spread": spread, "sec": sec, "part": part, "captions": captions, "V": V}
