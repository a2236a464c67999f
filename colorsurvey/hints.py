"""User input for the user-guided methods (survey §2.2): simulated hints and strokes, hints from
clicked points, global hints, and the sketches / line art / gradient maps some methods see.

Everything here works on batches in Lab units (L 0..100, ab in Lab units; see
:mod:`colorsurvey.color`), on any device, and is deterministic given a seed or a
``torch.Generator``. The random *draws* (how many hints, where, how large) are made on the CPU,
so simulating hints never synchronises with the GPU; the *painting* (patch means, masks) runs on
the batch's device, vectorised over the batch.

Point hints — as in Zhang et al.'s training code (SIGGRAPH 2017, richzhang/colorization-pytorch,
``add_color_patches_rand_gt``):

* the number of hints per image is geometric: keep adding one with probability 1 - p, so
  P(N = k) = (1 - p)^k p (p = 1/8: mean 7, and 1/8 of the images get no hint at all);
  ``num_points=k`` asks for exactly k instead;
* each hint is a square patch of side P drawn uniformly from 1..9;
* its top-left corner (h, w) is drawn around the image centre:
  h = int(clip(N((H - P + 1) / 2, (H - P + 1) / 4), 0, H - P)), likewise w
  (``sampling="uniform"`` draws it uniformly instead);
* the hint's value is the mean ab of the ground truth over the patch, and the mask is 1 there;
  a later hint overwrites an earlier one where they overlap.

Strokes (Scribbler, Sangkloy et al. 2017): short polylines of a few segments, 1-3 px wide, each
pixel carrying the *local* colour (the ground truth's ab averaged over a 5x5 neighbourhood).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import torch
import torch.nn.functional as F

__all__ = [
    "HintDraw", "draw_hints", "paint_hints", "simulate_hints", "simulate_strokes",
    "rasterize_points", "image_seeds", "global_hints", "saturation", "sobel", "gradient_map",
    "xdog", "sketch", "overlay", "PATCH_SIZES",
]

PATCH_SIZES = tuple(range(1, 10))


# --------------------------------------------------------------------------------------
# Generators
# --------------------------------------------------------------------------------------

def _generator(seed: int | None = None, generator: torch.Generator | None = None) -> torch.Generator:
    if generator is not None:
        return generator
    g = torch.Generator()
    if seed is None:
        # draw a seed from torch's global RNG: repeatable under torch.manual_seed
        seed = int(torch.randint(0, 2 ** 62, (1,)).item())
    return g.manual_seed(int(seed) % (2 ** 63))


def image_seeds(indices, base: int = 0) -> list[int]:
    """One seed per image, from its dataset index: the hints an image gets then do not depend on
    which other images share its batch (evaluation is repeatable batch size to batch size)."""
    idx = torch.as_tensor(indices).flatten().cpu().tolist()
    return [(int(base) * 1_000_003 + 7_919 * int(i) + 12_345) % (2 ** 63) for i in idx]


def _generators(B: int, seed=None, generator=None, seeds: Sequence[int] | None = None) -> list[torch.Generator]:
    if seeds is not None:
        seeds = list(seeds)
        if len(seeds) != B:
            raise ValueError(f"got {len(seeds)} seeds for a batch of {B}")
        return [torch.Generator().manual_seed(int(s) % (2 ** 63)) for s in seeds]
    g = _generator(seed, generator)
    return [g] * B


# --------------------------------------------------------------------------------------
# Point hints
# --------------------------------------------------------------------------------------

@dataclass
class HintDraw:
    """The random part of a hint simulation, per image: patch corners and sides."""

    top: list[torch.Tensor]      # per image, (n_i,) long: patch top row h
    left: list[torch.Tensor]     # per image, (n_i,) long: patch left column w
    side: list[torch.Tensor]     # per image, (n_i,) long: patch side P

    @property
    def counts(self) -> list[int]:
        return [int(t.numel()) for t in self.top]


def _geometric(p: float, g: torch.Generator, cap: int) -> int:
    """Number of successes before the first failure: keep going with probability 1 - p."""
    n = 0
    while n < cap and float(torch.rand((), generator=g)) < 1.0 - p:
        n += 1
    return n


def draw_hints(B: int, H: int, W: int, *, p: float = 0.125, num_points: int | Sequence[int] | None = None,
               patch_sizes: Sequence[int] = PATCH_SIZES, sampling: str = "normal", seed: int | None = None,
               generator: torch.Generator | None = None, seeds: Sequence[int] | None = None,
               max_points: int = 1000) -> HintDraw:
    """Draw where the hints of a batch go (CPU only; see the module docstring for the law).

    ``num_points``: None for the geometric count with parameter ``p``; an int (or one per image)
    for exactly that many. ``seeds`` (one per image) makes each image's draw independent of the
    batch; otherwise ``generator`` (or a fresh one seeded by ``seed``) serves the whole batch.
    """
    if not 0 < p <= 1:
        raise ValueError(f"p must lie in (0, 1]; got {p}")
    if sampling not in ("normal", "uniform"):
        raise ValueError("sampling must be 'normal' or 'uniform'")
    sizes = torch.as_tensor([int(s) for s in patch_sizes], dtype=torch.long)
    if sizes.numel() == 0 or int(sizes.min()) < 1:
        raise ValueError(f"patch sizes must be >= 1; got {list(patch_sizes)}")
    if isinstance(num_points, int) or num_points is None:
        counts_req = [num_points] * B
    else:
        counts_req = list(num_points)
        if len(counts_req) != B:
            raise ValueError(f"num_points has {len(counts_req)} entries for a batch of {B}")
    gens = _generators(B, seed, generator, seeds)
    tops, lefts, sides = [], [], []
    for i in range(B):
        g = gens[i]
        n = _geometric(p, g, max_points) if counts_req[i] is None else int(counts_req[i])
        if n < 0:
            raise ValueError("num_points must be >= 0")
        P = sizes[torch.randint(0, sizes.numel(), (n,), generator=g)]
        P = torch.minimum(P, torch.tensor(min(H, W)))
        if sampling == "normal":
            zh, zw = torch.randn(n, generator=g, dtype=torch.float64), torch.randn(n, generator=g, dtype=torch.float64)
            mh, mw = (H - P + 1).double(), (W - P + 1).double()
            h = torch.minimum(torch.clamp(mh / 2 + zh * mh / 4, min=0), (H - P).double()).long()
            w = torch.minimum(torch.clamp(mw / 2 + zw * mw / 4, min=0), (W - P).double()).long()
        else:
            u, v = torch.rand(n, generator=g, dtype=torch.float64), torch.rand(n, generator=g, dtype=torch.float64)
            h = (u * (H - P + 1).double()).long().clamp(max=H - 1)
            w = (v * (W - P + 1).double()).long().clamp(max=W - 1)
        tops.append(h)
        lefts.append(w)
        sides.append(P)
    return HintDraw(tops, lefts, sides)


def _box_mean(x: torch.Tensor, top: torch.Tensor, left: torch.Tensor, side: torch.Tensor,
              img: torch.Tensor) -> torch.Tensor:
    """Mean of x (B, C, H, W) over the boxes [top, top+side) x [left, left+side) of images img."""
    S = F.pad(x.float(), (1, 0, 1, 0)).cumsum(-1).cumsum(-2)     # integral image (B, C, H+1, W+1)
    b, t, l, s = img, top, left, side
    tot = S[b, :, t + s, l + s] - S[b, :, t, l + s] - S[b, :, t + s, l] + S[b, :, t, l]   # (n, C)
    return tot / (s * s).unsqueeze(1).float()


def paint_hints(ab: torch.Tensor, draw: HintDraw) -> tuple[torch.Tensor, torch.Tensor]:
    """Hints and mask for ``ab`` (B, 2, H, W) from a draw: each patch set to its mean ab.

    Returns ``hints`` (B, 2, H, W) in Lab units (0 outside the hints) and ``mask`` (B, 1, H, W)
    in {0, 1}; later hints overwrite earlier ones where they overlap, as in the authors' code.
    The patch means come from one integral-image gather on the batch's device; painting is one
    slice assignment per hint with host-side indices, so nothing waits for the device.
    """
    B, C, H, W = ab.shape
    dev = ab.device
    hints = torch.zeros(B, C, H, W, device=dev, dtype=torch.float32)
    mask = torch.zeros(B, 1, H, W, device=dev, dtype=torch.float32)
    counts = draw.counts
    if sum(counts) == 0:
        return hints, mask
    img = torch.cat([torch.full((n,), i, dtype=torch.long) for i, n in enumerate(counts)])
    top, left, side = torch.cat(draw.top), torch.cat(draw.left), torch.cat(draw.side)
    means = _box_mean(ab, top.to(dev), left.to(dev), side.to(dev), img.to(dev))     # (n, C)
    for k, (i, t, l, s) in enumerate(zip(img.tolist(), top.tolist(), left.tolist(), side.tolist())):
        hints[i, :, t:t + s, l:l + s] = means[k].view(C, 1, 1)
        mask[i, :, t:t + s, l:l + s] = 1.0
    return hints, mask


def simulate_hints(ab: torch.Tensor, *, p: float = 0.125, num_points: int | Sequence[int] | None = None,
                   patch_sizes: Sequence[int] = PATCH_SIZES, sampling: str = "normal", seed: int | None = None,
                   generator: torch.Generator | None = None, seeds: Sequence[int] | None = None,
                   return_draw: bool = False):
    """Simulate a user's point hints from the ground truth ``ab`` (B, 2, H, W), as Zhang et al.
    did for training: see the module docstring. Returns ``(hints, mask)`` (and the draw)."""
    B, _, H, W = ab.shape
    draw = draw_hints(B, H, W, p=p, num_points=num_points, patch_sizes=patch_sizes, sampling=sampling,
                      seed=seed, generator=generator, seeds=seeds)
    hints, mask = paint_hints(ab, draw)
    return (hints, mask, draw) if return_draw else (hints, mask)


def rasterize_points(points: Iterable, H: int, W: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Hints from user clicks: ``points`` are (x, y, a, b, size) — a square of side ``size``
    centred on pixel (x, y) (clipped to the image) filled with ab = (a, b). Later points win.
    Returns ``hints`` (1, 2, H, W) and ``mask`` (1, 1, H, W)."""
    hints = torch.zeros(1, 2, H, W, device=device)
    mask = torch.zeros(1, 1, H, W, device=device)
    for x, y, a, b, size in points:
        s = max(1, int(size))
        y0, x0 = int(y) - (s - 1) // 2, int(x) - (s - 1) // 2
        y1, x1 = min(H, y0 + s), min(W, x0 + s)
        y0, x0 = max(0, y0), max(0, x0)
        if y1 <= y0 or x1 <= x0:
            continue
        hints[0, 0, y0:y1, x0:x1] = float(a)
        hints[0, 1, y0:y1, x0:x1] = float(b)
        mask[0, 0, y0:y1, x0:x1] = 1.0
    return hints, mask


