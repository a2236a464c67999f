"""Colour science for colorization, in torch (batched, differentiable, any device).

Survey §1: eq. 1 writes the gray image as a function of the colour image (colorization is
its ill-posed inverse), eq. 2 gives that function as

    gray = 0.2989 R + 0.5870 G + 0.1140 B

and the survey says methods typically restore colour in YUV, predicting U and V. Its own
method summaries mostly use CIE Lab (Colorful Colorization, the user-guided and exemplar
methods; Deep Colorization §2.1.1 uses YUV), and so does this project: L in 0..100 and a, b in
roughly -110..110 (D65), because Lab is built so that equal distances look roughly equally
different, which makes losses and errors on ab meaningful.

Conventions used across the package:

* RGB tensors are sRGB in [0, 1], shape (..., 3, H, W) (channels first, any leading dims).
* Lab tensors have L in 0..100 and a, b in Lab units, same layout.
* ``L`` alone is (B, 1, H, W); ``ab`` alone is (B, 2, H, W).

The second half of the module holds the machinery of Colorful Colorization (Zhang et al.
2016, survey §2.1.2): quantised ab bins, soft-encoding, class rebalancing and the annealed
mean. sRGB <-> Lab is kornia's (IEC 61966-2-1 transfer curve, D65 white, CIE 1976 L*a*b*),
held by a test to scikit-image over the 8-bit cube (max error 1e-3 Lab units).
"""

from __future__ import annotations

import functools

import kornia
import torch
import torch.nn.functional as F

__all__ = [
    "rgb_to_lab", "lab_to_rgb", "rgb_to_yuv", "yuv_to_rgb", "rgb_to_gray",
    "split_lab", "merge_lab", "gray_rgb_from_L",
    "gamut_bins", "soft_encode", "ab_prior", "rebalance_weights", "annealed_mean",
    "nearest_bin",
]

def _mix(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Apply a 3x3 matrix over the channel axis (-3) of (..., 3, H, W)."""
    return torch.einsum("ij,...jhw->...ihw", m.to(dtype=x.dtype, device=x.device), x)


def _check_channels(x: torch.Tensor, c: int, name: str) -> None:
    if x.dim() < 3 or x.shape[-3] != c:
        raise ValueError(
            f"{name} expects a tensor shaped (..., {c}, H, W); got {tuple(x.shape)}. "
            "Images are channels-first: permute (H, W, C) arrays with .permute(2, 0, 1).")


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1] -> CIE Lab (D65), L in 0..100. Shape (..., 3, H, W).

    Uses kornia's implementation (sRGB transfer curve, D65 white 0.95047 / 1 / 1.08883);
    inputs are clamped to [0, 1] first.
    """
    _check_channels(rgb, 3, "rgb_to_lab")
    return kornia.color.rgb_to_lab(rgb.clamp(0.0, 1.0))


def lab_to_rgb(lab: torch.Tensor, clip: bool = True) -> torch.Tensor:
    """CIE Lab (D65) -> sRGB. Out-of-gamut colours are clipped to [0, 1] unless ``clip=False``."""
    _check_channels(lab, 3, "lab_to_rgb")
    return kornia.color.lab_to_rgb(lab, clip=clip)


# BT.601 YUV as used by Deep Colorization (Cheng et al. 2015): Y = luma, U = 0.492 (B - Y),
# V = 0.877 (R - Y).
_LUMA_601 = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64)
_RGB2YUV = torch.stack([
    _LUMA_601,
    0.492 * (torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64) - _LUMA_601),
    0.877 * (torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64) - _LUMA_601),
])
_YUV2RGB = torch.linalg.inv(_RGB2YUV)


