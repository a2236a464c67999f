"""§2.2.1 Scribbler (Sangkloy, Lu, Fang, Yu, Hays, CVPR 2017): a sketch plus colour strokes in,
a colour image out; an encoder / residual / decoder generator trained with pixel and
adversarial losses."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ... import hints as H
from ..adversarial import AdversarialMixin
from ..base import ModelCard
from ..layers import AB_NORM, ConvBlock, ResidualBlock, fp32
from ..registry import register
from .base import UserGuidedModel

__all__ = ["Scribbler"]


@register
class Scribbler(AdversarialMixin, UserGuidedModel):
    """Scribbler: a sketch plus colour strokes in, a colour image out.

    Generator (Sangkloy et al. §3): a 3x3 stem, three stride-2 convolutions (1/8 resolution),
    seven residual blocks, three bilinear-upsampling stages (upsample x2 + 3x3 conv), BatchNorm
    and ReLU throughout, and a Tanh output (ab = 110 tanh). Its input is the sketch — here the
    edges of the gray image (:func:`colorsurvey.hints.sketch`) — and the strokes (ab / 110 and
    their mask). Discriminator: five convolutions and two residual blocks with LeakyReLU and a
    sigmoid, judging (input, ab) pairs patch-wise. Loss: pixel (L2 on ab / 110) plus a small
    adversarial term.
    """

    card = ModelCard(
        key="scribbler", title="Scribbler: Controlling Deep Image Synthesis with Sketch and Color",
        parameters=9_041_986, parameters_source="this re-implementation",
        survey_recipe="§2.2.1: assessed on faces, cars and bedrooms; the survey gives no iterations, learning rate or batch size",
        notes="Survey slip (§2.2.1): 'seven residual blocks preceded by three upsampling layers' - in the paper (after Sketch Inversion) the upsampling layers follow the residual blocks, as here.",
        authors="Patsorn Sangkloy, Jingwan Lu, Chen Fang, Fisher Yu, James Hays",
        venue="CVPR", year=2017, section="2.2.1", taxonomy="user-guided",
        conditions=("hints", "sketch"),
        losses=("pixel L2 on ab", "adversarial (BCE, patch discriminator)"),
        framework="Torch (Lua)",
        substitutions=(
            "Sketches are the edges of the gray image (Sobel magnitude, soft-thresholded) instead of "
            "the paper's boundary-detector / synthetic sketches; strokes are simulated from the ground "
            "truth as short polylines (1-3 segments, 1-3 px wide) carrying the local colour (5x5 mean ab); "
            "their number in training is log-uniform over 0-100 (ours: with a geometric count of mean 3, "
            "the cpu-profile network fell from 29.9 dB PSNR without strokes to 25.6 dB with 100; "
            "log-uniform: 29.8 / 29.7 dB). The network predicts ab only and is combined with the input "
            "L (the paper synthesises the whole RGB image from the sketch, so it never sees L; set "
            "gray_input=True to also feed L). Widths are ours (32-64-128-256 at 'paper'); decoder "
            "stages add the encoder's features at equal resolution (a skip we add for brief training). "
            "The paper's feature (VGG) and total-variation losses are left out; the adversarial weight "
            "is 0.01. 'small': width 16, 'smoke': width 8 with 2 residual blocks."),
    )
    sizes = {
        "paper": dict(width=32, blocks=7),
        "small": dict(width=16, blocks=7),
        "smoke": dict(width=8, blocks=2),
    }
    training_only = ("discriminator",)
    hint_kind = "strokes"
    stroke_law = "log-uniform"   # as many training images with 10-100 strokes as with 1-10
    gan_kind = "nonsaturating"   # BCE on logits (the paper's discriminator ends in a sigmoid)
    betas = (0.5, 0.999)

    def __init__(self, width: int = 32, blocks: int = 7, gray_input: bool = False, adv_weight: float = 0.01,
                 lr: float = 1e-3, d_width: int | None = None):
        super().__init__()
        self.gray_input, self.adv_weight, self.lr = gray_input, adv_weight, lr
        c = width
        cin = 4 + int(gray_input)
        self.stem = ConvBlock(cin, c, n=1)
        self.down = nn.ModuleList([ConvBlock(c, 2 * c, n=1, stride=2), ConvBlock(2 * c, 4 * c, n=1, stride=2),
                                   ConvBlock(4 * c, 8 * c, n=1, stride=2)])
        self.res = nn.Sequential(*[ResidualBlock(8 * c) for _ in range(blocks)])
        self.up = nn.ModuleList([ConvBlock(8 * c, 4 * c, n=1), ConvBlock(4 * c, 2 * c, n=1), ConvBlock(2 * c, c, n=1)])
        self.out = nn.Conv2d(c, 2, 3, padding=1)
        d = d_width or c
        lrelu = lambda: nn.LeakyReLU(0.2, inplace=True)  # noqa: E731
        self.discriminator = nn.Sequential(              # five convs + two residual blocks (training only)
            nn.Conv2d(cin + 2, d, 4, 2, 1), lrelu(),
            nn.Conv2d(d, 2 * d, 4, 2, 1), lrelu(),
            nn.Conv2d(2 * d, 4 * d, 3, 1, 1), lrelu(),
            ResidualBlock(4 * d, act="lrelu", norm=False),
            ResidualBlock(4 * d, act="lrelu", norm=False),
            nn.Conv2d(4 * d, 4 * d, 4, 2, 1), lrelu(),
            nn.Conv2d(4 * d, 1, 3, 1, 1))                 # logits; the sigmoid is in the BCE loss

    def inputs(self, L, hints, mask):
        hints, mask = self._hint_inputs(L, hints, mask)
        parts = [H.sketch(L), hints / AB_NORM, mask]
        if self.gray_input:
            parts.append((L - 50.0) / 50.0)
        return torch.cat(parts, 1)

    def generate(self, x: torch.Tensor) -> torch.Tensor:
        Hh, Ww = x.shape[-2:]
        x = self._pad(x, 8)
        skips = [self.stem(x)]
        for d in self.down:
            skips.append(d(skips[-1]))
        y = self.res(skips.pop())
        for u in self.up:
            skip = skips.pop()
            y = u(F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False)) + skip
        ab = AB_NORM * torch.tanh(self.out(y).float())
        return ab[..., :Hh, :Ww]

    def colorize(self, L, hints=None, mask=None, **_):
        return self.generate(self.inputs(L, hints, mask))

    def training_step(self, batch: dict) -> dict:
        cond = self.training_conditions(batch)
        x = self.inputs(batch["L"], cond["hints"], cond["mask"])
        real = batch["ab"].float() / AB_NORM
        fake = self.generate(x) / AB_NORM
        logs = self.discriminator_step(torch.cat([x, real], 1), torch.cat([x, fake], 1))   # judges (input, ab) pairs
        g_adv = self.adversarial_term(torch.cat([x, fake], 1))
        with fp32(x.device):
            pix = F.mse_loss(fake.float(), real)
        self.step(pix + self.adv_weight * g_adv, "generator")
        return {"loss": pix.detach(), "g_adv": g_adv.detach(), **logs}
