"""Auxiliary signals derived from a colour image, for the methods that need more than the image:
the object's mask on a white background (produce photos, NCD), its bounding box, a k-means
colour palette, and a caption from a category name. Used by :mod:`colorsurvey.data.real` for
real folders (re-exported there) and by the metrics' object-masked variants.
"""

from __future__ import annotations

import re

import numpy as np
import torch

__all__ = ["white_background_mask", "mask_to_box", "kmeans_palette", "caption_for"]



def _as_hwc_float(rgb) -> tuple[np.ndarray, bool]:
    """(H, W, 3) uint8/float array or (3, H, W) tensor -> float64 (H, W, 3) in [0, 1]."""
    if isinstance(rgb, torch.Tensor):
        t = rgb.detach().cpu()
        if t.dim() != 3 or t.shape[0] != 3:
            raise ValueError(f"expected a (3, H, W) tensor, got {tuple(t.shape)}")
        a = t.permute(1, 2, 0).double().numpy()
        if t.dtype == torch.uint8:
            a = a / 255.0
        return a, True
    a = np.asarray(rgb)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) array, got shape {a.shape}")
    if a.dtype == np.uint8:
        return a.astype(np.float64) / 255.0, False
    return a.astype(np.float64), False


def white_background_mask(rgb, threshold: float = 0.9, border_fraction: float = 0.3,
                          keep_fraction: float = 0.05):
    """Object mask of a photo on a white background, like NCD's.

    Rule:

    1. A pixel is *background* when it is near-white: its smallest channel is >= ``threshold``
       (sRGB in [0, 1]; this also bounds its saturation, max - min <= 1 - threshold).
       Everything else is *object*.
    2. If less than ``border_fraction`` of the image border is background, the photo is not
       on white: the whole image is returned as the object.
    3. Clean-up (scipy.ndimage): a binary opening then closing with a square of side
       2r + 1, r = min(H, W) // 100 (skipped below 100 px, where it would erase thin
       objects); holes - background regions (4-connected) that do not touch the image
       border - are filled (white highlights inside an object belong to it); and only
       connected components (8-connected) with at least ``keep_fraction`` of the largest
       component's area are kept (specks go; several cherries stay).

    ``rgb``: (H, W, 3) uint8 or float array -> (H, W) bool array; or a (3, H, W) tensor
    -> (H, W) bool tensor.
    """
    from scipy import ndimage as ndi

    a, is_torch = _as_hwc_float(rgb)
    h, w = a.shape[:2]
    obj = a.min(axis=2) < threshold
    border = np.concatenate([obj[0], obj[-1], obj[:, 0], obj[:, -1]])
    if border.size and (1.0 - border.mean()) < border_fraction:
        mask = np.ones((h, w), bool)
    else:
        r = min(h, w) // 100
        if r > 0:                                       # separable square min/max filters
            k = 2 * r + 1
            u = obj.view(np.uint8)
            u = ndi.minimum_filter(ndi.maximum_filter(ndi.maximum_filter(
                ndi.minimum_filter(u, k, mode="nearest"), k, mode="nearest"), k, mode="nearest"),
                k, mode="nearest")
            obj = u.astype(bool)
        # fill holes: background regions (4-connected) that do not touch the border
        bg, nb = ndi.label(~obj)
        if nb:
            outside = np.zeros(nb + 1, bool)
            outside[np.concatenate([bg[0], bg[-1], bg[:, 0], bg[:, -1]])] = True
            outside[0] = False                          # label 0 = the object itself
            obj = ~outside[bg]
        lab, n = ndi.label(obj, structure=np.ones((3, 3), bool))
        if n > 1:
            areas = np.bincount(lab.ravel())[1:]
            keep = np.concatenate([[False], areas >= keep_fraction * areas.max()])
            obj = keep[lab]
        mask = obj
    return torch.from_numpy(mask) if is_torch else mask


def mask_to_box(mask):
    """Bounding box of a mask, normalised: (x0, y0, x1, y1) in [0, 1] on pixel edges.

    A pixel column c spans [c / W, (c + 1) / W], so a full mask gives (0, 0, 1, 1) - which is
    also what an empty mask gives (no object found: the whole image).
    ``mask`` (H, W) or (1, H, W), array or tensor -> float32 array / tensor of 4.
    """
    is_torch = isinstance(mask, torch.Tensor)
    m = mask.detach().cpu().numpy() if is_torch else np.asarray(mask)
    if m.ndim == 3 and m.shape[0] == 1:
        m = m[0]
    if m.ndim != 2:
        raise ValueError(f"mask_to_box expects an (H, W) or (1, H, W) mask, got {m.shape}")
    m = m > 0.5 if m.dtype != bool else m
    h, w = m.shape
    rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
    if rows.size == 0:
        box = np.array([0.0, 0.0, 1.0, 1.0], np.float32)
    else:
        box = np.array([cols[0] / w, rows[0] / h, (cols[-1] + 1) / w, (rows[-1] + 1) / h],
                       np.float32)
    return torch.from_numpy(box) if is_torch else box


