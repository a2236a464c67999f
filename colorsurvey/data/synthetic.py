"""The embedded default dataset: a procedurally rendered, NCD-like set (no download needed).

The survey's Natural-Color Dataset (NCD, §4) holds photos of single fruits and vegetables on
a white background, in 20 categories. Its argument is that colour is *learnable* there: the
colour of a banana or a brinjal follows from its shape and texture. :class:`SyntheticNCD`
renders images with that property, in batches, on any device and at any resolution:

* each category has an implicit (signed-distance) silhouette with per-sample position,
  scale, rotation, aspect, mirroring and shape parameters (dents, stems, crowns, calyces,
  leaves, cherry pairs, corn husks, ...); a single object fills the frame as in NCD and
  Fruits-360 photos (its bounding box spans 84-100 % of the frame's side);
* each category has its natural colour range: named colour variants (red / green / yellow
  apples, ripe, spotted and unripe bananas, dark and striped brinjals, ...) sampled per
  image, with brightness and hue jitter and a secondary colour (streaks, blush, stripes,
  seeds, spots);
* shading from a height field (a dome over the silhouette plus per-category bump texture:
  orange pores, corn kernels, strawberry seeds, broccoli buds, okra ridges, potato eyes):
  Lambert + Blinn-Phong highlight from an upper-left light, soft contact shadow on a
  pure-ish white background (0.94-1.0 with slight gradient and tint), edges anti-aliased
  over one pixel;
* everything rendered is also returned: ``label``, ``mask`` (coverage), ``depth`` (the
  height field, in units of the image width, 0 on the background), ``box``, ``caption``
  ("a ripe yellow banana"), ``palette`` and ``instances``.

Determinism: sample ``i`` of ``SyntheticNCD(split, seed=s)`` draws all its random numbers
from a CPU ``torch.Generator`` seeded by a hash of (s, split, i), so the same index always
gives the same image (on any device, up to float rounding) whatever else is in the batch,
and the train and test splits never share a sample. The random numbers are then moved to
the device and the image is rendered there, vectorised over the batch (a Python loop runs
over the categories present and over the object slots, never over pixels).

Palette order (documented, not sorted): for one object ``[body colour, body in shade,
secondary colour (streaks/blush/stripes/seeds/spots), part colour (stem/leaves/calyx/husk),
background]``; for several objects ``[body of the largest, body of the 2nd, body of the 3rd
or secondary of the largest, body of the 4th or part of the largest, background]``.

Multi-object scenes (``objects=2..4`` or a range such as ``(2, 4)``): several smaller
objects; ``label``/``box`` are those of the largest (by rendered area), ``mask`` is the
union, and ``instances`` lists ``(label, box)`` of every object, largest first (it is
present for single-object sets too, with one entry).

Speed: each object is drawn in a window around it (from per-category extents, held to the
full frame by a test; a single object's window is most of the frame), stems and leaves in smaller sub-windows, value noise by matrix
products, and the contact shadow at a quarter of the resolution. On a CPU the cost is
mostly per-op overhead (about 7,000 small tensor ops per batch of 64, ~300 per category
present), so larger batches render more images per second (:func:`render_throughput`).
On CUDA the same code runs, with a few small host syncs per batch (sub-window bounds).
"""

from __future__ import annotations

import functools
import gc
import math
import operator
import time
from typing import Sequence

import torch
import torch.nn.functional as F

from . import _camera, _shapes, produce_colors
from ..color import lab_to_rgb
from ._shapes import _DRAW, _STEM, _Obj, _f  # noqa: F401  (_f, _Obj: used by tests and tools)
from .base import ColorDataset

__all__ = ["SyntheticNCD", "CATEGORIES", "NOUNS", "VARIANTS", "render_throughput"]

#: The survey's 20 NCD categories, in label order.
CATEGORIES = [
    "Apple", "Banana", "Brinjal", "Broccoli", "CapsicumGreen", "Carrot", "Cherry",
    "ChilliGreen", "Corn", "Cucumber", "LadyFinger", "Lemon", "Orange", "Peach", "Pear",
    "Plum", "Pomegranate", "Potato", "Strawberry", "Tomato",
]

#: The noun used in captions, per category (every caption contains its category's noun).
NOUNS = [
    "apple", "banana", "brinjal (eggplant)", "broccoli", "capsicum", "carrot", "cherry",
    "chilli", "corn cob", "cucumber", "lady finger (okra)", "lemon", "orange", "peach", "pear",
    "plum", "pomegranate", "potato", "strawberry", "tomato",
]


#: Colour variants per category: (caption template, weight, body, secondary, part) in sRGB,
#: read from the colour table ``colorsurvey/data/produce_colors.json`` (:mod:`.produce_colors`): ``body`` is
#: the fitted albedo (the colour painted before shading; each image draws its own around it).
#: ``{n}`` in the template is the category's noun.
VARIANTS: dict[str, list[tuple]] = {}


