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

Speed: each object is drawn in a window around it (from per-category extents, held to the
full frame by a test), stems and leaves in smaller sub-windows, value noise by matrix
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
_NS = 8                        # uniform numbers per scene (layout, background, light)
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


# --------------------------------------------------------------------------------------
# Signed-distance helpers (all on (n, H, W) tensors; parameters (n, 1, 1) or floats)
# --------------------------------------------------------------------------------------

def _f(x, fn) -> float:
    """A float bound from a float or a per-sample tensor (``fn`` = min or max)."""
    return float(getattr(x, "amin" if fn is min else "amax")()) if torch.is_tensor(x) else float(x)


@functools.lru_cache(maxsize=256)
def _scalar(x: float, device: torch.device) -> torch.Tensor:
    return torch.tensor(x, device=device)


def _circle(u, v, cx, cy, r):
    return torch.hypot(u - cx, v - cy) - r


def _ellipse(u, v, a, b):
    """Approximate distance to an ellipse with half-axes a, b (Quilez's gradient form)."""
    x, y = u / a, v / b
    k0 = torch.hypot(x, y)
    k1 = torch.hypot(x / a, y / b).clamp_min_(1e-4)
    return (k0 - 1.0).mul_(k0).div_(k1)


def _seg(u, v, ax, ay, bx, by, ra, rb):
    """Distance to a tapered capsule from (ax, ay) radius ra to (bx, by) radius rb."""
    px, py = u - ax, v - ay
    dx, dy = bx - ax, by - ay
    inv = 1.0 / (dx * dx + dy * dy)
    t = (px * (dx * inv)).add_(py * (dy * inv)).clamp_(0.0, 1.0)
    d = torch.hypot(px.sub_(t * dx), py.sub_(t * dy))
    return d.sub_(t.mul_(rb - ra).add_(ra))


def _smin(a, b, k):
    h = ((b - a) * (0.5 / k)).add_(0.5).clamp_(0.0, 1.0)
    return torch.lerp(b, a, h).sub_(h * (1.0 - h) * k)


def _star(u, v, cx, cy, r_in, r_out, k, phase, sharp, squash=1.0):
    """A k-pointed star (calyx, crown, leaves) around (cx, cy), y squashed for perspective."""
    x, y = u - cx, (v - cy) * squash
    rho = torch.hypot(x, y)
    ang = torch.atan2(y, x) * k + phase
    c = torch.cos(ang).mul_(0.5).add_(0.5)
    cp = c.clamp_min(1e-4).pow_(sharp - 1)
    R = (c * cp).mul_(r_out - r_in).add_(r_in)
    # radial distance, corrected by the angular slope so that edges stay one pixel soft
    dR = cp.mul_(torch.sin(ang)).mul_((r_out - r_in) * sharp * 0.5 * k)
    g = torch.rsqrt(dR.div_(rho.clamp_min(0.02)).square_().add_(1.0))
    return (rho - R).mul_(g * (1.0 / squash ** 0.5))


def _lens(x, y, hl, hw):
    """A pointed leaf along y: the intersection of two discs, half-length hl (y), half-width hw (x)."""
    rr = (hl * hl + hw * hw) / (2.0 * hw)
    return torch.maximum(torch.hypot(x - (rr - hw), y), torch.hypot(x + (rr - hw), y)) - rr


def _dome(d, r):
    """Height of a rounded profile over a silhouette: a sphere cap of radius r."""
    c = d.clamp(max=0.0)
    c = torch.maximum(c, -r) if torch.is_tensor(r) else c.clamp_(min=-r)
    return torch.sqrt((c + 2.0 * r).mul_(c).neg_())


def _frac(x):
    return x - torch.floor(x)


def _rot(u, v, cx, cy, ang):
    c, s = torch.cos(ang), torch.sin(ang)
    x, y = u - cx, v - cy
    return x * c + y * s, y * c - x * s


