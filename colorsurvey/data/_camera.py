"""Camera effects for the rendered set: slight blur, JPEG-like compression, sensor noise.

A cheap, deterministic approximation that runs on the rendering device, batched (no
gradient is needed; nothing here is differentiable by design):

* blur: the image is blended with its 3x3 binomial blur by a per-image amount in [0, ``blur``];
* JPEG: YCbCr (JFIF, BT.601 full range), chroma averaged over 2x2 blocks (4:2:0
  subsampling), then each channel's 8x8 blocks go through the DCT-II, are quantised with the
  standard JPEG tables (ITU-T T.81 Annex K) scaled to a per-image quality (IJG rule:
  ``S = 200 - 2 Q`` for ``Q >= 50``), and transformed back;
* noise: a fixed triangular-distributed texture (std 1, drawn once from a seeded generator)
  read at a per-image offset - exact on every device - times a per-image sigma.

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


_T = 509                       # side of the cached noise texture (prime: offsets do not repeat soon)


@functools.lru_cache(maxsize=8)
def _consts(device: str):
    k = torch.arange(8, dtype=torch.float64)
    D = torch.cos((2 * k.view(1, 8) + 1) * k.view(8, 1) * math.pi / 16) * math.sqrt(2 / 8)
    D[0] /= math.sqrt(2)
    K = torch.kron(D, D)                                   # 2-D DCT of a flattened 8x8 block: K @ vec
    q = torch.tensor([_QY, _QC, _QC], dtype=torch.float64).view(3, 64) / 255.0
    M = torch.tensor(_RGB2YCC, dtype=torch.float64)
    # triangular noise texture (std 1), fixed: drawn once from a seeded generator
    g = torch.Generator().manual_seed(17)
    tex = (torch.rand(3, _T, _T, generator=g, dtype=torch.float64)
           + torch.rand(3, _T, _T, generator=g, dtype=torch.float64) - 1.0) * 6 ** 0.5
    return tuple(t.float().to(device) for t in (K, q, M, torch.linalg.inv(M), tex))


def _blur3(x: torch.Tensor) -> torch.Tensor:
    """3x3 binomial blur (1 2 1 / 4 per axis), edges replicated: two 2x2 box filters."""
    p = F.pad(x, (1, 1, 1, 1), mode="replicate")
    return F.avg_pool2d(F.avg_pool2d(p, 2, 1), 2, 1)


def apply(rgb: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """Camera effects on ``rgb`` (B, 3, H, W) in [0, 1]; ``params`` (B, >=4) uniforms. Returns a new tensor in [0, 1]."""
    B, _, H, W = rgb.shape
    dev = rgb.device
    K, q, M, Minv, tex = _consts(str(dev))
    p = params.to(dev, torch.float32)
    x = torch.lerp(rgb, _blur3(rgb), (BLUR * p[:, 0]).view(B, 1, 1, 1))          # slight blur
    # JPEG-like: YCbCr, 4:2:0 chroma, 8x8 DCT quantisation
    ycc = torch.einsum("ij,bjhw->bihw", M, x)
    ph, pw = (-H) % 8, (-W) % 8
    if ph or pw:
        ycc = F.pad(ycc, (0, pw, 0, ph), mode="replicate")
    Hp, Wp = ycc.shape[-2:]
    c = F.avg_pool2d(ycc[:, 1:], 2).repeat_interleave(2, -1).repeat_interleave(2, -2)
    ycc = torch.cat([ycc[:, :1], c], 1)
    Q = QUALITY[0] + (QUALITY[1] - QUALITY[0]) * p[:, 1]
    scale = ((200.0 - 2.0 * Q) / 100.0).clamp_min(0.01).view(B, 1, 1, 1)
    step = (q.view(1, 3, 1, 64) * scale).clamp_min(1.0 / 255.0)                  # (B, 3, 1, 64)
    blocks = ycc.view(B, 3, Hp // 8, 8, Wp // 8, 8).permute(0, 1, 2, 4, 3, 5).reshape(B, 3, -1, 64)
    coef = blocks @ K.T
    coef = torch.round(coef / step).mul_(step)
    blocks = coef @ K
    ycc = blocks.view(B, 3, Hp // 8, Wp // 8, 8, 8).permute(0, 1, 2, 4, 3, 5).reshape(B, 3, Hp, Wp)[..., :H, :W]
    x = torch.einsum("ij,bjhw->bihw", Minv, ycc)
    # sensor noise: a fixed texture at a per-image offset (exact on every device)
    off = (p[:, 3] * (_T * _T)).long()
    oy, ox = (off // _T).view(B, 1, 1), (off % _T).view(B, 1, 1)
    ys = (torch.arange(H, device=dev).view(1, H, 1) + oy) % _T
    xs = (torch.arange(W, device=dev).view(1, 1, W) + ox) % _T
    n = tex[:, ys, xs].transpose(0, 1)                                             # (B, 3, H, W)
    x = x.add_(n.mul_((SIGMA * p[:, 2]).view(B, 1, 1, 1)))
    return x.clamp_(0.0, 1.0)
