"""Image-quality metrics for colorization: the survey's, its proposals, and a few more.

What the survey (Anwar et al., arXiv 2008.10774) says: §3.2 names PSNR and SSIM as the usual
mathematical metrics (beside subjective studies) and doubts that they measure colorization
well; §4 (limitations and future directions) proposes comparing only the predicted colour
channels (it writes U and V; :func:`chroma_psnr` does it on Lab's ab, the space this project
works in) and metrics "designed to take color into account", PCQI and UIQM. Its NCD table (in
the authors' repository, not in the text) reports PSNR, SSIM, PCQI and UIQM per category.
What this module shows against that proposal (notebooks 00 and 08): PCQI, as published, is
computed on luma only, so it hardly moves when colour changes; UIQM is a no-reference score
that rewards colourfulness, sharpness and contrast, not the *right* colour. Colorfulness
(Hasler & Süsstrunk) and the raw-accuracy AuC of Zhang et al. are two numbers colorization
papers commonly report; :func:`masked_psnr` and :func:`masked_ssim` score the object's pixels
only, because on NCD-like photos (one object on white) the background dominates the whole-image
scores (this project's addition).

Every function says exactly what it compares:

* **8-bit RGB**: :func:`psnr`, :func:`ssim`, :func:`masked_psnr`, :func:`masked_ssim`
  (full-reference), :func:`uiqm`,
  :func:`colorfulness` (no-reference). Inputs are numpy ``uint8`` arrays shaped (H, W, 3),
  channel 0 = R. Convert tensors / float images with :func:`to_uint8`.
* **Luma only**: :func:`pcqi` (luma from :func:`pcqi_luma`).
* **ab only** (CIE Lab units): :func:`chroma_psnr`, :func:`auc`. Inputs are float arrays or
  tensors shaped (2, H, W) or (H, W, 2).

PCQI, UIQM and colorfulness reproduce reference implementations, quirks included (see each
docstring); the test suite holds them to golden values from those references.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy import ndimage, signal

__all__ = [
    "AB_RANGE", "METRICS", "UIQMResult",
    "to_uint8", "psnr", "ssim", "masked_psnr", "masked_ssim", "chroma_psnr", "pcqi", "pcqi_luma",
    "uiqm", "uiqm_score", "colorfulness", "auc", "object_mask_or_background", "evaluate_pair",
    "ab_diversity",
]

#: Peak-to-peak range of CIE Lab a and b used as the PSNR "peak" in :func:`chroma_psnr`:
#: a, b are taken to span roughly -110..110 (the survey's convention), so the peak is 2*110.
AB_RANGE = 220.0

#: name -> (short description, higher_is_better); the keys of :func:`evaluate_pair`.
METRICS: dict[str, tuple[str, bool]] = {
    "psnr": ("PSNR (dB), 8-bit RGB", True),
    "ssim": ("SSIM, 8-bit RGB, mean over channels", True),
    "psnr_obj": ("PSNR (dB), 8-bit RGB, object pixels only", True),
    "ssim_obj": ("SSIM, 8-bit RGB, mean over object pixels", True),
    "pcqi": ("PCQI, luma, vs. reference", True),
    "uiqm": ("UIQM, no-reference, 8-bit RGB", True),
    "colorfulness": ("Colorfulness M(3), no-reference", True),
    "chroma_psnr": ("PSNR (dB), ab only, peak 220", True),
    "auc": ("AuC of ab error <= 0..150", True),
}

_RGB_HINT = "expected uint8 RGB (H, W, 3); convert with colorsurvey.metrics.to_uint8"


# --------------------------------------------------------------------------------------------
# input handling

def _is_tensor(x) -> bool:
    return type(x).__module__.split(".")[0] == "torch"


def _channels_last(a: np.ndarray, c: int, prefer_first: bool) -> np.ndarray:
    """(c, H, W) or (H, W, c) -> (H, W, c). A leading batch dim of size 1 is dropped."""
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 3 or c not in (a.shape[0], a.shape[-1]):
        raise ValueError(f"expected an image shaped ({c}, H, W) or (H, W, {c}); got {a.shape}")
    first, last = a.shape[0] == c, a.shape[-1] == c
    if first and (not last or prefer_first):
        a = np.moveaxis(a, 0, -1)
    return a


def to_uint8(rgb) -> np.ndarray:
    """Any RGB image -> numpy uint8 (H, W, 3), the input every RGB metric takes.

    Accepts a torch tensor or numpy array, (3, H, W) or (H, W, 3) (a leading batch dim of 1 is
    allowed), either uint8 or float in [0, 1]. Returns a new, writable array (never a view of
    the input). Floats become ``np.round(clip(x, 0, 1) * 255)``.
    When both layouts fit (a 3x...x3 image) tensors are read channels-first (the package's
    convention) and numpy arrays channels-last.
    """
    is_t = _is_tensor(rgb)
    a = rgb.detach().cpu().numpy() if is_t else np.asarray(rgb)
    a = _channels_last(a, 3, prefer_first=is_t)
    if a.dtype == np.uint8:                   # a copy: never a view of the caller's (maybe read-only) buffer
        return np.array(a, order="C", copy=True)
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"to_uint8 takes uint8 or float in [0, 1]; got dtype {a.dtype}. "
                         "Divide integer images by their maximum value first.")
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError("to_uint8: image contains NaN or inf")
    return np.round(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8)


def _check_rgb(x, name: str = "image") -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{name}: got {type(x).__name__}; {_RGB_HINT}")
    if x.dtype != np.uint8:
        raise ValueError(f"{name}: got dtype {x.dtype}; {_RGB_HINT}")
    if x.ndim != 3 or x.shape[-1] != 3:
        raise ValueError(f"{name}: got shape {x.shape}; {_RGB_HINT}")
    return x


def _check_pair(ref, test) -> tuple[np.ndarray, np.ndarray]:
    ref, test = _check_rgb(ref, "ref"), _check_rgb(test, "test")
    if ref.shape != test.shape:
        raise ValueError(f"size mismatch: ref {ref.shape} vs test {test.shape}; "
                         "resize the test image to the reference size first")
    return ref, test


def _as_ab(ab, name: str) -> np.ndarray:
    """ab (2, H, W) or (H, W, 2), array or tensor -> float64 (H, W, 2)."""
    is_t = _is_tensor(ab)
    a = ab.detach().cpu().numpy() if is_t else np.asarray(ab)
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise ValueError(f"{name}: expected a real-valued ab array in Lab units; got {a.dtype}")
    try:
        a = _channels_last(a, 2, prefer_first=is_t)
    except ValueError as e:
        raise ValueError(f"{name}: {e}; pass the a and b channels only (Lab units)") from None
    return a.astype(np.float64)


def _ab_pair(ab_ref, ab_test) -> tuple[np.ndarray, np.ndarray]:
    r, t = _as_ab(ab_ref, "ab_ref"), _as_ab(ab_test, "ab_test")
    if r.shape != t.shape:
        raise ValueError(f"size mismatch: ab_ref {r.shape} vs ab_test {t.shape} (as H, W, 2)")
    return r, t


# --------------------------------------------------------------------------------------------
# full-reference: PSNR, SSIM (8-bit RGB), chroma PSNR (ab)

def _psnr_from_mse(mse: float, peak: float) -> float:
    return float("inf") if mse == 0 else float(10.0 * np.log10(peak * peak / mse))


def psnr(ref: np.ndarray, test: np.ndarray) -> float:
    """PSNR in dB on **8-bit RGB**: peak 255, MSE over all pixels and all three channels.

    One of the two usual metrics the survey's §3.2 names. Identical images give ``inf``.
    """
    ref, test = _check_pair(ref, test)
    mse = np.mean((ref.astype(np.float64) - test.astype(np.float64)) ** 2)
    return _psnr_from_mse(float(mse), 255.0)


def ssim(ref: np.ndarray, test: np.ndarray) -> float:
    """SSIM (Wang et al. 2004) on **8-bit RGB**, the other usual metric of the survey's §3.2.

    ``skimage.metrics.structural_similarity`` with its default 7x7 uniform window,
    ``data_range=255``, computed per channel and averaged. Needs H, W >= 7.
    """
    from skimage.metrics import structural_similarity

    ref, test = _check_pair(ref, test)
    if min(ref.shape[:2]) < 7:
        raise ValueError(f"ssim needs images at least 7x7 (its window); got {ref.shape[:2]}")
    return float(structural_similarity(ref, test, channel_axis=-1, data_range=255))


def _object_mask(mask, shape: tuple[int, int]) -> np.ndarray:
    """A mask (H, W), (1, H, W) or (H, W, 1), bool or float coverage, array or tensor -> bool
    (H, W): True where coverage > 0.5. Raises ValueError on a size mismatch or an empty mask."""
    m = mask.detach().cpu().numpy() if _is_tensor(mask) else np.asarray(mask)
    m = np.squeeze(m)
    if m.shape != tuple(shape):
        raise ValueError(f"mask shape {np.shape(mask)} does not fit images of size {tuple(shape)}; "
                         "pass the object mask of this image, (H, W) or (1, H, W)")
    m = m > 0.5
    if not m.any():
        raise ValueError("the mask selects no pixel; pass the object's mask, or score the whole "
                         "image with psnr/ssim")
    return m


def masked_psnr(ref: np.ndarray, test: np.ndarray, mask) -> float:
    """PSNR in dB on **8-bit RGB** over the **object's pixels only** (peak 255, MSE over the
    pixels where ``mask`` > 0.5 and all three channels).

    On NCD-like photos (one object on white) whole-image PSNR is dominated by the background,
    which even the gray baseline gets right; this variant scores the object alone. ``mask``:
    (H, W) or (1, H, W), bool or float coverage, array or tensor (the batches' ``mask``, or
    :func:`colorsurvey.data.real.white_background_mask`). Equals :func:`psnr` for a full mask.
    Raises ValueError for an empty mask or a size mismatch.
    """
    ref, test = _check_pair(ref, test)
    m = _object_mask(mask, ref.shape[:2])
    d = ref[m].astype(np.float64) - test[m].astype(np.float64)
    return _psnr_from_mse(float(np.mean(d * d)), 255.0)


def masked_ssim(ref: np.ndarray, test: np.ndarray, mask) -> float:
    """SSIM on **8-bit RGB** averaged over the **object's pixels only**.

    The SSIM map of :func:`ssim` (same window, data range, per channel), averaged over the
    pixels where ``mask`` > 0.5 instead of over the whole image; like scikit-image's mean, it
    leaves out the 3-pixel border the 7x7 window cannot centre on. Windows near the object's
    edge still see some background, as they must. Equals :func:`ssim` for a full mask. Raises
    ValueError for an empty mask (also when it lies only in that border) or a size mismatch.
    """
    from skimage.metrics import structural_similarity

    ref, test = _check_pair(ref, test)
    m = _object_mask(mask, ref.shape[:2])
    if min(ref.shape[:2]) < 7:
        raise ValueError(f"ssim needs images at least 7x7 (its window); got {ref.shape[:2]}")
    _, smap = structural_similarity(ref, test, channel_axis=-1, data_range=255, full=True)
    pad = 3                                  # (win_size - 1) // 2, as skimage crops its mean
    smap, m = smap[pad:-pad, pad:-pad], m[pad:-pad, pad:-pad]
    if not m.any():
        raise ValueError("the mask selects only border pixels SSIM cannot score; pass a larger mask")
    return float(smap[m].mean(dtype=np.float64))


def chroma_psnr(ab_ref, ab_test) -> float:
    """PSNR in dB on the **ab channels only** (CIE Lab units), peak :data:`AB_RANGE` = 220.

    The survey's §4 proposal (it writes the U and V channels of YUV; here Lab's ab): score only
    the colour a method predicts, since the luminance is given. MSE over both channels; identical inputs give ``inf``.
    """
    r, t = _ab_pair(ab_ref, ab_test)
    return _psnr_from_mse(float(np.mean((r - t) ** 2)), AB_RANGE)


def auc(ab_ref, ab_test, max_threshold: float = 150, step: float = 1) -> float:
    """Raw-accuracy AuC on **ab** (Zhang, Isola, Efros, ECCV 2016, §3.1).

    Per-pixel Euclidean ab error; the fraction of pixels with error <= t for thresholds
    t = 0, step, ..., max_threshold; returns the mean of that curve, i.e. the area under it
    normalised to [0, 1]. Identical ab -> 1; every error above ``max_threshold`` -> 0.
    """
    if not (max_threshold > 0 and step > 0):
        raise ValueError("auc needs max_threshold > 0 and step > 0")
    r, t = _ab_pair(ab_ref, ab_test)
    err = np.sort(np.sqrt(np.sum((r - t) ** 2, axis=-1)).ravel())
    thresholds = np.arange(0.0, max_threshold + step / 2, step)
    frac = np.searchsorted(err, thresholds, side="right") / err.size
    return float(np.mean(frac))


# --------------------------------------------------------------------------------------------
# PCQI (luma)

_PCQI_C, _PCQI_L = 3.0, 256.0


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    r = np.arange(size) - (size - 1) / 2
    w = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma * sigma))
    return w / w.sum()


_PCQI_WINDOW = _gaussian_window()


def pcqi_luma(rgb: np.ndarray) -> np.ndarray:
    """The luma PCQI is fed: float64 (H, W) with integer values 0..255.

    ``Y = (298936 R + 587043 G + 114021 B + 500000) // 1000000`` in exact integer arithmetic,
    i.e. Octave's ``rgb2gray`` on uint8 (rounded back to uint8). Not BT.601 0.299/0.587/0.114.
    """
    rgb = _check_rgb(rgb, "rgb").astype(np.int64)
    y = (298936 * rgb[..., 0] + 587043 * rgb[..., 1] + 114021 * rgb[..., 2] + 500000) // 1000000
    return y.astype(np.float64)


def pcqi(ref: np.ndarray, test: np.ndarray) -> float:
    """PCQI on **luma** (Wang, Ma, Yeganeh, Wang, Lin, IEEE SPL 2015), proposed in the survey's §4.

    The survey counts it among metrics that "take color into account"; as published it compares
    luma only, so colour changes that keep L barely move it.

    Matches the authors' ``PCQI.m`` (2-argument form): 11x11 Gaussian window (sigma 1.5),
    'valid' correlation, C = 3, L = 256, on :func:`pcqi_luma` in 0..255. Asymmetric: ``ref``
    is the pristine image, ``test`` the colorized one. Needs H, W >= 11.
    """
    ref, test = _check_pair(ref, test)
    if min(ref.shape[:2]) < 11:
        raise ValueError(f"pcqi needs images at least 11x11 (its window); got {ref.shape[:2]}")
    x, y = pcqi_luma(ref), pcqi_luma(test)
    w, C, L = _PCQI_WINDOW, _PCQI_C, _PCQI_L

    def filt(a):
        return signal.correlate2d(a, w, mode="valid")

    mu1, mu2 = filt(x), filt(y)
    s1_sq = np.maximum(filt(x * x) - mu1 * mu1, 0.0)
    s2_sq = np.maximum(filt(y * y) - mu2 * mu2, 0.0)
    s12 = filt(x * y) - mu1 * mu2
    q = ((4 / np.pi) * np.arctan((s12 + C) / (s1_sq + C))
         * (s12 + C) / (np.sqrt(s1_sq) * np.sqrt(s2_sq) + C)
         * np.exp(-np.abs(mu1 - mu2) / L))
    return float(np.mean(q))


# --------------------------------------------------------------------------------------------
# UIQM (no-reference, 8-bit RGB)

class UIQMResult(NamedTuple):
    """UIQM and its three components (see :func:`uiqm`)."""
    uiqm: float
    uicm: float
    uism: float
    uiconm: float


_BLOCK = 10


def _blocks(a: np.ndarray) -> np.ndarray:
    """Top-left 10*k2 x 10*k1 crop of (H, W, ...) -> (k2, k1, 10*10*...) block values."""
    k2, k1 = a.shape[0] // _BLOCK, a.shape[1] // _BLOCK
    a = a[: k2 * _BLOCK, : k1 * _BLOCK]
    a = a.reshape(k2, _BLOCK, k1, _BLOCK, -1).swapaxes(1, 2)
    return a.reshape(k2, k1, -1)


def _trimmed_mean_quirk(v: np.ndarray) -> float:
    """Alpha-trimmed mean (alpha 0.1 each side) with the reference's off-by-one."""
    v = np.sort(v)
    K = v.size
    t_l, t_r = math.ceil(0.1 * K), math.floor(0.1 * K)
    return float(np.sum(v[t_l + 1: K - t_r]) / (K - t_l - t_r))


