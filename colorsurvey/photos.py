"""Your own photos: colourise at full resolution and score at each image's own size.

A method predicts ab at a *working size* (the image resized, aspect ratio kept, so that its
shorter side is ``work_size`` px; never enlarged) and the result keeps the photo's own
lightness at full resolution: ab is upsampled bilinearly (``F.interpolate(...,
align_corners=False)``, the same sampling) and merged with the full-resolution L. This is how
the survey scores NCD (each photo at its own size) and how a 12-megapixel photo colourises in
bounded memory: the full-resolution work is done in strips of rows (:func:`compose`), so
besides the 8-bit input and output images only a strip of float data exists at a time.

* :func:`work_shape`, :func:`resize` — the working size of an image and the resize to it;
* :func:`photo_batch` — a photo at the working size as a data batch (L, ab, mask, box, palette);
* :func:`colorize_photo` — a photo (uint8 RGB, any size) colourised by a method;
* :func:`compose` — full-resolution L + low-resolution ab -> uint8 RGB, strip by strip;
* :func:`evaluate_photos` — per-image metrics of a method on a folder, each image scored at its
  own size (the rows :func:`colorsurvey.evaluate.per_category_table` takes).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image

from . import metrics as M
from .color import lab_to_rgb, rgb_to_lab, split_lab
from .models.base import ColorizationModel

__all__ = ["DEFAULT_WORK_SIZE", "work_shape", "resize", "photo_batch", "upsample_rows", "compose",
           "colorize_photo", "evaluate_photos"]

#: the working size of ``colorsurvey colorize`` unless ``--work-size`` says otherwise
DEFAULT_WORK_SIZE = 256


def work_shape(height: int, width: int, work_size: int) -> tuple[int, int]:
    """(h, w) of an image of ``height`` x ``width`` px resized so that its shorter side is
    ``work_size`` (aspect ratio kept, rounded; never larger than the image)."""
    if work_size < 8:
        raise ValueError(f"the working size must be at least 8 px, got {work_size}")
    s = min(1.0, work_size / min(height, width))
    return max(1, round(height * s)), max(1, round(width * s))


def resize(rgb8: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """uint8 RGB (H, W, 3) resized to ``shape`` (h, w): area averaging when shrinking, bicubic
    when enlarging (PIL). Always a new, writable array."""
    h, w = shape
    if (h, w) == rgb8.shape[:2]:
        return np.array(rgb8, dtype=np.uint8)
    img = Image.fromarray(np.ascontiguousarray(rgb8), "RGB")
    shrink = h <= rgb8.shape[0] and w <= rgb8.shape[1]
    out = img.resize((w, h), Image.Resampling.BOX if shrink else Image.Resampling.BICUBIC)
    return np.array(out, dtype=np.uint8)


def _tensor(rgb8: np.ndarray, device) -> torch.Tensor:
    return torch.from_numpy(np.array(rgb8)).permute(2, 0, 1)[None].to(device).float().div_(255.0)   # a copy: inputs may be read-only


def photo_batch(rgb8: np.ndarray, device="cpu", label: int = 0, index: int = 0, caption: str = "") -> dict:
    """A photo (uint8 RGB (h, w, 3), already at the working size) as a one-image batch with every
    key of :mod:`colorsurvey.data.base` that a photo gives: ``rgb``, ``L``, ``ab``, ``label``,
    ``index``, ``mask`` (white background), ``box``, ``palette``, ``caption``."""
    from .data.real import _image_palette, mask_to_box, white_background_mask

    mask = white_background_mask(rgb8)
    rgb = _tensor(rgb8, device)
    L, ab = split_lab(rgb)
    return {"rgb": rgb, "L": L, "ab": ab, "label": torch.tensor([label], device=device),
            "index": torch.tensor([index], device=device),
            "mask": torch.from_numpy(mask)[None, None].float().to(device),
            "box": torch.from_numpy(mask_to_box(mask))[None].to(device),
            "palette": torch.from_numpy(_image_palette(rgb8, mask))[None].to(device),
            "caption": [caption]}


def upsample_rows(ab: torch.Tensor, size: tuple[int, int], y0: int, y1: int) -> torch.Tensor:
    """Rows ``y0:y1`` of ``F.interpolate(ab, size, mode="bilinear", align_corners=False)`` —
    computed for those rows only (``grid_sample`` at the same sample positions, border clamped).
    ``ab`` (1, 2, h, w); returns (1, 2, y1 - y0, W)."""
    H, W = size
    dev = ab.device
    ys = (torch.arange(y0, y1, device=dev, dtype=torch.float32) + 0.5) * 2 / H - 1
    xs = (torch.arange(W, device=dev, dtype=torch.float32) + 0.5) * 2 / W - 1
    grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij")[::-1], -1)[None]      # (1, rows, W, 2): x, y
    return F.grid_sample(ab.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)


def compose(rgb8: np.ndarray, ab: torch.Tensor, rows: int = 256) -> np.ndarray:
    """The colourised photo: the full-resolution lightness of ``rgb8`` (uint8 (H, W, 3)) with ``ab``
    ((1, 2, h, w) in Lab units, any h, w) upsampled to H x W; uint8 (H, W, 3). Done ``rows`` rows at a
    time, so memory beyond the two 8-bit images is a strip's."""
    H, W = rgb8.shape[:2]
    out = np.empty_like(rgb8)
    for y0 in range(0, H, rows):
        y1 = min(H, y0 + rows)
        L = rgb_to_lab(_tensor(rgb8[y0:y1], ab.device))[:, :1]
        rgb = lab_to_rgb(torch.cat([L, upsample_rows(ab, (H, W), y0, y1)], 1))
        out[y0:y1] = M.to_uint8(rgb[0])
    return out