# --------------------------------------------------------------------------------------
# Strokes (Scribbler)
# --------------------------------------------------------------------------------------

def _stamp(mask: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor, width: int) -> None:
    """Set a width x width square around each (y, x) in the (H, W) bool ``mask``."""
    H, W = mask.shape
    r0 = -((width - 1) // 2)
    off = torch.arange(r0, r0 + width)
    y = (ys.view(-1, 1, 1) + off.view(1, -1, 1)).clamp(0, H - 1).expand(-1, width, width)
    x = (xs.view(-1, 1, 1) + off.view(1, 1, -1)).clamp(0, W - 1).expand(-1, width, width)
    mask[y.reshape(-1), x.reshape(-1)] = True


def _log_uniform(g: torch.Generator, cap: int) -> int:
    """A count spread evenly on a log scale over 0..cap: floor((cap + 1) ** u) - 1, u ~ U(0, 1)."""
    return min(cap, int((cap + 1) ** float(torch.rand((), generator=g, dtype=torch.float64))) - 1)


def simulate_strokes(ab: torch.Tensor, *, num_strokes: int | None = None, p: float = 0.25,
                     law: str = "geometric", cap: int = 100,
                     segments: tuple[int, int] = (1, 3), widths: Sequence[int] = (1, 2, 3),
                     length: tuple[float, float] = (1 / 16, 1 / 5), seed: int | None = None,
                     generator: torch.Generator | None = None, seeds: Sequence[int] | None = None,
                     smooth: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """Colour strokes drawn from the ground truth, for Scribbler-style training.

    Per image: the number of strokes is ``num_strokes`` when given, else drawn by ``law``:
    ``"geometric"`` with parameter ``p`` (mean (1 - p)/p = 3) or ``"log-uniform"`` over 0..``cap``
    (as many images with 1-10 strokes as with 10-100: a network trained so still works when a
    user draws many); each stroke starts around the image centre (the same law as
    the point hints), has 1-3 straight segments in random directions, each 1/16-1/5 of the image
    side long, and is 1-3 px wide. Its pixels carry the local colour: the ground truth's ab
    averaged over a ``smooth`` x ``smooth`` window. Returns ``(hints, mask)`` like
    :func:`simulate_hints`.
    """
    B, _, H, W = ab.shape
    gens = _generators(B, seed, generator, seeds)
    mask = torch.zeros(B, H, W, dtype=torch.bool)
    side = min(H, W)
    for i in range(B):
        g = gens[i]
        if num_strokes is not None:
            n = int(num_strokes)
        elif law == "geometric":
            n = _geometric(p, g, cap)
        elif law == "log-uniform":
            n = _log_uniform(g, cap)
        else:
            raise ValueError(f"unknown stroke-count law {law!r}; use 'geometric' or 'log-uniform'")
        for _ in range(n):
            y = float(torch.clamp((H / 2) + torch.randn((), generator=g, dtype=torch.float64) * H / 4, 0, H - 1))
            x = float(torch.clamp((W / 2) + torch.randn((), generator=g, dtype=torch.float64) * W / 4, 0, W - 1))
            nseg = int(torch.randint(segments[0], segments[1] + 1, (), generator=g))
            width = int(widths[int(torch.randint(0, len(widths), (), generator=g))])
            angle = float(torch.rand((), generator=g, dtype=torch.float64)) * 2 * math.pi
            pts = [(y, x)]
            for _ in range(nseg):
                angle += float(torch.randn((), generator=g, dtype=torch.float64)) * 0.8
                L = side * (length[0] + float(torch.rand((), generator=g, dtype=torch.float64)) * (length[1] - length[0]))
                y = min(max(y + L * math.sin(angle), 0.0), H - 1.0)
                x = min(max(x + L * math.cos(angle), 0.0), W - 1.0)
                pts.append((y, x))
            for (ya, xa), (yb, xb) in zip(pts[:-1], pts[1:]):
                steps = max(2, int(2 * max(abs(yb - ya), abs(xb - xa))) + 1)
                t = torch.linspace(0, 1, steps, dtype=torch.float64)
                ys = (ya + (yb - ya) * t).round().long()
                xs = (xa + (xb - xa) * t).round().long()
                _stamp(mask[i], ys, xs, width)
    m = mask.unsqueeze(1).to(ab.device, torch.float32)
    local = F.avg_pool2d(F.pad(ab.float(), [smooth // 2] * 4, mode="replicate"), smooth, stride=1) if smooth > 1 else ab.float()
    return local * m, m


# --------------------------------------------------------------------------------------
# Global hints (Zhang et al. 2017 §3.2; Xiao et al. 2019's "global input")
# --------------------------------------------------------------------------------------

def saturation(rgb: torch.Tensor) -> torch.Tensor:
    """Mean HSV saturation per image, (B,) in [0, 1] (Zhang et al.'s global saturation hint)."""
    mx = rgb.amax(dim=1)
    mn = rgb.amin(dim=1)
    s = torch.where(mx > 1e-6, (mx - mn) / mx.clamp_min(1e-6), torch.zeros_like(mx))
    return s.flatten(1).mean(1)


def global_hints(ab: torch.Tensor, centers: torch.Tensor, rgb: torch.Tensor | None = None,
                 stride: int = 4) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The global histogram hint: the distribution of the ground truth's ab over ``centers``
    (Q, 2), measured at 1/``stride`` resolution by nearest bin — (B, Q), rows summing to 1 —
    and, given ``rgb``, the mean saturation (B,)."""
    B = ab.shape[0]
    sub = ab[:, :, ::stride, ::stride].float()
    flat = sub.permute(0, 2, 3, 1).reshape(B, -1, 2)
    c = centers.to(ab.device).float()
    idx = torch.cdist(flat, c.unsqueeze(0).expand(B, -1, -1)).argmin(-1)     # (B, n)
    hist = torch.zeros(B, c.shape[0], device=ab.device)
    hist.scatter_add_(1, idx, torch.ones_like(idx, dtype=torch.float32))
    hist = hist / hist.sum(1, keepdim=True).clamp_min(1)
    return hist, (saturation(rgb.float()) if rgb is not None else None)


# --------------------------------------------------------------------------------------
# Edges, gradient maps, line art
# --------------------------------------------------------------------------------------

def sobel(L: torch.Tensor) -> torch.Tensor:
    """Horizontal and vertical Sobel derivatives of (B, 1, H, W) -> (B, 2, H, W) (replicate border)."""
    k = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], device=L.device) / 8.0
    w = torch.stack([k, k.t()]).unsqueeze(1)
    return F.conv2d(F.pad(L.float(), (1, 1, 1, 1), mode="replicate"), w)


def gradient_map(L: torch.Tensor) -> torch.Tensor:
    """Gradient magnitude of the lightness, (B, 1, H, W), scaled so a step of 100 L gives about 1
    (Xiao et al.'s gradient map input)."""
    g = sobel(L / 100.0)
    return 2.0 * g.pow(2).sum(1, keepdim=True).add(1e-12).sqrt()


def _gauss(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of every channel of (B, C, H, W) (replicate border)."""
    C = x.shape[1]
    r = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-r, r + 1, device=x.device, dtype=torch.float32)
    k = torch.exp(-t ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    x = F.pad(x, (r, r, 0, 0), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(C, 1, 1, -1), groups=C)
    x = F.pad(x, (0, 0, r, r), mode="replicate")
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(C, 1, -1, 1), groups=C)


def xdog(L: torch.Tensor, sigma: float = 0.6, k: float = 1.6, tau: float = 0.98, eps: float = -0.02,
         phi: float = 60.0) -> torch.Tensor:
    """Line art by the eXtended Difference of Gaussians (Winnemöller et al. 2012), the usual
    way anime line-art datasets are synthesised: D = G_sigma - tau G_{k sigma} of L/100;
    white (1) where D >= eps, else 1 + tanh(phi (D - eps)). (B, 1, H, W) in [0, 1], lines dark."""
    x = L.float() / 100.0
    d = _gauss(x, sigma) - tau * _gauss(x, k * sigma)
    return torch.where(d >= eps, torch.ones_like(d), 1.0 + torch.tanh(phi * (d - eps))).clamp(0, 1)


def sketch(L: torch.Tensor, threshold: float = 0.3, softness: float = 0.1, sigma: float = 0.8) -> torch.Tensor:
    """A sketch for Scribbler: dark lines on white where the (slightly blurred) lightness has strong
    edges — a soft threshold of the gradient magnitude, so object outlines and large internal
    edges are drawn and fine texture is not. (B, 1, H, W) in [0, 1]."""
    g = gradient_map(_gauss(L.float(), sigma) if sigma > 0 else L)
    return 1.0 - torch.clamp((g - threshold + softness) / (2 * softness), 0, 1)


def overlay(L: torch.Tensor, hints: torch.Tensor, mask: torch.Tensor, outline: bool = True) -> torch.Tensor:
    """The gray image with the hinted pixels in their hint colour (at the image's lightness, as
    the method will see them) and, with ``outline``, a dark border around every hinted region so
    that hints on white or gray show too. sRGB (B, 3, H, W)."""
    from .color import merge_lab

    L = L.float().cpu()
    m = mask.float().cpu()
    out = merge_lab(L, hints.float().cpu() * m)        # gray (ab = 0) wherever there is no hint
    if outline:
        ring = (F.max_pool2d(m, 3, stride=1, padding=1) - m).clamp(0, 1)
        out = out * (1 - ring) + 0.1 * ring
    return out