def kmeans_palette(rgb, k: int = 5, seed: int = 0, max_pixels: int = 4096, iters: int = 25,
                   mask=None):
    """The ``k`` dominant colours of an image, by k-means in CIE Lab.

    At most ``max_pixels`` pixels (a seeded random subsample; all of them if fewer) are
    clustered with k-means++ initialisation and Lloyd iterations, in Lab (skimage, D65).
    Each colour is the mean sRGB of its cluster's pixels, so a flat region returns its exact
    colour; colours are sorted by cluster size, largest first (ties: darker first). If the
    image has fewer than ``k`` distinct colours the spare entries repeat found colours.
    Deterministic for a given ``seed``. ``mask`` (H, W) restricts it to those pixels (when
    at least ``k`` are set).

    ``rgb``: (H, W, 3) uint8/float array -> (k, 3) float32 array in [0, 1]; or a (3, H, W)
    tensor -> (k, 3) float32 tensor.
    """
    from skimage.color import lab2rgb, rgb2lab

    a, is_torch = _as_hwc_float(rgb)
    px = np.clip(a.reshape(-1, 3), 0.0, 1.0)
    if mask is not None:
        m = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
        m = m.reshape(-1).astype(bool)
        if m.sum() >= k:
            px = px[m]
    if px.shape[0] == 0:
        raise ValueError("kmeans_palette needs at least one pixel")
    rng = np.random.default_rng(seed)
    if px.shape[0] > max_pixels:
        px = px[np.sort(rng.choice(px.shape[0], max_pixels, replace=False))]
    lab = rgb2lab(px[:, None, :])[:, 0, :]
    n = lab.shape[0]

    # k-means++ initialisation
    centers = np.empty((k, 3))
    centers[0] = lab[rng.integers(n)]
    d2 = ((lab - centers[0]) ** 2).sum(1)
    for j in range(1, k):
        tot = d2.sum()
        i = min(int(np.searchsorted(np.cumsum(d2), rng.random() * tot, side="right")), n - 1) \
            if tot > 1e-12 else int(np.argmax(d2))
        centers[j] = lab[i]
        d2 = np.minimum(d2, ((lab - centers[j]) ** 2).sum(1))
    # Lloyd
    assign = np.zeros(n, np.int64)
    sq = (lab ** 2).sum(1, keepdims=True)
    for it in range(iters):
        dist = sq - 2.0 * lab @ centers.T + (centers ** 2).sum(1)[None]
        new = dist.argmin(1)
        if it > 0 and np.array_equal(new, assign):
            break
        assign = new
        cnt = np.bincount(assign, minlength=k)
        sums = np.stack([np.bincount(assign, weights=lab[:, c], minlength=k) for c in range(3)], 1)
        centers = np.where(cnt[:, None] > 0, sums / np.maximum(cnt, 1)[:, None], centers)
    counts = np.bincount(assign, minlength=k)
    colors = np.empty((k, 3))
    for j in range(k):
        sel = assign == j
        colors[j] = px[sel].mean(0) if sel.any() else np.nan
    if np.isnan(colors).any():                           # empty clusters: nearest found colour
        full = np.flatnonzero(counts > 0)
        for j in np.flatnonzero(counts == 0):
            near = full[((centers[full] - centers[j]) ** 2).sum(1).argmin()]
            colors[j] = colors[near] if not np.isnan(colors[near]).any() else \
                np.clip(lab2rgb(centers[j][None, None])[0, 0], 0, 1)
    order = np.lexsort((centers[:, 0], -counts))
    out = np.clip(colors[order], 0.0, 1.0).astype(np.float32)
    return torch.from_numpy(out) if is_torch else out


_COLOUR_WORDS = {
    "red", "green", "yellow", "orange", "purple", "violet", "blue", "black", "white",
    "brown", "pink", "gray", "grey", "golden", "gold", "dark", "light", "ripe", "raw",
}
# words that are the fruit, not its colour, when they come first (Orange, "orange juice")


def _split_words(name: str) -> list[str]:
    s = re.sub(r"[_\-\s.]+", " ", name).strip()
    s = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", s)
    s = re.sub(r"(?<=[A-Za-z])(?=[0-9])|(?<=[0-9])(?=[A-Za-z])", " ", s)
    return [w.lower() for w in s.split() if w]


def caption_for(category: str) -> str:
    """A caption from a category name: ``"CapsicumGreen"`` -> ``"a photo of a green capsicum"``.

    CamelCase, snake_case and kebab-case are split into lower-case words; colour words that
    trail the noun (NCD's naming: CapsicumGreen, ChilliGreen) move in front of it; the
    article is "an" before a vowel ("an orange"). LadyFinger -> "a photo of a lady finger".
    """
    words = _split_words(str(category))
    if not words:
        return "a photo"
    trailing = []
    while len(words) > 1 and words[-1] in _COLOUR_WORDS:
        trailing.insert(0, words.pop())
    phrase = " ".join(trailing + words)
    article = "an" if phrase[0] in "aeiou" else "a"
    return f"a photo of {article} {phrase}"


