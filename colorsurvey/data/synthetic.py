"""The embedded default dataset: a procedurally rendered, NCD-like set (no download needed).

The survey's Natural-Color Dataset (NCD, §4) holds photos of single fruits and vegetables on
a white background, in 20 categories. Its argument is that colour is *learnable* there: the
colour of a banana or a brinjal follows from its shape and texture. :class:`SyntheticNCD`
renders images with that property, in batches, on any device and at any resolution:

* each category has an implicit (signed-distance) silhouette with per-sample position,
  scale, rotation, aspect, mirroring and shape parameters (dents, stems, crowns, calyces,
  leaves, cherry pairs, corn husks, ...);
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
"""

from __future__ import annotations

import math
import time
from typing import Sequence

import torch
import torch.nn.functional as F

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

_STEM = (0.36, 0.24, 0.11)
_LEAF = (0.24, 0.50, 0.13)

#: Colour variants per category: (caption template, weight, body, secondary, part) in sRGB.
#: ``{n}`` in the template is the category's noun.
VARIANTS: dict[str, list[tuple]] = {
    "Apple": [
        ("a red {n}", 0.45, (0.70, 0.07, 0.09), (0.93, 0.62, 0.22), _STEM),
        ("a green {n}", 0.30, (0.50, 0.74, 0.20), (0.82, 0.84, 0.36), _STEM),
        ("a yellow {n}", 0.25, (0.93, 0.80, 0.30), (0.88, 0.38, 0.15), _STEM),
    ],
    "Banana": [
        ("a ripe yellow {n}", 0.50, (0.97, 0.83, 0.22), (0.62, 0.66, 0.18), (0.30, 0.22, 0.10)),
        ("a ripe {n} with brown spots", 0.20, (0.95, 0.77, 0.24), (0.42, 0.26, 0.09), (0.28, 0.20, 0.09)),
        ("a green-yellow {n}", 0.15, (0.76, 0.80, 0.25), (0.52, 0.66, 0.17), (0.30, 0.30, 0.12)),
        ("an unripe green {n}", 0.15, (0.43, 0.62, 0.16), (0.34, 0.50, 0.12), (0.28, 0.30, 0.12)),
    ],
    "Brinjal": [
        ("a dark purple {n}", 0.50, (0.22, 0.06, 0.22), (0.40, 0.18, 0.38), (0.33, 0.45, 0.20)),
        ("a purple {n}", 0.30, (0.42, 0.13, 0.40), (0.62, 0.36, 0.58), (0.33, 0.45, 0.20)),
        ("a striped purple {n}", 0.20, (0.52, 0.20, 0.50), (0.92, 0.86, 0.90), (0.33, 0.45, 0.20)),
    ],
    "Broccoli": [
        ("a dark green {n}", 0.50, (0.16, 0.34, 0.12), (0.07, 0.18, 0.05), (0.62, 0.74, 0.40)),
        ("a fresh green {n}", 0.35, (0.26, 0.48, 0.16), (0.11, 0.27, 0.07), (0.66, 0.78, 0.44)),
        ("a bluish green {n}", 0.15, (0.18, 0.36, 0.27), (0.07, 0.19, 0.12), (0.60, 0.72, 0.46)),
    ],
    "CapsicumGreen": [
        ("a green {n}", 0.60, (0.16, 0.50, 0.10), (0.30, 0.63, 0.17), (0.30, 0.48, 0.16)),
        ("a dark green {n}", 0.30, (0.08, 0.32, 0.06), (0.17, 0.45, 0.10), (0.28, 0.44, 0.14)),
        ("a light green {n}", 0.10, (0.42, 0.68, 0.18), (0.56, 0.76, 0.26), (0.32, 0.50, 0.16)),
    ],
    "Carrot": [
        ("an orange {n}", 0.60, (0.95, 0.47, 0.08), (0.80, 0.32, 0.04), (0.26, 0.54, 0.15)),
        ("a deep orange {n}", 0.25, (0.88, 0.32, 0.05), (0.70, 0.22, 0.03), (0.26, 0.54, 0.15)),
        ("a pale orange {n}", 0.15, (0.98, 0.62, 0.22), (0.88, 0.48, 0.12), (0.26, 0.54, 0.15)),
    ],
    "Cherry": [
        ("a dark red {n}", 0.45, (0.45, 0.02, 0.07), (0.25, 0.00, 0.03), (0.42, 0.50, 0.18)),
        ("a bright red {n}", 0.40, (0.78, 0.06, 0.10), (0.52, 0.02, 0.06), (0.42, 0.50, 0.18)),
        ("a yellow and red {n}", 0.15, (0.96, 0.80, 0.40), (0.88, 0.25, 0.18), (0.42, 0.50, 0.18)),
    ],
    "ChilliGreen": [
        ("a green {n}", 0.55, (0.20, 0.58, 0.12), (0.30, 0.66, 0.18), (0.30, 0.48, 0.16)),
        ("a dark green {n}", 0.30, (0.10, 0.38, 0.07), (0.18, 0.48, 0.10), (0.28, 0.42, 0.14)),
        ("a light green {n}", 0.15, (0.45, 0.72, 0.22), (0.56, 0.78, 0.30), (0.32, 0.50, 0.18)),
    ],
    "Corn": [
        ("a yellow {n}", 0.55, (0.98, 0.80, 0.25), (0.78, 0.52, 0.10), (0.52, 0.68, 0.30)),
        ("a golden yellow {n}", 0.30, (0.96, 0.66, 0.12), (0.74, 0.42, 0.05), (0.52, 0.68, 0.30)),
        ("a pale yellow {n}", 0.15, (0.97, 0.91, 0.62), (0.84, 0.74, 0.42), (0.52, 0.68, 0.30)),
    ],
    "Cucumber": [
        ("a dark green {n}", 0.60, (0.10, 0.30, 0.07), (0.42, 0.60, 0.24), (0.45, 0.44, 0.20)),
        ("a green {n}", 0.40, (0.27, 0.50, 0.15), (0.60, 0.75, 0.36), (0.45, 0.44, 0.20)),
    ],
    "LadyFinger": [
        ("a green {n}", 0.60, (0.36, 0.60, 0.18), (0.25, 0.46, 0.11), (0.30, 0.44, 0.14)),
        ("a light green {n}", 0.25, (0.52, 0.72, 0.26), (0.38, 0.58, 0.17), (0.34, 0.48, 0.16)),
        ("a dark green {n}", 0.15, (0.22, 0.45, 0.10), (0.15, 0.34, 0.07), (0.28, 0.40, 0.12)),
    ],
    "Lemon": [
        ("a yellow {n}", 0.65, (0.98, 0.86, 0.14), (0.96, 0.92, 0.42), (0.50, 0.55, 0.16)),
        ("a pale yellow {n}", 0.20, (0.98, 0.92, 0.40), (0.95, 0.84, 0.22), (0.50, 0.55, 0.16)),
        ("a greenish yellow {n}", 0.15, (0.84, 0.85, 0.22), (0.60, 0.72, 0.16), (0.45, 0.55, 0.16)),
    ],
    "Orange": [
        ("a ripe {n}", 0.55, (0.98, 0.54, 0.06), (1.00, 0.68, 0.16), (0.36, 0.42, 0.14)),
        ("a deep orange {n}", 0.30, (0.95, 0.42, 0.04), (0.98, 0.56, 0.10), (0.36, 0.42, 0.14)),
        ("a yellow-orange {n}", 0.15, (0.98, 0.68, 0.12), (0.98, 0.78, 0.26), (0.36, 0.42, 0.14)),
    ],
    "Peach": [
        ("a ripe {n}", 0.55, (1.00, 0.74, 0.38), (0.90, 0.30, 0.22), _STEM),
        ("a red blushed {n}", 0.30, (0.98, 0.66, 0.38), (0.78, 0.16, 0.15), _STEM),
        ("a yellow {n}", 0.15, (0.99, 0.82, 0.45), (0.96, 0.50, 0.24), _STEM),
    ],
    "Pear": [
        ("a green {n}", 0.45, (0.60, 0.74, 0.22), (0.78, 0.80, 0.32), _STEM),
        ("a yellow {n}", 0.35, (0.90, 0.80, 0.32), (0.86, 0.42, 0.18), _STEM),
        ("a brown russet {n}", 0.20, (0.68, 0.47, 0.22), (0.54, 0.34, 0.14), _STEM),
    ],
    "Plum": [
        ("a dark purple {n}", 0.50, (0.30, 0.07, 0.22), (0.56, 0.46, 0.62), _STEM),
        ("a red {n}", 0.30, (0.62, 0.07, 0.14), (0.76, 0.38, 0.40), _STEM),
        ("a blue-purple {n}", 0.20, (0.24, 0.12, 0.36), (0.52, 0.48, 0.68), _STEM),
    ],
    "Pomegranate": [
        ("a red {n}", 0.55, (0.72, 0.10, 0.10), (0.88, 0.56, 0.36), (0.55, 0.14, 0.10)),
        ("a dark red {n}", 0.25, (0.50, 0.05, 0.07), (0.72, 0.32, 0.22), (0.42, 0.08, 0.06)),
        ("a pinkish red {n}", 0.20, (0.85, 0.40, 0.32), (0.92, 0.72, 0.46), (0.62, 0.26, 0.18)),
    ],
    "Potato": [
        ("a brown {n}", 0.50, (0.72, 0.55, 0.35), (0.55, 0.40, 0.24), (0.40, 0.28, 0.17)),
        ("a yellow {n}", 0.30, (0.86, 0.74, 0.46), (0.70, 0.58, 0.34), (0.52, 0.40, 0.22)),
        ("a red {n}", 0.20, (0.62, 0.26, 0.22), (0.50, 0.20, 0.17), (0.40, 0.16, 0.14)),
    ],
    "Strawberry": [
        ("a ripe red {n}", 0.60, (0.84, 0.07, 0.09), (0.96, 0.86, 0.46), (0.22, 0.52, 0.14)),
        ("a deep red {n}", 0.25, (0.62, 0.03, 0.07), (0.92, 0.78, 0.38), (0.22, 0.50, 0.14)),
        ("a bright red {n}", 0.15, (0.95, 0.16, 0.12), (0.98, 0.90, 0.55), (0.26, 0.56, 0.16)),
    ],
    "Tomato": [
        ("a ripe red {n}", 0.65, (0.86, 0.10, 0.06), (0.95, 0.45, 0.12), (0.25, 0.50, 0.15)),
        ("an orange-red {n}", 0.25, (0.93, 0.33, 0.08), (0.97, 0.58, 0.16), (0.25, 0.50, 0.15)),
        ("a deep red {n}", 0.10, (0.68, 0.06, 0.05), (0.85, 0.28, 0.08), (0.25, 0.50, 0.15)),
    ],
}