class _Obj:
    """One category's samples of one object slot, drawn in the object's own frame.

    ``u`` (right) and ``v`` (down) are object coordinates: the shape fits in about [-1, 1].
    ``paint`` composites a part (an SDF, a colour, a height and a gloss) over what is there;
    ``sub(u0, v0, u1, v1)`` is the same object restricted to the pixels that can see that
    box of object coordinates (stems and leaves are drawn there, not over the whole window).
    """

    def __init__(self, u, v, nipx, r, noise, body, sec, part, var, frame=None, r_cpu=None):
        self.u, self.v, self.nipx, self.r = u, v, nipx, r
        self.r_cpu = r.cpu() if r_cpu is None else r_cpu      # the same numbers, for decisions
        self.px = -1.0 / nipx                       # pixel size in object units, (n, 1, 1)
        self.rk = r.view(r.shape[0], -1, 1, 1).unbind(1)
        self.var = var.view(-1, 1, 1)
        self.n1, self.n2, self.n3 = noise
        self.body, self.sec, self.part = body, sec, part
        self.frame = frame            # per sample (col0, row0, cu, cv, ru, rv): column = col0 + cu u + cv v, ...
        self.cov = self.alb = self.gl = self.h = None
        self.parent, self.reg, self.owned = None, None, False

    def R(self, k: int, lo: float = 0.0, hi: float = 1.0):
        return self.rk[k] * (hi - lo) + lo

    def flag(self, k: int, p: float):
        return (self.rk[k] < p).to(self.u.dtype)

    def any(self, k: int, p: float) -> bool:
        """Whether ``flag(k, p)`` holds for any sample (decided on the CPU: no device sync)."""
        return bool((self.r_cpu[:, k] < p).any())

    def is_var(self, i: int):
        return (self.var == i).to(self.u.dtype).view(-1, 1, 1)

    def lod(self, period: float):
        """Texture level of detail: 1 when a pattern's period spans >= 3.5 pixels, 0 below 2.

        Fine patterns (kernels, seeds, buds, grooves) fade out instead of aliasing at low
        resolution.
        """
        return (self.px.reciprocal() * (period / 1.5) - (2.0 / 1.5)).clamp_(0.0, 1.0)

    def mix(self, t, a=None, b=None):
        a = self.body if a is None else a
        b = self.sec if b is None else b
        return torch.lerp(a, b, t.unsqueeze(1))

    def jitter(self, rgb, k: int, amount: float = 0.12):
        c = torch.tensor(rgb, dtype=self.u.dtype, device=self.u.device).view(1, 3, 1, 1)
        return (c * (1.0 + amount * (self.rk[k].unsqueeze(1) - 0.5))).clamp(0.0, 1.0)

    def paint(self, d, color, height, gloss, add: bool = False):
        """Composite a part with signed distance ``d`` over what is drawn ("over" operator).

        Coverage is anti-aliased over one pixel; albedo and gloss are kept un-premultiplied
        (the part's weight is its coverage over the new total coverage); ``add`` puts the
        part's height on top of what is below (leaves, calyces) instead of replacing it.
        """
        a = (d * self.nipx).add_(0.5).clamp_(0.0, 1.0)
        if not torch.is_tensor(gloss):
            gloss = _scalar(float(gloss), d.device)
        if self.cov is None:                       # first part on an empty canvas (tensors shared)
            self.cov, self.alb, self.gl, self.h, self.owned = a, color, gloss, height * a, False
            return a
        cov = self.cov
        newc = torch.addcmul(cov + a, a, cov, value=-1.0)
        w = a / newc.clamp_min(1e-6)
        alb = torch.lerp(self.alb, color, w.unsqueeze(1))
        gl = torch.lerp(self.gl, gloss, w)
        h = torch.addcmul(self.h, height, a) if add else torch.lerp(self.h, height, a)
        if self.parent is None:
            self.cov, self.alb, self.gl, self.h, self.owned = newc, alb, gl, h, True
        else:                                      # a part: write into the parent's pixels
            self.cov.copy_(newc)
            self.alb.copy_(alb)
            self.gl.copy_(gl)
            self.h.copy_(h)
        return a

    def bump(self, amount, where):
        if self.parent is None:
            self.h = torch.addcmul(self.h, amount, where)
        else:
            self.h.addcmul_(amount, where)

    def cut(self, t):
        """A full-window map (n, [C,] h, w) cut to this (sub-)object's pixels."""
        return t if self.reg is None else t[..., self.reg[0], self.reg[1]]

    def sub(self, u0, v0, u1, v1, margin: float = 2.5) -> "_Obj":
        """This object restricted to the window pixels that can see [u0, u1] x [v0, v1]."""
        if self.frame is None or self.parent is not None:
            return self
        ua, ub, va, vb = _f(u0, min), _f(u1, max), _f(v0, min), _f(v1, max)
        cols, rows = [], []
        for c0, r0, cu, cv, ru, rv in self.frame:
            for uu, vv in ((ua, va), (ub, va), (ub, vb), (ua, vb)):
                cols.append(c0 + cu * uu + cv * vv)
                rows.append(r0 + ru * uu + rv * vv)
        n, H, W = self.u.shape
        x0 = max(0, int(math.floor(min(cols) - margin)))
        x1 = min(W, int(math.ceil(max(cols) + margin)) + 1)
        y0 = max(0, int(math.floor(min(rows) - margin)))
        y1 = min(H, int(math.ceil(max(rows) + margin)) + 1)
        if x1 <= x0 or y1 <= y0:
            x0, x1, y0, y1 = 0, 1, 0, 1
        if (x1 - x0) * (y1 - y0) > 0.7 * H * W:
            return self
        ys, xs = slice(y0, y1), slice(x0, x1)
        if not self.owned:                         # parts write in place: own full-size maps first
            self.cov = self.cov.clone()
            self.alb = self.alb.expand(n, 3, H, W).clone()
            self.gl = self.gl.expand(n, H, W).clone()
            self.owned = True
        p = _Obj.__new__(_Obj)
        p.u, p.v, p.px, p.r, p.rk, p.var = self.u[:, ys, xs], self.v[:, ys, xs], self.px, self.r, self.rk, self.var
        p.r_cpu = self.r_cpu
        p.n1, p.n2, p.n3 = self.n1[:, ys, xs], self.n2[:, ys, xs], self.n3[:, ys, xs]
        p.body, p.sec, p.part, p.nipx, p.frame = self.body, self.sec, self.part, self.nipx, None
        p.cov, p.alb, p.gl, p.h = self.cov[:, ys, xs], self.alb[:, :, ys, xs], self.gl[:, ys, xs], self.h[:, ys, xs]
        p.parent, p.reg = self, (ys, xs)
        return p