def _uicm(img: np.ndarray) -> float:
    R, G, B = img[..., 0].ravel(), img[..., 1].ravel(), img[..., 2].ravel()
    rg, yb = R - G, (R + G) / 2 - B
    mu_rg, mu_yb = _trimmed_mean_quirk(rg), _trimmed_mean_quirk(yb)
    var_rg, var_yb = np.mean((rg - mu_rg) ** 2), np.mean((yb - mu_yb) ** 2)
    return float(-0.0268 * math.hypot(mu_rg, mu_yb) + 0.1586 * math.sqrt(var_rg + var_yb))


def _eme(e: np.ndarray) -> float:
    b = _blocks(e)
    mx, mn = b.max(axis=-1), b.min(axis=-1)
    ok = (mx > 0) & (mn > 0)
    terms = np.log(np.where(ok, mx, 1.0) / np.where(ok, mn, 1.0))
    return float(2.0 / mx.size * np.sum(terms))


def _uism(img: np.ndarray) -> float:
    eme = []
    for c in range(3):
        ch = img[..., c]
        mag = np.hypot(ndimage.sobel(ch, axis=0), ndimage.sobel(ch, axis=1))
        peak = mag.max()
        # The reference divides by max(mag) unguarded (NaN for a flat channel); a channel with
        # no edges has an all-zero edge map here, so every block adds 0.
        mag = mag * (255.0 / peak) if peak > 0 else mag
        eme.append(_eme(mag * ch))
    return float(0.299 * eme[0] + 0.587 * eme[1] + 0.144 * eme[2])


