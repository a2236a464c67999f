"""Measure real produce photos and fit the rendered set's colours to them (issue 17).

Two steps, both writing ``colorsurvey/data/produce_colors.json`` (atomically):

``measure PHOTOS``
    For every photo of ``PHOTOS/<Category>/*.jpg`` (e.g. ``produce_calib``; a ``SOURCES.csv``
    with columns category, file, source_path splits a category into its varieties by the
    source folder, e.g. "Apple Golden 2"), the object mask
    (:func:`colorsurvey.data.white_background_mask`) and CIE Lab inside it. Per variety:
    the photos' mean Lab (mean and spread over photos), the within-photo spread, and the
    pooled 5/25/50/75/95 % quantiles of a and b; per category the same pooled; for the whole
    folder the background level, the darkening next to the object (contact shadow), the
    object's share of the frame and the sensor noise on the background. Stored under
    ``"measured"``; variants whose ``"measured"`` names a variety take their target from it.

``fit``
    Renders every variant (``SyntheticNCD`` forced to that variant, 32 px) and moves its
    stored ``albedo`` (Lab) by the difference between the variant's ``target`` mean and the
    rendered mean inside the mask, a few times: shading, highlights, secondary colours and
    camera effects change the mean, and the target is what a photo shows, shading included.

    PYTHONPATH=. python scripts/calibrate_colors.py measure /path/to/produce_calib
    PYTHONPATH=. python scripts/calibrate_colors.py fit

The photos are only read (never copied, never trained on).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from colorsurvey.color import lab_to_rgb, rgb_to_lab  # noqa: E402
from colorsurvey.data import produce_colors as pc  # noqa: E402
from colorsurvey.data.real import load_image, white_background_mask  # noqa: E402

Q = (5, 25, 50, 75, 95)


def _varieties(root: Path) -> dict[str, str]:
    """file name -> variety ("Apple Golden 2"), from SOURCES.csv when present."""
    out = {}
    src = root / "SOURCES.csv"
    if src.exists():
        with open(src, newline="") as f:
            for row in csv.DictReader(f):
                parts = row.get("source_path", "").split("/")
                out[row["file"]] = parts[-2] if len(parts) >= 3 and parts[-2] != parts[0] else row["category"]
    return out


def _r(x, digits: int = 2) -> list[float]:
    return [round(float(v), digits) for v in np.asarray(x, dtype=np.float64)]


def measure(root: Path) -> dict:
    var_of = _varieties(root)
    groups: dict[str, list] = defaultdict(list)
    bg_level, ring_drop, area, noise = [], [], [], []
    files = sorted(p for p in root.glob("*/*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not files:
        raise SystemExit(f"no photos under {root}/<Category>/ (jpg or png)")
    from scipy import ndimage as ndi
    for p in files:
        rgb = np.asarray(load_image(p), dtype=np.float32) / 255.0          # (H, W, 3)
        m = white_background_mask(rgb)
        if m.all() or not m.any():
            continue
        lab = rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1)).numpy()   # (3, H, W)
        px = lab[:, m]
        groups[f"{p.parent.name}/{var_of.get(p.name, p.parent.name)}"].append(px)
        bg = ~ndi.binary_dilation(m, iterations=max(2, m.shape[0] // 20))
        ring = ndi.binary_dilation(m, iterations=max(2, m.shape[0] // 25)) & ~ndi.binary_dilation(m, iterations=1)
        if bg.sum() > 50 and ring.sum() > 20:
            bg_level.append(float(rgb[bg].mean()))
            ring_drop.append(float(rgb[bg].mean() - rgb[ring].mean()))
            hp = rgb.mean(2) - ndi.median_filter(rgb.mean(2), 3)
            noise.append(float(hp[bg].std()))
        area.append(float(m.mean()))
    measured = {}
    by_cat: dict[str, list] = defaultdict(list)
    for key, pxs in sorted(groups.items()):
        means = np.stack([x.mean(1) for x in pxs])                         # (photos, 3)
        within = np.stack([x.std(1) for x in pxs]).mean(0)
        allpx = np.concatenate(pxs, 1)
        measured[key] = {
            "photos": len(pxs), "lab_mean": _r(means.mean(0)), "lab_spread": _r(means.std(0)),
            "lab_within": _r(within), "a_quantiles": _r(np.percentile(allpx[1], Q), 1),
            "b_quantiles": _r(np.percentile(allpx[2], Q), 1),
        }
        by_cat[key.split("/")[0]].extend(pxs)
    categories = {}
    for cat, pxs in sorted(by_cat.items()):
        allpx = np.concatenate(pxs, 1)
        means = np.stack([x.mean(1) for x in pxs])
        categories[cat] = {"photos": len(pxs), "lab_mean": _r(means.mean(0)),
                           "a_quantiles": _r(np.percentile(allpx[1], Q), 1),
                           "b_quantiles": _r(np.percentile(allpx[2], Q), 1)}
    scene = {
        "photos": len(area),
        "background_level": [round(float(np.percentile(bg_level, q)), 4) for q in (5, 50, 95)],
        "shadow_next_to_object": [round(float(np.percentile(ring_drop, q)), 4) for q in (5, 50, 95)],
        "object_share_of_frame": [round(float(np.percentile(area, q)), 3) for q in (5, 50, 95)],
        "background_noise_std": [round(float(np.percentile(noise, q)), 4) for q in (5, 50, 95)],
    }
    return {"source": f"measured on {root.name}, {len(files)} photos, by scripts/calibrate_colors.py measure",
            "quantiles_percent": list(Q), "varieties": measured, "categories": categories, "scene": scene}


def fit(data: dict, rounds: int = 3, per_variant: int = 24, size: int = 32) -> dict:
    from colorsurvey.data.synthetic import CATEGORIES, _rendered_variant_means
    for r in range(rounds):
        pc.set_table(data)
        worst, which = 0.0, ""
        for ci, cat in enumerate(CATEGORIES):
            for vi, v in enumerate(data["categories"][cat]["variants"]):
                got = _rendered_variant_means(ci, vi, per_variant, size).numpy()  # (3,) Lab
                tgt = np.array(pc.variant_target(data, cat, vi)["lab_mean"])
                diff = tgt - got
                if float(np.abs(diff[1:]).max()) > worst:
                    worst, which = float(np.abs(diff[1:]).max()), f"{cat} {v['caption']}"
                new = torch.tensor(np.array(v["albedo"]) + 0.8 * diff, dtype=torch.float32).view(1, 3, 1, 1)
                new = rgb_to_lab(lab_to_rgb(new))                    # keep the albedo inside the sRGB gamut
                v["albedo"] = [round(float(x), 2) for x in new.flatten()]
        print(f"round {r + 1}: largest ab correction {worst:.2f} ({which})", flush=True)
    return data


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure")
    m.add_argument("photos")
    f = sub.add_parser("fit")
    f.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--file", default=str(pc.DATA_FILE))
    a = ap.parse_args(argv)
    path = Path(a.file)
    data = json.loads(path.read_text())
    if a.cmd == "measure":
        root = Path(a.photos)
        if not root.is_dir():
            ap.error(f"no such photo folder: {root}")
        data["measured"] = measure(root)
        for cat, entry in data["categories"].items():
            for v in entry["variants"]:
                if v.get("measured"):
                    mv = data["measured"]["varieties"].get(v["measured"])
                    if mv is None:
                        raise SystemExit(f"{cat}: variant {v['caption']!r} names {v['measured']!r}, not measured")
    else:
        torch.set_num_threads(1)
        data = fit(data, a.rounds)
    pc.write_table(data, path)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
