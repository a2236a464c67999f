"""Real images: any image folder, the survey's Natural-Color Dataset (NCD), and the
auxiliary signals that can be derived from a photo of one object on white.

Layout read by :class:`ImageFolder` (and :class:`NCD`)::

    <root>/<Category>/*.jpg        one sub-folder per category (sorted = label order)
    <root>/*.jpg                   or: one category, named after <root>

Extensions jpg, jpeg, png, bmp, tif, tiff, webp (any case) are read, in sub-folders of a
category too; hidden files, ``__MACOSX`` folders and ``._*`` files are ignored.

Batches carry every key of :mod:`colorsurvey.data.base` except ``depth``:

* ``rgb``     the image, center-cropped to a square and resized to ``size`` x ``size``
  (PIL ``BOX`` = area averaging when shrinking, bicubic when enlarging), sRGB [0, 1].
* ``label``   the category index; ``caption`` from the category name (:func:`caption_for`).
* ``mask``    :func:`white_background_mask` of the resized image (NCD photos are on white).
* ``box``     :func:`mask_to_box` of that mask.
* ``palette`` five colours in SyntheticNCD's order: four dominant object colours
  (:func:`kmeans_palette` over the mask, largest cluster first), then the mean background
  colour; five k-means colours of the whole image when there is no background.

Everything is computed on the CPU, cached per file (an LRU cache bounded in megabytes), and
moved to the requested device.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import struct
import threading
import warnings
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .base import ColorDataset
from .signals import caption_for, kmeans_palette, mask_to_box, white_background_mask

__all__ = [
    "ImageReadError", "load_image", "ImageFolder", "NCD", "NCD_CATEGORIES", "open_dataset",
    "white_background_mask", "mask_to_box", "kmeans_palette", "caption_for",
    "find_ncd_root", "default_data_root", "default_ncd_root", "IMAGE_EXTENSIONS",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

#: The survey's 20 NCD categories, in label order (alphabetical, as the NCD archive lists them).
NCD_CATEGORIES = (
    "Apple", "Banana", "Brinjal", "Broccoli", "CapsicumGreen", "Carrot", "Cherry",
    "ChilliGreen", "Corn", "Cucumber", "LadyFinger", "Lemon", "Orange", "Peach", "Pear",
    "Plum", "Pomegranate", "Potato", "Strawberry", "Tomato",
)

_LAYOUT_HELP = (
    "Expected layout: <root>/<Category>/*.jpg (one sub-folder per category; "
    "png, bmp, tif, tiff and webp are read too), or images directly in <root> for a "
    "single category.")


def _ncd_help(root: Path | str) -> str:
    return (
        f"To get the survey's Natural-Color Dataset run `colorsurvey download ncd --dest {root}` "
        f"(or `python -m colorsurvey.data.download ncd --dest {root}`). By hand: download the "
        "'Color-Groundtruth' archive linked from the README of "
        "https://github.com/saeed-anwar/ColorSurvey (Google Drive, file id "
        f"1k_UvYzdrHbphW4UcbDb9jWB0ZQIAGEAo) and extract it so that {Path(root) / 'Apple'} "
        "exists (one extra top-level folder is fine).")


def _warn(msg: str) -> None:
    """warnings.warn attributed to the first caller outside this package's data module."""
    import sys
    here = os.path.dirname(os.path.abspath(__file__))
    f, level = sys._getframe(1), 2
    while f is not None and os.path.dirname(os.path.abspath(f.f_code.co_filename)) == here:
        f, level = f.f_back, level + 1
    warnings.warn(msg, UserWarning, stacklevel=level)


