"""Inputs from other domains (survey §2.3): documented stand-ins made from colour data, and a
reader for real pairs.

Real near-infrared, SAR and polarimetric data cannot be downloaded here, so the domain-specific
methods train on stand-ins computed from the colour images; each is a small function:

* :func:`nir_from_rgb` — a near-infrared-like band: a fixed mix of the sRGB channels in which
  vegetation-like colours (green above red) are bright and blue is dark;
* :func:`speckle` / :func:`sar_from_gray` — SAR-like intensity: the clean gray image times
  multiplicative speckle, Gamma distributed with mean 1 and ``looks`` L (variance 1 / L);
* :func:`polarimetric_from_rgb` (9 channels in [0, 1]), :func:`quantize` / :func:`dequantize`
  (32 bins, as the official code of Song et al. predicts), :func:`pauli_rgb` (the usual
  Pauli-RGB composite, which returns the colour image) and :func:`vv_from_polarimetric` (the
  single-polarisation VV input, in dB clipped to [-25, 0] and mapped to [0, 1] as the official
  ``train.py`` does);
* :func:`sketch_from_rgb` — line art (XDoG of the lightness, :func:`colorsurvey.hints.xdog`)
  with a line thickness; :func:`augmented_self_reference` — the ground truth under colour
  jitter and a thin-plate-spline warp (Lee et al. 2020).

:class:`DomainFolder` reads real data of one of these kinds from a folder (layout in its
docstring); its batches carry the real input under the method's condition name, which the
methods use in place of the stand-in.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..color import rgb_to_lab
from ..hints import xdog
from .base import ColorDataset

__all__ = [
    "DOMAIN_KINDS",
    "NIR_WEIGHTS",
    "POL_BINS",
    "POL_CHANNELS",
    "DomainFolder",
    "augmented_self_reference",
    "dequantize",
    "nir_from_rgb",
    "pauli_rgb",
    "polarimetric_from_rgb",
    "quantize",
    "sar_from_gray",
    "sketch_from_rgb",
    "speckle",
    "vv_from_polarimetric",
]

#: weights of (R, G, B) in the NIR-like band, and of the vegetation term max(G - R, 0)
NIR_WEIGHTS = (0.55, 0.45, 0.0, 0.5)


def _check_rgb(rgb, name: str = "rgb") -> torch.Tensor:
    if not isinstance(rgb, torch.Tensor) or not rgb.is_floating_point():
        raise TypeError(f"{name}: expected a float sRGB tensor in [0, 1], (B, 3, H, W); got "
                        f"{type(rgb).__name__ if not isinstance(rgb, torch.Tensor) else rgb.dtype}")
    if rgb.dim() != 4 or rgb.shape[1] != 3:
        raise ValueError(f"{name}: expected a float sRGB tensor in [0, 1], (B, 3, H, W); got shape {tuple(rgb.shape)}")
    return rgb.float()


def nir_from_rgb(rgb: torch.Tensor, mix: float = 1.0) -> torch.Tensor:
    """A near-infrared-like band from sRGB (B, 3, H, W) in [0, 1] -> (B, 1, H, W) in [0, 1].

    Living vegetation reflects near infrared strongly and water and sky little, so in NIR
    photographs foliage is bright and blue things are dark. The stand-in band is
    ``clip(0.55 R + 0.45 G + 0.0 B + 0.5 max(G - R, 0), 0, 1)`` (:data:`NIR_WEIGHTS`): pure
    green 0.95, red 0.55, blue 0, white 1, black 0. ``mix`` in [0, 1] blends from the plain
    luminance (0: an ordinary gray photograph, Rec. 709 weights) to this band (1), the strength
    of the domain shift. ValueError for ``mix`` outside [0, 1] or a wrong shape."""
    rgb = _check_rgb(rgb)
    if not 0.0 <= float(mix) <= 1.0:
        raise ValueError(f"mix must lie in [0, 1] (0: gray luminance, 1: the NIR-like band); got {mix}")
    r, g, b = rgb[:, 0:1], rgb[:, 1:2], rgb[:, 2:3]
    wr, wg, wb, wv = NIR_WEIGHTS
    band = (wr * r + wg * g + wb * b + wv * (g - r).clamp_min(0)).clamp(0, 1)
    luma = (0.2126 * r + 0.7152 * g + 0.0722 * b).clamp(0, 1)
    return (1 - float(mix)) * luma + float(mix) * band


def _generators(B: int, seeds=None, generator: torch.Generator | None = None) -> list[torch.Generator | None]:
    if seeds is not None:
        seeds = [int(s) for s in seeds]
        if len(seeds) != B:
            raise ValueError(f"{len(seeds)} seeds for a batch of {B}")
        return [torch.Generator().manual_seed(s) for s in seeds]
    return [generator] * B


def speckle(shape, looks: int = 4, generator: torch.Generator | None = None, seeds=None,
            device=None) -> torch.Tensor:
    """Multiplicative speckle of ``looks``-look SAR intensity: Gamma(L, 1/L), mean 1, variance
    1 / L (Goodman's fully developed speckle; an L-look intensity averages L independent
    exponential single-look intensities, which is how it is drawn here). ``shape`` (B, C, H, W);
    ``looks`` a positive integer, or one per image; ``seeds`` one per image (repeatable per
    image, whatever the batch) or ``generator``. float32 tensor >= 0. ValueError for looks < 1."""
    B = int(shape[0])
    looks = [int(looks)] * B if isinstance(looks, (int, float)) else [int(x) for x in looks]
    if len(looks) != B or min(looks) < 1:
        raise ValueError(f"looks must be a positive integer (or one per image); got {looks}")
    gens = _generators(B, seeds, generator)
    out = []
    for n, g in zip(looks, gens):
        u = torch.rand((n, *shape[1:]), generator=g).clamp_min(1e-12)
        out.append((-torch.log(u)).mean(0))
    return torch.stack(out).to(device if device is not None else "cpu")


def sar_from_gray(gray: torch.Tensor, looks: int = 4, generator: torch.Generator | None = None,
                  seeds=None) -> torch.Tensor:
    """SAR-like intensity: ``gray`` (B, 1, H, W) in [0, 1] (the clean image, e.g. L / 100) times
    :func:`speckle` with ``looks`` looks. Same shape, >= 0 (not clipped: speckle exceeds 1)."""
    if gray.dim() != 4 or gray.shape[1] != 1:
        raise ValueError(f"gray: expected (B, 1, H, W) in [0, 1]; got shape {tuple(gray.shape)}")
    return gray.float() * speckle(gray.shape, looks, generator, seeds, device=gray.device)


# --------------------------------------------------------------------------------------
# Polarimetric-like targets (Song, Xu, Jin 2018: 9 channels x 32 bins)
# --------------------------------------------------------------------------------------

#: the 9 channels: the coherency matrix T3 = k k^H of the Pauli vector k = (k1, k2, k3)
POL_CHANNELS = ("T11", "T22", "T33", "Re T12", "Im T12", "Re T13", "Im T13", "Re T23", "Im T23")
POL_BINS = 32


def polarimetric_from_rgb(rgb: torch.Tensor) -> torch.Tensor:
    """Polarimetric-like targets (B, 9, H, W) in [0, 1] from sRGB (B, 3, H, W) in [0, 1].

    The Pauli-RGB composite shows |HH - VV| (double bounce) as red, |HV| (volume) as green and
    |HH + VV| (surface) as blue; read backwards, a colour image gives the magnitudes of a Pauli
    scattering vector k = (k1, k2, k3) = (B, R, G). Phases: 0 for k1, pi a / 128 for k2 and
    pi b / 128 for k3 (a, b: the pixel's CIE Lab chroma), so the off-diagonal terms carry colour
    too. The 9 channels (:data:`POL_CHANNELS`) are the coherency matrix T = k k^H: the diagonal
    |k_i|^2 in [0, 1] and the real and imaginary parts of the off-diagonals, in [-1, 1], mapped to
    [0, 1] by (x + 1) / 2. :func:`pauli_rgb` returns the colour image from them."""
    rgb = _check_rgb(rgb).clamp(0, 1)
    lab = rgb_to_lab(rgb)
    mag = torch.stack([rgb[:, 2], rgb[:, 0], rgb[:, 1]], 1)              # |k1|, |k2|, |k3|
    phase = torch.stack([torch.zeros_like(lab[:, 1]), math.pi * lab[:, 1] / 128, math.pi * lab[:, 2] / 128], 1)
    k = torch.polar(mag, phase)
    ch = [mag[:, 0] ** 2, mag[:, 1] ** 2, mag[:, 2] ** 2]
    for i, j in ((0, 1), (0, 2), (1, 2)):
        t = k[:, i] * k[:, j].conj()
        ch += [(t.real + 1) / 2, (t.imag + 1) / 2]
    return torch.stack(ch, 1).clamp(0, 1)


def quantize(x: torch.Tensor, bins: int = POL_BINS) -> torch.Tensor:
    """Values in [0, 1] -> bin indices 0..bins-1 (uniform bins; long, same shape)."""
    return (x.float().clamp(0, 1) * bins).floor().clamp(max=bins - 1).long()


def dequantize(index: torch.Tensor, bins: int = POL_BINS) -> torch.Tensor:
    """Bin indices -> the bins' centres in [0, 1] (float32, same shape)."""
    return (index.float() + 0.5) / bins


def pauli_rgb(pol: torch.Tensor) -> torch.Tensor:
    """The Pauli-RGB composite of 9 polarimetric channels (B, 9, H, W) in [0, 1]: R = sqrt(T22),
    G = sqrt(T33), B = sqrt(T11). (B, 3, H, W) in [0, 1]; the inverse of
    :func:`polarimetric_from_rgb` on its colour."""
    if pol.dim() != 4 or pol.shape[1] != 9:
        raise ValueError(f"pol: expected 9 polarimetric channels (B, 9, H, W); got shape {tuple(pol.shape)}")
    return torch.stack([pol[:, 1], pol[:, 2], pol[:, 0]], 1).clamp(0, 1).sqrt()


def vv_from_polarimetric(pol: torch.Tensor) -> torch.Tensor:
    """The single-polarisation VV input from the 9 channels: HH = (k1 + k2) / sqrt 2 and
    VV = (k1 - k2) / sqrt 2 in the Pauli basis, so |VV|^2 = (T11 + T22 - 2 Re T12) / 2; in dB,
    clipped to [-25, 0] and mapped to [0, 1] as the official ``train.py`` does. (B, 1, H, W)."""
    if pol.dim() != 4 or pol.shape[1] != 9:
        raise ValueError(f"pol: expected 9 polarimetric channels (B, 9, H, W); got shape {tuple(pol.shape)}")
    re12 = pol[:, 3:4] * 2 - 1
    vv = ((pol[:, 0:1] + pol[:, 1:2] - 2 * re12) / 2).clamp_min(0)
    db = 10 * torch.log10(vv + 1e-6)
    return (db.clamp(-25, 0) + 25) / 25


# --------------------------------------------------------------------------------------
# Sketches and the augmented self-reference (Lee et al. 2020)
# --------------------------------------------------------------------------------------

def sketch_from_rgb(rgb: torch.Tensor, thickness: int = 1) -> torch.Tensor:
    """Line art of sRGB (B, 3, H, W): XDoG of its lightness (:func:`colorsurvey.hints.xdog`),
    dark lines (0) on white (1), thickened by a (2 t - 1)-pixel minimum filter for ``thickness``
    t >= 1. (B, 1, H, W) in [0, 1]. ValueError for thickness < 1."""
    rgb = _check_rgb(rgb)
    if int(thickness) < 1:
        raise ValueError(f"thickness must be an integer >= 1 (pixels); got {thickness}")
    s = xdog(rgb_to_lab(rgb.clamp(0, 1))[:, :1])
    k = 2 * int(thickness) - 1
    return -F.max_pool2d(-s, k, stride=1, padding=k // 2) if k > 1 else s


def augmented_self_reference(rgb: torch.Tensor, jitter: float = 0.5, warp: float = 0.1,
                             generator: torch.Generator | None = None) -> torch.Tensor:
    """Lee et al.'s augmented self-reference: the ground truth (B, 3, H, W) under a colour jitter
    and a thin-plate-spline warp (no flip), so its content corresponds to the sketch's but sits
    elsewhere. :func:`colorsurvey.references.self_reference`; same shape, in [0, 1]."""
    from ..references import self_reference

    return self_reference(_check_rgb(rgb), jitter=jitter, warp=warp, generator=generator, flip=False)


# --------------------------------------------------------------------------------------
# Real data from a folder
# --------------------------------------------------------------------------------------

#: kind -> the condition name the methods take it under and its channels
DOMAIN_KINDS = {"nir": ("nir", 1), "sar": ("sar", 1), "vv": ("vv", 1), "sketch": ("sketch", 1)}
_IMAGE_EXT = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".npy")


class DomainFolder(ColorDataset):
    """Real pairs of another domain with their colour images, read from a folder::

        root/
          rgb/<name>.png        the colour image (any image format load_image reads)
          <kind>/<name>.png     the same scene in the other domain, one band (or <name>.npy,
                                a float (H, W) array); kind: nir | sar | vv | sketch
          pol/<name>.npy        optional, kind "vv" only: the 9 polarimetric channels
                                (9, H, W) in [0, 1], in the order of POL_CHANNELS

    Files are paired by name (stem); unpaired files are an error naming them. Images are
    centre-cropped and resized to ``size`` (the domain band bilinearly). Image bands are read
    as 8-bit gray and scaled to [0, 1]; .npy bands are taken as they are (SAR intensity may
    exceed 1). A batch carries ``rgb`` (and L, ab) and the band under the method's condition
    name (``nir``, ``sar``, ``vv``, ``sketch``), plus ``pol`` when present; the methods use it in
    place of their stand-in. ``label`` is 0 (one category, "scene").
    FileNotFoundError when a sub-folder is missing, ValueError for an unknown kind.
    """

    categories = ["scene"]

    def __init__(self, root: str | os.PathLike, kind: str, size: int = 64):
        if kind not in DOMAIN_KINDS:
            raise ValueError(f"kind must be one of {', '.join(DOMAIN_KINDS)}; got {kind!r}")
        self.root, self.kind, self.size = Path(root), kind, int(size)
        self.name = f"{kind}:{self.root.name}"
        for sub in ("rgb", kind):
            if not (self.root / sub).is_dir():
                raise FileNotFoundError(f"{self.root / sub} is missing: a {kind} folder needs rgb/ and {kind}/ "
                                        "sub-folders with files of the same names (see DomainFolder)")
        rgb = {p.stem: p for p in sorted((self.root / "rgb").iterdir()) if p.suffix.lower() in _IMAGE_EXT}
        band = {p.stem: p for p in sorted((self.root / kind).iterdir()) if p.suffix.lower() in _IMAGE_EXT}
        unpaired = sorted(set(rgb) ^ set(band))
        if unpaired:
            raise ValueError(f"{len(unpaired)} files without a partner in {self.root} (rgb/ and {kind}/ must hold "
                             f"the same names): {unpaired[:5]}")
        if not rgb:
            raise ValueError(f"no image pairs in {self.root / 'rgb'} and {self.root / kind}")
        self.names = sorted(rgb)
        self._rgb, self._band = rgb, band
        pol = self.root / "pol"
        self._pol = {n: pol / f"{n}.npy" for n in self.names if (pol / f"{n}.npy").exists()} if kind == "vv" else {}

    def __len__(self) -> int:
        return len(self.names)

    def identity_params(self) -> dict:
        return {"root": str(self.root.resolve()), "kind": self.kind, "size": self.size, "names": self.names}

    def _resize(self, a: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
        t = t[None, None] if t.dim() == 2 else t[None]
        h, w = t.shape[-2:]
        s = min(h, w)
        t = t[..., (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        return F.interpolate(t, size=(self.size, self.size), mode="bilinear", align_corners=False,
                             antialias=s > self.size)[0]

    def _read_band(self, p: Path) -> np.ndarray:
        if p.suffix.lower() == ".npy":
            return np.load(p, allow_pickle=False).astype(np.float32)
        from .real import load_image

        return load_image(p).astype(np.float32).mean(-1) / 255.0

    def _load(self, indices: torch.Tensor, device: torch.device) -> dict:
        from .real import _resize_square, load_image

        rgb, band, pol = [], [], []
        for i in indices.tolist():
            n = self.names[i]
            rgb.append(torch.from_numpy(_resize_square(load_image(self._rgb[n]), self.size)).permute(2, 0, 1).float() / 255)
            band.append(self._resize(self._read_band(self._band[n])))
            if n in self._pol:
                pol.append(self._resize(np.load(self._pol[n], allow_pickle=False)))
        key = DOMAIN_KINDS[self.kind][0]
        out = {"rgb": torch.stack(rgb).to(device), key: torch.stack(band).to(device),
               "label": torch.zeros(len(indices), dtype=torch.long, device=device)}
        if pol and len(pol) == len(indices):
            out["pol"] = torch.stack(pol).clamp(0, 1).to(device)
        return out