def _variants() -> dict[str, list[tuple]]:
    data = produce_colors.load_table()
    out = {}
    for c in CATEGORIES:
        vs = data["categories"][c]["variants"]
        body = lab_to_rgb(torch.tensor([v["albedo"] for v in vs]).view(-1, 3, 1, 1)).view(-1, 3).tolist()
        out[c] = [(v["caption"], v["weight"], tuple(round(x, 4) for x in rgb), tuple(v["secondary"]),
                   tuple(v["part"])) for v, rgb in zip(vs, body)]
    return out


VARIANTS.update(_variants())

# Per category: (size factor in scenes of several objects, rotation half-range in radians,
# (half-extent u, half-extent v)).
_META = {
    "Apple": (0.76, 0.35, (0.95, 1.25)),
    "Banana": (0.95, math.pi, (1.05, 0.65)),
    "Brinjal": (0.95, math.pi, (0.85, 1.05)),
    "Broccoli": (0.92, 0.35, (0.8, 1.08)),
    "CapsicumGreen": (0.82, 0.35, (0.85, 1.02)),
    "Carrot": (0.98, math.pi, (0.7, 1.24)),
    "Cherry": (0.8, 0.4, (0.85, 1.0)),
    "ChilliGreen": (0.97, math.pi, (0.55, 1.03)),
    "Corn": (0.98, math.pi, (0.65, 1.1)),
    "Cucumber": (0.97, math.pi, (0.42, 1.05)),
    "LadyFinger": (0.97, math.pi, (0.4, 1.03)),
    "Lemon": (0.82, math.pi, (1.0, 0.62)),
    "Orange": (0.76, 0.6, (0.83, 0.83)),
    "Peach": (0.78, 0.4, (0.85, 1.25)),
    "Pear": (0.9, 0.4, (0.72, 1.02)),
    "Plum": (0.72, 0.5, (0.72, 0.95)),
    "Pomegranate": (0.8, 0.3, (0.8, 1.06)),
    "Potato": (0.82, math.pi, (1.05, 0.8)),
    "Strawberry": (0.86, 0.45, (0.62, 1.0)),
    "Tomato": (0.78, 0.4, (0.9, 0.86)),
}

_K = 4                         # object slots drawn per sample (whatever ``objects`` is)
_NP = 32                       # uniform numbers per object slot
_NS = 16                       # uniform numbers per scene (layout, background, light, camera)
_GRIDS = (6, 16, 48)           # value-noise octaves: grid nodes across the image
_AMP = (1.3, 1.5, 1.7)         # their amplitudes (noise values are about +-1.5)
_TOT = _NS + _K * _NP + sum(g * g for g in _GRIDS)
_SPLITS = {"train": 0, "test": 1}
_DEFAULT_N = {"train": 2000, "test": 200}
_M64 = (1 << 64) - 1


@functools.lru_cache(maxsize=64)
def _cubic_matrix(G: int, size: int, device: str) -> torch.Tensor:
    """(size, G) Catmull-Rom interpolation from G grid nodes spanning the image to pixel centres.

    Value noise is interpolated with two matrix products per octave (rows, then columns),
    which is much cheaper on a CPU than sampling a texture pixel by pixel.
    """
    t = (torch.arange(size, dtype=torch.float64) + 0.5) / size * (G - 1)
    j = torch.floor(t)
    f = t - j
    w = torch.stack([(-f ** 3 + 2 * f ** 2 - f) / 2, (3 * f ** 3 - 5 * f ** 2 + 2) / 2,
                     (-3 * f ** 3 + 4 * f ** 2 + f) / 2, (f ** 3 - f ** 2) / 2], 1)
    idx = (j.long().view(-1, 1) + torch.arange(-1, 3).view(1, 4)).clamp(0, G - 1)
    A = torch.zeros(size, G, dtype=torch.float64).scatter_add_(1, idx, w)
    return A.float().to(device)


