"""Hand-made per-pixel features of a gray image, as Deep Colorization uses them.

Cheng, Yang, Sheng, *Deep Colorization*, ICCV 2015 (survey §2.1.1) describe every pixel by a
feature vector built at three levels; the two levels computed from the gray image alone are
here:

* **low level** — the raw gray values of the 7x7 patch around the pixel: :func:`patch_features`,
  49 values per pixel;
* **mid level** — a DAISY descriptor (Tola, Lepetit, Fua, PAMI 2010) computed densely:
  :func:`daisy_features` (scikit-image, numpy, the reference) and :func:`daisy_features_torch`
  (the same computation in torch, batched, on any device; a test holds it to the reference).
  Configured with 1 ring of 3 histograms around a centre histogram, 8 orientations each,
  the descriptor has (1 x 3 + 1) x 8 = **32 values per pixel**, the size Cheng et al. use.

(The high-level, semantic part is a category; it lives with the model in
:mod:`colorsurvey.models.plain`.)

Both functions give a descriptor for *every* pixel: the image is padded (reflect) by the
patch/descriptor radius first, so the output has the input's H and W.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "patch_features", "daisy_features", "daisy_features_torch", "daisy_dims",
    "DAISY_DEFAULTS",
]

# 1 ring x 3 histograms + the centre histogram, 8 orientations: (1*3 + 1) * 8 = 32 values.
DAISY_DEFAULTS = dict(radius=4, rings=1, histograms=3, orientations=8)


def daisy_dims(rings: int = 1, histograms: int = 3, orientations: int = 8) -> int:
    """Length of a DAISY descriptor: (rings * histograms + 1) * orientations."""
    return (rings * histograms + 1) * orientations


def _pad(x: torch.Tensor, p: int, mode: str = "reflect") -> torch.Tensor:
    """Pad the last two dims by ``p``; reflect needs p < size, so tiny images fall back to
    replicate padding."""
    if p == 0:
        return x
    if mode == "reflect" and min(x.shape[-2:]) <= p:
        mode = "replicate"
    return F.pad(x, (p, p, p, p), mode=mode)


# --------------------------------------------------------------------------------------
# Low level: the 7x7 patch of gray values
# --------------------------------------------------------------------------------------

def patch_features(gray: torch.Tensor, size: int = 7, idx: torch.Tensor | None = None) -> torch.Tensor:
    """The ``size`` x ``size`` gray patch around every pixel, as channels.

    gray (B, 1, H, W) -> (B, size*size, H, W); with the default 7 that is **49 values per
    pixel**, in row-major order of the patch (channel 24 is the pixel itself). Borders are
    reflect-padded, so every pixel gets a full patch. With ``idx`` (B, 1, n), flat pixel
    indices (y * W + x), only those pixels' patches are gathered: (B, size*size, n).
    """
    if gray.dim() != 4 or gray.shape[1] != 1:
        raise ValueError(f"patch_features expects gray (B, 1, H, W); got {tuple(gray.shape)}")
    if size % 2 != 1:
        raise ValueError("patch size must be odd")
    B, _, H, W = gray.shape
    r = size // 2
    padded = _pad(gray, r)
    if idx is None:
        cols = F.unfold(padded, kernel_size=size)            # (B, size*size, H*W)
        return cols.reshape(B, size * size, H, W)
    Wp = W + 2 * r
    y, x = idx // W, idx % W                                 # top-left of the patch in padded coords
    d = torch.arange(size, device=gray.device)
    offs = (d.view(-1, 1) * Wp + d.view(1, -1)).reshape(1, -1, 1)   # (1, size*size, 1)
    return padded.reshape(B, 1, -1).expand(-1, size * size, -1).gather(2, y * Wp + x + offs)


# --------------------------------------------------------------------------------------
# Mid level: DAISY, densely
# --------------------------------------------------------------------------------------

def daisy_features(gray_np: np.ndarray, radius: int = 4, rings: int = 1, histograms: int = 3,
                   orientations: int = 8) -> np.ndarray:
    """Dense DAISY descriptors by scikit-image, one per pixel (the reference implementation).

    gray_np (H, W) float in [0, 1] -> (H, W, D) with D = (rings*histograms + 1)*orientations,
    **32** with the defaults. The image is reflect-padded by ``radius`` and
    ``skimage.feature.daisy`` is evaluated on a step-1 grid, so each pixel is a descriptor
    centre. Descriptors are L1-normalised (scikit-image's default). CPU only; a 64x64 image
    takes a few milliseconds, 256x256 about 0.1 s. For batches on the training device use
    :func:`daisy_features_torch`, which computes the same numbers.
    """
    from skimage.feature import daisy

    g = np.asarray(gray_np, dtype=np.float64)
    if g.ndim != 2:
        raise ValueError(f"daisy_features expects a 2-D gray image; got shape {g.shape}")
    mode = "reflect" if min(g.shape) > radius else "edge"
    gp = np.pad(g, radius, mode=mode)
    d = daisy(gp, step=1, radius=radius, rings=rings, histograms=histograms,
              orientations=orientations, normalization="l1")
    return d.astype(np.float32)


def _gaussian_kernel(sigma: float, truncate: float = 4.0) -> torch.Tensor:
    """scipy.ndimage's 1-D Gaussian (radius = int(truncate * sigma + 0.5)), normalised."""
    r = int(truncate * sigma + 0.5)
    x = torch.arange(-r, r + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


@functools.lru_cache(maxsize=64)
def _blur_matrix(n: int, sigma: float, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """(n, n) matrix M with M @ x = scipy.ndimage.gaussian_filter1d(x, sigma, mode='reflect')
    along an axis of length n: the Gaussian taps, with the borders' symmetric reflection
    (d c b a | a b c d | d c b a) folded in. A band matrix product is the fastest exact
    blur on CPU (one-channel convolutions are slow there) and fine on a GPU. Cached per
    (n, sigma, device, dtype), so a training step copies nothing to the device."""
    k = _gaussian_kernel(sigma)
    r = (k.numel() - 1) // 2
    out = torch.arange(n).view(-1, 1).expand(n, 2 * r + 1)
    src = (out + torch.arange(-r, r + 1).view(1, -1)) % (2 * n)
    src = torch.where(src >= n, 2 * n - 1 - src, src)
    m = torch.zeros(n, n, dtype=torch.float64)
    m.index_put_((out.reshape(-1), src.reshape(-1)), k.repeat(n), accumulate=True)
    return m.to(device=device, dtype=dtype)


def _gaussian_blur_symmetric(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (..., H, W) matching scipy.ndimage.gaussian_filter(mode='reflect')."""
    H, W = x.shape[-2:]
    return _blur_matrix(H, float(sigma), x.device, x.dtype) @ x @ _blur_matrix(W, float(sigma), x.device, x.dtype).T


def daisy_features_torch(gray: torch.Tensor, radius: int = 4, rings: int = 1, histograms: int = 3,
                         orientations: int = 8) -> torch.Tensor:
    """Dense DAISY in torch: the computation of ``skimage.feature.daisy`` (step 1, L1 norm),
    batched and on the tensor's device. gray (B, 1, H, W) in [0, 1] -> (B, D, H, W).

    Tola et al.'s recipe, line by line as scikit-image does it:

    1. forward differences give the gradient (dx, dy), its magnitude and orientation;
    2. each of ``orientations`` histogram bins takes the magnitude weighted by a circular
       (von Mises) window exp(kappa cos(theta - theta_o)), kappa = orientations / pi;
    3. the orientation maps are blurred by a Gaussian per ring (sigma = radius (i+1) / (2 rings);
       the centre uses the first ring's sigma);
    4. the descriptor of a pixel stacks the centre histogram and, on each ring, ``histograms``
       histograms read at integer offsets round(r_i (cos, sin) theta_j);
    5. the whole descriptor is L1-normalised.

    Computed in float32 with autocast off (a bf16 blur would lose the small values).
    """
    if gray.dim() != 4 or gray.shape[1] != 1:
        raise ValueError(f"daisy_features_torch expects gray (B, 1, H, W); got {tuple(gray.shape)}")
    dev_type = gray.device.type
    with torch.autocast(device_type=dev_type, enabled=False):
        g = _pad(gray.float(), radius)                                  # every pixel a centre
        B, _, Hp, Wp = g.shape
        H, W = Hp - 2 * radius, Wp - 2 * radius
        # 1. gradients: forward differences, zero in the last column / row (as scikit-image)
        dx = F.pad(g[..., :, 1:] - g[..., :, :-1], (0, 1, 0, 0))
        dy = F.pad(g[..., 1:, :] - g[..., :-1, :], (0, 0, 0, 1))
        mag = torch.sqrt(dx * dx + dy * dy)
        ori = torch.atan2(dy, dx)
        # 2. orientation maps with a circular-normal window over the angle
        kappa = orientations / math.pi
        angles = (torch.arange(orientations, device=g.device, dtype=g.dtype) * (2 * math.pi / orientations)
                  - math.pi).view(1, -1, 1, 1)                          # 2 pi o / O - pi
        hist = torch.exp(kappa * torch.cos(ori - angles)) * mag        # (B, O, Hp, Wp)
        # 3. one blur per ring; the centre shares the first ring's sigma
        sigmas = [radius * (i + 1) / (2.0 * rings) for i in range(rings)]
        ring_radii = [radius * (i + 1) / float(rings) for i in range(rings)]
        blurred = {}
        for s in [sigmas[0]] + sigmas:
            if s not in blurred:
                blurred[s] = _gaussian_blur_symmetric(hist, s)
        # 4. centre histogram + histograms sampled on the rings
        parts = [blurred[sigmas[0]][..., radius:radius + H, radius:radius + W]]
        for i in range(rings):
            hs = blurred[sigmas[i]]
            for j in range(histograms):
                t = 2 * math.pi * j / histograms
                y0 = radius + int(round(ring_radii[i] * math.sin(t)))
                x0 = radius + int(round(ring_radii[i] * math.cos(t)))
                parts.append(hs[..., y0:y0 + H, x0:x0 + W])
        d = torch.cat(parts, dim=1) + 1e-10
        # 5. L1 normalisation of each descriptor
        return d / d.sum(dim=1, keepdim=True)