@torch.no_grad()
def colorize_photo(model: ColorizationModel, rgb8: np.ndarray, work_size: int = DEFAULT_WORK_SIZE,
                   conditions: dict | None = None, rows: int = 256) -> np.ndarray:
    """Colourise a photo (uint8 RGB (H, W, 3), any size; colour or gray — only its lightness is
    used): ab predicted at the working size (:func:`work_shape`), the photo's own L at full
    resolution (:func:`compose`). ``conditions``: keyword arguments of ``model.colorize`` at the
    working size (hints, reference_rgb, caption, seed, ...). Returns uint8 (H, W, 3)."""
    dev = next((p.device for p in model.parameters()), torch.device("cpu"))
    small = resize(rgb8, work_shape(*rgb8.shape[:2], work_size))
    L = rgb_to_lab(_tensor(small, dev))[:, :1]
    ab = model.colorize(L, **(conditions or {})).float()
    return compose(rgb8, ab, rows)


@torch.no_grad()
def evaluate_photos(model: ColorizationModel, dataset, work_size: int, *, limit: int | None = None,
                    metrics=None, progress: bool = True) -> pd.DataFrame:
    """Per-image metrics of ``model`` on the files of ``dataset`` (an
    :class:`~colorsurvey.data.real.ImageFolder`), each image scored at its own size and aspect ratio:
    the method sees the image at the working size (shorter side ``work_size``) with its
    conditions from that batch (simulated hints, the reference pool, ...), its ab is upsampled to
    the full size and joined to the image's own L, and the metrics compare that with the image.
    Rows: index, category, file, width, height and the metrics (as :func:`colorsurvey.evaluate.evaluate`;
    ``attrs["evaluated"]`` says which images and how)."""
    from tqdm.auto import tqdm

    from .data.real import load_image
    from .data.signals import caption_for
    from .evaluate import TABLE_METRICS, evaluation_sample, image_metrics

    which = tuple(metrics or TABLE_METRICS)
    dev = next((p.device for p in model.parameters()), torch.device("cpu"))
    model.eval()
    indices, note = evaluation_sample(dataset, limit)
    labels = dataset.labels().tolist()
    rows = []
    for i in tqdm(indices, desc=f"eval {model.card.key}", disable=not progress, leave=False):
        gt8 = load_image(dataset.files[i])
        H, W = gt8.shape[:2]
        lab = labels[i]
        cat = dataset.categories[lab]
        batch = photo_batch(resize(gt8, work_shape(H, W, work_size)), dev, lab, i, caption_for(cat))
        ab_small = model.predict(batch).float()
        ab = F.interpolate(ab_small, size=(H, W), mode="bilinear", align_corners=False)
        L, ab_gt = split_lab(_tensor(gt8, dev))
        out8 = M.to_uint8(lab_to_rgb(torch.cat([L, ab], 1))[0])
        rec = {"index": i, "category": cat, "file": str(dataset.files[i]), "width": W, "height": H}
        rec.update(image_metrics(gt8, out8, ab_gt[0].cpu().numpy(), ab[0].cpu().numpy(), which=which))
        rows.append(rec)
    df = pd.DataFrame(rows)
    df.attrs["evaluated"] = (f"{note}, each at its own size (ab predicted with the shorter side at "
                             f"{work_size} px and upsampled; the image's own L)")
    return df