# Per category: (size factor, rotation half-range in radians, (half-extent u, half-extent v)).
_META = {
    "Apple": (0.76, 0.35, (0.95, 1.25)),
    "Banana": (0.95, math.pi, (1.05, 0.65)),
    "Brinjal": (0.95, math.pi, (0.85, 1.05)),
    "Broccoli": (0.92, 0.35, (0.8, 1.08)),
    "CapsicumGreen": (0.82, 0.35, (0.85, 1.02)),
    "Carrot": (0.98, math.pi, (0.7, 1.2)),
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
_NS = 8                        # uniform numbers per scene (layout, background, light)
_GRIDS = (6, 14, 40)           # value-noise octaves (grid sizes over the object's frame)
_TOT = _NS + _K * _NP + sum(g * g for g in _GRIDS)
_NOISE_RES = 40
_SPLITS = {"train": 0, "test": 1}
_DEFAULT_N = {"train": 2000, "test": 200}
_M64 = (1 << 64) - 1


def _mix64(x: int) -> int:
    """splitmix64 finaliser: a well-mixed 64-bit hash of an integer."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _sample_seed(seed: int, split: int, index: int) -> int:
    h = _mix64(_mix64(int(seed) & _M64) ^ ((split + 1) * 0x632BE59BD9B4E019 & _M64))
    return _mix64(h ^ int(index)) & ((1 << 63) - 1)


# --------------------------------------------------------------------------------------
# Signed-distance helpers (all on (n, H, W) tensors; parameters (n, 1, 1) or floats)
# --------------------------------------------------------------------------------------

def _circle(u, v, cx, cy, r):
    return torch.hypot(u - cx, v - cy) - r


def _ellipse(u, v, a, b):
    """Approximate distance to an ellipse with half-axes a, b (Quilez's gradient form)."""
    x, y = u / a, v / b
    k0 = torch.hypot(x, y)
    k1 = torch.hypot(x / a, y / b).clamp_min(1e-4)
    return k0 * (k0 - 1.0) / k1


def _seg(u, v, ax, ay, bx, by, ra, rb):
    """Distance to a tapered capsule from (ax, ay) radius ra to (bx, by) radius rb."""
    px, py = u - ax, v - ay
    dx, dy = bx - ax, by - ay
    t = ((px * dx + py * dy) / (dx * dx + dy * dy)).clamp(0.0, 1.0)
    return torch.hypot(px - dx * t, py - dy * t) - (ra + (rb - ra) * t)


def _smin(a, b, k):
    h = (0.5 + 0.5 * (b - a) / k).clamp(0.0, 1.0)
    return b + (a - b) * h - k * h * (1.0 - h)


def _star(u, v, cx, cy, r_in, r_out, k, phase, sharp, squash=1.0):
    """A k-pointed star (calyx, crown, leaves) around (cx, cy), y squashed for perspective."""
    x, y = u - cx, (v - cy) * squash
    rho = torch.hypot(x, y)
    phi = torch.atan2(y, x)
    c = 0.5 + 0.5 * torch.cos(k * phi + phase)
    w = c.pow(sharp)
    R = r_in + (r_out - r_in) * w
    # radial distance, corrected by the angular slope so that edges stay one pixel soft
    dR = (r_out - r_in) * sharp * c.clamp_min(1e-4).pow(sharp - 1) * 0.5 * k * torch.sin(k * phi + phase)
    g = torch.sqrt(1.0 + (dR / rho.clamp_min(0.02)) ** 2)
    return (rho - R) / g / squash ** 0.5


def _dome(d, r):
    """Height of a rounded profile over a silhouette: a sphere cap of radius r."""
    t = (-d / r).clamp(0.0, 1.0)
    return r * torch.sqrt(t * (2.0 - t))


def _frac(x):
    return x - torch.floor(x)


def _rot(u, v, cx, cy, ang):
    c, s = torch.cos(ang), torch.sin(ang)
    x, y = u - cx, v - cy
    return x * c + y * s, -x * s + y * c


class _Obj:
    """One category's samples of one object slot, drawn in the object's own frame.

    ``u`` (right) and ``v`` (down) are object coordinates: the shape fits in about [-1, 1].
    ``paint`` composites a part (an SDF, a colour, a height and a gloss) over what is there.
    """

    def __init__(self, u, v, px, r, noise, body, sec, part, var):
        n, H, W = u.shape
        self.u, self.v, self.px, self.r, self.var = u, v, px, r, var
        self.n1, self.n2, self.n3 = noise[:, 0], noise[:, 1], noise[:, 2]
        self.body, self.sec, self.part = body, sec, part
        self.cov = u.new_zeros(n, H, W)
        self.alb = u.new_zeros(n, 3, H, W)      # premultiplied by coverage
        self.gl = u.new_zeros(n, H, W)          # premultiplied by coverage
        self.h = u.new_zeros(n, H, W)

    def R(self, k: int, lo: float = 0.0, hi: float = 1.0):
        return lo + (hi - lo) * self.r[:, k].view(-1, 1, 1)

    def flag(self, k: int, p: float):
        return (self.r[:, k] < p).to(self.u.dtype).view(-1, 1, 1)

    def is_var(self, i: int):
        return (self.var == i).to(self.u.dtype).view(-1, 1, 1)

    def mix(self, t, a=None, b=None):
        a = self.body if a is None else a
        b = self.sec if b is None else b
        return a + (b - a) * t.unsqueeze(1)

    def jitter(self, rgb, k: int, amount: float = 0.12):
        c = torch.tensor(rgb, dtype=self.u.dtype, device=self.u.device).view(1, 3, 1, 1)
        return (c * (1.0 + amount * (self.r[:, k].view(-1, 1, 1, 1) - 0.5))).clamp(0.0, 1.0)

    def paint(self, d, color, height, gloss, add: bool = False):
        """Composite a part with signed distance ``d`` over what is drawn ("over" operator).

        Coverage is anti-aliased over one pixel; albedo and gloss are kept un-premultiplied
        (the part's weight is its coverage over the new total coverage); ``add`` puts the
        part's height on top of what is below (leaves, calyces) instead of replacing it.
        """
        a = (0.5 - d / self.px).clamp_(0.0, 1.0)
        self.cov = self.cov + a * (1.0 - self.cov)
        w = a / self.cov.clamp_min(1e-6)
        self.alb = torch.lerp(self.alb, color, w.unsqueeze(1))
        self.gl = self.gl + (gloss - self.gl) * w
        self.h = self.h + height * a if add else torch.lerp(self.h, height, a)
        return a

    def bump(self, amount, where):
        self.h = self.h + amount * where


# --------------------------------------------------------------------------------------
# The 20 categories. Parameter columns 12..31 of ``o.r`` are free for shape variation.
# --------------------------------------------------------------------------------------

def _leaf(o, k, x0, y0, ang, length, width, p):
    """An optional leaf (probability p) growing from (x0, y0) in direction ``ang``."""
    on = o.flag(k, p)
    lu, lv = _rot(o.u, o.v, x0 + 0.5 * length * torch.cos(ang), y0 + 0.5 * length * torch.sin(ang), ang)
    lu = lu + 0.0
    d = _ellipse(lu, lv + 0.25 * width * (lu / length) ** 2 * 4, 0.5 * length, width) + (1.0 - on) * 10.0
    vein = torch.exp(-(lv * lv) / (0.0006 + 0.5 * o.px ** 2))
    col = o.jitter(_LEAF, k + 1, 0.3) * (1.0 - 0.25 * vein).unsqueeze(1)
    o.paint(d, col, _dome(d, width) * 0.4, 0.25, add=True)


def _stalk(o, x0, y0, x1, y1, r0, r1, color, gloss=0.1, bend=0.0):
    u = o.u + bend * (o.v - y0) * (o.v - y1)
    d = _seg(u, o.v, x0, y0, x1, y1, r0, r1)
    o.paint(d, color, _dome(d, r0), gloss, add=True)
    return d


def _apple(o):
    u, v = o.u, o.v
    x = u / o.R(12, 0.95, 1.10)
    top = torch.sigmoid(-8.0 * v)
    d = torch.hypot(x * (1.0 + 0.12 * v), v) - 0.78
    gx = torch.exp(-x * x * 22.0)
    d = d + (o.R(13, 0.10, 0.20) * top + 0.05 * (1.0 - top)) * gx + 0.012 * o.n1
    t = (o.R(14, -0.3, 0.3) + 0.55 * o.n1 + 0.3 * torch.sin(13.0 * x + 3.0 * o.n2) + 0.35 * v).clamp(0.0, 1.0)
    col = o.mix(t) * (1.0 + 0.12 * (o.n3 > 0.72).to(u.dtype)).unsqueeze(1)
    a = o.paint(d, col, _dome(d, 0.78), 0.45)
    o.bump(0.0015 * o.n3, a)
    tx = o.R(15, -0.06, 0.14)
    _stalk(o, 0.0, -0.58, tx, -0.97, 0.042, 0.028, o.part, bend=o.R(16, -0.3, 0.3))
    _leaf(o, 17, tx * 0.6, -0.86, o.R(19, -0.6, 0.1), 0.45, 0.11, 0.35)


def _banana(o):
    u, v = o.u, o.v
    k = o.R(12, 0.30, 0.52)
    y = v + k * (u * u - 0.30)
    g = torch.sqrt(1.0 + (2.0 * k * u) ** 2)
    body = _ellipse(u + 0.04, y - 0.02 * u, 0.80, o.R(13, 0.19, 0.24))
    neck = _seg(u, y, 0.55, 0.0, 0.97, 0.02, 0.11, 0.05)
    d = _smin(body, neck, 0.12) / g
    # ripeness gradient: greenish towards the ends, spots for the spotted variant
    ends = torch.sigmoid((u.abs() - 0.62) * 12.0)
    spots = ((o.n3 + 0.6 * o.n2) > 1.0).to(u.dtype) * o.is_var(1)
    col = o.mix(ends * 0.6 * (1.0 - o.is_var(1)))
    col = col + (o.sec - col) * spots.unsqueeze(1) * 0.85
    col = col * (1.0 + 0.05 * o.n2).unsqueeze(1)
    stalk = torch.sigmoid((u - 0.9) * 30.0)
    col = col + (o.part - col) * stalk.unsqueeze(1)
    a = o.paint(d, col, _dome(d, 0.22), 0.25)
    # longitudinal ridges of the banana's faceted cross-section
    o.bump(-0.012 * torch.exp(-((y - 0.06) ** 2) / 0.0012), a)
    tip = _circle(u, y, -0.80, 0.0, 0.045) / g
    o.paint(tip, o.part * 0.7, _dome(tip, 0.04) + _dome(d, 0.22), 0.1)


def _brinjal(o):
    u, v = o.u, o.v
    k = o.R(12, -0.35, 0.35)
    x = u - k * v * v
    g = torch.sqrt(1.0 + (2.0 * k * v) ** 2)
    rt, rb = o.R(13, 0.16, 0.24), o.R(14, 0.34, 0.44)
    d = _seg(x, v, 0.0, -0.48, 0.0, 0.86 - rb, rt, rb) / g
    stripes = (torch.sin(x / rb * 7.0 + 0.8 * o.n2) > 0.45).to(u.dtype) * o.is_var(2)
    t = (0.25 + 0.4 * o.n1).clamp(0.0, 1.0) * 0.35 + stripes * 0.8
    a = o.paint(d, o.mix(t), _dome(d, rb), 0.9)
    o.bump(0.003 * o.n2, a)
    # calyx: green sepals with a jagged lower edge over the top of the fruit
    sep = (0.5 + 0.5 * torch.cos(x / rt * 4.5 + o.R(15, 0, 6.28))).pow(3)
    yb = -0.50 + 0.24 * sep + o.R(16, 0.0, 0.08)
    dc = torch.maximum(d - 0.03, (v - yb) / g)
    col_c = o.part * (0.85 + 0.15 * o.n2).unsqueeze(1)
    o.paint(dc, col_c, _dome(d, rb) + 0.02, 0.2)
    _stalk(o, 0.0, -0.60, o.R(17, -0.12, 0.12), -0.97, 0.075, 0.055, o.part * 0.9, bend=k)


def _broccoli(o):
    u, v = o.u, o.v
    # stalk with two side branches (pale green), painted first
    ds = _seg(u, v, 0.0, 0.0, 0.0, 0.92, 0.21, 0.14)
    b1 = _seg(u, v, 0.0, 0.38, -0.34, 0.02, 0.07, 0.10)
    b2 = _seg(u, v, 0.0, 0.30, 0.36, 0.00, 0.07, 0.10)
    dst = _smin(ds, torch.minimum(b1, b2), 0.08)
    col_s = o.part * (0.92 + 0.08 * o.n2).unsqueeze(1)
    o.paint(dst, col_s, _dome(dst, 0.2), 0.2)
    # head: a scalloped crown of florets
    R0 = o.R(12, 0.56, 0.64)
    x, y = u, (v + 0.24) * 1.15
    rho = torch.hypot(x, y)
    phi = torch.atan2(y, x)
    ph = o.R(13, 0, 6.28)
    Rp = R0 * (1.0 + 0.09 * (torch.sin(3.5 * phi + ph).abs() - 0.6) + 0.03 * torch.sin(11.0 * phi + ph))
    d = (rho - Rp + 0.04 * o.n1) / 1.07
    flor = torch.sin(7.0 * u + 3.0 * o.n1 + ph) * torch.sin(7.0 * v + 3.0 * o.n2)
    crev = torch.sigmoid((flor.abs() - 0.12) * -14.0) * 0.7 + (1.0 - rho / R0).clamp(0, 1) * -0.3
    bud = torch.sin(34.0 * u + 2.0 * o.n2) * torch.sin(34.0 * v + 2.0 * o.n1)
    col = o.mix(crev.clamp(0.0, 1.0)) * (0.88 + 0.14 * bud + 0.1 * o.n3).unsqueeze(1)
    a = o.paint(d, col, _dome(d, 0.5) + 0.15 * _dome(d, 0.2), 0.06)
    o.bump(0.012 * bud - 0.02 * crev, a)


def _capsicum(o):
    u, v = o.u, o.v
    x = u / o.R(12, 0.92, 1.06)
    y = v * 1.04
    d = (x.abs().pow(3.5) + y.abs().pow(3.5)).pow(1.0 / 3.5) - 0.72
    low = torch.sigmoid((y - 0.25) * 8.0)
    d = d + 0.05 * (torch.cos(x * (3.0 * math.pi / 0.72)) * low) + 0.03 * (1 - low)
    d = d + 0.14 * torch.exp(-x * x * 16.0) * torch.sigmoid(-8.0 * y) + 0.01 * o.n1
    t = (0.35 + 0.5 * o.n1).clamp(0.0, 1.0) * 0.5
    a = o.paint(d, o.mix(t), _dome(d, 0.7), 0.75)
    crease = torch.exp(-((x.abs() - 0.27) ** 2) / 0.004) * (0.6 + 0.4 * low)
    o.bump(-0.05 * crease, a)
    tx = o.R(13, -0.05, 0.2)
    _stalk(o, 0.0, -0.50, tx, -0.93, 0.085, 0.065, o.part, gloss=0.3, bend=o.R(14, -0.4, 0.4))
    cap = _circle(u, v, tx, -0.93, 0.055)
    o.paint(cap, o.part * 0.6 + 0.3, _dome(cap, 0.05) + 0.05, 0.05)


def _carrot(o):
    u, v = o.u, o.v
    k = o.R(12, -0.15, 0.15)
    x = u - k * (v - 0.3) ** 2
    g = torch.sqrt(1.0 + (2.0 * k * (v - 0.3)) ** 2)
    r0 = o.R(13, 0.17, 0.22)
    d = _seg(x, v, 0.0, -0.38, 0.0, 0.95, r0, 0.015) / g
    ring = torch.sin(v * 36.0 + 3.0 * o.n2)
    groove = torch.sigmoid((ring - 0.8) * 20.0) * (0.5 + 0.5 * o.n1).clamp(0, 1)
    col = o.mix((0.3 + 0.5 * o.n1).clamp(0, 1) * 0.6) * (1.0 - 0.25 * groove).unsqueeze(1)
    a = o.paint(d, col, _dome(d, r0), 0.2)
    o.bump(-0.01 * groove, a)
    # leaves: three feathery stems (probability 0.7) or a cut stub
    leaves = o.flag(14, 0.7)
    green = o.part
    big = (1.0 - leaves) * 10.0
    ends = [(-0.30, -1.0), (0.03, -1.03), (0.32, -0.97)]
    dmin = None
    for j, (ex, ey) in enumerate(ends):
        ex = ex + o.R(15 + j, -0.08, 0.08)
        ds = _seg(u, v, 0.0, -0.5, ex, ey + 0.12, 0.025, 0.014)
        blob = _circle(u, v, ex, ey + 0.1, 0.13) + 0.07 * o.n3 + 0.03 * o.n2
        dj = torch.minimum(ds, blob)
        dmin = dj if dmin is None else torch.minimum(dmin, dj)
    dmin = dmin + big
    col_l = green * (0.8 + 0.3 * o.n3).unsqueeze(1)
    o.paint(dmin, col_l, _dome(dmin, 0.05), 0.1, add=True)
    stub = _seg(u, v, 0.0, -0.5, 0.0, -0.64, 0.07, 0.05) + leaves * 10.0
    o.paint(stub, green * 0.8 + 0.1, _dome(stub, 0.06), 0.1, add=True)


def _cherry(o):
    u, v = o.u, o.v
    pair = o.flag(12, 0.45)
    c1x, c1y, r1 = -0.40 * pair, 0.40 + 0.06 * pair, 0.52 - 0.12 * pair
    c2x, c2y, r2 = 0.40 + 0.0 * pair, o.R(13, 0.34, 0.50), o.R(14, 0.36, 0.42)
    d1 = _circle(u, v, c1x, c1y, r1)
    d1 = d1 + 0.07 * torch.exp(-((u - c1x) ** 2) * 40.0) * torch.sigmoid(-(v - c1y) * 8.0)
    d2 = _circle(u, v, c2x, c2y, r2)
    d2 = d2 + 0.07 * torch.exp(-((u - c2x) ** 2) * 40.0) * torch.sigmoid(-(v - c2y) * 8.0) + (1.0 - pair) * 10.0
    d = torch.minimum(d1, d2)
    bottom = (torch.sigmoid((v - c1y) * 4.0) * 0.6 + 0.25 * o.n1).clamp(0, 1)
    blush = o.is_var(2) * (0.6 + 0.6 * o.n1 - 0.4 * v).clamp(0, 1)
    col = o.mix((bottom * (1.0 - o.is_var(2)) + blush).clamp(0, 1))
    o.paint(d, col, torch.maximum(_dome(d1, r1), _dome(d2, 0.42)), 0.9)
    tx, ty = o.R(15, -0.1, 0.25), -0.97
    _stalk(o, c1x, c1y - r1 + 0.07, tx, ty, 0.028, 0.022, o.part, bend=o.R(16, -0.5, 0.5))
    s2 = _seg(u + 0.3 * (v - ty) * (v - c2y + r2), v, c2x, c2y - r2 + 0.07, tx, ty, 0.026, 0.022)
    s2 = s2 + (1.0 - pair) * 10.0
    o.paint(s2, o.part, _dome(s2, 0.026), 0.1, add=True)


def _chilli(o):
    u, v = o.u, o.v
    k = o.R(12, 0.05, 0.24)
    x = u - k * ((v + 0.55) ** 2 - 0.8)
    g = torch.sqrt(1.0 + (2.0 * k * (v + 0.55)) ** 2)
    r0 = o.R(13, 0.10, 0.135)
    d = _seg(x, v, 0.0, -0.52, 0.0, 0.93, r0, 0.012) / g
    t = (0.3 + 0.5 * o.n1).clamp(0, 1) * 0.4
    a = o.paint(d, o.mix(t), _dome(d, r0), 0.8)
    o.bump(0.003 * o.n2, a)
    cap = torch.maximum(d - 0.022, (v + 0.45 + 0.03 * torch.sin(x * 40.0)) / g)
    o.paint(cap, o.part, _dome(d, r0) + 0.02, 0.3)
    x0 = -0.8 * k
    _stalk(o, x0, -0.56, x0 + o.R(15, -0.16, 0.08), -0.99, 0.04, 0.03, o.part * 0.95, bend=o.R(14, -1.0, 1.0))


def _corn(o):
    u, v = o.u, o.v
    rt, rb = o.R(12, 0.25, 0.31), o.R(13, 0.32, 0.37)
    d = _seg(u, v, 0.0, -0.58, 0.0, 0.55, rt, rb)
    d = torch.maximum(d, v - 0.78)
    t = ((v + 0.58) / 1.13).clamp(0.0, 1.0)
    w = rt + (rb - rt) * t
    ang = torch.asin((u / w).clamp(-0.999, 0.999))
    col_k = ang * (18.0 / math.pi)
    row = v * 13.0
    cu = _frac(col_k) - 0.5
    cv = _frac(row + 0.5 * (torch.floor(col_k) % 2.0)) - 0.5
    kern = (1.0 - 3.2 * (cu * cu + 0.8 * cv * cv)).clamp(0.0, 1.0)
    shade = (0.55 + 0.45 * kern) * (1.0 + 0.08 * o.n3)
    col = o.mix((1.0 - kern).pow(2) * 0.8) * shade.unsqueeze(1)
    a = o.paint(d, col, _dome(d, rb), 0.35)
    o.bump(0.025 * kern, a)
    # stalk stub at the base, and husk leaves on some cobs
    _stalk(o, 0.0, 0.72, 0.0, 0.98, 0.12, 0.10, o.part * 0.8 + 0.15, gloss=0.05)
    husk = o.flag(14, 0.45)
    hd = None
    for j, sgn in enumerate((-1.0, 1.0)):
        hl, hw = o.R(15 + j, 0.42, 0.58), 0.16
        hu, hv = _rot(u, v, sgn * rb * 0.78, 0.62 - hl, torch.full_like(rt, -sgn * 0.12))
        rr = (hl * hl + hw * hw) / (2.0 * hw)
        dh = torch.maximum(torch.hypot(hu - (rr - hw), hv), torch.hypot(hu + (rr - hw), hv)) - rr
        hd = dh if hd is None else torch.minimum(hd, dh)
    hd = hd + (1.0 - husk) * 10.0
    vein = 0.92 + 0.08 * torch.sin(u * 70.0) + 0.05 * o.n2
    o.paint(hd, o.part * vein.unsqueeze(1), _dome(hd, 0.12) + 0.06, 0.15, add=True)


def _cucumber(o):
    u, v = o.u, o.v
    k = o.R(12, -0.12, 0.12)
    x = u - k * v * v
    g = torch.sqrt(1.0 + (2.0 * k * v) ** 2)
    ra, rb = o.R(13, 0.19, 0.23), o.R(14, 0.22, 0.27)
    d = _seg(x, v, 0.0, -0.70, 0.0, 0.70, ra, rb) / g
    w = ra + (rb - ra) * ((v + 0.7) / 1.4).clamp(0, 1)
    ang = torch.asin((x / w).clamp(-0.999, 0.999))
    stripe = (torch.sin(ang * 5.0 + 1.5 * o.n2) * 0.5 + 0.5).pow(3) * (0.35 + 0.65 * torch.sigmoid(v * 3.0))
    warts = (o.n3 > 0.68).to(u.dtype)
    col = o.mix((stripe + 0.4 * warts).clamp(0, 1))
    a = o.paint(d, col, _dome(d, rb), 0.45)
    o.bump(0.012 * warts, a)
    _stalk(o, 0.0, -0.85, 0.03, -0.99, 0.05, 0.04, o.part)


def _ladyfinger(o):
    u, v = o.u, o.v
    k = o.R(12, -0.15, 0.15)
    x = u - k * (v - 0.2) ** 2
    g = torch.sqrt(1.0 + (2.0 * k * (v - 0.2)) ** 2)
    rt = o.R(13, 0.13, 0.16)
    d = _seg(x, v, 0.0, -0.56, 0.0, 0.94, rt, 0.014) / g
    w = rt * (1.0 - ((v + 0.56) / 1.5).clamp(0, 1) * 0.9)
    ang = torch.asin((x / w).clamp(-0.999, 0.999))
    ridge = torch.cos(ang * 5.0 + o.R(14, 0, 6.28))
    col = o.mix((0.5 - 0.5 * ridge) * 0.7 + 0.2 * o.n2.clamp(0, 1))
    a = o.paint(d, col, _dome(d, rt), 0.1)
    o.bump(0.014 * ridge * w / rt, a)
    cap = torch.maximum(d - 0.02, (v + 0.48 + 0.02 * torch.sin(x * 50.0)) / g)
    o.paint(cap, o.part, _dome(d, rt) + 0.02, 0.1)
    _stalk(o, 0.0, -0.60, o.R(15, -0.05, 0.08), -0.97, 0.045, 0.035, o.part, bend=o.R(16, -0.6, 0.6))


def _lemon(o):
    u, v = o.u, o.v
    a_, b_ = o.R(12, 0.64, 0.72), o.R(13, 0.50, 0.58)
    d = _ellipse(u, v, a_, b_)
    l1, l2 = o.R(14, 0.08, 0.15), o.R(15, 0.03, 0.11)
    n1 = _seg(u, v, a_ - 0.12, 0.0, a_ + l1, 0.0, 0.13, 0.055)
    n2 = _seg(u, v, -a_ + 0.12, 0.0, -a_ - l2, 0.0, 0.13, 0.06)
    d = _smin(d, torch.minimum(n1, n2), 0.12) + 0.006 * o.n1
    t = ((0.35 + 0.6 * o.n1).clamp(0, 1) * 0.5 + torch.sigmoid((u.abs() - a_) * 12.0) * 0.5)
    col = o.mix(t) * (1.0 + 0.04 * o.n3).unsqueeze(1)
    a = o.paint(d, col, _dome(d, b_), 0.4)
    o.bump(0.0025 * o.n3, a)


def _orange(o):
    u, v = o.u, o.v
    d = torch.hypot(u, v * o.R(12, 0.98, 1.06)) - 0.8 + 0.008 * o.n1
    t = (0.3 + 0.6 * o.n1).clamp(0, 1) * 0.6
    col = o.mix(t) * (1.0 + 0.05 * o.n3).unsqueeze(1)
    a = o.paint(d, col, _dome(d, 0.8), 0.35)
    o.bump(0.0035 * o.n3, a)
    sy = o.R(13, -0.74, -0.1)
    scar = _star(u, v, o.R(14, -0.1, 0.1), sy, 0.03, 0.07, 5.0, o.R(15, 0, 6.28), 2.0)
    o.paint(scar, o.part, torch.zeros_like(u), 0.05, add=True)


def _peach(o):
    u, v = o.u, o.v
    d = torch.hypot(u, v * 0.98) - 0.78
    d = d + 0.07 * torch.exp(-((u - 0.06) ** 2) * 60.0) * torch.sigmoid(-8.0 * (v + 0.3)) + 0.01 * o.n1
    sx = u - 0.14 - 0.12 * v - o.R(12, -0.06, 0.06)
    suture = torch.exp(-(sx * sx) / 0.0025) * torch.sigmoid(-(v - 0.55) * 8.0)
    t = (o.R(13, -0.1, 0.4) + 0.6 * o.n1 + 0.45 * (-u - v) + 0.1 * o.n2).clamp(0, 1)
    col = o.mix(t) * (1.0 - 0.05 * suture + 0.03 * o.n3).unsqueeze(1)
    a = o.paint(d, col, _dome(d, 0.78), 0.08)
    o.bump(-0.03 * suture, a)
    _stalk(o, 0.06, -0.66, 0.08, -0.8, 0.04, 0.035, o.part)
    _leaf(o, 14, 0.08, -0.78, o.R(16, -0.6, 0.0), 0.5, 0.13, 0.4)


def _pear(o):
    u, v = o.u, o.v
    lean = o.R(12, -0.12, 0.12)
    x = u - lean * (v - 0.3)
    d = _smin(_circle(x, v, 0.0, 0.32, o.R(13, 0.52, 0.6)), _circle(x, v, 0.0, -0.36, o.R(14, 0.26, 0.33)), 0.35)
    t = (o.R(15, -0.3, 0.3) + 0.7 * o.n1 - 0.3 * x).clamp(0, 1)
    speck = (o.n3 > 1.05).to(u.dtype)
    col = o.mix(t) * (1.0 - 0.18 * speck).unsqueeze(1)
    a = o.paint(d, col, _dome(d, 0.55), 0.25)
    o.bump(0.0015 * o.n3, a)
    tx = o.R(16, -0.05, 0.18)
    _stalk(o, lean * -0.92, -0.62, tx, -0.98, 0.035, 0.025, o.part, bend=o.R(17, -0.5, 0.5))


def _plum(o):
    u, v = o.u, o.v
    d = _ellipse(u, v, o.R(12, 0.62, 0.70), o.R(13, 0.70, 0.78))
    d = d + 0.05 * torch.exp(-(u * u) * 50.0) * torch.sigmoid(-8.0 * (v + 0.3)) + 0.006 * o.n1
    sx = u - 0.16 - 0.1 * v
    suture = torch.exp(-(sx * sx) / 0.004) * torch.sigmoid(-(v - 0.5) * 8.0)
    bloom = ((0.2 + 0.6 * o.n2).clamp(0, 1) * 0.55 * (1.0 - o.is_var(1) * 0.5))
    col = o.mix(bloom) * (1.0 - 0.15 * suture).unsqueeze(1)
    a = o.paint(d, col, _dome(d, 0.66), 0.45 - 0.4 * bloom)
    o.bump(-0.04 * suture, a)
    _stalk(o, 0.0, -0.68, o.R(14, -0.05, 0.12), -0.92, 0.03, 0.025, o.part, bend=0.3)


def _pomegranate(o):
    u, v = o.u, o.v
    rho = torch.hypot(u, v * 1.02)
    phi = torch.atan2(v, u)
    d = rho - 0.74 * (1.0 + 0.015 * torch.cos(6.0 * phi + o.R(12, 0, 6.28))) + 0.01 * o.n1
    t = (o.R(13, -0.3, 0.2) + 0.8 * o.n1 + 0.3 * o.n2).clamp(0, 1)
    col = o.mix(t) * (1.0 + 0.06 * o.n3).unsqueeze(1)
    a = o.paint(d, col, _dome(d, 0.74), 0.2)
    o.bump(0.004 * o.n3, a)
    # crown: a flared tube with pointed teeth on top
    top = o.R(14, -1.04, -0.96)
    hw = 0.13 + 0.12 * ((-v - 0.68) / (-0.68 - top)).clamp(0.0, 1.0)
    yt = top + 0.13 * (0.5 + 0.5 * torch.cos(u * (math.pi * 5.0 / 0.25)))
    dcr = torch.maximum(torch.maximum(u.abs() - hw, v + 0.6), yt - v)
    col_c = o.part * (0.9 + 0.2 * o.n2).unsqueeze(1)
    o.paint(dcr, col_c, _dome(dcr, 0.06) + 0.05, 0.1, add=True)


def _potato(o):
    u, v = o.u, o.v
    a_, b_ = o.R(12, 0.76, 0.90), o.R(13, 0.50, 0.64)
    d = _ellipse(u, v, a_, b_) + 0.07 * o.n1 + 0.02 * o.n2
    e = torch.zeros_like(u)
    for j in range(4):
        ex, ey = o.R(14 + 2 * j, -0.6, 0.6) * a_, o.R(15 + 2 * j, -0.6, 0.6) * b_
        e = e + torch.exp(-((u - ex) ** 2 + (v - ey) ** 2) / 0.0025)
    e = e.clamp(0, 1)
    t = (0.3 + 0.6 * o.n2 + 0.4 * o.n3).clamp(0, 1)
    col = o.mix(t)
    col = col + (o.part - col) * e.unsqueeze(1)
    col = col * (1.0 + 0.06 * o.n3).unsqueeze(1)
    a = o.paint(d, col, _dome(d, 0.5), 0.04)
    o.bump(-0.03 * e + 0.006 * o.n3, a)


def _strawberry(o):
    u, v = o.u, o.v
    x = u / o.R(12, 0.9, 1.08)
    d = _smin(_circle(x, v, 0.0, -0.2, 0.52), _seg(x, v, 0.0, -0.1, 0.0, o.R(17, 0.55, 0.66), 0.44, 0.13), 0.2)
    d = torch.maximum(d, -(v + 0.62))
    row = (v + 1.0) * 9.0
    cu = _frac(x * 8.0 + 0.5 * (torch.floor(row) % 2.0)) - 0.5
    cv = _frac(row) - 0.5
    rs = torch.sqrt(cu * cu + 1.6 * cv * cv)
    seed = (0.5 - (rs - 0.14) / (o.px * 9.0)).clamp(0.0, 1.0)
    col = o.body * (1.0 + 0.08 * o.n2).unsqueeze(1)
    col = col + (o.sec - col) * seed.unsqueeze(1)
    a = o.paint(d, col, _dome(d, 0.5), 0.55)
    o.bump(-0.012 * torch.exp(-rs * rs / 0.05) + 0.006 * seed, a)
    # calyx (seen from slightly above) and stalk
    ds = _star(u, v, 0.0, -0.6, 0.10, o.R(13, 0.36, 0.46), o.R(14, 5.0, 7.0).round(), o.R(15, 0, 6.28), 3.0, 1.7)
    col_l = o.part * (0.85 + 0.2 * o.n2).unsqueeze(1)
    o.paint(ds, col_l, _dome(ds, 0.1) * 0.5 + 0.06, 0.2, add=True)
    _stalk(o, 0.0, -0.62, o.R(16, -0.08, 0.12), -0.96, 0.04, 0.033, o.part, bend=o.R(18, -0.5, 0.5))


def _tomato(o):
    u, v = o.u, o.v
    x = u / o.R(12, 1.05, 1.18)
    rho = torch.hypot(x, v)
    phi = torch.atan2(v, x)
    ph = o.R(13, 0, 6.28)
    d = rho - 0.72 * (1.0 + 0.012 * torch.cos(5.0 * phi + ph)) + 0.06 * torch.exp(-x * x * 25.0) * torch.sigmoid(-8.0 * v)
    yc = (v + 0.55) * 1.8
    rib = torch.cos(5.0 * torch.atan2(yc, x) + ph) * torch.exp(-(x * x + yc * yc) / 0.25)
    shoulder = torch.sigmoid(-(v + 0.35) * 6.0) * o.R(14, 0.0, 0.7)
    col = o.mix((shoulder + 0.2 * o.n1).clamp(0, 1))
    a = o.paint(d, col, _dome(d, 0.72), 0.65)
    o.bump(0.015 * rib + 0.0015 * o.n3, a)
    cal = _star(u, v, 0.0, -0.55, 0.06, o.R(15, 0.28, 0.36), o.R(16, 5.0, 6.0).round(), ph, 5.0, 1.8)
    o.paint(cal, o.part, _dome(cal, 0.06) * 0.5 + 0.04, 0.2, add=True)
    _stalk(o, 0.0, -0.56, o.R(17, -0.08, 0.08), -0.80, 0.05, 0.042, o.part, bend=o.R(18, -0.5, 0.5))


_DRAW = [
    _apple, _banana, _brinjal, _broccoli, _capsicum, _carrot, _cherry, _chilli, _corn, _cucumber,
    _ladyfinger, _lemon, _orange, _peach, _pear, _plum, _pomegranate, _potato, _strawberry, _tomato,
]

# tables as tensors: variant weights (cumulative), colours
_NV = max(len(VARIANTS[c]) for c in CATEGORIES)
_CUM = torch.ones(len(CATEGORIES), _NV)
_COL = torch.zeros(len(CATEGORIES), _NV, 3, 3)
for _ci, _c in enumerate(CATEGORIES):
    _w = torch.tensor([x[1] for x in VARIANTS[_c]], dtype=torch.float64)
    _cs = torch.cumsum(_w / _w.sum(), 0).float()
    _CUM[_ci, :len(_cs)] = _cs
    _CUM[_ci, len(_cs) - 1:] = 1.0 + 1e-6
    for _vi, _x in enumerate(VARIANTS[_c]):
        _COL[_ci, _vi] = torch.tensor([_x[2], _x[3], _x[4]])
_SIZE = torch.tensor([_META[c][0] for c in CATEGORIES])
_ROT = torch.tensor([_META[c][1] for c in CATEGORIES])
_LAYOUT = {1: (0.0, 0.86), 2: (0.44, 0.52), 3: (0.47, 0.44), 4: (0.48, 0.40)}  # radius, base scale
# Half-extents (max |u|, max |v|) of each category's drawing in its own frame, stems and
# leaves included: objects are rendered in a window this size (tests hold it to the full frame).
_EXT = torch.tensor([_META[c][2] for c in CATEGORIES])
_CROP = True


def _article_fix(text: str) -> str:
    return text


def _captions(cat: torch.Tensor, var: torch.Tensor) -> list[str]:
    return [VARIANTS[CATEGORIES[c]][k][0].format(n=NOUNS[c]) for c, k in zip(cat.tolist(), var.tolist())]


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
        if isinstance(size, bool) or not isinstance(size, int) or size < 16:
            raise ValueError(f"size must be an integer >= 16 (pixels per side), got {size!r}")
        if n is None:
            n = _DEFAULT_N[split]
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer (number of images), got {n!r}")
        if isinstance(objects, int) and not isinstance(objects, bool):
            lo = hi = objects
        elif isinstance(objects, (tuple, list, range)) and len(objects) >= 1:
            vals = list(objects)
            lo, hi = (vals[0], vals[-1]) if not isinstance(objects, range) else (min(vals), max(vals))
        else:
            raise ValueError(f"objects must be 1, 2, 3, 4 or a range like (2, 4), got {objects!r}")
        if not (isinstance(lo, int) and isinstance(hi, int) and 1 <= lo <= hi <= _K):
            raise ValueError(f"objects must be between 1 and {_K} per image (or a range (lo, hi) within "
                             f"1..{_K}), got {objects!r}")
        self.split, self.size, self.n, self.seed = split, int(size), int(n), int(seed)
        self.objects = (lo, hi)
        self.name = f"synthetic-ncd-{split}"

    def __len__(self) -> int:
        return self.n

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
    """Render a batch from its random numbers ``buf`` (B, _TOT) (see the module docstring)."""
    B = buf.shape[0]
    nc = len(CATEGORIES)
    scene = buf[:, :_NS]
    obj = buf[:, _NS:_NS + _K * _NP].view(B, _K, _NP)
    lo, hi = objects
    count = (lo + (scene[:, 0] * (hi - lo + 1)).long().clamp(max=hi - lo)) if hi > lo else torch.full((B,), lo)
    K = hi

    # ---- layout, categories, colours, crop windows (CPU, tiny) ----
    cat = (obj[:, :, 0] * nc).long().clamp(max=nc - 1)
    cat[:, 0] = indices % nc
    var = (obj[:, :, 7].unsqueeze(-1) > _CUM[cat]).sum(-1).clamp(max=_NV - 1)
    cols = _COL[cat, var]                                   # (B, K, 3, 3): body, sec, part
    bright = 0.86 + 0.22 * obj[:, :, 8]
    chan = 1.0 + 0.10 * (obj[:, :, 9:12] - 0.5)
    cols = (cols * (bright.view(B, _K, 1, 1) * chan.unsqueeze(2))).clamp(0.0, 1.0)
    radius = torch.tensor([_LAYOUT[c][0] for c in range(1, _K + 1)])[count - 1]
    base = torch.tensor([_LAYOUT[c][1] for c in range(1, _K + 1)])[count - 1]
    slot = torch.arange(_K).view(1, _K)
    ang = 2 * math.pi * (scene[:, 1:2] + slot / count.view(B, 1).float())
    jit = 0.08 if hi == 1 else 0.05
    cx = radius.view(B, 1) * torch.cos(ang) + jit * (2 * obj[:, :, 1] - 1)
    cy = radius.view(B, 1) * torch.sin(ang) * 0.9 + jit * (2 * obj[:, :, 2] - 1)
    if hi == 1:
        rel = 0.88 + 0.12 * obj[:, :, 3]
    else:
        rel = torch.where(slot == 0, 0.92 + 0.08 * obj[:, :, 3], 0.62 + 0.18 * obj[:, :, 3])
    scale = base.view(B, 1) * rel * _SIZE[cat]
    rot = (2 * obj[:, :, 4] - 1) * _ROT[cat]
    asp = 0.93 + 0.14 * obj[:, :, 5]
    flip = torch.where(obj[:, :, 6] < 0.5, -1.0, 1.0)
    ca, sa = torch.cos(rot).abs(), torch.sin(rot).abs()
    ex, ey = _EXT[cat, 0] * asp, _EXT[cat, 1] / asp
    half_px = scale * (size / 2.0)
    win_w = (2.0 * half_px * (ca * ex + sa * ey) + 5.0).ceil().clamp(max=size).long()
    win_h = (2.0 * half_px * (sa * ex + ca * ey) + 5.0).ceil().clamp(max=size).long()
    pcx, pcy = (cx + 1.0) * (size / 2.0), (cy + 1.0) * (size / 2.0)

    # ---- to the device: noise textures, lights ----
    dev = device
    f32 = torch.float32

    def T(x):
        return x.to(device=dev, dtype=f32)

    obj_d, cols_d = T(obj), T(cols)
    cx_d, cy_d, scale_d, rot_d, asp_d, flip_d = map(T, (cx, cy, scale, rot, asp, flip))
    var_d = var.to(dev)
    ofs = _NS + _K * _NP
    grids = []
    for gsz in _GRIDS:
        gr = T(buf[:, ofs:ofs + gsz * gsz]).view(B, 1, gsz, gsz) * 2.0 - 1.0
        ofs += gsz * gsz
        if gsz != _NOISE_RES:
            gr = F.interpolate(gr, size=(_NOISE_RES, _NOISE_RES), mode="bicubic", align_corners=True)
        grids.append(gr)
    noise_tex = torch.cat(grids, 1) * torch.tensor([1.3, 1.5, 1.7], device=dev).view(1, 3, 1, 1)
    sc = T(scene)
    az = -2.25 + 0.5 * (sc[:, 2] - 0.5)             # light from the upper left, jittered
    el = 0.78 + 0.2 * sc[:, 3]
    light = torch.stack([torch.cos(az) * torch.cos(el), torch.sin(az) * torch.cos(el), torch.sin(el)], 1)
    half = light + torch.tensor([0.0, 0.0, 1.0], device=dev)
    half = half / half.norm(dim=1, keepdim=True)

    H = W = size
    cov = torch.zeros(B, H, W, device=dev)
    col = torch.zeros(B, 3, H, W, device=dev)       # shaded colour, premultiplied by coverage
    hgt = torch.zeros(B, H, W, device=dev)
    boxes = torch.zeros(B, _K, 4)
    areas = torch.full((B, _K), -1.0)
    multi = K > 1
    for k in range(K):
        active = count > k
        for c in torch.unique(cat[active, k]).tolist():
            sel_cpu = torch.nonzero(active & (cat[:, k] == c)).flatten()
            sel = sel_cpu.to(dev)
            ww = int(win_w[sel_cpu, k].max()) if _CROP else size
            wh = int(win_h[sel_cpu, k].max()) if _CROP else size
            ox = (pcx[sel_cpu, k] - ww / 2.0).floor().long().clamp(0, size - ww)
            oy = (pcy[sel_cpu, k] - wh / 2.0).floor().long().clamp(0, size - wh)
            X = (T(ox).view(-1, 1, 1) + torch.arange(ww, device=dev, dtype=f32).view(1, 1, ww) + 0.5) \
                * (2.0 / size) - 1.0
            Y = (T(oy).view(-1, 1, 1) + torch.arange(wh, device=dev, dtype=f32).view(1, wh, 1) + 0.5) \
                * (2.0 / size) - 1.0
            s = scale_d[sel, k].view(-1, 1, 1)
            th = rot_d[sel, k].view(-1, 1, 1)
            a_ = asp_d[sel, k].view(-1, 1, 1)
            dx, dy = X - cx_d[sel, k].view(-1, 1, 1), Y - cy_d[sel, k].view(-1, 1, 1)
            ct, st = torch.cos(th), torch.sin(th)
            fu = flip_d[sel, k].view(-1, 1, 1) / (s * a_)
            fv = a_ / s
            u = (ct * fu) * dx + (st * fu) * dy
            v = (-st * fv) * dx + (ct * fv) * dy
            px = (2.0 / size) / s
            grid = torch.stack((u, v), -1) * (1.0 / 1.25)
            nz = F.grid_sample(noise_tex[sel], grid, mode="bilinear", padding_mode="reflection",
                               align_corners=False)
            cc = cols_d[sel, k]
            o = _Obj(u, v, px, obj_d[sel, k], nz, cc[:, 0].view(-1, 3, 1, 1), cc[:, 1].view(-1, 3, 1, 1),
                     cc[:, 2].view(-1, 3, 1, 1), var_d[sel, k])
            _DRAW[c](o)
            oc, ocov, oh = _shade(o, s, light[sel], half[sel], size)
            x0, y0, x1, y1, area = _boxes(ocov)
            boxes[sel_cpu, k] = torch.stack([(x0 + ox) / W, (y0 + oy) / H, (x1 + ox) / W, (y1 + oy) / H], 1)
            boxes[sel_cpu, k] = torch.where((area > 0).view(-1, 1), boxes[sel_cpu, k], 0.0)
            areas[sel_cpu, k] = area
            # paste the window into the frame: one scatter per tensor, flat indices
            n = sel.numel()
            rows = (sel.view(-1, 1, 1) * H + oy.to(dev).view(-1, 1, 1)
                    + torch.arange(wh, device=dev).view(1, wh, 1)) * W
            flat = (rows + ox.to(dev).view(-1, 1, 1) + torch.arange(ww, device=dev).view(1, 1, ww)).view(-1)
            plane = torch.arange(3, device=dev).view(1, 3, 1) * (H * W)
            flat3 = ((flat.view(n, 1, -1) - sel.view(-1, 1, 1) * (H * W)) + sel.view(-1, 1, 1) * (3 * H * W)
                     + plane).view(-1)
            cov_f, col_f, hgt_f = cov.view(-1), col.view(-1), hgt.view(-1)
            if not multi:
                cov_f[flat] = ocov.reshape(-1)
                col_f[flat3] = oc.reshape(-1)
                hgt_f[flat] = oh.reshape(-1)
            else:
                na = 1.0 - ocov
                cov_f[flat] = (cov_f[flat].view_as(ocov) * na + ocov).view(-1)
                col_f[flat3] = (col_f[flat3].view_as(oc) * na.unsqueeze(1) + oc).reshape(-1)
                hgt_f[flat] = torch.lerp(hgt_f[flat].view_as(oh), oh, ocov).view(-1)

    # ---- background: pure-ish white, slight gradient and tint, soft contact shadow ----
    lin = (torch.arange(size, device=dev, dtype=f32) + 0.5) * (2.0 / size) - 1.0
    level = 0.955 + 0.03 * sc[:, 4]
    gang = 2 * math.pi * sc[:, 5]
    tint = 0.008 * (sc[:, 6:8] - 0.5) * 2.0
    bg_col = (level.view(B, 1) + torch.stack([tint[:, 0], -0.5 * tint[:, 0] - 0.5 * tint[:, 1], tint[:, 1]], 1))
    bg_col = bg_col.clamp(0.958, 0.98)
    gx_ = (0.012 * torch.cos(gang)).view(B, 1, 1, 1) * lin.view(1, 1, 1, W)
    gy_ = (0.012 * torch.sin(gang)).view(B, 1, 1, 1) * lin.view(1, 1, H, 1)
    bg = (bg_col.view(B, 3, 1, 1) + gx_) + gy_                  # within [0.941, 0.997]
    lowres = max(4, size // 4)
    m = F.interpolate(cov.unsqueeze(1), size=(lowres, lowres), mode="area")
    sh_off = max(1, round(lowres * 0.03))
    m = F.pad(m, (sh_off, 0, sh_off, 0))[:, :, :lowres, :lowres]
    m = F.avg_pool2d(m, 5, stride=1, padding=2, count_include_pad=False)
    m = F.avg_pool2d(m, 3, stride=1, padding=1, count_include_pad=False)
    shadow = F.interpolate(m, size=(H, W), mode="bilinear", align_corners=False)
    c1 = cov.unsqueeze(1)
    keep = (1.0 - c1) * (1.0 - 0.16 * shadow)
    rgb = torch.addcmul(col, bg, keep).clamp_(0.0, 1.0)   # col <= cov, bg * keep <= 1 - cov

    # ---- annotations ----
    order = torch.argsort(areas, dim=1, descending=True, stable=True)
    big = order[:, 0]
    ar = torch.arange(B)
    label = cat[ar, big]
    box = boxes[ar, big]
    caps_all = [_captions(cat[:, k], var[:, k]) for k in range(K)]
    cnt, order_l, cat_l, boxes_l = count.tolist(), order.tolist(), cat.tolist(), boxes.tolist()
    captions, instances = [], []
    pal = torch.zeros(B, 5, 3)
    for b in range(B):
        ks = [k for k in order_l[b] if k < cnt[b]]
        parts = [caps_all[k][b] for k in ks]
        captions.append(parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1])
        instances.append([(cat_l[b][k], tuple(boxes_l[b][k])) for k in ks])
        body, sec, part = cols[b, ks[0]]
        if len(ks) == 1:
            pal[b, :4] = torch.stack([body, body * 0.5, sec, part])
        else:
            pal[b, :4] = torch.stack(([body] + [cols[b, k, 0] for k in ks[1:]] + [sec, part])[:4])
    pal[:, 4] = bg_col.cpu()
    return {
        "rgb": rgb,
        "label": label.to(dev),
        "mask": c1.clamp(0.0, 1.0),
        "depth": (hgt * 0.5).clamp_(0.0, 1.0).unsqueeze(1),
        "box": box.to(dev),
        "caption": captions,
        "palette": pal.clamp(0.0, 1.0).to(dev),
        "instances": instances,
    }


def _shade(o: _Obj, s: torch.Tensor, light: torch.Tensor, half: torch.Tensor, size: int):
    """Shade one object: normals from its height field, Lambert + Blinn-Phong highlight.

    Returns the shaded colour premultiplied by coverage (n, 3, h, w), the coverage and the
    height above the table in image half-widths (n, h, w).
    """
    h = (o.h * s).clamp_(min=0.0)
    hp = F.pad(h.unsqueeze(1), (1, 1, 1, 1), mode="replicate").squeeze(1)
    k2 = size / 4.0                     # 1 / (2 * pixel size in image units)
    gx = (hp[:, 1:-1, 2:] - hp[:, 1:-1, :-2]) * k2
    gy = (hp[:, 2:, 1:-1] - hp[:, :-2, 1:-1]) * k2
    inv_n = torch.rsqrt(1.0 + gx * gx + gy * gy)
    L, Hh = light.view(-1, 3, 1, 1), half.view(-1, 3, 1, 1)
    ndl = (L[:, 2] - gx * L[:, 0] - gy * L[:, 1]) * inv_n
    ndh = ((Hh[:, 2] - gx * Hh[:, 0] - gy * Hh[:, 1]) * inv_n).clamp_(min=0.0)
    cov = o.cov
    shade = (0.36 + 0.72 * ndl.clamp_(min=0.0)) * cov
    spec = (o.gl * cov) * ndh.pow(28.0) * 0.8
    col = torch.addcmul(spec.unsqueeze(1), o.alb, shade.unsqueeze(1))
    col = torch.minimum(col, cov.unsqueeze(1))     # colour <= 1 before premultiplying
    return col, cov, h


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
    """Rendering throughput of :class:`SyntheticNCD` in images per second.

    Renders consecutive batches of ``batch`` images at ``size`` x ``size`` through
    ``dataset.batch`` (so the Lab conversion that training needs is included) for about
    ``seconds`` after one warm-up batch. ``device`` defaults to CUDA when available.
    Returns ``{"images_per_s", "render_images_per_s", "device", "size", "batch", "images",
    "seconds", "threads"}``; ``render_images_per_s`` times the renderer alone (no Lab).
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

    full = lambda i: data.batch(torch.arange(i * batch, (i + 1) * batch) % len(data), device)  # noqa: E731
    render = lambda i: data._load(torch.arange(i * batch, (i + 1) * batch) % len(data), device)  # noqa: E731
    ips, count, dt = run(full, seconds)
    rips, _, _ = run(render, seconds / 3)
    return {"images_per_s": ips, "render_images_per_s": rips, "device": str(device), "size": size,
            "batch": batch, "images": count, "seconds": dt, "threads": torch.get_num_threads()}
