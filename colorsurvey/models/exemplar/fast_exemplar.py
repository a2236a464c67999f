"""§2.7.2 Fast Deep Exemplar Colorization (Xu, Wang, Fang, Sheng, Zhang, CVPR 2020): a transfer
sub-network (VGG19 encoder to relu4_1, AdaIN between target and reference features, a symmetric
decoder) gives coarse ab, which a U-Net colorization sub-network refines."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..base import ModelCard
from ..layers import AB_NORM, ConvBlock, fp32, norm_L
from ..registry import register
from ..vgg import LEVELS, VGG19Features
from .base import ExemplarModel, UNetHead, _card_vgg_note, adain

__all__ = ["FastDeepExemplar", "TransferDecoder"]


class TransferDecoder(nn.Module):
    """The transfer sub-network's decoder, symmetric to VGG19 conv1_1..conv4_1: from the
    AdaIN'd relu4_1 features up to full resolution, taking the AdaIN'd relu3_1, relu2_1 and
    relu1_1 features at each scale; ends in coarse ab (110 tanh)."""

    def __init__(self, chans: dict[str, int]):
        super().__init__()
        c1, c2, c3, c4 = (chans[k] for k in LEVELS[:4])
        self.b4 = ConvBlock(c4, c3, n=1)                 # mirror of conv4_1
        self.b3 = ConvBlock(c3 + c3, c2, n=4)            # mirror of conv3_1..conv3_4
        self.b2 = ConvBlock(c2 + c2, c1, n=2)            # mirror of conv2_1..conv2_2
        self.b1 = ConvBlock(c1 + c1, c1, n=2)            # mirror of conv1_1..conv1_2
        self.out = nn.Conv2d(c1, 2, 3, padding=1)

    def forward(self, t: dict[str, torch.Tensor]) -> torch.Tensor:
        up = lambda x, ref: F.interpolate(x, size=ref.shape[-2:], mode="nearest")  # noqa: E731
        x = self.b4(t["relu4_1"])
        x = self.b3(torch.cat([up(x, t["relu3_1"]), t["relu3_1"]], 1))
        x = self.b2(torch.cat([up(x, t["relu2_1"]), t["relu2_1"]], 1))
        x = self.b1(torch.cat([up(x, t["relu1_1"]), t["relu1_1"]], 1))
        return AB_NORM * torch.tanh(self.out(x).float())


@register
class FastDeepExemplar(ExemplarModel):
    """Xu et al. 2020: transfer sub-network (VGG19 to relu4_1 on the gray target and the
    colour reference, AdaIN at relu1_1..relu4_1, a symmetric decoder -> coarse ab, ℓ2 loss)
    and a U-Net colorization sub-network refining [L, coarse ab] (Huber loss). No dense
    correspondence: the reference acts through channel statistics, hence the speed."""

    card = ModelCard(
        key="fast-exemplar", title="Fast Deep Exemplar Colorization (stylization-based)",
        parameters=46_839_812, parameters_source="this re-implementation",
        survey_recipe="§2.7.2: transfer sub-net on Microsoft COCO (l2 loss), colorization sub-net on ImageNet (Huber loss); no iterations or learning rate given",
        notes="The survey's reference [82] prints the five authors given-name first (X. Zhongyou, W. Tingting, F. Faming, S. Yun, Z. Guixu): they are Zhongyou Xu, Tingting Wang, Faming Fang, Yun Sheng, Guixu Zhang.",
        authors="Zhongyou Xu, Tingting Wang, Faming Fang, Yun Sheng, Guixu Zhang", venue="CVPR", year=2020, section="2.7.2",
        taxonomy="exemplar-based", conditions=("exemplar",),
        losses=("ℓ2 on the coarse ab", "Huber (smooth-ℓ1, δ = 11 ab units) on the refined ab"),
        framework="PyTorch (code not released with the paper)",
        substitutions=(
            "AdaIN at four levels with skip connections into a BatchNorm decoder mirroring VGG19 "
            "conv1_1..conv4_1 (the paper's exact transfer layers and weights are not public). "
            + _card_vgg_note() + " Trained on self-references (colour jitter + thin-plate-spline warp of "
            "the target) by default, matched references of another instance as an option "
            "(self_fraction). U-Net widths 64/16/8 (paper/small/smoke); minutes of training."),
    )
    sizes = {
        "paper": {"width": 64, "depth": 4, "vgg_width": 1.0, "vgg_steps": 3000},
        "small": {"width": 16, "depth": 3, "vgg_width": 0.25, "vgg_steps": 300},
        "smoke": {"width": 8, "depth": 2, "vgg_width": 0.0625, "vgg_steps": 40},
    }
    lr = 2e-3

    def __init__(self, width: int = 32, depth: int = 3, coarse_weight: float = 1.0, huber_delta: float = 0.1,
                 self_fraction: float = 1.0, **kw):
        super().__init__(self_fraction=self_fraction, **kw)
        self.transfer = TransferDecoder(self.vgg.channels)
        self.colorizer = UNetHead(3, width, depth)
        self.coarse_weight, self.huber_delta = float(coarse_weight), float(huber_delta)
        self.multiple = max(16, 2 ** depth)

    def transfer_features(self, L: torch.Tensor, reference_rgb: torch.Tensor) -> dict:
        levels = LEVELS[:4]
        with torch.no_grad():
            ft = self.vgg(VGG19Features.gray(L), levels)
            fr = self.vgg(reference_rgb.float(), levels)
        with fp32(L.device):
            return {k: adain(ft[k], fr[k]) for k in levels}

    def forward(self, L: torch.Tensor, reference_rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        coarse = self.transfer(self.transfer_features(L, reference_rgb))
        ab = self.colorizer(torch.cat([norm_L(L), coarse / AB_NORM], 1))
        return ab, coarse

    @torch.no_grad()
    def explain(self, L: torch.Tensor, reference_rgb: torch.Tensor | None = None) -> dict:
        """ab and the coarse ab of the transfer sub-network (no confidence map)."""
        ab, coarse, finish = self._run(L, self._reference(L, reference_rgb))
        return {"ab": ab, "warped_ab": finish(coarse), "confidence": None}

    def training_step(self, batch: dict) -> dict:
        ref, _ = self._training_references(batch)
        gt = batch["ab"].float() / AB_NORM
        L = batch["L"]
        ab, coarse, finish = self._run(L, ref)
        coarse = finish(coarse)
        with fp32(gt.device):
            l_coarse = F.mse_loss(coarse / AB_NORM, gt)
            l_refine = F.huber_loss(ab / AB_NORM, gt, delta=self.huber_delta) / self.huber_delta
            loss = self.coarse_weight * l_coarse + l_refine
        self.step(loss)
        return {"loss": loss.detach(), "coarse": l_coarse.detach(), "refine": l_refine.detach()}