def _uiconm(img: np.ndarray) -> float:
    b = _blocks(img)
    mx, mn = b.max(axis=-1), b.min(axis=-1)
    top, bot = mx - mn, mx + mn
    ok = (top != 0) & (bot != 0) & np.isfinite(top) & np.isfinite(bot)
    r = np.where(ok, top, 1.0) / np.where(ok, bot, 1.0)   # r = 1 adds 1*ln 1 = 0
    return float(-np.sum(r * np.log(r)) / mx.size)


def uiqm(img: np.ndarray) -> UIQMResult:
    """UIQM on **8-bit RGB** (Panetta, Gao, Agaian, IEEE JOE 2016), proposed in the survey's §4.

    No-reference: it scores colourfulness, sharpness and contrast of the result alone, so a
    vivid wrong colour can score higher than the right one. (The survey's eq. 4 calls it IQM
    and its parts ICM, ISM, IconM; the paper's names are UICM, UISM, UIConM.)

    UIQM = 0.0282 UICM + 0.2953 UISM + 3.5753 UIConM, at full resolution on RGB 0..255,
    reproducing the widely used ``uqim_utils.py`` (FUnIE-GAN) with its quirks: the trimmed mean
    in UICM skips one extra value, UISM weights B by 0.144 (paper: 0.114), EME/UIConM use 10x10
    blocks over the top-left crop with plain arithmetic (no PLIP) and the natural log.
    Needs H, W >= 10. Returns :class:`UIQMResult` (uiqm, uicm, uism, uiconm).
    """
    img = _check_rgb(img, "img")
    if min(img.shape[:2]) < _BLOCK:
        raise ValueError(f"uiqm needs images at least 10x10 (its block); got {img.shape[:2]}")
    x = img.astype(np.float64)
    uicm, uism, uiconm = _uicm(x), _uism(x), _uiconm(x)
    return UIQMResult(0.0282 * uicm + 0.2953 * uism + 3.5753 * uiconm, uicm, uism, uiconm)


