"""Camera effects for the rendered set: slight blur, JPEG-like compression, sensor noise.

A cheap, deterministic approximation that runs on the rendering device, batched (no
gradient is needed; nothing here is differentiable by design):

* blur: the image is blended with its 3x3 binomial blur by a per-image amount in [0, ``blur``];
* JPEG: YCbCr (JFIF, BT.601 full range), chroma averaged over 2x2 blocks (4:2:0
  subsampling), then each channel's 8x8 blocks go through the DCT-II, are quantised with the
  standard JPEG tables (ITU-T T.81 Annex K) scaled to a per-image quality (IJG rule:
  ``S = 200 - 2 Q`` for ``Q >= 50``), and transformed back;
* noise: per pixel and channel, a triangular-distributed value from an integer hash of
  (per-image seed, row, column, channel) - exact on every device - times a per-image sigma.

Parameters are uniforms in [0, 1) per image (``(B, 4)``: blur, quality, sigma, seed),
drawn with the rest of the sample's random numbers.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

# ITU-T T.81 Annex K, tables K.1 (luminance) and K.2 (chrominance)
_QY = [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
       14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
       49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99]
_QC = [17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
       47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32
_RGB2YCC = [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]]

#: ranges the per-image parameters are drawn in (blur blend, JPEG quality, noise sigma in [0, 1] units)
BLUR = 0.7
QUALITY = (70.0, 97.0)
SIGMA = 0.005


@functools.lru_cache(maxsize=8)
def _consts(device: str):
    k = torch.arange(8, dtype=torch.float64)
    D = torch.cos((2 * k.view(1, 8) + 1) * k.view(8, 1) * math.pi / 16) * math.sqrt(2 / 8)
    D[0] /= math.sqrt(2)
    q = torch.tensor([_QY, _QC, _QC], dtype=torch.float64).view(3, 8, 8) / 255.0
    M = torch.tensor(_RGB2YCC, dtype=torch.float64)
    return tuple(t.float().to(device) for t in (D, q, M, torch.linalg.inv(M)))


def _hash(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash (int64 tensors holding values < 2**32)."""
    m = 0xFFFFFFFF
    x = x & m
    x = (x ^ (x >> 16)) * 0x45D9F3B & m
    x = (x ^ (x >> 16)) * 0x45D9F3B & m
    return x ^ (x >> 16)


def apply(rgb: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """Camera effects on ``rgb`` (B, 3, H, W) in [0, 1]; ``params`` (B, >=4) uniforms. Returns a new tensor in [0, 1]."""
    B, _, H, W = rgb.shape
    D, q, M, Minv = _consts(str(rgb.device))
    p = params.to(rgb.device, torch.float32)
    # slight blur
    k = torch.tensor([0.25, 0.5, 0.25], device=rgb.device)
    x = F.pad(rgb, (1, 1, 1, 1), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, 3).expand(3, 1, 1, 3), groups=3)
    x = F.conv2d(x, k.view(1, 1, 3, 1).expand(3, 1, 3, 1), groups=3)
    x = torch.lerp(rgb, x, (BLUR * p[:, 0]).view(B, 1, 1, 1))
    # JPEG-like: YCbCr, 4:2:0 chroma, 8x8 DCT quantisation
    ycc = torch.einsum("ij,bjhw->bihw", M, x)
    ph, pw = (-H) % 8, (-W) % 8
    ycc = F.pad(ycc, (0, pw, 0, ph), mode="replicate")
    Hp, Wp = ycc.shape[-2:]
    c = ycc[:, 1:]
    c = F.interpolate(F.avg_pool2d(c, 2), scale_factor=2, mode="nearest")
    ycc = torch.cat([ycc[:, :1], c], 1)
    Q = QUALITY[0] + (QUALITY[1] - QUALITY[0]) * p[:, 1]
    scale = ((200.0 - 2.0 * Q) / 100.0).clamp_min(0.01).view(B, 1, 1, 1, 1, 1)
    step = (q.view(1, 3, 1, 1, 8, 8) * scale).clamp_min(1.0 / 255.0)
    blocks = ycc.view(B, 3, Hp // 8, 8, Wp // 8, 8).transpose(3, 4)             # (B, 3, nh, nw, 8, 8)
    coef = D @ blocks @ D.T
    coef = torch.round(coef / step) * step
    blocks = D.T @ coef @ D
    ycc = blocks.transpose(3, 4).reshape(B, 3, Hp, Wp)[..., :H, :W]
    x = torch.einsum("ij,bjhw->bihw", Minv, ycc)
    # sensor noise from an integer hash: exact on every device
    seed = (p[:, 3] * 16777216.0).long().view(B, 1, 1, 1)
    ys = torch.arange(H, device=rgb.device).view(1, 1, H, 1)
    xs = torch.arange(W, device=rgb.device).view(1, 1, 1, W)
    ch = torch.arange(3, device=rgb.device).view(1, 3, 1, 1)
    h = _hash(seed * 0x3C6EF35F + (ys * 4096 + xs) * 4 + ch)
    h2 = _hash(h + 0x9E3779B)
    tri = ((h & 0xFFFF).float() + (h2 & 0xFFFF).float()) / 65536.0 - 1.0              # triangular on (-1, 1)
    x = x + tri * (SIGMA * p[:, 2]).view(B, 1, 1, 1) * 2.45                           # std = sigma
    return x.clamp_(0.0, 1.0)