def rgb_to_yuv(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB [0, 1] -> YUV (BT.601): Y in [0, 1], U in about ±0.436, V in about ±0.615."""
    _check_channels(rgb, 3, "rgb_to_yuv")
    return _mix(rgb, _RGB2YUV)


def yuv_to_rgb(yuv: torch.Tensor, clip: bool = True) -> torch.Tensor:
    """YUV (BT.601) -> sRGB, clipped to [0, 1] unless ``clip=False``."""
    _check_channels(yuv, 3, "yuv_to_rgb")
    rgb = _mix(yuv, _YUV2RGB)
    return rgb.clamp(0.0, 1.0) if clip else rgb


def rgb_to_gray(rgb: torch.Tensor) -> torch.Tensor:
    """The survey's eq. 2: gray = 0.2989 R + 0.5870 G + 0.1140 B. Returns (..., 1, H, W)."""
    _check_channels(rgb, 3, "rgb_to_gray")
    w = torch.tensor([0.2989, 0.5870, 0.1140], dtype=rgb.dtype, device=rgb.device).view(3, 1, 1)
    return (rgb * w).sum(dim=-3, keepdim=True)


def split_lab(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """sRGB -> (L, ab): the network's input and its target (survey eq. 1)."""
    lab = rgb_to_lab(rgb)
    return lab[..., :1, :, :], lab[..., 1:, :, :]


def merge_lab(L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """(L, ab) -> sRGB in [0, 1]; ab is resized to L's size if they differ."""
    if ab.shape[-2:] != L.shape[-2:]:
        ab = F.interpolate(ab, size=L.shape[-2:], mode="bilinear", align_corners=False)
    return lab_to_rgb(torch.cat([L, ab.to(L.dtype)], dim=-3))


def gray_rgb_from_L(L: torch.Tensor) -> torch.Tensor:
    """The gray picture of a luminance channel (ab = 0), as sRGB with 3 equal channels."""
    return merge_lab(L, torch.zeros_like(L).expand(*L.shape[:-3], 2, *L.shape[-2:]))


# --------------------------------------------------------------------------------------
# Quantised ab space (Zhang, Isola, Efros 2016 §3.1; survey §2.1.2)
# --------------------------------------------------------------------------------------

def gamut_bins(grid: float = 10.0, levels: int = 64) -> torch.Tensor:
    """:func:`_gamut_bins`, computed once per process for each (grid, levels) and returned as a
    copy (callers may keep or change it)."""
    return _gamut_bins(float(grid), int(levels)).clone()


@functools.lru_cache(maxsize=None)
def _gamut_bins(grid: float, levels: int) -> torch.Tensor:
    """ab bin centres on a ``grid``-spaced lattice that the sRGB gamut reaches.

    Every colour of a ``levels``^3 sample of the sRGB cube is converted to Lab and its ab
    rounded to the nearest lattice point; the distinct points are the bins (262 at grid 10
    with the default sampling). Zhang et al. used a grid of 10 as well and kept 313 bins,
    the official weights carry theirs (``colorsurvey.models.plain`` reads them out).
    A denser sample of the cube finds one bin more or less at the gamut's edge (262 at 128
    levels); 64 levels keeps this under half a second.
    Returns (Q, 2) float32 on the CPU, sorted by a then b (a table of constants: computed on the
    CPU whatever the default device, so models build under ``with torch.device("meta")``).
    """
    v = torch.linspace(0, 1, levels, dtype=torch.float64, device="cpu")
    r, g, b = torch.meshgrid(v, v, v, indexing="ij")
    rgb = torch.stack([r, g, b]).reshape(3, -1, 1)
    ab = rgb_to_lab(rgb)[1:].reshape(2, -1).T
    q = torch.unique(torch.round(ab / grid), dim=0) * grid
    return q.float()


def nearest_bin(ab: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Index of the nearest bin centre for each pixel. ab (B, 2, H, W) -> (B, H, W) long."""
    flat = ab.permute(0, 2, 3, 1).reshape(-1, 2).float()
    d = torch.cdist(flat, centers.to(flat.device).float())
    return d.argmin(dim=1).view(ab.shape[0], *ab.shape[2:])


def soft_encode(ab: torch.Tensor, centers: torch.Tensor, sigma: float = 5.0, k: int = 5) -> torch.Tensor:
    """Soft-encode ab into a distribution over bins (Zhang et al. §3.1).

    Each pixel's ab is spread over its ``k`` nearest bin centres with Gaussian weights
    (``sigma`` in Lab units) that sum to 1. ab (B, 2, H, W) -> (B, Q, H, W).
    """
    B, _, H, W = ab.shape
    c = centers.to(device=ab.device, dtype=torch.float32)
    flat = ab.permute(0, 2, 3, 1).reshape(-1, 2).float()
    d2 = torch.cdist(flat, c).pow(2)
    k = min(k, c.shape[0])
    nd2, idx = d2.topk(k, dim=1, largest=False)
    w = torch.softmax(-nd2 / (2 * sigma ** 2), dim=1)
    out = torch.zeros(flat.shape[0], c.shape[0], device=ab.device, dtype=torch.float32)
    out.scatter_(1, idx, w)
    return out.view(B, H, W, -1).permute(0, 3, 1, 2)


def ab_prior(ab_batches, centers: torch.Tensor) -> torch.Tensor:
    """Empirical distribution of ab over bins: the fraction of pixels nearest each centre.

    ``ab_batches`` is an iterable of (B, 2, H, W) tensors (or a single tensor).
    """
    if isinstance(ab_batches, torch.Tensor):
        ab_batches = [ab_batches]
    counts = torch.zeros(centers.shape[0], dtype=torch.float64)
    for ab in ab_batches:
        idx = nearest_bin(ab, centers).flatten().cpu()
        counts += torch.bincount(idx, minlength=centers.shape[0]).double()
    if counts.sum() == 0:
        raise ValueError("ab_prior got no pixels: pass at least one non-empty ab batch")
    return (counts / counts.sum()).float()


def rebalance_weights(prior: torch.Tensor, centers: torch.Tensor, lam: float = 0.5,
                      sigma: float = 5.0) -> torch.Tensor:
    """Class-rebalancing weights (Zhang et al. eq. 3-4).

    The prior is smoothed with a Gaussian of ``sigma`` over ab space, mixed with the uniform
    distribution, w ∝ ((1 - λ) p̃ + λ / Q)^-1, and normalised so that Σ_q p̃_q w_q = 1,
    where p̃ is the smoothed prior. Rare, saturated colours get weights above 1.
    """
    c = centers.double()
    kern = torch.exp(-torch.cdist(c, c).pow(2) / (2 * sigma ** 2))
    p = kern @ prior.double()
    p = p / p.sum()
    Q = prior.numel()
    w = 1.0 / ((1 - lam) * p + lam / Q)
    w = w / (p * w).sum()
    return w.float()


def annealed_mean(logits: torch.Tensor, centers: torch.Tensor, T: float = 0.38) -> torch.Tensor:
    """Decode a bin distribution into ab by the annealed mean (Zhang et al. §3.3).

    f_T(z) = exp(log z / T) / Σ exp(log z / T) re-sharpens the softmax distribution z; the
    decoded ab is the expectation of the bin centres under f_T. T = 1 gives the mean
    (desaturated), T -> 0 the mode (vivid but patchy); the paper uses T = 0.38.
    ``logits`` (B, Q, H, W) are the network's pre-softmax scores, so log z = log_softmax.
    """
    c = centers.to(device=logits.device, dtype=torch.float32)
    if T <= 1e-4:
        idx = logits.argmax(dim=1)
        return c[idx].permute(0, 3, 1, 2)
    p = torch.softmax(torch.log_softmax(logits.float(), dim=1) / T, dim=1)
    return torch.einsum("bqhw,qc->bchw", p, c)

