"""§2.3.1 Infrared colorization using deep convolutional neural networks (Limmer & Lensch,
ICMLA 2016): a multi-branch CNN over a normalised image pyramid of the NIR image, joint
bilateral filtering of its raw output and high-frequency detail of the input added back."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...data import domain as D
from ...hints import _gauss
from ...postprocess import joint_bilateral_filter
from ..base import ModelCard
from ..registry import register
from .base import DomainModel, ab_of_rgb

__all__ = ["InfraredColorization", "normalized_pyramid"]


def normalized_pyramid(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """An image pyramid of (B, 1, H, W) (H, W multiples of 2^(levels-1)): level k is the image
    average-pooled by 2^k, each level normalised to zero mean and unit variance per image (the
    survey's "each pyramid-level is normalized")."""
    out = []
    for k in range(levels):
        y = F.avg_pool2d(x, 2 ** k) if k else x
        m, s = y.mean((2, 3), keepdim=True), y.std((2, 3), keepdim=True, unbiased=False)
        out.append((y - m) / (s + 1e-3))
    return out


class _Branch(nn.Sequential):
    """One pyramid level's branch: ``blocks`` blocks of ``convs`` (3x3 conv + ReLU), a 2x2 max
    pooling between blocks, 16 maps in the first block (``width``), twice as many after each
    pooling."""

    def __init__(self, width: int, blocks: int, convs: int):
        layers: list[nn.Module] = []
        cin = 1
        for b in range(blocks):
            c = width * 2 ** b
            if b:
                layers.append(nn.MaxPool2d(2))
            for _ in range(convs):
                layers += [nn.Conv2d(cin, c, 3, padding=1), nn.ReLU(inplace=True)]
                cin = c
        super().__init__(*layers)
        self.out_channels = cin


@register
class InfraredColorization(DomainModel):
    """Limmer & Lensch's NIR colorization.

    The NIR image (B, 1, H, W) in [0, 1] becomes a pyramid of ``levels`` levels, each normalised
    (:func:`normalized_pyramid`); each level has its own branch (:class:`_Branch`, no weights
    shared); the branches' outputs, upsampled to full size, and the mean of the input image are
    fused by per-pixel fully connected layers (1x1 convolutions) into the raw RGB estimate. At
    inference the raw output is joint-bilaterally filtered with the NIR image as guide and the
    input's high-frequency detail (NIR minus its Gaussian blur) is added to every channel.
    Trained with a pixel ℓ2 loss on the raw output.
    """

    card = ModelCard(
        key="nir", title="Infrared Colorization Using Deep Convolutional Neural Networks",
        authors="Matthias Limmer, Hendrik P. A. Lensch", venue="ICMLA", year=2016, section="2.3.1",
        taxonomy="domain-specific", conditions=("nir",), losses=("pixel ℓ2 on RGB",), framework="(no code published)",
        parameters=240_595, parameters_source="this re-implementation",
        survey_recipe="§2.3.1: trained on about 32 NIR/RGB image pairs of road scenes (multi-CCD camera), tested on 800",
        substitutions=(
            "No official code exists; the layer counts are ours: 3 pyramid levels, branches of 3 blocks x 2 "
            "convolutions (16, 32, 64 maps) and a 1x1 fusion of 128 hidden units at 'paper'. Input: a NIR-like "
            "band mixed from the colour image (colorsurvey.data.domain.nir_from_rgb: vegetation-like green bright, "
            "blue dark), not a NIR camera; real pairs load with DomainFolder(root, 'nir'). The network predicts "
            "sRGB from NIR alone; colorize returns its ab (joined with the true L by the evaluation). Joint "
            "bilateral filter: radius 2, sigma_space 1.5, sigma_range 0.1 of the NIR image; the detail is the "
            "NIR minus its Gaussian blur (sigma 1), added once."),
        notes="the survey's 'increased by 2' is read as doubling the maps after each pooling")
    domain_input, domain_what, standin_function = "nir", "a near-infrared image in [0, 1]", "colorsurvey.data.domain.nir_from_rgb(rgb)"
    strength = ("mix", 1.0, (0.0, 0.25, 0.5, 0.75, 1.0))
    sizes = {
        "paper": dict(width=16, levels=3, blocks=3, convs=2, hidden=128, lr=1e-3),
        "small": dict(width=8, levels=3, blocks=3, convs=2, hidden=64),
        "smoke": dict(width=4, levels=2, blocks=2, convs=1, hidden=16),
    }

    def __init__(self, width: int = 16, levels: int = 3, blocks: int = 3, convs: int = 2, hidden: int = 128,
                 lr: float = 2e-3, detail: float = 1.0):
        super().__init__()
        self.levels, self.blocks, self.lr, self.detail = levels, blocks, lr, detail
        self.branches = nn.ModuleList(_Branch(width, blocks, convs) for _ in range(levels))
        c = sum(b.out_channels for b in self.branches) + 1          # + the mean input image
        self.fusion = nn.Sequential(nn.Conv2d(c, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, 3, 1))

    def standin(self, batch: dict, strength=None, seeds=None) -> dict:
        return {"nir": D.nir_from_rgb(batch["rgb"], self.strength[1] if strength is None else strength)}

    def forward_rgb(self, nir: torch.Tensor) -> torch.Tensor:
        """The raw RGB estimate (B, 3, H, W), about [0, 1], before filtering."""
        Hh, Ww = nir.shape[-2:]
        m = 2 ** (self.levels - 1 + self.blocks - 1)
        x, _ = self.pad_to_multiple(nir.float(), m)
        size = x.shape[-2:]
        feats = [F.interpolate(br(p), size=size, mode="bilinear", align_corners=False)
                 for br, p in zip(self.branches, normalized_pyramid(x, self.levels))]
        mean = x.mean((2, 3), keepdim=True).expand(-1, 1, *size)
        return self.fusion(torch.cat(feats + [mean], 1))[..., :Hh, :Ww] + 0.5

    def postprocess(self, raw: torch.Tensor, nir: torch.Tensor) -> dict:
        """Joint bilateral filtering of the raw estimate (guide: the NIR image), then the NIR's
        high-frequency detail added: dict(filtered, rgb), (B, 3, H, W) in [0, 1]."""
        filtered = joint_bilateral_filter(raw.clamp(0, 1), nir.float(), radius=2, sigma_space=1.5, sigma_range=0.1)
        detail = nir.float() - _gauss(nir.float(), 1.0)
        return {"filtered": filtered, "rgb": (filtered + self.detail * detail).clamp(0, 1)}

    def explain(self, L, nir=None, **_):
        """dict(raw, filtered, rgb): the estimate before and after filtering and detail transfer."""
        nir = self._domain(L, nir)
        raw = self.forward_rgb(nir)
        return {"raw": raw.clamp(0, 1), **self.postprocess(raw, nir)}

    def colorize(self, L, nir=None, **_):
        return ab_of_rgb(self.explain(L, nir=nir)["rgb"])

    def training_step(self, batch: dict) -> dict:
        nir = self.training_conditions(batch)["nir"]
        loss = F.mse_loss(self.forward_rgb(nir).float(), batch["rgb"].float())
        self.step(loss)
        return {"loss": loss.detach()}