def default_data_root() -> Path:
    """``$COLORSURVEY_DATA`` if set, else ``~/.cache/colorsurvey``."""
    env = os.environ.get("COLORSURVEY_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "colorsurvey"


def default_ncd_root() -> Path:
    """Where ``open_dataset("ncd")`` and ``fetch_ncd()`` look: ``default_data_root()/ncd``."""
    return default_data_root() / "ncd"


# --------------------------------------------------------------------------------------
# Reading one image
# --------------------------------------------------------------------------------------

class ImageReadError(ValueError):
    """A file that cannot be read as an image (corrupt, truncated, not an image)."""


_ALPHA_MODES = {"RGBA", "LA", "PA", "La", "RGBa"}
_16BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N"}


@lru_cache(maxsize=1)
def _srgb_profile():
    from PIL import ImageCms
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@lru_cache(maxsize=32)
def _icc_profile(data: bytes):
    from PIL import ImageCms
    prof = ImageCms.ImageCmsProfile(io.BytesIO(data))
    desc = (ImageCms.getProfileDescription(prof) or "").lower()
    return prof, ("srgb" in desc)


def _apply_icc(img: Image.Image) -> Image.Image:
    """Convert an RGB or CMYK image with an embedded ICC profile to sRGB (best effort)."""
    icc = img.info.get("icc_profile")
    if not icc or img.mode not in ("RGB", "CMYK"):
        return img
    try:
        from PIL import ImageCms
        prof, is_srgb = _icc_profile(bytes(icc))
        if is_srgb and img.mode == "RGB":
            return img
        return ImageCms.profileToProfile(img, prof, _srgb_profile(), outputMode="RGB")
    except Exception:  # a broken profile: fall back to the plain conversion
        return img


def _scale_to_uint8(a: np.ndarray, mode: str) -> np.ndarray:
    """One-channel high-bit-depth data -> uint8 (see :func:`load_image` for the rules)."""
    if mode in _16BIT_MODES:
        return np.round(a.astype(np.float64) / 257.0).astype(np.uint8)
    a = a.astype(np.float64)
    finite = np.isfinite(a)
    if not finite.all():
        a = np.where(finite, a, 0.0)
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if mode == "F" and lo >= 0.0 and hi <= 1.0:
        return np.round(a * 255.0).astype(np.uint8)
    if mode == "I" and lo >= 0.0 and hi <= 65535.0:
        return np.round(a / 257.0).astype(np.uint8)
    if hi <= lo:
        return np.zeros(a.shape, np.uint8)
    return np.round((a - lo) / (hi - lo) * 255.0).astype(np.uint8)


def _to_srgb_array(img: Image.Image) -> np.ndarray:
    """A loaded PIL image of any mode -> uint8 (H, W, 3) sRGB."""
    mode = img.mode
    if mode in _16BIT_MODES or mode in ("I", "F"):
        g = _scale_to_uint8(np.asarray(img), mode)
        return np.repeat(g[..., None], 3, axis=2)
    if mode in _ALPHA_MODES or "transparency" in img.info:
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float32)
        a = rgba[..., 3:4] / 255.0
        out = rgba[..., :3] * a + 255.0 * (1.0 - a)        # composite onto white
        rgb = Image.fromarray(np.round(out).astype(np.uint8), "RGB")
        icc = img.info.get("icc_profile")
        if icc and mode == "RGBA":
            rgb.info["icc_profile"] = icc
            rgb = _apply_icc(rgb)
        return np.asarray(rgb, dtype=np.uint8)
    if mode in ("RGB", "CMYK"):
        img = _apply_icc(img)
    if img.mode != "RGB":
        img = img.convert("RGB")                         # 1, L, P, CMYK, YCbCr, RGBX, ...
    return np.asarray(img, dtype=np.uint8)


def _open(path, draft: int | None = None, label: str | None = None) -> tuple[np.ndarray, tuple[int, int]]:
    """Read ``path`` (a path or a binary file object) as sRGB uint8; also return the stored
    (width, height) before any draft. ``label`` names the source in errors (default: the path).

    ``draft`` lets the JPEG decoder downscale by 2/4/8 while keeping both sides >= draft.
    """
    label = label or str(path)
    try:
        with Image.open(path) as img:
            orig = img.size
            if draft and img.format == "JPEG":
                img.draft(None, (int(draft), int(draft)))
            img.load()
            img = ImageOps.exif_transpose(img)
            arr = _to_srgb_array(img)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError,
            Image.DecompressionBombError, TypeError, IndexError, KeyError, struct.error) as e:
        cause = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        raise ImageReadError(f"cannot read image {label!r}: {cause}") from e
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.size == 0:
        raise ImageReadError(f"cannot read image {label!r}: decoded to shape {arr.shape}")
    return arr, orig


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read any image file as uint8 sRGB, shape (H, W, 3).

    * Every PIL mode becomes sRGB: 1, L, P, RGB, CMYK, YCbCr, ... by PIL's conversion;
      an embedded ICC profile (RGB, CMYK) is applied with littleCMS when present.
    * Alpha (RGBA, LA, PA, P or L/RGB with a transparent colour) is composited onto white,
      the background of NCD's photos: a fully transparent pixel reads as (255, 255, 255).
    * 16-bit gray (I;16*) is scaled by 255/65535 (65535 -> 255), not clipped. Mode I
      (32-bit int) is read as 16-bit when its values lie in 0..65535, else stretched from
      its min..max; mode F as [0, 1] when its values lie there, else stretched likewise.
    * The EXIF orientation tag is applied.

    Raises :class:`ImageReadError` (a ValueError) naming the file and the cause when the
    file is not an image, is truncated or is corrupt; FileNotFoundError when it is missing.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no such image file: {str(p)!r}")
    return _open(p)[0]