# --------------------------------------------------------------------------------------
# The 20 categories. Parameter columns 12..31 of ``o.r`` are free for shape variation.
# --------------------------------------------------------------------------------------

def _leaf(o, k, x0, y0, ang, length, width, p):
    """An optional leaf (probability p) growing from (x0, y0) in direction ``ang``."""
    if not o.any(k, p):
        return
    on = o.rk[k] < p
    cx, cy = x0 + 0.5 * length * torch.cos(ang), y0 + 0.5 * length * torch.sin(ang)
    e = 0.5 * length + width
    q = o.sub(_f(cx, min) - e, _f(cy, min) - e, _f(cx, max) + e, _f(cy, max) + e)
    lu, lv = _rot(q.u, q.v, cx, cy, ang)
    d = _ellipse(lu, lv + width * (lu / length) ** 2, 0.5 * length, width)
    d = d + (~on).to(d.dtype) * 10.0
    vein = torch.exp(-(lv * lv) / (0.0006 + 0.5 * q.px ** 2))
    col = q.jitter(_LEAF, k + 1, 0.3) * (1.0 - 0.25 * vein).unsqueeze(1)
    q.paint(d, col, _dome(d, width) * 0.4, 0.25, add=True)


def _stalk(o, x0, y0, x1, y1, r0, r1, color, gloss=0.1, bend=0.0, on=None):
    """A (bent) tapered stalk from (x0, y0) to (x1, y1), drawn in its own sub-window."""
    rm = max(_f(r0, max), _f(r1, max))
    bb = abs(_f(bend, max)) if not torch.is_tensor(bend) else float(bend.abs().amax())
    dv = max(abs(_f(y1, max) - _f(y0, min)), abs(_f(y1, min) - _f(y0, max)))
    eu = rm + bb * dv * dv / 4.0
    q = o.sub(min(_f(x0, min), _f(x1, min)) - eu, min(_f(y0, min), _f(y1, min)) - rm,
              max(_f(x0, max), _f(x1, max)) + eu, max(_f(y0, max), _f(y1, max)) + rm)
    u = q.u + bend * (q.v - y0) * (q.v - y1)
    d = _seg(u, q.v, x0, y0, x1, y1, r0, r1)
    if on is not None:
        d = d + (1.0 - on) * 10.0
    q.paint(d, color, _dome(d, r0), gloss, add=True)


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
    q = o.sub(-0.86, -0.48, -0.74, -0.02)
    tip = _circle(q.u, q.cut(y), -0.80, 0.0, 0.045) / q.cut(g)
    q.paint(tip, o.part * 0.7, _dome(tip, 0.04) + _dome(q.cut(d), 0.22), 0.1)


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
    bud = torch.sin(34.0 * u + 2.0 * o.n2) * torch.sin(34.0 * v + 2.0 * o.n1) * o.lod(2 * math.pi / 34.0)
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
    q = o.sub(tx - 0.06, -0.99, tx + 0.06, -0.87)
    cap = _circle(q.u, q.v, tx, -0.93, 0.055)
    q.paint(cap, o.part * 0.6 + 0.3, _dome(cap, 0.05) + 0.05, 0.05)