def uiqm_score(img: np.ndarray) -> float:
    """Just the UIQM number of :func:`uiqm`."""
    return uiqm(img).uiqm


# --------------------------------------------------------------------------------------------
# colorfulness (no-reference, 8-bit RGB)

def colorfulness(img: np.ndarray) -> float:
    """Colorfulness M(3) on **8-bit RGB** (Hasler & Süsstrunk, SPIE HVEI 2003).

    rg = R - G, yb = (R + G)/2 - B; M = sqrt(var_rg + var_yb) + 0.3 sqrt(mean_rg^2 + mean_yb^2),
    population variance over all pixels, float64 in 0..255. A gray image scores 0.
    """
    x = _check_rgb(img, "img").astype(np.float64)
    rg = x[..., 0] - x[..., 1]
    yb = 0.5 * (x[..., 0] + x[..., 1]) - x[..., 2]
    return float(np.sqrt(rg.var() + yb.var()) + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2))


def ab_diversity(ab_samples) -> float:
    """Diversity of N colourings of one image: the mean over the N (N - 1) / 2 pairs of the
    per-pixel Euclidean ab distance averaged over the pixels, in Lab units (issue 13; the
    pairwise measure of diverse-colorization papers, e.g. Deshpande et al. 2017 §5). ab_samples
    (N, 2, H, W), numpy or torch, in Lab units; 0 for N = 1 or identical samples. ValueError for
    another shape."""
    x = np.asarray(ab_samples.detach().cpu() if _is_tensor(ab_samples) else ab_samples, dtype=np.float64)
    if x.ndim != 4 or x.shape[1] != 2:
        raise ValueError(f"ab_samples: expected (N, 2, H, W) ab in Lab units; got shape {x.shape}")
    n = x.shape[0]
    if n < 2:
        return 0.0
    total = 0.0
    for j in range(n - 1):
        total += np.sqrt(((x[j + 1:] - x[j]) ** 2).sum(1)).mean((1, 2)).sum()
    return float(total / (n * (n - 1) / 2))


