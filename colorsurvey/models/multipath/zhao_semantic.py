"""§2.6.7 Pixel-level Semantics Guided Image Colorization (Zhao, Po, Cheng, Cheng, Liu, BMVC
2018): shared convolutions, a colorization branch and a segmentation branch trained jointly."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...postprocess import joint_bilateral_filter
from ..base import ModelCard
from ..layers import ConvBlock, fp32, norm_L
from ..registry import register
from .base import BinnedColorModel, SegmentationMixin

__all__ = ["ZhaoSemantic"]


@register
class ZhaoSemantic(SegmentationMixin, BinnedColorModel):
    """Pixel-level semantics guided colorization: one trunk, two branches, trained jointly.

    As the survey (§2.6.7) describes it: the **first four convolution layers are shared** by
    the two branches (here four stages of Zhang et al.'s layout: stride 2, 2, 2, 1 -> 1/8);
    **four more convolution layers** extend the colorization branch (dilated 2, 2, then 1, and a
    transposed convolution to 1/4) ending in a 1x1 to the ab bins; **three deconvolution
    layers** form the segmentation branch (1/8 -> 1/4 -> 1/2 -> 1/1), whose outputs are
    **concatenated** (resized to full resolution) and passed through a final convolution to the
    class probabilities (background + the data's categories). Losses: the colorization branch's
    multinomial cross-entropy with class rebalancing (Zhang et al.), and the segmentation
    branch's weighted cross-entropy (median-frequency weights), summed with ``seg_weight``.
    At test, **joint bilateral upsampling**: the ab decoded at 1/4 resolution (annealed mean) is
    brought to full size and filtered with the gray image as guide.
    """

    card = ModelCard(
        key="zhao-semantic",
        title="Pixel-level Semantics Guided Image Colorization",
        authors="Jiaojiao Zhao, Li Liu, Cees G. M. Snoek, Jungong Han, Ling Shao",
        venue="BMVC", year=2018, section="2.6.7", taxonomy="multi-path",
        conditions=(),
        losses=("multinomial cross-entropy over ab bins with class rebalancing",
                "weighted cross-entropy of the semantic segmentation (x seg_weight)"),
        framework="not released",
        parameters=33_882_714,
        parameters_source="this re-implementation (no official code)",
        survey_recipe="§2.6.7: the two tasks optimised jointly; joint bilateral upsampling at test. The survey "
                      "gives no data set, iterations or learning rate",
        notes="No official code: widths and the loss weight are ours.",
        substitutions=(
            "Segmentation classes are background + the image's category on its object mask (the data's "
            "masks stand in for the paper's Pascal VOC / COCO-Stuff labels). Trunk widths follow Zhang et "
            "al. 2016 (64-128-256-512 at 'paper'; x1/4 'small', x1/8 'smoke'). Joint bilateral upsampling "
            "is bilinear upsampling followed by a joint bilateral filter guided by L (radius 3, sigma 2 px, "
            "0.1 in L / 100). seg_weight 1 (ours)."),
    )
    sizes = {
        "paper": dict(width=1.0, grid=10.0, num_classes=20),
        "small": dict(width=0.25, grid=10.0),
        "smoke": dict(width=0.125, grid=20.0),
    }

    def __init__(self, width: float = 1.0, num_classes: int = 20, grid: float = 10.0, seg_weight: float = 1.0,
                 temperature: float = 0.38, jbu=(3, 2.0, 0.1), lr: float = 1e-3):
        super().__init__()
        Q = self._init_bins(grid)
        self._init_segmentation(num_classes)
        self.seg_weight, self.temperature, self.jbu, self.lr = seg_weight, temperature, tuple(jbu), lr
        c = [max(4, round(w * width)) for w in (64, 128, 256, 512, 256)]
        self.shared = nn.Sequential(ConvBlock(1, c[0], 2, stride=2), ConvBlock(c[0], c[1], 2, stride=2),
                                    ConvBlock(c[1], c[2], 3, stride=2), ConvBlock(c[2], c[3], 3))       # 1/8
        self.color_branch = nn.Sequential(
            ConvBlock(c[3], c[3], 3, dilation=2), ConvBlock(c[3], c[3], 3, dilation=2), ConvBlock(c[3], c[3], 3),
            nn.ConvTranspose2d(c[3], c[4], 4, stride=2, padding=1), nn.ReLU(inplace=True),               # 1/4
            nn.Conv2d(c[4], Q, 1))
        self.seg_deconv = nn.ModuleList([
            nn.Sequential(nn.ConvTranspose2d(a, b, 4, stride=2, padding=1), nn.BatchNorm2d(b), nn.ReLU(inplace=True))
            for a, b in ((c[3], c[2]), (c[2], c[1]), (c[1], c[0]))])
        self.seg_head = nn.Conv2d(c[2] + c[1] + c[0], self.seg_classes, 3, padding=1)

    def forward(self, L: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(colour logits (B, Q, H/4, W/4), segmentation logits (B, S, H, W)) for H, W multiples of 8."""
        f = self.shared(norm_L(L))
        outs, x = [], f
        for d in self.seg_deconv:
            x = d(x)
            outs.append(x)
        size = L.shape[-2:]
        seg = self.seg_head(torch.cat([F.interpolate(o, size=size, mode="bilinear", align_corners=False)
                                       if o.shape[-2:] != size else o for o in outs], 1))
        return self.color_branch(f), seg

    def segmentation_logits(self, Lp: torch.Tensor) -> torch.Tensor:
        return self(Lp)[1]

    def colorize(self, L: torch.Tensor, T: float | None = None, upsampling: str = "joint-bilateral", **_) -> torch.Tensor:
        """ab (B, 2, H, W): annealed mean at 1/4 resolution, then ``upsampling`` "joint-bilateral"
        (the paper's) or "bilinear"."""
        H, W = L.shape[-2:]
        Lp, _ = self.pad_to_multiple(L, 8)
        z, _ = self(Lp)
        with fp32(L.device):
            ab = F.interpolate(self.decode(z, self.temperature if T is None else T), size=Lp.shape[-2:],
                               mode="bilinear", align_corners=False)
            if upsampling == "joint-bilateral":
                ab = joint_bilateral_filter(ab, Lp.float() / 100.0, *self.jbu)
            elif upsampling != "bilinear":
                raise ValueError(f"upsampling must be 'joint-bilateral' or 'bilinear'; got {upsampling!r}")
        return ab[..., :H, :W].contiguous()

    def training_step(self, batch: dict) -> dict:
        L, ab = batch["L"], batch["ab"]
        Lp, _ = self.pad_to_multiple(L, 8)
        z, seg = self(Lp)
        H, W = L.shape[-2:]
        with fp32(L.device):
            abp, _ = self.pad_to_multiple(ab, 8)
            color = self.bin_loss(z, abp).mean()
            sl = self.seg_loss(seg[..., :H, :W], batch)
            loss = color + self.seg_weight * sl
        self.step(loss)
        return {"loss": loss.detach(), "color": color.detach(), "seg": sl.detach()}
