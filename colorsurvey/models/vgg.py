"""VGG19 features (conv1_1 ... conv5_1) for the exemplar-based methods (survey §2.7).

Deep Exemplar (He et al. 2018) matches target and reference with VGG19 features at five
levels (relu1_1, relu2_1, relu3_1, relu4_1, relu5_1) and uses relu5_1 for its perceptual
loss; Fast Deep Exemplar (Xu et al. 2020) encodes with VGG19 up to relu4_1. Both used the
ImageNet-trained network. Here:

* :class:`VGG19Features` is VGG19's ``features`` stack up to relu5_1 with torchvision's module
  indices (``features.0`` = conv1_1 ... ``features.28`` = conv5_1), so torchvision's ImageNet
  weights load by name, and a ``width`` multiplier (1 = the published 64-128-256-512-512
  channels; 1/4 and 1/16 for the small and smoke sizes). Input: sRGB in [0, 1], normalised
  with the ImageNet mean and std inside.
* :data:`VGG19_IMAGENET` declares torchvision's ImageNet VGG19 file (URL, hash, size, licence,
  and the key remapping onto :class:`VGG19Features`); :func:`torchvision_vgg19` loads it when
  the file is already on disk (this project's weights cache or torch.hub's; nothing is
  downloaded: ``colorsurvey download weights vgg19`` fetches it). torchvision itself is not
  needed.
* :func:`train_vgg19` is the fallback: the same network trained here as a category
  classifier on the dataset (mostly gray input, some colour so its features also see colour,
  which the perceptual loss needs), with BatchNorm during training folded into the
  convolutions afterwards, so the result is a plain VGG19 again. Cached as safetensors under
  ``$COLORSURVEY_CACHE/vgg19`` (default ``~/.cache/colorsurvey/vgg19``) or a given folder,
  keyed by the dataset, the width, the resolution, the step count and the seed.
* :func:`get_vgg19` picks: torchvision when asked for (or "auto" at width 1 and available),
  else the cached or freshly trained fallback. ``vgg.source`` says which one ran.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .weights import OfficialWeights, declare

__all__ = ["VGG19Features", "LEVELS", "vgg_widths", "torchvision_vgg19", "train_vgg19", "get_vgg19",
           "default_cache_dir", "dataset_key", "VGG19_IMAGENET"]

#: The five levels Deep Exemplar matches at, with their index in ``features`` and stride.
LEVELS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
_LEVEL_INDEX = {"relu1_1": 1, "relu2_1": 6, "relu3_1": 11, "relu4_1": 20, "relu5_1": 29}
STRIDES = {"relu1_1": 1, "relu2_1": 2, "relu3_1": 4, "relu4_1": 8, "relu5_1": 16}
# VGG19 up to conv5_1: (channels, convs) per block; pooling between blocks
_BLOCKS = ((64, 2), (128, 2), (256, 4), (512, 4), (512, 1))
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)

#: torchvision's ImageNet VGG19 (Simonyan & Zisserman 2015), the network Deep Exemplar and Fast
#: Deep Exemplar match with. Only ``features.0`` ... ``features.28`` (conv1_1 ... conv5_1) are
#: kept; the classifier is dropped.
VGG19_IMAGENET = declare(OfficialWeights(
    name="vgg19",
    title="VGG19 ImageNet features (torchvision), up to relu5_1",
    url="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
    # the torch-hub name's prefix; the byte count is the one torch.hub reports downloading it
    sha256="dcbb9e9d", bytes=574_673_361,
    licence="BSD-3-Clause (torchvision); the weights were trained on ImageNet, whose terms "
            "allow non-commercial research and education only",
    source="github.com/pytorch/vision (torchvision/models/vgg.py, VGG19_Weights.IMAGENET1K_V1)",
    parameters=12_944_960,                  # conv1_1 ... conv5_1, what loads here
    keep=r"^features\.([0-9]|1[0-9]|2[0-8])\.", rename=((r"^features\.", ""),),
))
_TORCHVISION_FILE = VGG19_IMAGENET.filename


def vgg_widths(width: float = 1.0) -> tuple[int, ...]:
    """Channels of the five blocks at a width multiplier (at least 4 each)."""
    return tuple(max(4, int(round(c * width))) for c, _ in _BLOCKS)


def _layers(width: float, batchnorm: bool) -> list[nn.Module]:
    layers: list[nn.Module] = []
    cin = 3
    for b, ((_, n), c) in enumerate(zip(_BLOCKS, vgg_widths(width))):
        if b:
            layers.append(nn.MaxPool2d(2, 2))
        for _ in range(n):
            layers.append(nn.Conv2d(cin, c, 3, padding=1))
            if batchnorm:
                layers.append(nn.BatchNorm2d(c))
            layers.append(nn.ReLU(inplace=False))
            cin = c
    return layers


def default_cache_dir() -> Path:
    return Path(os.environ.get("COLORSURVEY_CACHE", "~/.cache/colorsurvey")).expanduser() / "vgg19"


class VGG19Features(nn.Module):
    """VGG19 up to relu5_1 (torchvision's layout), returning the five relu*_1 maps.

    ``forward(rgb, levels=LEVELS)`` takes sRGB in [0, 1], (B, 3, H, W), H and W >= 16, and
    returns a dict level -> feature map; it stops at the deepest level asked for.
    ``gray(L)`` turns a luminance channel (Lab units) into the gray sRGB image VGG expects.
    """

    def __init__(self, width: float = 1.0):
        super().__init__()
        self.width = float(width)
        self.features = nn.Sequential(*_layers(width, batchnorm=False))
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)
        # 0 = random, 1 = trained here, 2 = torchvision ImageNet (saved with the model)
        self.register_buffer("state", torch.zeros((), dtype=torch.uint8))
        self.source = "untrained (random weights)"

    @property
    def channels(self) -> dict[str, int]:
        w = vgg_widths(self.width)
        return dict(zip(LEVELS, w))

    @property
    def ready(self) -> bool:
        return int(self.state) > 0

    def describe(self) -> str:
        if int(self.state) == 2:
            return "torchvision VGG19, ImageNet weights"
        if int(self.state) == 1 and self.source.startswith("untrained"):
            return "VGG19 trained here on the dataset (loaded with the model)"
        return self.source

    @staticmethod
    def gray(L: torch.Tensor) -> torch.Tensor:
        """L (Lab units, (B, 1, H, W)) -> gray sRGB (B, 3, H, W) in [0, 1].

        Uses the inverse CIE L* curve, so that a gray image's sRGB value is exact."""
        y = ((L.float() + 16.0) / 116.0)
        y = torch.where(y > 6.0 / 29.0, y ** 3, (y - 4.0 / 29.0) * 3 * (6.0 / 29.0) ** 2)
        s = torch.where(y <= 0.0031308, 12.92 * y, 1.055 * y.clamp_min(1e-8) ** (1 / 2.4) - 0.055)
        return s.clamp(0, 1).expand(-1, 3, -1, -1)

    def forward(self, rgb: torch.Tensor, levels=LEVELS) -> dict[str, torch.Tensor]:
        levels = tuple(levels)
        last = max(_LEVEL_INDEX[k] for k in levels)
        want = {_LEVEL_INDEX[k]: k for k in levels}
        x = (rgb - self.mean.to(rgb.dtype)) / self.std.to(rgb.dtype)
        out = {}
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in want:
                out[want[i]] = x
            if i >= last:
                break
        return out


# --------------------------------------------------------------------------------------
# torchvision's ImageNet weights (optional)
# --------------------------------------------------------------------------------------

def torchvision_vgg19(weights_path: str | os.PathLike | None = None) -> VGG19Features | None:
    """The ImageNet VGG19 (:data:`VGG19_IMAGENET`) if its file is on disk, else None.

    Looks in ``weights_path``, then this project's weights cache and torch.hub's checkpoint
    folder for ``vgg19-dcbb9e9d.pth``; never downloads (``colorsurvey download weights vgg19``
    does). A file that fails its hash check or does not fit is passed over.
    """
    places = [Path(weights_path).expanduser()] if weights_path else []
    places += VGG19_IMAGENET.places()
    for p in places:
        if p.is_file():
            try:
                vgg = VGG19Features(1.0)
                VGG19_IMAGENET.load_into(vgg.features, p)
            except (RuntimeError, ValueError, OSError):
                continue
            vgg.state.fill_(2)
            vgg.source = f"torchvision VGG19, ImageNet weights ({p.name})"
            return vgg.eval().requires_grad_(False)
    return None


# --------------------------------------------------------------------------------------
# The fallback: train VGG19 here as a category classifier
# --------------------------------------------------------------------------------------

def dataset_key(dataset) -> str:
    """A string identifying a dataset for the cache (class, name, size, length, split,
    seed, root and categories where it has them)."""
    parts = {
        "class": type(dataset).__name__, "name": getattr(dataset, "name", ""),
        "size": getattr(dataset, "size", None), "n": len(dataset),
        "split": getattr(dataset, "split", None), "seed": getattr(dataset, "seed", None),
        "root": str(getattr(dataset, "root", "")), "objects": str(getattr(dataset, "objects", "")),
        "categories": list(getattr(dataset, "categories", [])),
    }
    return json.dumps(parts, sort_keys=True, default=str)


def _fold_batchnorm(trained: nn.Sequential, width: float) -> VGG19Features:
    """Conv+BN+ReLU stack -> plain VGG19Features with each BN folded into its conv."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    vgg = VGG19Features(width)
    convs = [m for m in trained if isinstance(m, nn.Conv2d)]
    bns = [m for m in trained if isinstance(m, nn.BatchNorm2d)]
    plain = [m for m in vgg.features if isinstance(m, nn.Conv2d)]
    for c, b, p in zip(convs, bns, plain):
        fused = fuse_conv_bn_eval(c.eval(), b.eval())
        p.weight.data.copy_(fused.weight.data)
        p.bias.data.copy_(fused.bias.data)
    return vgg


def _batches(source, batch_size: int, steps: int, seed: int, device):
    """Batches from a dataset (random_batch) or a list of batches (cycled)."""
    if hasattr(source, "random_batch"):
        for i in range(steps):
            yield source.random_batch(batch_size, step=i, seed=seed, device=device)
    else:
        items = list(source)
        if not items:
            raise ValueError("train_vgg19 needs a dataset or at least one batch")
        for i in range(steps):
            b = items[i % len(items)]
            yield {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in b.items()}


def train_vgg19(source, width: float = 0.25, steps: int = 300, batch_size: int = 32,
                num_classes: int | None = None, gray_fraction: float = 0.75, lr: float = 2e-3,
                seed: int = 0, device: str | torch.device = "cpu", cache_dir: str | os.PathLike | None = None,
                progress: bool = True) -> VGG19Features:
    """Train VGG19 (up to conv5_1, with a linear classifier on its pooled relu5_1) to tell
    the dataset's categories apart, mostly from gray input; return the frozen features.

    ``source`` is a dataset (its ``random_batch``) or an iterable of batches (cycled, not
    cached). With a dataset the result is cached under ``cache_dir`` (default
    :func:`default_cache_dir`) and a second call with the same arguments loads it in
    milliseconds. ``vgg.source`` records what was trained, for how long, and its accuracy on
    gray input over the last steps' batches (training accuracy).
    """
    from safetensors.torch import load_file, save_file
    from tqdm.auto import tqdm

    device = torch.device(device)
    is_dataset = hasattr(source, "random_batch")
    path = None
    if is_dataset:
        num_classes = num_classes or len(source.categories)
        key = json.dumps({"data": dataset_key(source), "width": width, "steps": steps, "bs": batch_size,
                          "gray": gray_fraction, "lr": lr, "seed": seed, "v": 1}, sort_keys=True)
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        folder = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
        path = folder / f"vgg19_w{width:g}_{digest}.safetensors"
        if path.is_file():
            try:
                from safetensors import safe_open
                with safe_open(str(path), framework="pt") as f:
                    meta = f.metadata() or {}
                vgg = VGG19Features(width)
                vgg.features.load_state_dict(load_file(str(path)))
                vgg.state.fill_(1)
                vgg.source = meta.get("source", "VGG19 trained here (cached)") + f" [cache: {path}]"
                return vgg.eval().requires_grad_(False)
            except Exception:
                pass  # unreadable cache: train again
    if num_classes is None:
        raise ValueError("train_vgg19 on a list of batches needs num_classes")

    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = nn.Sequential(*_layers(width, batchnorm=True)).to(device)
    head = nn.Linear(vgg_widths(width)[-1], num_classes).to(device)
    for m in net:
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    params = list(net.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=lr)
    sched = (torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.2)
             if steps >= 10 else None)
    mean = torch.tensor(_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(_STD, device=device).view(1, 3, 1, 1)
    correct, seen = [], []
    t0 = time.perf_counter()
    net.train()
    bar = tqdm(_batches(source, batch_size, steps, seed, device), total=steps, desc=f"VGG19 x{width:g} (self-trained)",
               disable=not progress, leave=False)
    for i, b in enumerate(bar):
        rgb = b["rgb"].float()
        B = rgb.shape[0]
        gray = VGG19Features.gray(b["L"]) if "L" in b else rgb.mean(1, keepdim=True).expand(-1, 3, -1, -1)
        pick = (torch.rand(B, 1, 1, 1, generator=g) < gray_fraction).to(device)
        x = torch.where(pick, gray, rgb)
        flip = (torch.rand(B, 1, 1, 1, generator=g) < 0.5).to(device)
        x = torch.where(flip, x.flip(-1), x)
        logits = head(net((x - mean) / std).mean(dim=(2, 3)))
        loss = F.cross_entropy(logits.float(), b["label"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        if i >= steps - max(5, steps // 5):
            with torch.no_grad():
                hit = (logits.argmax(1) == b["label"]) & pick.view(-1)
                correct.append(hit.sum())
                seen.append(pick.sum())
    bar.close()
    acc = float(torch.stack(correct).sum()) / max(1, float(torch.stack(seen).sum())) if correct else float("nan")
    vgg = _fold_batchnorm(net.cpu(), width)
    vgg.state.fill_(1)
    name = getattr(source, "name", "the training batches") if is_dataset else "the training batches"
    vgg.source = (f"VGG19 x{width:g} trained here as a {num_classes}-way classifier on {name} "
                  f"({steps} steps of {batch_size}, {time.perf_counter() - t0:.0f} s; "
                  f"gray-input training accuracy {acc:.0%})")
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
            save_file({k: v.contiguous() for k, v in vgg.features.state_dict().items()}, str(tmp),
                      metadata={"source": vgg.source})
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only cache only costs the next run the training time
    return vgg.eval().requires_grad_(False)


def get_vgg19(width: float = 0.25, kind: str = "auto", source=None, steps: int = 300,
              cache_dir: str | os.PathLike | None = None, device: str | torch.device = "cpu",
              progress: bool = True, **kw) -> VGG19Features:
    """A frozen VGG19 feature extractor.

    ``kind``: ``"torchvision"`` (ImageNet weights; error if unavailable), ``"self"`` (the
    fallback trained on ``source``), or ``"auto"`` (torchvision when ``width == 1`` and its
    weights are on disk, else the fallback). ``source``: the dataset (or batches) to train
    the fallback on; without one the network stays untrained (random features).
    """
    if kind not in ("auto", "torchvision", "self"):
        raise ValueError("kind must be 'auto', 'torchvision' or 'self'")
    if kind in ("auto", "torchvision") and (kind == "torchvision" or width == 1.0):
        vgg = torchvision_vgg19()
        if vgg is not None:
            return vgg
        if kind == "torchvision":
            raise RuntimeError(f"torchvision's VGG19 ImageNet weights are not available on this machine: "
                               f"put {_TORCHVISION_FILE} into {VGG19_IMAGENET.places()[0].parent} "
                               "(`colorsurvey download weights vgg19` downloads it)")
    if source is None:
        return VGG19Features(width).eval().requires_grad_(False)
    return train_vgg19(source, width=width, steps=steps, cache_dir=cache_dir, device=device,
                       progress=progress, **kw)
