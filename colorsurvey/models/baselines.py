"""Reference points every table reports (this project's, not the survey's: the survey has no
baselines; README, "Measured here": every table reports gray and mean-ab).

* ``gray`` — predict ab = 0: the gray image itself. On white-background produce photos it
  already reaches about 20 dB PSNR / 0.85 SSIM, because most pixels are near-white or weakly
  coloured and PSNR on 8-bit RGB rewards being near gray.
* ``mean-ab`` — predict the training set's mean ab everywhere: the best constant guess.
* ``unet`` — a small U-Net regressing ab from L with an L1 loss: the simplest learned
  baseline, and the yardstick the survey's architectures have to beat under the same budget.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .base import ColorizationModel, ModelCard
from .layers import AB_NORM, ConvBlock  # noqa: F401  (ConvBlock re-exported for older imports)
from .registry import register

__all__ = ["GrayBaseline", "MeanAbBaseline", "UNet"]


@register
class GrayBaseline(ColorizationModel):
    """ab = 0: the input's gray rendition (no chroma at all)."""

    card = ModelCard(
        key="gray", title="Gray baseline (ab = 0)", authors="-", venue="-", year=None,
        parameters=0, parameters_source="this re-implementation",
        section="—", taxonomy="baseline", losses=(),
        substitutions="Not a method: predicts zero chroma, the floor every method must beat.",
    )
    sizes = {"paper": {}, "small": {}, "smoke": {}}

    def colorize(self, L: torch.Tensor, **_) -> torch.Tensor:
        return torch.zeros(L.shape[0], 2, *L.shape[-2:], device=L.device, dtype=torch.float32)

    def training_step(self, batch: dict) -> dict:
        return {}


@register
class MeanAbBaseline(ColorizationModel):
    """ab = the training set's mean ab, at every pixel (a constant colour cast)."""

    card = ModelCard(
        key="mean-ab", title="Mean-ab baseline", authors="-", venue="-", year=None,
        parameters=0, parameters_source="this re-implementation",
        section="—", taxonomy="baseline", losses=(),
        substitutions="Not a method: the training set's average ab everywhere.",
    )
    sizes = {"paper": {}, "small": {}, "smoke": {}}

    def __init__(self):
        super().__init__()
        self.register_buffer("mean_ab", torch.zeros(2))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))

    def fit_statistics(self, batches) -> None:
        total = torch.zeros(2, dtype=torch.float64)
        n = 0
        for b in batches:
            total += b["ab"].double().sum(dim=(0, 2, 3)).cpu()
            n += b["ab"].shape[0] * b["ab"].shape[2] * b["ab"].shape[3]
        if n == 0:
            raise ValueError("mean-ab needs at least one training batch to measure the mean")
        self.mean_ab.copy_((total / n).float())
        self.count.fill_(n)

    def training_step(self, batch: dict) -> dict:
        """Running mean over the batches seen (so the plain training loop also fits it)."""
        ab = batch["ab"].double()
        n = ab.shape[0] * ab.shape[2] * ab.shape[3]
        s = ab.sum(dim=(0, 2, 3)).to(self.mean_ab.device)
        new = self.count + n
        self.mean_ab.copy_(((self.mean_ab.double() * self.count + s) / new).float())
        self.count.copy_(new)
        return {}

    def needs_fit(self) -> bool:
        return True

    def colorize(self, L: torch.Tensor, **_) -> torch.Tensor:
        ab = self.mean_ab.to(L.device).view(1, 2, 1, 1)
        return ab.expand(L.shape[0], 2, *L.shape[-2:]).float().clone()


class UNetCore(nn.Module):
    """The U-Net body shared by the baseline and the exemplar-based colorizers: ``depth``
    stages of two 3x3 conv + BN + ReLU with 2x2 max-pooling between them and the width doubling
    from ``width``; a decoder of bilinear upsampling, concatenation with the skip and two convs;
    ab = 110 tanh(1x1 conv) (110 spans the ab range). Input H, W: multiples of 2^depth."""

    def __init__(self, in_ch: int, width: int = 32, depth: int = 3):
        super().__init__()
        w = [width * 2 ** i for i in range(depth + 1)]
        self.depth = depth
        self.enc = nn.ModuleList([ConvBlock(in_ch, w[0])] + [ConvBlock(w[i], w[i + 1]) for i in range(depth)])
        self.dec = nn.ModuleList([ConvBlock(w[i + 1] + w[i], w[i]) for i in reversed(range(depth))])
        self.head = nn.Conv2d(w[0], 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.enc):                 # contracting path
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        skips.pop()                                          # the bottleneck has no skip
        for block in self.dec:                               # expanding path
            skip = skips.pop()
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        return AB_NORM * torch.tanh(self.head(x).float())


@register
class UNet(ColorizationModel):
    """A small U-Net (Ronneberger et al. 2015) regressing ab from L with an L1 loss.

    Encoder: ``depth`` stages of two 3x3 conv + BN + ReLU, each followed by 2x2 max-pooling and
    a doubling of the width; decoder: bilinear upsampling, concatenation with the skip, two
    convs; a 1x1 conv to ab, scaled by 110 through tanh (the ab range).
    """

    card = ModelCard(
        key="unet", title="U-Net regression baseline", authors="Ronneberger, Fischer, Brox",
        parameters=31_383_746, parameters_source="this re-implementation",
        venue="MICCAI", year=2015, section="—", taxonomy="baseline",
        losses=("L1 on ab",), framework="PyTorch (this project)",
        substitutions="A generic learned baseline, not a surveyed method: it shows what plain "
                      "regression reaches under the same data and budget.",
    )
    sizes = {
        "paper": {"width": 64, "depth": 4},
        "small": {"width": 16, "depth": 3},
        "smoke": {"width": 8, "depth": 2},
    }
    lr = 2e-3

    def __init__(self, width: int = 32, depth: int = 3):
        super().__init__()
        self.depth = depth
        self.unet = UNetCore(1, width, depth)

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        x, pad = self.pad_to_multiple((L - 50.0) / 50.0, 2 ** self.depth)
        H, W = L.shape[-2:]
        return self.unet(x)[..., :H, :W]

    def colorize(self, L: torch.Tensor, **_) -> torch.Tensor:
        return self(L)

    def training_step(self, batch: dict) -> dict:
        pred = self(batch["L"])
        loss = F.l1_loss(pred, batch["ab"].float())
        self.step(loss)
        return {"loss": loss.detach()}