def _carrot(o):
    u, v = o.u, o.v
    k = o.R(12, -0.15, 0.15)
    x = u - k * (v - 0.3) ** 2
    g = torch.sqrt(1.0 + (2.0 * k * (v - 0.3)) ** 2)
    r0 = o.R(13, 0.17, 0.22)
    d = _seg(x, v, 0.0, -0.38, 0.0, 0.95, r0, 0.015) / g
    ring = torch.sin(v * 36.0 + 3.0 * o.n2)
    groove = torch.sigmoid((ring - 0.8) * 20.0) * (0.5 + 0.5 * o.n1).clamp(0, 1) * o.lod(2 * math.pi / 36.0)
    col = o.mix((0.3 + 0.5 * o.n1).clamp(0, 1) * 0.6) * (1.0 - 0.25 * groove).unsqueeze(1)
    a = o.paint(d, col, _dome(d, r0), 0.2)
    o.bump(-0.01 * groove, a)
    # leaves: three feathery stems (probability 0.7) or a cut stub
    leaves = o.flag(14, 0.7)
    green = o.part
    if o.any(14, 0.7):
        q = o.sub(-0.66, -1.24, 0.66, -0.45)
        ends = [(-0.34, -1.06), (0.02, -1.12), (0.36, -1.04)]
        dmin, rib = None, None
        for j, (ex, ey) in enumerate(ends):
            ex = ex + q.R(15 + j, -0.1, 0.1)
            dx, dy = ex, ey + 0.5
            hl = 0.5 * math.hypot(0.2, ey + 0.5)
            lu, lv = _rot(q.u, q.v, 0.5 * ex, -0.5 + 0.5 * dy, torch.atan2(torch.full_like(ex, dy), dx))
            dj = _lens(lv, lu, hl, 0.1) + 0.025 * torch.sin(lu * 55.0).abs()      # serrated frond
            rj = lv.abs()
            dmin, rib = (dj, rj) if dmin is None else (torch.minimum(dmin, dj), torch.minimum(rib, rj))
        dmin = dmin + (1.0 - leaves) * 10.0
        col_l = green * (0.75 + 0.25 * (rib * 25.0).clamp(0.0, 1.0) + 0.1 * q.n2).unsqueeze(1)
        q.paint(dmin, col_l, _dome(dmin, 0.05), 0.1, add=True)
    _stalk(o, 0.0, -0.5, 0.0, -0.64, 0.07, 0.05, green * 0.8 + 0.1, on=1.0 - leaves)


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
    if o.any(12, 0.45):
        _stalk(o, c2x, c2y - r2 + 0.07, tx, ty, 0.026, 0.022, o.part, bend=0.3, on=pair)


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
    col_k = ang * (14.0 / math.pi)
    row = v * 10.0
    cu = _frac(col_k) - 0.5
    cv = _frac(row + 0.5 * (torch.floor(col_k) % 2.0)) - 0.5
    kern = torch.lerp(torch.full_like(cu, 0.6), (1.0 - 3.2 * (cu * cu + 0.8 * cv * cv)).clamp(0.0, 1.0), o.lod(0.1))
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
        dh = _lens(hu, hv, hl, hw)
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
    q = o.sub(-0.18, -0.82, 0.18, -0.02)
    scar = _star(q.u, q.v, o.R(14, -0.1, 0.1), sy, 0.03, 0.07, 5.0, o.R(15, 0, 6.28), 2.0)
    q.paint(scar, o.part, torch.zeros_like(scar), 0.05, add=True)


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
    q = o.sub(-0.27, -1.06, 0.27, -0.58)
    u, v = q.u, q.v
    hw = 0.13 + 0.12 * ((-v - 0.68) / (-0.68 - top)).clamp(0.0, 1.0)
    yt = top + 0.13 * (0.5 + 0.5 * torch.cos(u * (math.pi * 5.0 / 0.25)))
    dcr = torch.maximum(torch.maximum(u.abs() - hw, v + 0.6), yt - v)
    col_c = o.part * (0.9 + 0.2 * q.n2).unsqueeze(1)
    q.paint(dcr, col_c, _dome(dcr, 0.06) + 0.05, 0.1, add=True)


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
    seed = (0.5 - (rs - 0.14) / (o.px * 9.0)).clamp(0.0, 1.0) * o.lod(1.0 / 9.0)
    col = o.body * (1.0 + 0.08 * o.n2).unsqueeze(1)
    col = col + (o.sec - col) * seed.unsqueeze(1)
    a = o.paint(d, col, _dome(d, 0.5), 0.55)
    o.bump((-0.012 * torch.exp(-rs * rs / 0.05) + 0.006 * seed) * o.lod(1.0 / 9.0), a)
    # calyx (seen from slightly above) and stalk
    q = o.sub(-0.48, -0.9, 0.48, -0.3)
    ds = _star(q.u, q.v, 0.0, -0.6, 0.10, o.R(13, 0.36, 0.46), o.R(14, 5.0, 7.0).round(), o.R(15, 0, 6.28), 3.0, 1.7)
    col_l = o.part * (0.85 + 0.2 * q.n2).unsqueeze(1)
    q.paint(ds, col_l, _dome(ds, 0.1) * 0.5 + 0.06, 0.2, add=True)
    _stalk(o, 0.0, -0.62, o.R(16, -0.08, 0.12), -0.96, 0.04, 0.033, o.part, bend=o.R(18, -0.5, 0.5))