def _resize_square(arr: np.ndarray, size: int) -> np.ndarray:
    """Center-crop to a square, then resize to size x size (area when shrinking)."""
    h, w = arr.shape[:2]
    s = min(h, w)
    y0, x0 = (h - s) // 2, (w - s) // 2
    img = Image.fromarray(np.ascontiguousarray(arr), "RGB")
    resample = Image.Resampling.BOX if s >= size else Image.Resampling.BICUBIC
    out = img.resize((size, size), resample=resample, box=(x0, y0, x0 + s, y0 + s))
    return np.array(out, dtype=np.uint8)        # a writable copy (torch.from_numpy needs one)


# --------------------------------------------------------------------------------------
# Scanning folders
# --------------------------------------------------------------------------------------

def _hidden(name: str) -> bool:
    return name.startswith(".") or name == "__MACOSX"


def _is_image_name(name: str) -> bool:
    return not _hidden(name) and name.lower().endswith(IMAGE_EXTENSIONS)


def _images_under(folder: Path, recursive: bool = True) -> list[Path]:
    """Image files under ``folder``, sorted by their POSIX path relative to it."""
    out: list[Path] = []
    if not recursive:
        out = [p for p in folder.iterdir() if p.is_file() and _is_image_name(p.name)]
    else:
        seen = set()
        for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
            real = os.path.realpath(dirpath)
            if real in seen:
                dirnames[:] = []
                continue
            seen.add(real)
            dirnames[:] = sorted(d for d in dirnames if not _hidden(d))
            out.extend(Path(dirpath) / f for f in filenames if _is_image_name(f))
    return sorted(out, key=lambda p: p.relative_to(folder).as_posix())


def _subdirs(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_dir() and not _hidden(p.name)),
                  key=lambda p: p.name)


def find_ncd_root(root: str | os.PathLike) -> tuple[Path, int]:
    """The folder that holds NCD's category folders: ``root`` itself or one of its children.

    Returns (folder, number of NCD category folders found in it, matched case-insensitively).
    The candidate with the most wins; ties go to ``root``, then to a child whose name does
    not say gray/grey (the colour archive over the grayscale one), then by name.
    """
    root = Path(root).expanduser()
    wanted = {c.lower() for c in NCD_CATEGORIES}

    def count(p: Path) -> int:
        try:
            return sum(1 for d in _subdirs(p) if d.name.lower() in wanted)
        except OSError:
            return 0

    cands = [(-count(root), 0, "", root)]
    if root.is_dir():
        for d in _subdirs(root):
            if d.name.lower() in wanted:
                continue
            grayish = 2 if re.search(r"gr[ae]y", d.name.lower()) else 1
            cands.append((-count(d), grayish, d.name, d))
    best = min(cands, key=lambda c: c[:3])
    return best[3], -best[0]


# --------------------------------------------------------------------------------------
# Datasets
# --------------------------------------------------------------------------------------

@dataclass
class _Item:
    rgb: np.ndarray                       # (S, S, 3) uint8
    mask: np.ndarray | None = None        # (S, S) bool
    box: np.ndarray | None = None         # (4,) float32
    palette: np.ndarray | None = None     # (5, 3) float32

    def nbytes(self) -> int:
        return sum(x.nbytes for x in (self.rgb, self.mask, self.box, self.palette) if x is not None)