@functools.lru_cache(maxsize=32)
def _shadow_matrices(size: int, low: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(low, size) area averaging and (size, low) bilinear upsampling, as matrices."""
    eye = torch.eye(size, dtype=torch.float64).unsqueeze(0)
    down = F.adaptive_avg_pool1d(eye, low)[0].T.contiguous()
    up = F.interpolate(torch.eye(low, dtype=torch.float64).unsqueeze(1), size=size, mode="linear",
                       align_corners=False)[:, 0].T.contiguous()
    return down.float().to(device), up.float().to(device)


def _mix64(x: int) -> int:
    """splitmix64 finaliser: a well-mixed 64-bit hash of an integer."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _sample_seed(seed: int, split: int, index: int) -> int:
    h = _mix64(_mix64(int(seed) & _M64) ^ ((split + 1) * 0x632BE59BD9B4E019 & _M64))
    return _mix64(h ^ int(index)) & ((1 << 63) - 1)



_SIZE = torch.tensor([_META[c][0] for c in CATEGORIES])
_ROT = torch.tensor([_META[c][1] for c in CATEGORIES])
_LAYOUT = {2: (0.44, 0.52), 3: (0.47, 0.44), 4: (0.48, 0.40)}  # several objects: ring radius, base scale
# Half-extents (max |u|, max |v|) of each category's drawing in its own frame, stems and
# leaves included: objects are rendered in a window this size (tests hold it to the full frame).
_EXT = torch.tensor([_META[c][2] for c in CATEGORIES])
_CROP = True
# A single object's bounding box, as a share of the frame's side. Fruits-360 photos are cropped
# to the fruit: in produce_calib every object reaches the frame's border (box side 1.0 at 64 px).
_FILL = (0.84, 1.0)
# The drawn object's bounding box as a share of its extents' box (_EXT, which is generous to
# be safe for windows): the median over 2,000 renders per category, measured once; a test holds
# every category's median box side to _FILL's range.
_TIGHT = torch.tensor([{
    "Apple": 0.63, "Banana": 0.69, "Brinjal": 0.68, "Broccoli": 0.75, "CapsicumGreen": 0.75,
    "Carrot": 0.66, "Cherry": 0.81, "ChilliGreen": 0.79, "Corn": 0.71, "Cucumber": 0.79,
    "LadyFinger": 0.85, "Lemon": 0.67, "Orange": 0.77, "Peach": 0.61, "Pear": 0.82, "Plum": 0.75,
    "Pomegranate": 0.74, "Potato": 0.64, "Strawberry": 0.75, "Tomato": 0.8}[c] for c in CATEGORIES])


@functools.lru_cache(maxsize=1)
def _parts_hash() -> str:
    """sha256 (16 hex digits) of the renderer's other sources and of its colour table."""
    import hashlib
    from pathlib import Path
    h = hashlib.sha256()
    for f in (Path(_shapes.__file__), Path(_camera.__file__), Path(produce_colors.__file__), produce_colors.DATA_FILE):
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _integer(x):
    """``x`` as an int when it is an integer (Python or numpy, not bool), else None."""
    if isinstance(x, bool):
        return None
    try:
        return operator.index(x)
    except TypeError:
        return None


def _captions(cat: torch.Tensor, var: torch.Tensor, captions: list[list[str]]) -> list[str]:
    return [captions[c][k].format(n=NOUNS[c]) for c, k in zip(cat.tolist(), var.tolist())]


class SyntheticNCD(ColorDataset):
    """A procedurally rendered, NCD-like dataset of the survey's 20 fruit and vegetable categories.

    ``SyntheticNCD(split="train" | "test", size=64, n=None, seed=0, objects=1)``

    * ``n`` defaults to 2000 (train) or 200 (test); sample ``i`` has label ``i % 20``
      (so the test split is balanced, 10 per category), except in multi-object scenes where
      the label is the category of the largest object (slot 0, usually ``i % 20``).
    * ``objects``: 1, 2, 3 or 4 objects per image, or a range ``(lo, hi)`` drawn per sample.
    * batches carry rgb, L, ab, label, mask, depth, box, caption, palette, index and
      ``instances`` (a list per sample of ``(label, (x0, y0, x1, y1))``, largest first).
    """

    categories = list(CATEGORIES)
    name = "synthetic-ncd"

    def __init__(self, split: str = "train", size: int = 64, n: int | None = None, seed: int = 0,
                 objects: int | Sequence[int] = 1):
        if split not in _SPLITS:
            raise ValueError(f"split must be 'train' or 'test', got {split!r} (the rendered set has a fixed "
                             "train/test split; there is no separate validation split)")
        size_i, n_i = _integer(size), (_DEFAULT_N[split] if n is None else _integer(n))
        if size_i is None or size_i < 16:
            raise ValueError(f"size must be an integer >= 16 (pixels per side), got {size!r}")
        if n_i is None or n_i < 1:
            raise ValueError(f"n must be a positive integer (number of images), got {n!r}")
        size, n = size_i, n_i
        if _integer(objects) is not None:
            lo = hi = _integer(objects)
        elif isinstance(objects, (tuple, list, range)) and len(objects) >= 1:
            vals = [_integer(x) for x in objects]
            lo, hi = (vals[0], vals[-1]) if not isinstance(objects, range) else (min(vals), max(vals))
        else:
            raise ValueError(f"objects must be 1, 2, 3, 4 or a range like (2, 4), got {objects!r}")
        if not (lo is not None and hi is not None and 1 <= lo <= hi <= _K):
            raise ValueError(f"objects must be between 1 and {_K} per image (or a range (lo, hi) within "
                             f"1..{_K}), got {objects!r}")
        self.split, self.size, self.n, self.seed = split, int(size), int(n), int(seed)
        self.objects = (lo, hi)
        self.name = f"synthetic-ncd-{split}"

    def __len__(self) -> int:
        return self.n

    def identity_params(self) -> dict:
        """Split, n, size, seed and objects fix every image (with the renderer's source hash; the
        parts outside this file - shapes, camera effects, the colour table - are hashed here)."""
        return {"split": self.split, "n": self.n, "size": self.size, "seed": self.seed, "objects": list(self.objects),
                "parts": _parts_hash()}

    def labels(self) -> torch.Tensor:
        if self.objects == (1, 1):
            return torch.arange(self.n) % len(CATEGORIES)
        return super().labels()

    def __repr__(self) -> str:
        return (f"SyntheticNCD(split={self.split!r}, size={self.size}, n={self.n}, seed={self.seed}, "
                f"objects={self.objects if self.objects[0] != self.objects[1] else self.objects[0]})")

    # -- random parameters (CPU, per sample) --------------------------------------------
    def _draw(self, indices: torch.Tensor) -> torch.Tensor:
        buf = torch.empty(len(indices), _TOT)
        g = torch.Generator()
        code = _SPLITS[self.split]
        for j, i in enumerate(indices.tolist()):
            g.manual_seed(_sample_seed(self.seed, code, i))
            torch.rand(_TOT, generator=g, out=buf[j])
        return buf

    def _load(self, indices: torch.Tensor, device: torch.device) -> dict:
        buf = self._draw(indices)
        return _render(buf, indices, self.size, self.objects, device)


def _render(buf: torch.Tensor, indices: torch.Tensor, size: int, objects: tuple[int, int],
            device: torch.device) -> dict:
    """Render a batch from its random numbers ``buf`` (B, _TOT) (see the module docstring).

    Everything per sample is computed on the CPU first (layout, colours, transforms, crop
    windows); each category's samples then travel to the device in one packed tensor and are
    drawn there in a window around the object, shaded, and pasted into the frame.
    """
    B = buf.shape[0]
    nc = len(CATEGORIES)
    scene = buf[:, :_NS]
    obj = buf[:, _NS:_NS + _K * _NP].view(B, _K, _NP)
    lo, hi = objects
    count = (lo + (scene[:, 0] * (hi - lo + 1)).long().clamp(max=hi - lo)) if hi > lo else torch.full((B,), lo)
    K = hi
    multi = K > 1
    step = 2.0 / size

    # ---- layout, categories, colours, transforms, crop windows (CPU, vectorised) ----
    cat = (obj[:, :, 0] * nc).long().clamp(max=nc - 1)
    cat[:, 0] = indices % nc
    tab = produce_colors.compiled(tuple(CATEGORIES))
    var = (obj[:, :, 7].unsqueeze(-1) > tab["cum"][cat]).sum(-1).clamp(max=tab["V"] - 1)
    # body: Lab drawn around the variant's fitted albedo with the measured spread over photos
    z = torch.special.ndtri(obj[:, :, 8:11].clamp(0.01, 0.99))
    lab = tab["albedo"][cat, var] + tab["spread"][cat, var] * z
    body = lab_to_rgb(lab.view(-1, 3, 1, 1)).view(B, _K, 3)
    bright = (0.9 + 0.2 * obj[:, :, 11]).view(B, _K, 1)
    cols = torch.stack([body, (tab["sec"][cat, var] * bright).clamp(0.0, 1.0),
                        (tab["part"][cat, var] * bright).clamp(0.0, 1.0)], 2)     # (B, K, 3, 3): body, sec, part
    rot = (2 * obj[:, :, 4] - 1) * _ROT[cat]
    asp = 0.93 + 0.14 * obj[:, :, 5]
    # A scene with one object: it fills the frame as in the photos (NCD, Fruits-360; measured on
    # produce_calib: the object covers 72 % of the frame at the median, 24 % for long corn, and
    # always reaches the border): its rotated bounding box spans _FILL of the frame's side
    # (_TIGHT turns the generous window extents into the drawn box), shifted by at most half
    # the margin left. Larger or off-centre parts (stems, leaves) may touch the border, as there.
    c_, s_ = torch.cos(rot), torch.sin(rot)
    # half-width and half-height of the rotated box of the extents (_EXT), in object units
    bw = c_.abs() * _EXT[cat, 0] * asp + s_.abs() * _EXT[cat, 1] / asp
    bh = s_.abs() * _EXT[cat, 0] * asp + c_.abs() * _EXT[cat, 1] / asp
    fill = _FILL[0] + (_FILL[1] - _FILL[0]) * obj[:, :, 3]
    scale = fill / (_TIGHT[cat] * torch.maximum(bw, bh))
    cx = 0.5 * (1.0 - scale * _TIGHT[cat] * bw).clamp(min=0.0) * (2 * obj[:, :, 1] - 1)
    cy = 0.5 * (1.0 - scale * _TIGHT[cat] * bh).clamp(min=0.0) * (2 * obj[:, :, 2] - 1)
    if hi > 1:
        # Scenes with several objects (per sample: a range such as (1, 3) mixes both layouts):
        # smaller objects on a ring, the first one largest, each scaled by its category's size.
        radius, base = torch.tensor([_LAYOUT.get(c, (0.0, 0.0)) for c in range(1, _K + 1)])[count - 1].unbind(-1)
        slot = torch.arange(_K).view(1, _K)
        ang = 2 * math.pi * (scene[:, 1:2] + slot / count.view(B, 1).float())
        rel = torch.where(slot == 0, 0.92 + 0.08 * obj[:, :, 3], 0.62 + 0.18 * obj[:, :, 3])
        several = (count > 1).view(B, 1)
        scale = torch.where(several, base.view(B, 1) * rel * _SIZE[cat], scale)
        cx = torch.where(several, radius.view(B, 1) * torch.cos(ang) + 0.05 * (2 * obj[:, :, 1] - 1), cx)
        cy = torch.where(several, radius.view(B, 1) * torch.sin(ang) * 0.9 + 0.05 * (2 * obj[:, :, 2] - 1), cy)
    flip = torch.where(obj[:, :, 6] < 0.5, -1.0, 1.0)
    half_px = scale * (size / 2.0)
    win_w = (2.0 * half_px * bw + 5.0).ceil().clamp(max=size)      # the extents' rotated box, in pixels
    win_h = (2.0 * half_px * bh + 5.0).ceil().clamp(max=size)
    pcx, pcy = (cx + 1.0) * (size / 2.0), (cy + 1.0) * (size / 2.0)
    # pixel (i, j) of a window at (ox, oy) -> object coordinates: u = u0 + uj j + ui i, with
    # u0 = U0 + uj ox + ui oy (likewise v); and object -> window pixel for sub-windows
    fu, fv = flip / (scale * asp), asp / scale
    ax0, ay0 = 0.5 * step - 1.0 - cx, 0.5 * step - 1.0 - cy
    uj, ui = fu * c_ * step, fu * s_ * step
    vj, vi = -fv * s_ * step, fv * c_ * step
    U0, V0 = fu * (c_ * ax0 + s_ * ay0), fv * (c_ * ay0 - s_ * ax0)
    sp = scale * (size / 2.0)
    fr_cu, fr_cv, fr_ru, fr_rv = c_ * sp * asp * flip, -s_ * sp / asp, s_ * sp * asp * flip, c_ * sp / asp
    geo = torch.stack([U0, uj, ui, V0, vj, vi, pcx, pcy, win_w, win_h, fr_cu, fr_cv, fr_ru, fr_rv], 2)
    az = -2.25 + 0.5 * (scene[:, 2] - 0.5)          # light from the upper left, jittered
    el = 0.78 + 0.2 * scene[:, 3]
    light = torch.stack([torch.cos(az) * torch.cos(el), torch.sin(az) * torch.cos(el), torch.sin(el)], 1)
    half = light + torch.tensor([0.0, 0.0, 1.0])
    half = half / half.norm(dim=1, keepdim=True)
    # ambient share of the lighting and highlight strength, per image (soft to directional light)
    amb_spec = torch.stack([0.30 + 0.25 * scene[:, 8], 0.35 + 0.65 * scene[:, 9]], 1)
    ofs = _NS + _K * _NP
    noise = buf[:, ofs:]
    # per-object table: scale, 1/px, light, half vector, variant, colours, random numbers
    table = torch.cat([scale.unsqueeze(-1), (-scale / step).unsqueeze(-1),
                       light.unsqueeze(1).expand(B, _K, 3), half.unsqueeze(1).expand(B, _K, 3),
                       var.unsqueeze(-1).float(), cols.flatten(2), amb_spec.unsqueeze(1).expand(B, _K, 2),
                       obj], 2)        # (B, K, 20 + _NP)
    mats = [_cubic_matrix(g, size, str(device)) for g in _GRIDS]
    amps = [(2.0 * a, -a) for a in _AMP]

    dev = device
    H = W = size
    col = torch.zeros(B, 3, H, W, device=dev)       # shaded colour, premultiplied by coverage
    c1 = torch.zeros(B, 1, H, W, device=dev)        # coverage
    hgt = torch.zeros(B, 1, H, W, device=dev)       # height, premultiplied by coverage
    boxes = torch.zeros(B, _K, 4)
    areas = torch.full((B, _K), -1.0)
    ar_dev = torch.arange(size, device=dev, dtype=torch.float32)
    J, I = ar_dev.view(1, 1, size), ar_dev.view(1, size, 1)
    ar_cpu = torch.arange(size, dtype=torch.float32).view(1, size)
    gc_was = gc.isenabled()
    gc.disable()                                    # thousands of short-lived tensors, no cycles
    try:
        for k in range(K):
            active = count > k
            for c in torch.unique(cat[active, k]).tolist():
                sel = torch.nonzero(active & (cat[:, k] == c)).flatten()
                n = sel.numel()
                gl_ = geo[sel, k].tolist()
                ww = int(max(g[8] for g in gl_)) if _CROP else size
                wh = int(max(g[9] for g in gl_)) if _CROP else size
                oxs = [min(max(math.floor(g[6] - ww / 2.0), 0), size - ww) for g in gl_]
                oys = [min(max(math.floor(g[7] - wh / 2.0), 0), size - wh) for g in gl_]
                coef = torch.tensor([[g[0] + g[1] * x + g[2] * y, g[1], g[2], g[3] + g[4] * x + g[5] * y, g[4], g[5]]
                                     for g, x, y in zip(gl_, oxs, oys)])
                ox, oy = torch.tensor(oxs, dtype=torch.float32), torch.tensor(oys, dtype=torch.float32)
                ry = oy.view(-1, 1) + ar_cpu[:, :wh]
                rx = ox.view(-1, 1) + ar_cpu[:, :ww]
                pack = torch.cat([coef, table[sel, k], ry, rx, noise[sel]], 1).to(dev, torch.float32)
                parts = pack.split([6, 20, _NP, wh, ww] + [g * g for g in _GRIDS], 1)
                cu0, cuj, cui, cv0, cvj, cvi = parts[0].view(n, 6, 1, 1).unbind(1)
                tb = parts[1]
                u = torch.addcmul(cuj * J[:, :, :ww] + cu0, cui, I[:, :wh])
                v = torch.addcmul(cvj * J[:, :, :ww] + cv0, cvi, I[:, :wh])
                iy, ix = parts[3].long(), parts[4].long()
                nz = [torch.matmul(torch.matmul(A[iy], g.view(n, G, G) * a + b), A[ix].transpose(1, 2))
                      for A, g, G, (a, b) in zip(mats, parts[5:], _GRIDS, amps)]
                frame = None
                if _CROP:
                    frame = [(g[6] - 0.5 - x, g[7] - 0.5 - y, g[10], g[11], g[12], g[13])
                             for g, x, y in zip(gl_, oxs, oys)]
                s = tb[:, 0].view(n, 1, 1)
                cc = tb[:, 9:18].view(n, 3, 3, 1, 1).unbind(1)
                o = _Obj(u, v, tb[:, 1].view(n, 1, 1), parts[2], nz, cc[0], cc[1], cc[2], tb[:, 8], frame,
                         r_cpu=table[sel, k, 20:])
                _DRAW[c](o)
                win = _shade(o, s, tb[:, 2:5], tb[:, 5:8], tb[:, 18:20], size)      # (n, 5, wh, ww)
                if multi:
                    x0, y0, x1, y1, area = _boxes(win[:, 3])
                    bx = torch.stack([(x0 + ox) / W, (y0 + oy) / H, (x1 + ox) / W, (y1 + oy) / H], 1)
                    boxes[sel, k] = torch.where((area > 0).view(-1, 1), bx, 0.0)
                    areas[sel, k] = area
                # paste the window into the frame
                wc, wa, wz = win[:, :3], win[:, 3:4], win[:, 4:5]
                for i, (bi, x, y) in enumerate(zip(sel.tolist(), oxs, oys)):
                    ys, xs = slice(y, y + wh), slice(x, x + ww)
                    if multi:                                 # "over", everything premultiplied
                        na = 1.0 - wa[i]
                        col[bi, :, ys, xs].mul_(na).add_(wc[i])
                        c1[bi, :, ys, xs].mul_(na).add_(wa[i])
                        hgt[bi, :, ys, xs].mul_(na).add_(wz[i])
                    else:
                        col[bi, :, ys, xs] = wc[i]
                        c1[bi, :, ys, xs] = wa[i]
                        hgt[bi, :, ys, xs] = wz[i]
    finally:
        if gc_was:
            gc.enable()
    if multi:
        hgt = hgt.div_(c1.clamp_min(1e-6))          # heights were composited premultiplied
    else:
        x0, y0, x1, y1, area = _boxes(c1[:, 0])
        boxes[:, 0] = torch.stack([x0 / W, y0 / H, x1 / W, y1 / H], 1)
        areas[:, 0] = area

    # ---- background: pure-ish white, slight gradient and tint, soft contact shadow ----
    sc = scene.to(dev, torch.float32)
    lin = (ar_dev + 0.5) * step - 1.0
    level = 0.966 + 0.028 * sc[:, 4]
    gang = 2 * math.pi * sc[:, 5]
    tint = 0.008 * (sc[:, 6:8] - 0.5) * 2.0
    bg_col = (level.view(B, 1) + torch.stack([tint[:, 0], -0.5 * tint[:, 0] - 0.5 * tint[:, 1], tint[:, 1]], 1))
    bg_col = bg_col.clamp(0.962, 0.99)
    gx_ = (0.008 * torch.cos(gang)).view(B, 1, 1, 1) * lin.view(1, 1, 1, W)
    gy_ = (0.008 * torch.sin(gang)).view(B, 1, 1, 1) * lin.view(1, 1, H, 1)
    # background = bg_col + gx_ + gy_, within [0.951, 0.999] (camera noise: +-0.012 at most)
    lowres = max(4, size // 4)
    down, up = _shadow_matrices(size, lowres, str(dev))
    m = torch.matmul(torch.matmul(down, c1[:, 0]), down.T).unsqueeze(1)        # area-averaged coverage
    sh_off = max(1, round(lowres * 0.03))
    m = F.pad(m, (sh_off, 0, sh_off, 0))[:, :, :lowres, :lowres]
    m = F.avg_pool2d(m, 5, stride=1, padding=2, count_include_pad=False)
    # the calibration photos show no contact shadow; NCD-like scenes a soft one: none in half the images
    strength = (0.32 * (sc[:, 12] - 0.5)).clamp_min(0.0).view(B, 1, 1, 1)
    m = F.avg_pool2d(m, 3, stride=1, padding=1, count_include_pad=False).mul_(-strength).add_(1.0)
    lit = torch.matmul(torch.matmul(up, m), up.T)                              # 1 - shadow, bilinear
    keep = lit.addcmul_(lit, c1, value=-1.0)                                   # (1 - cov) (1 - shadow)
    # rgb = col + background * keep, in place; in [0, 1): col <= 0.999 cov, bg * keep <= 0.997 (1 - cov)
    rgb = col.addcmul_(keep, bg_col.view(B, 3, 1, 1)).add_(keep.mul_(gx_.add(gy_)))
    rgb = _camera.apply(rgb, torch.stack([sc[:, 13], sc[:, 14], sc[:, 15], sc[:, 10]], 1))  # blur, quality, sigma, seed

    # ---- annotations ----
    order = torch.argsort(areas, dim=1, descending=True, stable=True)
    big = order[:, 0]
    ar = torch.arange(B)
    label = cat[ar, big]
    box = boxes[ar, big]
    caps_all = [_captions(cat[:, k], var[:, k], tab["captions"]) for k in range(K)]
    cnt, order_l, cat_l, boxes_l, cols_l = count.tolist(), order.tolist(), cat.tolist(), boxes.tolist(), cols.tolist()
    captions, instances, pal = [], [], []
    for b in range(B):
        ks = [k for k in order_l[b] if k < cnt[b]]
        parts = [caps_all[k][b] for k in ks]
        captions.append(parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1])
        instances.append([(cat_l[b][k], tuple(boxes_l[b][k])) for k in ks])
        body, sec, part = cols_l[b][ks[0]]
        if len(ks) == 1:
            pal.append([body, [0.5 * x for x in body], sec, part])
        else:
            pal.append(([body] + [cols_l[b][k][0] for k in ks[1:]] + [sec, part])[:4])
    pal = torch.cat([torch.tensor(pal), bg_col.cpu().view(B, 1, 3)], 1)
    return {
        "rgb": rgb,
        "label": label.to(dev),
        "mask": c1,
        "depth": hgt.mul_(0.5).clamp_(0.0, 1.0),
        "box": box.to(dev),
        "caption": captions,
        "palette": pal.clamp(0.0, 1.0).to(dev),
        "instances": instances,
    }


def _shade(o: _Obj, s: torch.Tensor, light: torch.Tensor, half: torch.Tensor, amb_spec: torch.Tensor,
           size: int) -> torch.Tensor:
    """Shade one object: normals from its height field, Lambert + Blinn-Phong highlight.

    ``amb_spec`` (n, 2): the ambient share of the light (the rest is directional, lit = 1.08)
    and the highlight strength.

    Returns (n, 5, h, w): the shaded colour premultiplied by coverage, the coverage and the
    height above the table in image half-widths, premultiplied by coverage too.
    """
    h = (o.h * s).clamp_(min=0.0)
    hp = F.pad(h.unsqueeze(1), (1, 1, 1, 1), mode="replicate").squeeze(1)
    k2 = size / 4.0                     # 1 / (2 * pixel size in image units)
    gx = (hp[:, 1:-1, 2:] - hp[:, 1:-1, :-2]).mul_(k2)
    gy = (hp[:, 2:, 1:-1] - hp[:, :-2, 1:-1]).mul_(k2)
    inv_n = torch.rsqrt(torch.addcmul(gx * gx + 1.0, gy, gy))
    L, Hh = light.view(-1, 3, 1, 1).unbind(1), half.view(-1, 3, 1, 1).unbind(1)
    ndl = torch.addcmul(torch.addcmul(L[2], gx, -L[0]), gy, -L[1]).mul_(inv_n).clamp_(min=0.0)
    ndh = torch.addcmul(torch.addcmul(Hh[2], gx, -Hh[0]), gy, -Hh[1]).mul_(inv_n).clamp_(min=0.0)
    cov = o.cov
    amb, ks = amb_spec.view(-1, 2, 1, 1).unbind(1)
    shade = ndl.mul_(1.08 - amb).add_(amb).mul_(cov)
    for _ in range(5):                                  # Blinn-Phong exponent 32
        ndh.square_()
    spec = ndh.mul_(o.gl * cov).mul_(ks)
    col = torch.addcmul(spec.unsqueeze(1), o.alb, shade.unsqueeze(1))
    cov1 = cov.unsqueeze(1)
    col = torch.minimum(col, cov1 * 0.999)             # colour < 1 before premultiplying
    return torch.cat([col, cov1, (h * cov).unsqueeze(1)], 1)


def _boxes(cov: torch.Tensor):
    """Pixel bounds x0, y0, x1 (exclusive), y1 of coverage > 0.5 and the area, per sample (CPU)."""
    n, H, W = cov.shape
    cols = cov.amax(1) > 0.5
    rows = cov.amax(2) > 0.5
    ar_w = torch.arange(W, device=cov.device)
    ar_h = torch.arange(H, device=cov.device)
    x0 = torch.where(cols, ar_w, W).amin(1)
    x1 = torch.where(cols, ar_w, -1).amax(1) + 1
    y0 = torch.where(rows, ar_h, H).amin(1)
    y1 = torch.where(rows, ar_h, -1).amax(1) + 1
    area = torch.where(cols.any(1), cov.sum((1, 2)), 0.0)
    return tuple(t.float().cpu() for t in (x0, y0, x1, y1, area))


def render_throughput(size: int = 128, batch: int = 64, seconds: float = 3.0, device=None) -> dict:
    """Rendering throughput of :class:`SyntheticNCD`, in images per second.

    Renders consecutive batches of ``batch`` images at ``size`` x ``size`` for about
    ``seconds`` (after one warm-up batch), with the current ``torch.get_num_threads()``.
    ``device`` defaults to CUDA when available.

    Returns ``images_per_s`` (the renderer: every key but L/ab, about two thirds of the time
    budget) and ``batch_images_per_s`` (``dataset.batch``, which adds the CIE Lab conversion
    that training needs, the remaining third), with ``device``, ``size``, ``batch``,
    ``images`` and ``seconds`` of the render timing, and ``threads``.

    On a shared CPU, two threads on two busy cores make every parallel op wait for a
    scheduler slice: compare with ``torch.set_num_threads(1)`` when numbers look low.
    """
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    data = SyntheticNCD("train", size=size, n=10 ** 6)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def run(fn, budget):
        fn(0)
        sync()
        t0, i = time.perf_counter(), 0
        while True:
            fn(i + 1)
            i += 1
            sync()
            dt = time.perf_counter() - t0
            if dt >= budget:
                return i * batch / dt, i * batch, dt

    def idx(i):
        return torch.arange(i * batch, (i + 1) * batch) % len(data)

    ips, count, dt = run(lambda i: data._load(idx(i), device), seconds * 2 / 3)
    bips, _, _ = run(lambda i: data.batch(idx(i), device), seconds / 3)
    return {"images_per_s": ips, "batch_images_per_s": bips, "device": str(device), "size": size,
            "batch": batch, "images": count, "seconds": dt, "threads": torch.get_num_threads()}


def _rendered_variant_means(category: int, variant: int, n: int = 24, size: int = 32, seed: int = 0,
                            per_image: bool = False) -> torch.Tensor:
    """Mean CIE Lab inside the object mask (coverage > 0.5) of ``n`` single-object test images
    of ``category`` forced to colour ``variant``: (3,), the mean over images of each image's
    mean (or (n, 3) per image with ``per_image``). Used to fit the colour table's albedos
    (``scripts/calibrate_colors.py fit``) and by the tests that hold the result to the targets."""
    from ..color import rgb_to_lab
    nc = len(CATEGORIES)
    idx = torch.arange(n) * nc + category
    buf = SyntheticNCD("test", size=size, n=nc * n, seed=seed)._draw(idx)
    cum = produce_colors.compiled(tuple(CATEGORIES))["cum"][category]
    lo = float(cum[variant - 1]) if variant > 0 else 0.0
    buf[:, _NS + 7] = 0.5 * (lo + min(float(cum[variant]), 1.0))
    out = _render(buf, idx, size, (1, 1), torch.device("cpu"))
    m = (out["mask"] > 0.5).double()
    lab = rgb_to_lab(out["rgb"]).double()
    means = (lab * m).sum((2, 3)) / m.sum((2, 3)).clamp_min(1.0)
    return means if per_image else means.mean(0)