def _tomato(o):
    u, v = o.u, o.v
    x = u / o.R(12, 1.05, 1.18)
    rho = torch.hypot(x, v)
    phi = torch.atan2(v, x)
    ph = o.R(13, 0, 6.28)
    d = rho - 0.72 * (1.0 + 0.012 * torch.cos(5.0 * phi + ph))
    d = d + 0.06 * torch.exp(-x * x * 25.0) * torch.sigmoid(-8.0 * v)
    yc = (v + 0.55) * 1.8
    rib = torch.cos(5.0 * torch.atan2(yc, x) + ph) * torch.exp(-(x * x + yc * yc) / 0.25)
    shoulder = torch.sigmoid(-(v + 0.35) * 6.0) * o.R(14, 0.0, 0.7)
    col = o.mix((shoulder + 0.2 * o.n1).clamp(0, 1))
    a = o.paint(d, col, _dome(d, 0.72), 0.65)
    o.bump(0.015 * rib + 0.0015 * o.n3, a)
    q = o.sub(-0.38, -0.78, 0.38, -0.32)
    cal = _star(q.u, q.v, 0.0, -0.55, 0.06, o.R(15, 0.28, 0.36), o.R(16, 5.0, 6.0).round(), ph, 5.0, 1.8)
    q.paint(cal, o.part, _dome(cal, 0.06) * 0.5 + 0.04, 0.2, add=True)
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


