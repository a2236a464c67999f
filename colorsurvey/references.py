"""Reference images for exemplar-based colorization (survey §2.7).

An exemplar-based method colorizes a gray *target* after a colour *reference*. Where do the
references come from, in training and in evaluation? Two kinds of pairs:

* **matched** — the same category, a different instance: another sample with the target's
  label (for rendered data another rendered object of that kind; for a real image folder
  another file of the same folder). **mismatched** — a different category, the control that
  shows how much the reference steers the result.
* **self-reference** — the target's own colour image under a colour jitter and a random
  thin-plate-spline (TPS) warp: the reference then holds exactly the right colours, but not
  at the right places, which is what a method must learn to transfer (used in training).

:class:`ReferenceBank` draws matched and mismatched references from a dataset,
deterministically per target index (evaluation is repeatable) or varied by a ``salt``
(training). Without a bank, :func:`draw_references` pairs samples inside the batch and
falls back to self-references where the batch holds no partner.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from .color import gray_rgb_from_L, lab_to_rgb, rgb_to_lab

__all__ = ["tps_warp", "color_jitter", "self_reference", "ReferenceBank", "batch_partners",
           "draw_references", "MODES"]

MODES = ("matched", "mismatched", "self")


# --------------------------------------------------------------------------------------
# Self-reference: colour jitter and a thin-plate-spline warp
# --------------------------------------------------------------------------------------

def _tps_kernel(d2: torch.Tensor) -> torch.Tensor:
    """U(r) = r^2 log r^2 from squared distances (0 at r = 0)."""
    return d2 * torch.log(d2.clamp_min(1e-12))


def tps_grid(src: torch.Tensor, dst: torch.Tensor, H: int, W: int) -> torch.Tensor:
    """Sampling grid of the thin-plate spline that maps control points ``dst`` -> ``src``.

    src, dst: (B, K, 2) in normalised [-1, 1] (x, y) coordinates. For every output pixel the
    spline gives where to sample the input, so ``grid_sample(img, grid)`` moves the content at
    ``src[k]`` to ``dst[k]``. Returns (B, H, W, 2).
    """
    B, K, _ = dst.shape
    dev, dt = dst.device, torch.float64
    c, s = dst.to(dt), src.to(dt)
    Kmat = _tps_kernel(torch.cdist(c, c).pow(2))                               # (B, K, K)
    P = torch.cat([torch.ones(B, K, 1, device=dev, dtype=dt), c], dim=2)      # (B, K, 3)
    top = torch.cat([Kmat + 1e-6 * torch.eye(K, device=dev, dtype=dt), P], dim=2)
    bot = torch.cat([P.transpose(1, 2), torch.zeros(B, 3, 3, device=dev, dtype=dt)], dim=2)
    A = torch.cat([top, bot], dim=1)                                          # (B, K+3, K+3)
    rhs = torch.cat([s, torch.zeros(B, 3, 2, device=dev, dtype=dt)], dim=1)
    coef = torch.linalg.solve(A, rhs)                                         # (B, K+3, 2)
    ys = torch.linspace(-1 + 1 / H, 1 - 1 / H, H, device=dev, dtype=dt)
    xs = torch.linspace(-1 + 1 / W, 1 - 1 / W, W, device=dev, dtype=dt)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    pts = torch.stack([gx, gy], -1).view(1, H * W, 2).expand(B, -1, -1)
    U = _tps_kernel(torch.cdist(pts, c).pow(2))                               # (B, HW, K)
    Pp = torch.cat([torch.ones(B, H * W, 1, device=dev, dtype=dt), pts], dim=2)
    out = U @ coef[:, :K] + Pp @ coef[:, K:]
    return out.view(B, H, W, 2).float()


def tps_warp(img: torch.Tensor, strength: float = 0.1, grid: int = 4,
             generator: torch.Generator | None = None, padding: str = "border") -> torch.Tensor:
    """Warp images by a random thin-plate spline.

    Control points on a ``grid`` x ``grid`` lattice over the image are moved by Gaussian
    offsets of standard deviation ``strength`` (in units of half the image side); the spline
    through them moves the content smoothly. ``strength=0`` returns the input unchanged.
    img (B, C, H, W) -> (B, C, H, W).
    """
    if strength <= 0:
        return img
    B, _, H, W = img.shape
    t = torch.linspace(-1 + 1 / grid, 1 - 1 / grid, grid)
    gy, gx = torch.meshgrid(t, t, indexing="ij")
    dst = torch.stack([gx, gy], -1).view(1, grid * grid, 2).expand(B, -1, -1)
    src = dst + strength * torch.randn(B, grid * grid, 2, generator=generator)
    g = tps_grid(src.to(img.device), dst.to(img.device), H, W)
    return F.grid_sample(img.float(), g, mode="bilinear", padding_mode=padding, align_corners=False).to(img.dtype)


def color_jitter(rgb: torch.Tensor, strength: float = 1.0, generator: torch.Generator | None = None,
                 lightness: float = 0.15, saturation: float = 0.15, hue: float = 0.1) -> torch.Tensor:
    """Random photometric change of sRGB images, in Lab: lightness gain and offset
    (±``lightness``, ±15 L units at strength 1), chroma gain (1 ± ``saturation``) and a hue
    rotation of the ab plane (± ``hue`` radians), each scaled by ``strength``. (B, 3, H, W)."""
    if strength <= 0:
        return rgb
    B = rgb.shape[0]
    r = lambda: (2 * torch.rand(B, generator=generator) - 1) * strength  # noqa: E731
    lab = rgb_to_lab(rgb.float())
    dev = rgb.device
    gain = (1 + lightness * r()).to(dev).view(B, 1, 1)
    shift = (100 * lightness * r()).to(dev).view(B, 1, 1)
    sat = (1 + saturation * r()).to(dev).view(B, 1, 1)
    ang = (hue * r()).to(dev)
    cos, sin = torch.cos(ang).view(B, 1, 1), torch.sin(ang).view(B, 1, 1)
    L = (50 + gain * (lab[:, 0] - 50) + shift).clamp(0, 100)
    a, b = lab[:, 1] * sat, lab[:, 2] * sat
    a, b = cos * a - sin * b, sin * a + cos * b
    return lab_to_rgb(torch.stack([L, a, b], 1)).to(rgb.dtype)


def self_reference(rgb: torch.Tensor, jitter: float = 0.5, warp: float = 0.1,
                   generator: torch.Generator | None = None, flip: bool = True) -> torch.Tensor:
    """The target's own colours as a reference: colour jitter, an optional horizontal flip
    and a thin-plate-spline warp (survey §2.7; He et al. and Xu et al. train this way)."""
    out = color_jitter(rgb, jitter, generator)
    if flip:
        f = (torch.rand(rgb.shape[0], generator=generator) < 0.5).to(rgb.device).view(-1, 1, 1, 1)
        out = torch.where(f, out.flip(-1), out)
    return tps_warp(out, warp, generator=generator)


# --------------------------------------------------------------------------------------
# Matched and mismatched references
# --------------------------------------------------------------------------------------

def _mix(a: int, b: int) -> int:
    """A deterministic 31-bit hash of two integers (splitmix-like)."""
    x = (a * 0x9E3779B1 + b * 0x85EBCA77 + 0x27D4EB2F) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x2C1B3C6D) & 0xFFFFFFFF
    x ^= x >> 12
    return x & 0x7FFFFFFF


class ReferenceBank:
    """References drawn from a dataset by category.

    ``pick(labels, targets, mode, salt)`` chooses one dataset index per target: for
    ``"matched"`` one of the same label other than the target's own index, for
    ``"mismatched"`` one of another label. The choice is a hash of (target index, salt, seed):
    repeatable for evaluation, varied in training by changing ``salt``. ``draw(batch, ...)``
    loads those images, resized to the batch's size.
    """

    def __init__(self, dataset, seed: int = 0):
        self.dataset = dataset
        self.seed = int(seed)
        self.labels = dataset.labels().cpu().long()
        self.categories = list(getattr(dataset, "categories", []))
        k = int(self.labels.max()) + 1 if len(self.labels) else 0
        self.by_label = [torch.nonzero(self.labels == c).flatten() for c in range(k)]

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        return f"ReferenceBank({self.dataset!r})"

    def candidates(self, label: int, mode: str = "matched", exclude: int | None = None) -> torch.Tensor:
        """Dataset indices a target of ``label`` may take a reference from."""
        if mode == "matched":
            idx = self.by_label[label] if 0 <= label < len(self.by_label) else torch.empty(0, dtype=torch.long)
        elif mode == "mismatched":
            idx = torch.nonzero(self.labels != label).flatten()
        else:
            raise ValueError(f"mode must be 'matched' or 'mismatched' for a bank, got {mode!r}")
        if exclude is not None and idx.numel() > 1:
            idx = idx[idx != exclude]
        return idx

    def pick(self, labels: Sequence[int] | torch.Tensor, targets: Sequence[int] | torch.Tensor | None = None,
             mode: str = "matched", salt: int = 0) -> torch.Tensor:
        """One reference index per target (-1 where the bank has none of that kind)."""
        labels = torch.as_tensor(labels).cpu().long().tolist()
        targets = (torch.as_tensor(targets).cpu().long().tolist() if targets is not None
                   else list(range(len(labels))))
        out = []
        for lab, t in zip(labels, targets):
            cand = self.candidates(int(lab), mode, exclude=int(t))
            out.append(int(cand[_mix(int(t) + 7919 * self.seed, int(salt)) % cand.numel()]) if cand.numel() else -1)
        return torch.tensor(out, dtype=torch.long)

    def load(self, indices, size: tuple[int, int] | None = None, device=None) -> torch.Tensor:
        """The RGB images at ``indices``, resized (bilinear, antialiased) to ``size``."""
        dev = torch.device(device) if device is not None else torch.device("cpu")
        with torch.autocast(device_type=dev.type, enabled=False):   # renderers work in float32
            rgb = self.dataset.batch(torch.as_tensor(indices).long(), device=dev)["rgb"].float()
        if size is not None and tuple(rgb.shape[-2:]) != tuple(size):
            rgb = F.interpolate(rgb, size=size, mode="bilinear", align_corners=False, antialias=True)
        return rgb

    def name(self, index: int) -> str:
        lab = int(self.labels[index])
        cat = self.categories[lab] if lab < len(self.categories) else str(lab)
        return f"{cat} #{index}"


def batch_partners(labels: torch.Tensor, mode: str = "matched", salt: int = 0,
                   index: torch.Tensor | None = None) -> torch.Tensor:
    """For each sample, the position of another sample of the same (``matched``) or another
    (``mismatched``) label in the same batch; -1 where there is none."""
    lab = labels.cpu().long().tolist()
    keys = index.cpu().long().tolist() if index is not None else list(range(len(lab)))
    out = []
    for i, (l, k) in enumerate(zip(lab, keys)):
        cand = [j for j, m in enumerate(lab) if j != i and ((m == l) == (mode == "matched")) and keys[j] != k]
        out.append(cand[_mix(int(k), int(salt)) % len(cand)] if cand else -1)
    return torch.tensor(out, dtype=torch.long)


def draw_references(batch: dict, bank: ReferenceBank | None = None, mode: str = "matched",
                    self_fraction: float = 0.0, salt: int = 0, jitter: float = 0.5, warp: float = 0.1,
                    generator: torch.Generator | None = None, fallback: str = "self"
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """References for a batch: (rgb (B, 3, H, W), is_self (B,) bool).

    ``mode``: ``"matched"``, ``"mismatched"`` or ``"self"``. A share ``self_fraction`` of the
    samples (chosen at random with ``generator``) take a self-reference whatever the mode.
    References come from ``bank`` when given, else from other samples of the batch (by
    label). Where neither has one, ``fallback`` decides: ``"self"`` (a self-reference, for
    training) or ``"gray"`` (the sample's own gray image, i.e. no colour to copy: for
    evaluation, where a self-reference would hand over the answer). ``is_self`` marks the
    self-references.
    """
    if mode not in MODES:
        raise ValueError(f"reference mode must be one of {MODES}, got {mode!r}")
    if fallback not in ("self", "gray"):
        raise ValueError(f"fallback must be 'self' or 'gray', got {fallback!r}")
    with torch.autocast(device_type=batch["rgb"].device.type, enabled=False):   # colour maths in float32
        return _draw(batch, bank, mode, self_fraction, salt, jitter, warp, generator, fallback)


def _draw(batch, bank, mode, self_fraction, salt, jitter, warp, generator, fallback):
    rgb = batch["rgb"].float()
    B, _, H, W = rgb.shape
    dev = rgb.device
    if mode == "self":
        is_self = torch.ones(B, dtype=torch.bool)
    else:
        is_self = torch.rand(B, generator=generator) < self_fraction
    ref = rgb.clone()
    need = (~is_self).nonzero().flatten()
    missing = need[:0]
    if need.numel():
        labels = batch["label"].cpu()
        index = batch.get("index")
        index = index.cpu() if isinstance(index, torch.Tensor) else torch.arange(B)
        if bank is not None:
            pick = bank.pick(labels[need], index[need], mode=mode, salt=salt)
            ok = pick >= 0
            if ok.any():
                ref[need[ok].to(dev)] = bank.load(pick[ok], size=(H, W), device=dev).to(ref.dtype)
        else:
            pick = batch_partners(labels, mode, salt, index)[need]
            ok = pick >= 0
            if ok.any():
                ref[need[ok].to(dev)] = rgb[pick[ok].to(dev)]
        missing = need[~ok]
    if missing.numel():
        if fallback == "gray":
            m = missing.to(dev)
            L = batch["L"][m] if "L" in batch else rgb_to_lab(rgb[m])[:, :1]
            ref[m] = gray_rgb_from_L(L.float()).to(ref.dtype)
        else:
            is_self[missing] = True
    sel = is_self.nonzero().flatten()
    if sel.numel():
        s = sel.to(dev)
        ref[s] = self_reference(rgb[s], jitter=jitter, warp=warp, generator=generator).to(ref.dtype)
    return ref, is_self.to(dev)