# --------------------------------------------------------------------------------------------
# everything at once

def _ab_from_rgb(rgb: np.ndarray) -> np.ndarray:
    from skimage.color import rgb2lab
    return rgb2lab(rgb)[..., 1:]


def object_mask_or_background(ref_rgb_uint8: np.ndarray, mask=None) -> np.ndarray:
    """The object mask the ``*_obj`` metrics use: ``mask`` when given (> 0.5, squeezed to
    (H, W)), else :func:`colorsurvey.data.real.white_background_mask` of the reference, which
    is the whole image when the photo is not on white. An empty mask (no object found) also
    means the whole image, the data module's convention (:func:`~colorsurvey.data.mask_to_box`).
    Returns bool (H, W)."""
    if mask is None:
        from .data.real import white_background_mask
        mask = white_background_mask(ref_rgb_uint8)
    m = np.squeeze(mask.detach().cpu().numpy() if _is_tensor(mask) else np.asarray(mask)) > 0.5
    return m if m.any() else np.ones(ref_rgb_uint8.shape[:2], bool)


def evaluate_pair(ref_rgb_uint8: np.ndarray, test_rgb_uint8: np.ndarray,
                  ab_ref=None, ab_test=None, mask=None) -> dict[str, float]:
    """All metrics of :data:`METRICS` for one (ground truth, colorized) pair.

    psnr, ssim and pcqi compare the two images; psnr_obj and ssim_obj compare them over the
    object's pixels (``mask``, see :func:`object_mask_or_background`); uiqm and colorfulness are
    no-reference scores of the **test** image. chroma_psnr and auc use ``ab_ref`` / ``ab_test``
    (Lab units) when given, else the ab of each uint8 image via ``skimage.color.rgb2lab``.
    """
    ref, test = _check_pair(ref_rgb_uint8, test_rgb_uint8)
    ab_r = _ab_from_rgb(ref) if ab_ref is None else ab_ref
    ab_t = _ab_from_rgb(test) if ab_test is None else ab_test
    obj = object_mask_or_background(ref, mask)
    return {
        "psnr": psnr(ref, test),
        "ssim": ssim(ref, test),
        "psnr_obj": masked_psnr(ref, test, obj),
        "ssim_obj": masked_ssim(ref, test, obj),
        "pcqi": pcqi(ref, test),
        "uiqm": uiqm_score(test),
        "colorfulness": colorfulness(test),
        "chroma_psnr": chroma_psnr(ab_r, ab_t),
        "auc": auc(ab_r, ab_t),
    }