def _image_palette(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The batch's ``palette``: object colours first, background last (as SyntheticNCD).

    Four colours by :func:`kmeans_palette` over the object's pixels (largest cluster first),
    then the mean background colour. With no background (mask everywhere) or an object of
    fewer than 4 pixels: five k-means colours of the whole image.
    """
    m = mask.reshape(-1)
    n_obj = int(m.sum())
    if n_obj < 4 or n_obj == m.size:
        return kmeans_palette(rgb, k=5, seed=0)
    obj = kmeans_palette(rgb, k=4, seed=0, mask=mask)
    bg = rgb.reshape(-1, 3)[~m].astype(np.float64).mean(0) / 255.0
    return np.concatenate([obj, bg[None].astype(np.float32)], 0)


def _split_key(seed: int, relpath: str) -> str:
    return hashlib.sha256(f"{int(seed)}\x00{relpath}".encode("utf-8")).hexdigest()


class ImageFolder(ColorDataset):
    """A folder of images as a :class:`ColorDataset` (keys: all but ``depth``).

    Parameters
    ----------
    root:          ``<root>/<Category>/*.jpg`` (categories = sorted sub-folders that hold
                   images) or images directly in ``root`` (one category, named after it).
    size:          images are center-cropped to a square and resized to ``size`` x ``size``.
    split:         "all", "train" or "test". Within each category the files are ranked by
                   sha256(f"{seed}\\0{relative path}") - stable across machines and Python
                   runs - and the first round(test_fraction * n) form the test split.
    test_fraction: share of each category that goes to the test split.
    seed:          changes the split.
    min_size:      images whose shorter side is below this are skipped (with a warning
                   naming them); if every image is too small, ValueError.
    verify:        open every file once at construction (:meth:`verify`) to drop corrupt and
                   too-small files; None = only when the split has <= 5000 files. Unverified
                   files that turn out corrupt raise :class:`ImageReadError` when loaded.
    progress:      progress bar for verification (None: only for more than 100 files).
    cache_mb:      bound of the in-memory cache of resized images and their mask, box and
                   palette.

    Attributes: ``files`` (paths, in index order), ``categories``, ``skipped`` (list of
    (path, reason) dropped by :meth:`verify`), ``image_root`` (the folder holding the
    categories).
    """

    name = "imagefolder"
    verify_limit = 5000

    def __init__(self, root: str | os.PathLike, size: int = 64, split: str = "all",
                 test_fraction: float = 0.2, seed: int = 0, min_size: int = 16,
                 verify: bool | None = None, progress: bool | None = None,
                 cache_mb: float = 512.0):
        if split not in ("all", "train", "test"):
            raise ValueError(f"split must be 'all', 'train' or 'test', got {split!r}")
        if not 0.0 <= float(test_fraction) <= 1.0:
            raise ValueError(f"test_fraction must lie in [0, 1], got {test_fraction}")
        if int(size) < 1:
            raise ValueError(f"size must be a positive number of pixels, got {size}")
        self.root = Path(root).expanduser()
        self.size = int(size)
        self.split = split
        self.test_fraction = float(test_fraction)
        self.seed = int(seed)
        self.min_size = int(min_size)
        self.skipped: list[tuple[Path, str]] = []
        self._cache: OrderedDict[str, _Item] = OrderedDict()
        self._cache_bytes = 0
        self._cache_limit = int(float(cache_mb) * 2 ** 20)
        self._lock = threading.Lock()
        self._verified: set[str] = set()
        self._check_root()
        self.image_root, self.categories, entries = self._scan()
        entries = self._select_split(entries)
        if not entries:
            raise ValueError(
                f"the {split!r} split of {self.root} is empty (test_fraction={test_fraction}, "
                f"{len(self.categories)} categories)")
        self.files: list[Path] = [p for p, _ in entries]
        self._labels: list[int] = [lab for _, lab in entries]
        if self.name == "imagefolder":
            self.name = self.root.name or "imagefolder"
        if verify is None:
            verify = len(self.files) <= self.verify_limit
        if verify:
            self.verify(progress=(len(self.files) > 100) if progress is None else progress)

    # -- scanning -----------------------------------------------------------------------
    def _check_root(self) -> None:
        if not self.root.exists():
            raise FileNotFoundError(
                f"no such image folder: {self.root}. {_LAYOUT_HELP} {_ncd_help(self.root)}")
        if not self.root.is_dir():
            raise ValueError(f"{self.root} is a file, not a folder. {_LAYOUT_HELP}")

    def _scan(self) -> tuple[Path, list[str], list[tuple[Path, int]]]:
        """(folder holding the categories, category names, [(file, label)] sorted)."""
        root = self.root
        subs = [(d, _images_under(d)) for d in _subdirs(root)]
        subs = [(d, files) for d, files in subs if files]
        loose = _images_under(root, recursive=False)
        if subs:
            if loose:
                _warn(
                    f"{root}: {len(loose)} image(s) lie directly in the root next to category "
                    f"folders and are ignored (e.g. {loose[0].name}). {_LAYOUT_HELP}")
            cats = [d.name for d, _ in subs]
            entries = [(f, i) for i, (_, files) in enumerate(subs) for f in files]
            return root, cats, entries
        if loose:
            return root, [root.resolve().name or "images"], [(f, 0) for f in loose]
        raise ValueError(f"found no images in {root}. {_LAYOUT_HELP} {_ncd_help(root)}")

    def _select_split(self, entries: list[tuple[Path, int]]) -> list[tuple[Path, int]]:
        if self.split == "all":
            return entries
        by_cat: dict[int, list[tuple[str, Path]]] = {}
        for p, lab in entries:
            rel = p.relative_to(self.image_root).as_posix()
            by_cat.setdefault(lab, []).append((_split_key(self.seed, rel), p))
        test: set[Path] = set()
        for items in by_cat.values():
            items.sort()
            n_test = int(self.test_fraction * len(items) + 0.5)
            test.update(p for _, p in items[:n_test])
        want_test = self.split == "test"
        return [(p, lab) for p, lab in entries if (p in test) == want_test]

    # -- verification -------------------------------------------------------------------
    def verify(self, progress: bool = True) -> list[tuple[Path, str]]:
        """Open every file once; drop corrupt and too-small ones with a warning.

        Dropped files are recorded in ``self.skipped`` as (path, reason); the list of those
        dropped by this call is returned. Decoded images are kept in the cache. Also warns
        when (nearly) every image is gray - e.g. NCD's grayscale archive instead of its
        colour one. Raises ValueError when no file is usable.
        """
        from tqdm.auto import tqdm

        todo = [i for i, p in enumerate(self.files) if str(p) not in self._verified]
        if not todo:
            return []

        def check(i: int):
            p = self.files[i]
            try:
                arr, (w, h) = _open(p, draft=2 * self.size)
            except ImageReadError as e:
                return i, "corrupt", str(e), None
            if min(w, h) < self.min_size:
                return i, "small", f"{w}x{h} is smaller than min_size={self.min_size}", None
            rgb = _resize_square(arr, self.size)
            return i, "ok", "", rgb

        workers = max(1, min(8, os.cpu_count() or 1))
        bad: dict[int, tuple[str, str]] = {}
        n_gray = n_ok = 0
        with ThreadPoolExecutor(workers) as ex, \
                tqdm(total=len(todo), desc=f"verify {self.name}", unit="img",
                     disable=not progress) as bar:
            for i, status, reason, rgb in ex.map(check, todo):
                bar.update(1)
                if status != "ok":
                    bad[i] = (status, reason)
                    continue
                n_ok += 1
                n_gray += int(np.ptp(rgb.astype(np.int16), axis=2).max() <= 8)
                self._put(str(self.files[i]), _Item(rgb))
                self._verified.add(str(self.files[i]))

        corrupt = [(self.files[i], r) for i, (s, r) in bad.items() if s == "corrupt"]
        small = [(self.files[i], r) for i, (s, r) in bad.items() if s == "small"]
        if n_ok + (len(self.files) - len(todo)) == 0:
            if small and len(small) == len(bad):
                examples = "; ".join(f"{p} ({r})" for p, r in small[:5])
                raise ValueError(
                    f"every image in {self.root} is smaller than min_size={self.min_size} px "
                    f"on its shorter side: {examples}. Lower min_size to use them.")
            examples = "; ".join(r for _, r in (corrupt + small)[:5])
            raise ValueError(f"no readable image in {self.root}: {examples}. {_LAYOUT_HELP}")
        for p, r in corrupt[:20]:
            _warn(f"skipping unreadable image {p}: {r}")
        if len(corrupt) > 20:
            _warn(f"... and {len(corrupt) - 20} more unreadable images in {self.root} "
                          "(see .skipped)")
        if small:
            names = ", ".join(str(p) for p, _ in small[:20])
            more = f" and {len(small) - 20} more" if len(small) > 20 else ""
            _warn(f"skipping {len(small)} image(s) smaller than min_size={self.min_size} "
                          f"px on a side: {names}{more}")
        if n_ok >= 5 and n_gray >= 0.9 * n_ok:
            _warn(f"{n_gray} of {n_ok} images in {self.root} are gray: colorization needs "
                          "colour ground truth (for NCD, the 'Color-Groundtruth' archive, not "
                          "'GrayScale')")
        dropped = sorted(bad)
        if dropped:
            drop = set(dropped)
            self.files = [p for i, p in enumerate(self.files) if i not in drop]
            self._labels = [lab for i, lab in enumerate(self._labels) if i not in drop]
        new = corrupt + small
        self.skipped.extend(new)
        return new

    # -- cache --------------------------------------------------------------------------
    def _put(self, key: str, item: _Item) -> None:
        with self._lock:
            old = self._cache.pop(key, None)
            if old is not None:
                self._cache_bytes -= old.nbytes()
            nb = item.nbytes()
            if nb > self._cache_limit:
                return
            self._cache[key] = item
            self._cache_bytes += nb
            while self._cache_bytes > self._cache_limit and self._cache:
                _, ev = self._cache.popitem(last=False)
                self._cache_bytes -= ev.nbytes()

    def _get(self, key: str) -> _Item | None:
        with self._lock:
            item = self._cache.get(key)
            if item is not None:
                self._cache.move_to_end(key)
            return item

    def _item(self, i: int) -> _Item:
        p = self.files[i]
        key = str(p)
        item = self._get(key)
        if item is None:
            try:
                arr, (w, h) = _open(p, draft=2 * self.size)
            except ImageReadError as e:
                raise ImageReadError(
                    f"{e} (this folder was not verified; call .verify() once to drop "
                    "unreadable files)") from e
            if min(w, h) < self.min_size:
                _warn(f"{p} is {w}x{h}, smaller than min_size={self.min_size}; "
                              "upscaled (call .verify() to drop such files)")
            item = _Item(_resize_square(arr, self.size))
        if item.mask is None:
            item.mask = white_background_mask(item.rgb)
            item.box = mask_to_box(item.mask)
            item.palette = _image_palette(item.rgb, item.mask)
        self._put(key, item)
        return item

    # -- ColorDataset -------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.files)

    def labels(self) -> torch.Tensor:
        return torch.tensor(self._labels, dtype=torch.long)

    def identity_params(self) -> dict:
        """A fingerprint of the file list (paths relative to the image root, with their sizes in
        bytes and labels) plus split, size and the reading settings: another folder, an added,
        removed or replaced file is a different set; moving the folder is not."""
        h = hashlib.sha256()
        for p, lab in zip(self.files, self._labels):
            try:
                rel = p.relative_to(self.image_root).as_posix()
            except ValueError:
                rel = p.as_posix()
            h.update(f"{rel}\0{p.stat().st_size}\0{lab}\n".encode())
        return {"split": self.split, "n": len(self.files), "size": self.size, "seed": self.seed,
                "test_fraction": self.test_fraction, "min_size": self.min_size,
                "categories": list(self.categories), "files_sha256": h.hexdigest()[:16]}

    def _load(self, indices: torch.Tensor, device: torch.device) -> dict:
        idx = [int(i) for i in indices]
        uniq = list(dict.fromkeys(idx))
        missing = [i for i in uniq if self._get(str(self.files[i])) is None]
        if len(missing) >= 8:
            with ThreadPoolExecutor(max(1, min(8, os.cpu_count() or 1))) as ex:
                got = dict(zip(missing, ex.map(self._item, missing)))
        else:
            got = {}
        items = [got.get(i) or self._item(i) for i in idx]
        rgb = torch.from_numpy(np.stack([it.rgb for it in items])).permute(0, 3, 1, 2)
        labels = [self._labels[i] for i in idx]
        out = {
            "rgb": rgb.float().div_(255.0),
            "label": torch.tensor(labels, dtype=torch.long),
            "mask": torch.from_numpy(np.stack([it.mask for it in items])).unsqueeze(1).float(),
            "box": torch.from_numpy(np.stack([it.box for it in items])),
            "palette": torch.from_numpy(np.stack([it.palette for it in items])),
        }
        out = {k: v.to(device) for k, v in out.items()}
        out["caption"] = [caption_for(self.categories[lab]) for lab in labels]
        return out


class NCD(ImageFolder):
    """The survey's Natural-Color Dataset: 723 photos of 20 fruit/vegetable categories on white.

    ``root`` holds the category folders (``<root>/Apple/*.jpg`` ...) or holds one folder that
    does (e.g. the archive's top-level folder); it defaults to :func:`default_ncd_root`
    (``$COLORSURVEY_DATA/ncd`` or ``~/.cache/colorsurvey/ncd``). Category folders are matched
    case-insensitively; ``categories`` is always the 20 names of :data:`NCD_CATEGORIES` in
    that order (so labels agree with the rendered SyntheticNCD), with a warning when some are
    missing; unexpected folders are ignored with a warning. Other parameters: see
    :class:`ImageFolder`.
    """

    name = "ncd"

    def __init__(self, root: str | os.PathLike | None = None, size: int = 64, split: str = "all",
                 test_fraction: float = 0.2, seed: int = 0, min_size: int = 16, **kw):
        root = default_ncd_root() if root is None else Path(root).expanduser()
        super().__init__(root, size=size, split=split, test_fraction=test_fraction, seed=seed,
                         min_size=min_size, **kw)

    def _check_root(self) -> None:
        if not self.root.exists():
            raise FileNotFoundError(f"NCD not found: {self.root} does not exist. {_ncd_help(self.root)}")
        if not self.root.is_dir():
            raise ValueError(f"NCD root {self.root} is a file, not a folder. {_ncd_help(self.root)}")

    def _scan(self) -> tuple[Path, list[str], list[tuple[Path, int]]]:
        base, n = find_ncd_root(self.root)
        if n == 0:
            raise FileNotFoundError(
                f"no NCD category folder (Apple, Banana, ..., Tomato) in {self.root} or its "
                f"sub-folders. Expected layout: <root>/<Category>/*.jpg. {_ncd_help(self.root)}")
        canon = {c.lower(): i for i, c in enumerate(NCD_CATEGORIES)}
        entries: list[tuple[Path, int]] = []
        found: set[int] = set()
        unexpected: list[str] = []
        for d in _subdirs(base):
            lab = canon.get(d.name.lower())
            if lab is None:
                if _images_under(d):
                    unexpected.append(d.name)
                continue
            files = _images_under(d)
            if files:
                found.add(lab)
                entries.extend((f, lab) for f in files)
        missing = [c for i, c in enumerate(NCD_CATEGORIES) if i not in found]
        if missing:
            _warn(f"NCD at {base} lacks {len(missing)} of the 20 categories (no images): "
                          f"{', '.join(missing)}")
        if unexpected:
            _warn(f"NCD at {base}: ignoring folders that are not NCD categories: "
                          f"{', '.join(unexpected)} (use ImageFolder to read them)")
        if not entries:
            raise ValueError(f"the NCD category folders in {base} hold no images. {_ncd_help(self.root)}")
        entries.sort(key=lambda e: (e[1], e[0].relative_to(base).as_posix()))
        return base, list(NCD_CATEGORIES), entries


def open_dataset(name_or_path: str | os.PathLike, split: str = "train", size: int = 64,
                 **kw) -> ColorDataset:
    """A dataset by name or folder.

    * ``"synthetic"``: the rendered NCD-like set, ``SyntheticNCD(split=, size=, **kw)``.
    * ``"ncd"``: :class:`NCD` at :func:`default_ncd_root` (``root=`` overrides it).
    * an existing folder: :class:`NCD` when it (or a child) holds >= 15 of the 20 NCD category
      folders, else :class:`ImageFolder`.
    Other keywords go to the constructor. Unknown names: ValueError listing the options.
    """
    if isinstance(name_or_path, str) and name_or_path.lower() == "synthetic":
        from .synthetic import SyntheticNCD
        return SyntheticNCD(split=split, size=size, **kw)
    if isinstance(name_or_path, str) and name_or_path.lower() == "ncd":
        return NCD(kw.pop("root", None), size=size, split=split, **kw)
    p = Path(name_or_path).expanduser()
    if p.is_dir():
        _, n = find_ncd_root(p)
        cls = NCD if n >= 15 else ImageFolder
        return cls(p, size=size, split=split, **kw)
    raise ValueError(
        f"unknown dataset {str(name_or_path)!r}: use 'synthetic' (rendered, no download), "
        "'ncd' (the survey's Natural-Color Dataset, at "
        f"{default_ncd_root()}; see `colorsurvey download ncd`), or the path of an existing "
        f"image folder. {_LAYOUT_HELP}")