def _integer(x):
    """``x`` as an int when it is an integer (Python or numpy, not bool), else None."""
    if isinstance(x, bool):
        return None
    try:
        return operator.index(x)
    except TypeError:
        return None


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
        """Split, n, size, seed and objects fix every image (with the renderer's source hash)."""
        return {"split": self.split, "n": self.n, "size": self.size, "seed": self.seed, "objects": list(self.objects)}

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
    c_, s_ = torch.cos(rot), torch.sin(rot)
    ex, ey = _EXT[cat, 0] * asp, _EXT[cat, 1] / asp
    half_px = scale * (size / 2.0)
    win_w = (2.0 * half_px * (c_.abs() * ex + s_.abs() * ey) + 5.0).ceil().clamp(max=size)
    win_h = (2.0 * half_px * (s_.abs() * ex + c_.abs() * ey) + 5.0).ceil().clamp(max=size)
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
    ofs = _NS + _K * _NP
    noise = buf[:, ofs:]
    # per-object table: scale, 1/px, light, half vector, variant, colours, random numbers
    table = torch.cat([scale.unsqueeze(-1), (-scale / step).unsqueeze(-1),
                       light.unsqueeze(1).expand(B, _K, 3), half.unsqueeze(1).expand(B, _K, 3),
                       var.unsqueeze(-1).float(), cols.flatten(2), obj], 2)        # (B, K, 18 + _NP)
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
                parts = pack.split([6, 18, _NP, wh, ww] + [g * g for g in _GRIDS], 1)
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
                         r_cpu=table[sel, k, 18:])
                _DRAW[c](o)
                win = _shade(o, s, tb[:, 2:5], tb[:, 5:8], size)      # (n, 5, wh, ww)
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
    level = 0.955 + 0.03 * sc[:, 4]
    gang = 2 * math.pi * sc[:, 5]
    tint = 0.008 * (sc[:, 6:8] - 0.5) * 2.0
    bg_col = (level.view(B, 1) + torch.stack([tint[:, 0], -0.5 * tint[:, 0] - 0.5 * tint[:, 1], tint[:, 1]], 1))
    bg_col = bg_col.clamp(0.958, 0.98)
    gx_ = (0.012 * torch.cos(gang)).view(B, 1, 1, 1) * lin.view(1, 1, 1, W)
    gy_ = (0.012 * torch.sin(gang)).view(B, 1, 1, 1) * lin.view(1, 1, H, 1)
    # background = bg_col + gx_ + gy_, within [0.941, 0.997]
    lowres = max(4, size // 4)
    down, up = _shadow_matrices(size, lowres, str(dev))
    m = torch.matmul(torch.matmul(down, c1[:, 0]), down.T).unsqueeze(1)        # area-averaged coverage
    sh_off = max(1, round(lowres * 0.03))
    m = F.pad(m, (sh_off, 0, sh_off, 0))[:, :, :lowres, :lowres]
    m = F.avg_pool2d(m, 5, stride=1, padding=2, count_include_pad=False)
    m = F.avg_pool2d(m, 3, stride=1, padding=1, count_include_pad=False).mul_(-0.16).add_(1.0)
    lit = torch.matmul(torch.matmul(up, m), up.T)                              # 1 - shadow, bilinear
    keep = lit.addcmul_(lit, c1, value=-1.0)                                   # (1 - cov) (1 - shadow)
    # rgb = col + background * keep, in place; in [0, 1): col <= 0.999 cov, bg * keep <= 0.997 (1 - cov)
    rgb = col.addcmul_(keep, bg_col.view(B, 3, 1, 1)).add_(keep.mul_(gx_.add(gy_)))

    # ---- annotations ----
    order = torch.argsort(areas, dim=1, descending=True, stable=True)
    big = order[:, 0]
    ar = torch.arange(B)
    label = cat[ar, big]
    box = boxes[ar, big]
    caps_all = [_captions(cat[:, k], var[:, k]) for k in range(K)]
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


def _shade(o: _Obj, s: torch.Tensor, light: torch.Tensor, half: torch.Tensor, size: int) -> torch.Tensor:
    """Shade one object: normals from its height field, Lambert + Blinn-Phong highlight.

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
    shade = ndl.mul_(0.72).add_(0.36).mul_(cov)
    for _ in range(5):                                  # Blinn-Phong exponent 32
        ndh.square_()
    spec = ndh.mul_(o.gl * cov).mul_(0.8)
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
