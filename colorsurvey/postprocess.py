"""Post-processing of predicted colour.

Deep Colorization (Cheng et al., ICCV 2015; survey §2.1.1) predicts chroma pixel by pixel,
so neighbouring predictions disagree a little and the result looks noisy. The paper removes
the artefacts with a *joint bilateral filter* (Petschnigg et al. 2004; Eisemann & Durand
2004): each chroma value becomes a weighted mean of its neighbours, the weights falling
with distance (sigma_space) and with the difference of the *gray* image (sigma_range), so
colour is smoothed within regions but does not bleed across the gray image's edges.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["joint_bilateral_filter"]


def joint_bilateral_filter(src: torch.Tensor, guide: torch.Tensor, radius: int = 3,
                           sigma_space: float = 2.0, sigma_range: float = 0.1) -> torch.Tensor:
    """Joint (cross) bilateral filter of ``src`` guided by ``guide``.

    ``src`` (B, C, H, W), e.g. predicted chroma; ``guide`` (B, 1, H, W) or (B, Cg, H, W), e.g.
    the gray image in [0, 1]; ``radius`` the half window (window 2r+1 square); ``sigma_space``
    in pixels; ``sigma_range`` in the guide's units. Returns (B, C, H, W)::

        out(p) = sum_q w(p, q) src(q) / sum_q w(p, q),
        w(p, q) = exp(-|p - q|^2 / (2 sigma_space^2)) * exp(-|g(p) - g(q)|^2 / (2 sigma_range^2))

    Computed as a sum over the (2r+1)^2 shifts of the padded image (memory ~ one image per
    shift in flight, any device, differentiable); borders are reflect-padded. A constant
    ``src`` is returned unchanged (a weighted mean of equal values), whatever the guide.
    """
    if src.dim() != 4 or guide.dim() != 4 or src.shape[0] != guide.shape[0] or src.shape[-2:] != guide.shape[-2:]:
        raise ValueError(f"src (B, C, H, W) and guide (B, Cg, H, W) must agree in B, H, W; "
                         f"got {tuple(src.shape)} and {tuple(guide.shape)}")
    if radius <= 0:
        return src
    H, W = src.shape[-2:]
    mode = "reflect" if min(H, W) > radius else "replicate"
    dtype = torch.promote_types(src.dtype, torch.float32)
    s = F.pad(src.to(dtype), (radius,) * 4, mode=mode)
    g = F.pad(guide.to(dtype), (radius,) * 4, mode=mode)
    g0 = guide.to(dtype)
    s0 = src.to(dtype)
    num = torch.zeros_like(s0)
    den = torch.zeros_like(g0[:, :1])
    inv_s = 1.0 / (2.0 * sigma_space ** 2)
    inv_r = 1.0 / (2.0 * sigma_range ** 2)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            ys, xs = radius + dy, radius + dx
            gq = g[..., ys:ys + H, xs:xs + W]
            w = torch.exp(-(dy * dy + dx * dx) * inv_s - (gq - g0).pow(2).sum(1, keepdim=True) * inv_r)
            num = num + w * (s[..., ys:ys + H, xs:xs + W] - s0)
            den = den + w
    # the mean is taken of differences from the centre, so a constant image stays exactly
    # constant (no rounding from sum(w s) / sum(w))
    return (s0 + num / den).to(src.dtype)
