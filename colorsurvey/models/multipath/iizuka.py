"""§2.6.1 Let there be Color! (Iizuka, Simo-Serra, Ishikawa, SIGGRAPH 2016): local and global
paths sharing one low-level network, fused by tiling the global vector, with a jointly trained
scene classifier."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..base import ColorizationModel, ModelCard, check_L
from ..layers import ConvBlock, fp32, norm_L
from ..registry import register

__all__ = ["LetThereBeColor"]

#: the official network maps its sigmoid output s to ab = (2 s - 1) * 100 (colorize.lua, pred2rgb)
AB_RANGE = 100.0


def _fc(cin: int, cout: int) -> nn.Sequential:
    """Linear + BatchNorm + ReLU (every FC of the paper's Table 1 but the outputs)."""
    return nn.Sequential(nn.Linear(cin, cout), nn.BatchNorm1d(cout), nn.ReLU(inplace=True))


@register
class LetThereBeColor(ColorizationModel):
    """Let there be Color!: a local path and a global path over one shared low-level network.

    The paper's Table 1 (as the reference file gives it; all kernels 3x3, BN + ReLU after every
    layer but the outputs), with widths ``w = (64, 128, 256, 512)`` at size "paper":

    * **low-level** (shared): conv w0 s2, w1, w1 s2, w2, w2 s2, w3 -> (w3, H/8, W/8). It runs
      twice: on the full-resolution image (the local path) and on the image rescaled to a fixed
      ``global_size`` (224 in the paper);
    * **mid-level**: conv w3, w2 -> (w2, H/8, W/8);
    * **global**: conv w3 s2, w3, w3 s2, w3 (7x7 from 224), FC 1024, FC 512, FC 256 -> a 256-d
      vector for the whole image;
    * **fusion**: the global vector tiled over the H/8 x W/8 grid, concatenated with the
      mid-level features, a per-pixel linear layer 512 -> 256 + ReLU;
    * **colorization**: conv 128, up x2, conv 64, conv 64, up x2, conv 32, conv 2 + sigmoid,
      up x2 (nearest) -> ab = (2 s - 1) x 100 (the official ``colorize.lua``);
    * **classification**: from the 512-d global FC, FC 256, FC ``num_classes`` (205 Places
      scenes in the paper; the data's categories here), trained jointly with
      loss = MSE(ab) + alpha CE, alpha = 1/300.

    ``colorize(L, global_L=...)`` takes the global features from another image (the paper's
    "style transfer" by global features); ``use_global=False`` switches the global path off (a
    zero vector is fused in its place).
    """

    card = ModelCard(
        key="iizuka",
        title="Let there be Color!: Joint End-to-end Learning of Global and Local Image Priors for "
              "Automatic Image Colorization with Simultaneous Classification",
        authors="Satoshi Iizuka, Edgar Simo-Serra, Hiroshi Ishikawa",
        venue="SIGGRAPH (ACM TOG)", year=2016, section="2.6.1", taxonomy="multi-path",
        conditions=(),
        losses=("MSE on ab (sigmoid output, (ab / 100 + 1) / 2)", "alpha x cross-entropy of the category, alpha = 1/300"),
        framework="Lua Torch7 (official inference code and .t7 weights, satoshiiizuka/siggraph2016_colorization)",
        parameters=42_366_831,
        parameters_source="the paper's Table 1 with a 205-class head (counted in the reference file; the official "
                          "repository has only serialized weights)",
        survey_recipe="§2.6.1: 256x256 input, output upsampled to the input size; ADADELTA (learning rate chosen "
                      "automatically); Torch. The survey names no data set or iterations (the paper: Places, "
                      "batch 128)",
        notes="The survey counts four convolutions and two upsamplings in the colorization network; Table 1 "
              "adds the output convolution (2 channels, sigmoid) and a last upsampling to the input size.",
        substitutions=(
            "Convolutions carry BatchNorm and no bias (the shared ConvBlock), the paper's have both: "
            "4,448 fewer parameters at 'paper' (0.010 %). The classifier predicts the data's categories "
            "(20 for NCD) instead of 205 Places scenes. The global path sees the image rescaled to 224 "
            "at 'paper', 64 at 'small', 32 at 'smoke'; widths x1/4 ('small') and x1/8 ('smoke') with "
            "narrower FC layers. Optimiser: ADADELTA at 'paper' as published; Adam (lr 1e-3) at the "
            "small sizes for brief training."),
    )
    sizes = {
        "paper": dict(widths=(64, 128, 256, 512), fc=(1024, 512, 256), global_size=224, num_classes=205,
                      optimizer="adadelta"),
        "small": dict(widths=(16, 32, 64, 128), fc=(256, 128, 64), global_size=64),
        "smoke": dict(widths=(8, 16, 16, 32), fc=(32, 32, 16), global_size=32),
    }

    def __init__(self, widths=(64, 128, 256, 512), fc=(1024, 512, 256), global_size: int = 224,
                 num_classes: int = 20, alpha: float = 1 / 300, optimizer: str = "adam", lr: float = 1e-3):
        super().__init__()
        if global_size % 32:
            raise ValueError(f"global_size must be a multiple of 32 (the global path halves it 5 times); got {global_size}")
        w0, w1, w2, w3 = widths
        self.global_size, self.alpha, self.optimizer, self.lr = global_size, alpha, optimizer, lr
        self.low = nn.Sequential(ConvBlock(1, w0, 1, stride=2), ConvBlock(w0, w1, 1), ConvBlock(w1, w1, 1, stride=2),
                                 ConvBlock(w1, w2, 1), ConvBlock(w2, w2, 1, stride=2), ConvBlock(w2, w3, 1))
        self.mid = nn.Sequential(ConvBlock(w3, w3, 1), ConvBlock(w3, w2, 1))
        g = global_size // 32
        self.global_conv = nn.Sequential(ConvBlock(w3, w3, 1, stride=2), ConvBlock(w3, w3, 1),
                                         ConvBlock(w3, w3, 1, stride=2), ConvBlock(w3, w3, 1))
        self.global_fc = nn.Sequential(nn.Flatten(), _fc(w3 * g * g, fc[0]), _fc(fc[0], fc[1]))
        self.global_out = _fc(fc[1], fc[2])                      # the 256-d global feature vector
        self.classifier = nn.Sequential(_fc(fc[1], fc[2]), nn.Linear(fc[2], num_classes))
        self.fusion = nn.Sequential(nn.Conv2d(w2 + fc[2], w2, 1), nn.ReLU(inplace=True))
        c = w2 // 2
        up = nn.Upsample(scale_factor=2, mode="nearest")
        self.colorization = nn.Sequential(
            ConvBlock(w2, c, 1), up, ConvBlock(c, c // 2, 1), ConvBlock(c // 2, c // 2, 1), up,
            ConvBlock(c // 2, c // 4, 1), nn.Conv2d(c // 4, 2, 3, padding=1), nn.Sigmoid(), up)

    # -- the paths -----------------------------------------------------------------------
    def global_features(self, L: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(256-d global vector (B, fc[2]), 512-d FC output (B, fc[1]) that the classifier reads),
        from L (B, 1, H, W) rescaled to global_size x global_size."""
        x = F.interpolate(norm_L(L), size=(self.global_size,) * 2, mode="bilinear", align_corners=False)
        h = self.global_fc(self.global_conv(self.low(x)))
        return self.global_out(h), h

    def forward(self, L: torch.Tensor, global_vec: torch.Tensor | None = None) -> torch.Tensor:
        """Sigmoid output (B, 2, H, W) in [0, 1] for L with H, W multiples of 8; ``global_vec``
        (B, fc[2]) replaces the image's own global vector."""
        mid = self.mid(self.low(norm_L(L)))
        if global_vec is None:
            global_vec, _ = self.global_features(L)
        tiled = global_vec[:, :, None, None].expand(-1, -1, *mid.shape[-2:])       # "fusion by tiling"
        return self.colorization(self.fusion(torch.cat([mid, tiled.to(mid.dtype)], 1)))

    # -- inference -----------------------------------------------------------------------
    def colorize(self, L: torch.Tensor, global_L: torch.Tensor | None = None, use_global: bool = True,
                 **_) -> torch.Tensor:
        """ab (B, 2, H, W) in Lab units. ``global_L`` (B or 1, 1, H', W'), lightness of other
        images: their global features are fused instead of L's own; ``use_global=False``: a zero
        global vector (the local path alone)."""
        H, W = L.shape[-2:]
        Lp, _ = self.pad_to_multiple(L, 8)
        g = None
        if global_L is not None:
            check_L(global_L)
            if global_L.shape[0] not in (1, L.shape[0]):
                raise ValueError(f"global_L: {global_L.shape[0]} images for {L.shape[0]} targets; pass one per "
                                 "target or one for all")
            g = self.global_features(global_L.to(L))[0].expand(L.shape[0], -1)
        if not use_global:
            g = torch.zeros(L.shape[0], self.global_out[0].out_features, device=L.device)
        s = self(Lp, g)[..., :H, :W]
        with fp32(L.device):
            return (s.float() * 2.0 - 1.0) * AB_RANGE

    @torch.no_grad()
    def classify(self, L: torch.Tensor) -> torch.Tensor:
        """Category logits (B, num_classes) of the jointly trained classifier (eval mode)."""
        was = self.training
        self.eval()
        try:
            return self.classifier(self.global_features(L)[1]).float()
        finally:
            self.train(was)

    # -- training ------------------------------------------------------------------------
    def configure_optimizers(self):
        if self.optimizer == "adadelta":                      # the paper's optimiser
            return {"main": torch.optim.Adadelta(self.parameters())}
        return {"main": torch.optim.Adam(self.parameters(), lr=self.lr)}

    def training_step(self, batch: dict) -> dict:
        L, ab = batch["L"], batch["ab"]
        Lp, _ = self.pad_to_multiple(L, 8)
        H, W = L.shape[-2:]
        vec, h = self.global_features(Lp)
        s = self(Lp, vec)[..., :H, :W]
        z = self.classifier(h) if "label" in batch else None
        with fp32(L.device):
            mse = F.mse_loss(s.float(), (ab.float() / AB_RANGE + 1.0) / 2.0)
            loss, out = mse, {}
            if z is not None:
                ce = F.cross_entropy(z.float(), batch["label"])
                loss = mse + self.alpha * ce
                out["cls_loss"] = ce.detach()
        self.step(loss)
        return {"loss": loss.detach(), "mse": mse.detach(), **out}
