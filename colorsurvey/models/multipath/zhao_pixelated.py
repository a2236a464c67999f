"""§2.6.5 Pixelated Semantic Colorization (Zhao, Han, Shao, Snoek, IJCV 2019): a colour-embedding
branch and a segmentation branch with atrous spatial pyramid pooling, fused by a semantic
generator of per-pixel colour distributions; three losses."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..base import ModelCard
from ..layers import ConvBlock, fp32, norm_L
from ..registry import register
from .base import BinnedColorModel, GatedResidualBlock, SegmentationMixin

__all__ = ["ZhaoPixelated", "ASPP"]


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling (Chen et al., DeepLab v3): parallel 1x1 and 3x3 convs at
    ``rates`` plus global image pooling, each conv + BN + ReLU, concatenated and fused by a 1x1
    conv + BN + ReLU. (B, cin, h, w) -> (B, cout, h, w); multi-scale context at one resolution."""

    def __init__(self, cin: int, cout: int, rates=(6, 12, 18)):
        super().__init__()
        self.branches = nn.ModuleList([ConvBlock(cin, cout, 1, kernel_size=1)] +
                                      [ConvBlock(cin, cout, 1, dilation=r) for r in rates])
        self.image_pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cout, 1), nn.ReLU(inplace=True))
        self.project = ConvBlock(cout * (len(rates) + 2), cout, 1, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [b(x) for b in self.branches] + [self.image_pool(x).expand(-1, -1, *x.shape[-2:])]
        return self.project(torch.cat(outs, 1))


@register
class ZhaoPixelated(SegmentationMixin, BinnedColorModel):
    """Pixelated semantic colorization: colour embedding + segmentation -> semantic generator.

    As the survey (§2.6.5) describes it, with our widths:

    * a stem (two stride-2 conv blocks, 1/4 resolution) shared by both branches;
    * the **colour-embedding branch**: gated residual blocks (two convolutions, a skip
      connection and a gate) and a 1x1 to a per-pixel distribution over the ab bins — the
      *colour embedding loss* (rebalanced cross-entropy);
    * the **semantic segmentation branch**: a stride-2 block (1/8), gated residual blocks and
      **atrous spatial pyramid pooling** at the top (parallel dilated filters, fused), a 1x1 to
      the classes (background + categories) upsampled to full size — the *semantic loss*
      (cross-entropy with softmax, weighted);
    * the **semantic generator**: the colour embedding concatenated with the (upsampled)
      segmentation features, gated residual blocks, a 1x1 to the per-pixel colour
      distribution — the *colour generation loss* (rebalanced cross-entropy).

    The three losses are summed (weights ``loss_weights``). ``colorize`` decodes the
    generator's distribution by the annealed mean (T = 0.38) at 1/4 resolution and upsamples.
    """

    card = ModelCard(
        key="zhao-pixelated",
        title="Pixelated Semantic Colorization",
        authors="Jiaojiao Zhao, Jungong Han, Ling Shao, Cees G. M. Snoek",
        venue="IJCV", year=2019, section="2.6.5", taxonomy="multi-path",
        conditions=(),
        losses=("colour embedding: rebalanced cross-entropy over ab bins",
                "semantic: weighted cross-entropy of the segmentation",
                "colour generation: rebalanced cross-entropy of the semantic generator"),
        framework="not released",
        parameters=12_314_463,
        parameters_source="this re-implementation (no official code)",
        survey_recipe="§2.6.5: colour embedding, semantic and colour generation losses combined; Pascal VOC2012 "
                      "and COCO-Stuff rescaled to 128x128. No iterations or learning rate in the survey",
        notes="No official code: widths, block counts, the ASPP rates and the loss weights are ours.",
        substitutions=(
            "The paper's semantic generator is an autoregressive conditional PixelCNN (sampling, "
            "diversity); here it is a feed-forward head predicting the per-pixel distribution, decoded by "
            "the annealed mean (sampling 64x64 pixels one by one per image is too slow for the brief "
            "profiles; PixColor in this chapter shows the autoregressive sampler). Segmentation classes: "
            "background + the image's category on its object mask. Widths 64/128/256 at 'paper' (x1/4 "
            "'small', x1/8 'smoke'); ASPP rates 6, 12, 18 at 'paper', 2, 4, 6 at the small sizes (the "
            "feature maps are small)."),
    )
    sizes = {
        "paper": dict(width=64, blocks=(4, 4, 4), rates=(6, 12, 18), grid=10.0, num_classes=20),
        "small": dict(width=16, blocks=(2, 2, 2), rates=(2, 4, 6), grid=10.0),
        "smoke": dict(width=8, blocks=(1, 1, 1), rates=(2, 4, 6), grid=20.0),
    }

    def __init__(self, width: int = 64, blocks=(4, 4, 4), rates=(6, 12, 18), num_classes: int = 20,
                 grid: float = 10.0, loss_weights=(1.0, 1.0, 1.0), temperature: float = 0.38, lr: float = 1e-3):
        super().__init__()
        Q = self._init_bins(grid)
        self._init_segmentation(num_classes)
        self.loss_weights, self.temperature, self.lr = tuple(loss_weights), temperature, lr
        c1, c2, c3 = width, 2 * width, 4 * width
        self.stem = nn.Sequential(ConvBlock(1, c1, 2, stride=2), ConvBlock(c1, c2, 2, stride=2))          # 1/4
        self.embedding = nn.Sequential(*[GatedResidualBlock(c2) for _ in range(blocks[0])])
        self.embedding_head = nn.Conv2d(c2, Q, 1)
        self.segmentation = nn.Sequential(ConvBlock(c2, c3, 1, stride=2),                                  # 1/8
                                          *[GatedResidualBlock(c3, dilation=2) for _ in range(blocks[1])],
                                          ASPP(c3, c2, rates))
        self.segmentation_head = nn.Conv2d(c2, self.seg_classes, 1)
        self.generator = nn.Sequential(ConvBlock(2 * c2, c2, 1, kernel_size=1),
                                       *[GatedResidualBlock(c2) for _ in range(blocks[2])], nn.Conv2d(c2, Q, 1))

    def forward(self, L: torch.Tensor) -> dict:
        """{"embedding", "generator": colour logits (B, Q, H/4, W/4), "segmentation": (B, S, H, W)}
        for H, W multiples of 8."""
        x = self.stem(norm_L(L))
        e = self.embedding(x)
        s = self.segmentation(x)
        s_up = F.interpolate(s, size=e.shape[-2:], mode="bilinear", align_corners=False)
        seg = F.interpolate(self.segmentation_head(s), size=L.shape[-2:], mode="bilinear", align_corners=False)
        return {"embedding": self.embedding_head(e), "generator": self.generator(torch.cat([e, s_up], 1)),
                "segmentation": seg}

    def segmentation_logits(self, Lp: torch.Tensor) -> torch.Tensor:
        return self(Lp)["segmentation"]

    def colorize(self, L: torch.Tensor, T: float | None = None, branch: str = "generator", **_) -> torch.Tensor:
        """ab (B, 2, H, W) from the ``branch`` "generator" (the method's output) or "embedding" (the
        colour-embedding branch alone, without semantics), by the annealed mean."""
        if branch not in ("generator", "embedding"):
            raise ValueError(f"branch must be 'generator' or 'embedding'; got {branch!r}")
        H, W = L.shape[-2:]
        Lp, _ = self.pad_to_multiple(L, 8)
        z = self(Lp)[branch]
        with fp32(L.device):
            ab = F.interpolate(self.decode(z, self.temperature if T is None else T), size=Lp.shape[-2:],
                               mode="bilinear", align_corners=False)
        return ab[..., :H, :W].contiguous()

    def training_step(self, batch: dict) -> dict:
        L, ab = batch["L"], batch["ab"]
        Lp, _ = self.pad_to_multiple(L, 8)
        abp, _ = self.pad_to_multiple(ab, 8)
        out = self(Lp)
        H, W = L.shape[-2:]
        with fp32(L.device):
            emb = self.bin_loss(out["embedding"], abp).mean()
            gen = self.bin_loss(out["generator"], abp).mean()
            sem = self.seg_loss(out["segmentation"][..., :H, :W], batch)
            a, b, c = self.loss_weights
            loss = a * emb + b * sem + c * gen
        self.step(loss)
        return {"loss": loss.detach(), "embedding": emb.detach(), "semantic": sem.detach(), "generation": gen.detach()}
