"""§2.7.1 Deep Exemplar-based Colorization (He, Chen, Liao, Sander, Yuan, SIGGRAPH 2018): a
similarity sub-network (VGG19 features of target and reference at five levels, bidirectional
similarity maps, dense correspondence that warps the reference's chrominance) and a U-Net
colorization sub-network; chrominance l2 plus a perceptual loss."""

from __future__ import annotations

import torch

from ...color import rgb_to_lab
from ..base import ModelCard
from ..layers import AB_NORM, fp32, norm_L
from ..registry import register
from ..vgg import LEVELS, VGG19Features
from .base import ExemplarModel, UNetHead, _card_vgg_note, correspondence

__all__ = ["DeepExemplar"]


@register
class DeepExemplar(ExemplarModel):
    """He et al. 2018: similarity sub-network + colorization sub-network.

    ``correspond(L, reference_rgb)`` runs the similarity sub-network (VGG19 on the gray
    target and the gray reference, :func:`correspondence`); the colorization sub-network, a
    U-Net, takes [L, warped reference ab, 10 similarity maps] and predicts ab. Training
    (He et al.'s two branches in one step): self-referenced samples get the chrominance ℓ2
    loss against the ground truth (their reference holds the right colours, displaced);
    every sample gets the perceptual loss (VGG19 relu5_1), which is all a matched
    reference of another instance can be held to.
    """

    card = ModelCard(
        key="deep-exemplar", title="Deep Exemplar-based Colorization",
        parameters=44_335_618, parameters_source="this re-implementation",
        survey_recipe="§2.7.1: Caffe, Adam, learning rate 1e-3 for ten epochs, times 0.1 after 33% of training; chrominance + perceptual l2 losses",
        authors="Mingming He, Dongdong Chen, Jing Liao, Pedro V. Sander, Lu Yuan", venue="SIGGRAPH (ACM TOG)", year=2018, section="2.7.1",
        taxonomy="exemplar-based", conditions=("exemplar",),
        losses=("chrominance ℓ2 (self-referenced samples)", "perceptual ℓ2 on VGG19 relu5_1"),
        framework="Caffe (similarity via Deep Image Analogy, CUDA)",
        substitutions=(
            "Dense correspondence by cosine similarity of VGG19 features (argmax over the reference, "
            "all five levels at once on a quarter-resolution grid, cell flow upsampled to pixels) in "
            "place of Deep Image Analogy's PatchMatch; bidirectional similarity maps from the same "
            "features at each level. " + _card_vgg_note() + " References: same category, another "
            "instance, from the data (the paper retrieved them from ImageNet with its own retrieval "
            "network); training mixes these with self-references (colour jitter + thin-plate-spline "
            "warp) standing in for the paper's warped ground truth. U-Net widths 64/16/8 "
            "(paper/small/smoke); trained for minutes instead of days."),
    )
    sizes = {
        "paper": {"width": 64, "depth": 4, "vgg_width": 1.0, "vgg_steps": 3000, "max_positions": 4096},
        "small": {"width": 16, "depth": 3, "vgg_width": 0.25, "vgg_steps": 300, "max_positions": 1024},
        "smoke": {"width": 8, "depth": 2, "vgg_width": 0.0625, "vgg_steps": 40, "max_positions": 256},
    }
    lr = 2e-3

    def __init__(self, width: int = 32, depth: int = 3, max_positions: int = 1024,
                 perceptual_weight: float = 0.1, **kw):
        super().__init__(**kw)
        self.max_positions = int(max_positions)
        self.perceptual_weight = float(perceptual_weight)
        self.colorizer = UNetHead(1 + 2 + 2 * len(LEVELS), width, depth)
        self.multiple = max(16, 2 ** depth)

    def correspond(self, L: torch.Tensor, reference_rgb: torch.Tensor) -> dict:
        """The similarity sub-network on prepared (padded) inputs."""
        with torch.no_grad():
            ft = self.vgg(VGG19Features.gray(L))
            with fp32(L.device):
                ref_lab = rgb_to_lab(reference_rgb.float())
            fr = self.vgg(VGG19Features.gray(ref_lab[:, :1]))
            with fp32(L.device):
                return correspondence(ft, fr, tuple(L.shape[-2:]), ref_lab[:, 1:], self.max_positions)

    def forward(self, L: torch.Tensor, reference_rgb: torch.Tensor) -> tuple[torch.Tensor, dict]:
        c = self.correspond(L, reference_rgb)
        x = torch.cat([norm_L(L), c["warped_ab"] / AB_NORM, c["sims"]], 1)
        return self.colorizer(x), c

    @torch.no_grad()
    def explain(self, L: torch.Tensor, reference_rgb: torch.Tensor | None = None) -> dict:
        """ab, the warped reference ab and the confidence map, all at the input size."""
        ab, c, finish = self._run(L, self._reference(L, reference_rgb))
        return {"ab": ab, "warped_ab": finish(c["warped_ab"]), "confidence": finish(c["confidence"]),
                "sims": finish(c["sims"])}

    def training_step(self, batch: dict) -> dict:
        ref, is_self = self._training_references(batch)
        L, gt = batch["L"], batch["ab"].float()
        pred = self._run(L, ref)[0]
        w = is_self.float()
        with fp32(L.device):
            chroma = ((pred - gt) / AB_NORM).pow(2).mean(dim=(1, 2, 3))
            chroma = (chroma * w).sum() / w.sum().clamp_min(1.0)
        perc = self._perceptual(L, pred, batch["rgb"])
        loss = chroma + self.perceptual_weight * perc
        self.step(loss)
        return {"loss": loss.detach(), "chroma": chroma.detach(), "perceptual": perc.detach()}

