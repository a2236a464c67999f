"""§2.2.4 User-Guided Deep Anime Line Art Colorization with Conditional Adversarial Networks
(Ci, Ma, Wang, Li, Luo, ACM MM 2018): line art plus colour hints, a U-Net of ResNeXt blocks
with PixelShuffle upsampling and a local-feature encoder, trained against a WGAN-GP critic with
a perceptual (content) loss."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ... import hints as H
from ...color import merge_lab
from ..adversarial import AdversarialMixin
from ..base import ModelCard
from ..layers import AB_NORM, RandomFeatures, fp32
from ..registry import register
from .base import UserGuidedModel

__all__ = ["AnimeLineArt"]


class _ResNeXt(nn.Module):
    """ResNeXt bottleneck (1x1 reduce, grouped dilated 3x3, 1x1 expand) + identity, LeakyReLU."""

    def __init__(self, c: int, cardinality: int = 8, dilation: int = 1):
        super().__init__()
        mid = max(cardinality, c // 2 // cardinality * cardinality)
        self.body = nn.Sequential(
            nn.Conv2d(c, mid, 1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(mid, mid, 3, padding=dilation, dilation=dilation, groups=cardinality),
            nn.LeakyReLU(0.2, inplace=True), nn.Conv2d(mid, c, 1))

    def forward(self, x):
        return x + self.body(x)


def _ps_up(cin: int, cout: int) -> nn.Sequential:
    """x2 upsampling by PixelShuffle (sub-pixel convolution)."""
    return nn.Sequential(nn.Conv2d(cin, cout * 4, 3, padding=1), nn.PixelShuffle(2), nn.LeakyReLU(0.2, inplace=True))


@register
class AnimeLineArt(AdversarialMixin, UserGuidedModel):
    """User-guided line-art colorization with conditional adversarial networks (Ci et al.).

    Input: line art (here extracted from the colour image's lightness by XDoG) and the user's
    colour hints (ab and mask). Generator: a U-Net — three stride-2 encoder stages with
    LeakyReLU; at 1/8 resolution the features of a *local-feature encoder* of the line art are
    concatenated (the paper uses Illustration2Vec), followed by ResNeXt blocks with dilations
    1, 2, 4, 1; each decoder stage upsamples by PixelShuffle, concatenates the encoder's skip
    and applies ResNeXt blocks; Tanh output. Critic: SRGAN-like (pairs of 3x3 convolutions, the
    second strided, LeakyReLU), trained with WGAN-GP (gradient penalty 10, drift 1e-3).
    Generator loss: content (perceptual) loss + 1e-4 x adversarial; Adam with beta = (0.5, 0.9).
    """

    card = ModelCard(
        key="lineart", title="User-Guided Deep Anime Line Art Colorization with Conditional Adversarial Networks",
        parameters=12_717_314, parameters_source="this re-implementation",
        survey_recipe="§2.2.4: Adam with beta1 = 0.5, beta2 = 0.9, batch size 4; perceptual + adversarial (generator), Wasserstein critic + penalty (discriminator); anime line art",
        authors="Yuanzheng Ci, Xinzhu Ma, Zhihui Wang, Haojie Li, Zhongxuan Luo", venue="ACM Multimedia",
        year=2018, section="2.2.4", taxonomy="user-guided", conditions=("hints", "sketch"),
        losses=("content (perceptual) loss", "L1 on ab", "WGAN-GP adversarial (critic)",
                "auxiliary classification of the local-feature encoder"),
        framework="PyTorch",
        substitutions=(
            "Line art is extracted from the gray image by XDoG (the usual synthesis) instead of the "
            "paper's anime line-art data; the network predicts ab and is joined with the input L "
            "(the paper predicts RGB from line art alone). Illustration2Vec, the paper's local-feature "
            "network, is replaced by a small CNN encoder of the line art trained here jointly with the "
            "generator through an auxiliary category-classification loss. The content loss uses a "
            "frozen randomly initialised VGG-like network (no ImageNet VGG16 here) and an L1 term on ab "
            "is added for brief training; the critic has no BatchNorm (WGAN-GP) and takes one step per "
            "generator step. Hints follow Zhang et al.'s point simulation at full resolution (the paper "
            "samples them at 1/4). Widths 64-128-256-512 at 'paper' (4 ResNeXt blocks at the bottleneck), "
            "16-32-64-128 at 'small', 8-16-32-64 with one block at 'smoke'; lr 1e-4 at 'paper' as "
            "published, 1e-3 at the small sizes."),
    )
    gan_kind, discriminator_name, betas = "wgan", "critic", (0.5, 0.9)   # WGAN-GP; Adam betas as published
    training_only = ("critic", "local_classifier", "features")   # content-loss network: frozen buffers
    sizes = {
        "paper": dict(width=64, blocks=4, lr=1e-4),
        "small": dict(width=16, blocks=4),
        "smoke": dict(width=8, blocks=1),
    }

    def __init__(self, width: int = 64, blocks: int = 4, num_classes: int = 20, adv_weight: float = 1e-4,
                 l1_weight: float = 1.0, gp_weight: float = 10.0, drift: float = 1e-3, lr: float = 1e-3):
        super().__init__()
        c = width
        self.num_classes, self.adv_weight, self.l1_weight = num_classes, adv_weight, l1_weight
        self.gp_weight, self.drift, self.lr = gp_weight, drift, lr
        lrelu = lambda: nn.LeakyReLU(0.2, inplace=True)  # noqa: E731
        card = max(1, min(8, c // 4))
        self.enc0 = nn.Sequential(nn.Conv2d(4, c, 3, padding=1), lrelu())
        self.enc1 = nn.Sequential(nn.Conv2d(c, 2 * c, 4, 2, 1), lrelu())
        self.enc2 = nn.Sequential(nn.Conv2d(2 * c, 4 * c, 4, 2, 1), lrelu())
        self.enc3 = nn.Sequential(nn.Conv2d(4 * c, 8 * c, 4, 2, 1), lrelu())
        # local-feature encoder of the line art (stands in for Illustration2Vec)
        f = 4 * c
        self.local_features = nn.Sequential(
            nn.Conv2d(1, c, 3, 2, 1), lrelu(), nn.Conv2d(c, 2 * c, 3, 2, 1), lrelu(),
            nn.Conv2d(2 * c, f, 3, 2, 1), lrelu())
        self.local_classifier = nn.Linear(f, num_classes)
        self.merge = nn.Sequential(nn.Conv2d(8 * c + f, 8 * c, 1), lrelu())
        dil = [1, 2, 4, 1]
        self.bottleneck = nn.Sequential(*[_ResNeXt(8 * c, card, dil[i % 4]) for i in range(blocks)])
        self.up3, self.dec3 = _ps_up(8 * c, 4 * c), nn.Sequential(nn.Conv2d(8 * c, 4 * c, 3, padding=1), lrelu(), _ResNeXt(4 * c, card))
        self.up2, self.dec2 = _ps_up(4 * c, 2 * c), nn.Sequential(nn.Conv2d(4 * c, 2 * c, 3, padding=1), lrelu(), _ResNeXt(2 * c, card))
        self.up1, self.dec1 = _ps_up(2 * c, c), nn.Sequential(nn.Conv2d(2 * c, c, 3, padding=1), lrelu())
        self.out = nn.Conv2d(c, 2, 3, padding=1)
        # SRGAN-like critic on (line art, L, ab): conv pairs, the second strided; no BatchNorm (WGAN-GP)
        d = c
        layers: list[nn.Module] = [nn.Conv2d(4, d, 3, 1, 1), lrelu(), nn.Conv2d(d, d, 3, 2, 1), lrelu()]
        for cin, cout in ((d, 2 * d), (2 * d, 4 * d), (4 * d, 8 * d)):
            layers += [nn.Conv2d(cin, cout, 3, 1, 1), lrelu(), nn.Conv2d(cout, cout, 3, 2, 1), lrelu()]
        self.critic = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8 * d, 1))
        self.features = RandomFeatures()

    def line_art(self, L):
        return H.xdog(L)

    def generate(self, L, hints, mask):
        hints, mask = self._hint_inputs(L, hints, mask)
        Hh, Ww = L.shape[-2:]
        Lp = self._pad(L, 8)
        line = self.line_art(Lp)
        x = torch.cat([line * 2 - 1, self._pad(hints, 8, "zeros") / AB_NORM, self._pad(mask, 8, "zeros")], 1)
        e0 = self.enc0(x)
        e1 = self.enc1(e0)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        feat = self.local_features(line * 2 - 1)
        y = self.bottleneck(self.merge(torch.cat([e3, feat], 1)))
        y = self.dec3(torch.cat([self.up3(y), e2], 1))
        y = self.dec2(torch.cat([self.up2(y), e1], 1))
        y = self.dec1(torch.cat([self.up1(y), e0], 1))
        ab = AB_NORM * torch.tanh(self.out(y).float())
        return ab[..., :Hh, :Ww], feat, line[..., :Hh, :Ww]

    def colorize(self, L, hints=None, mask=None, **_):
        return self.generate(L, hints, mask)[0]

    def _critic_in(self, line, L, ab):
        return torch.cat([line * 2 - 1, (L - 50.0) / 50.0, ab / AB_NORM], 1)

    def training_step(self, batch: dict) -> dict:
        cond = self.training_conditions(batch)
        L, ab = batch["L"], batch["ab"].float()
        fake, feat, line = self.generate(L, cond["hints"], cond["mask"])
        # critic (WGAN-GP with drift: the mixin's discriminator step)
        logs = self.discriminator_step(self._critic_in(line, L, ab).float(), self._critic_in(line, L, fake).float())
        # generator
        g_adv = self.adversarial_term(self._critic_in(line, L, fake).float())
        with fp32(L.device):
            rgb_fake = merge_lab(L.float(), fake.float())
            rgb_real = batch["rgb"].float() if "rgb" in batch else merge_lab(L.float(), ab)
            content = F.mse_loss(self.features(rgb_fake), self.features(rgb_real))
            l1 = F.l1_loss(fake.float() / AB_NORM, ab / AB_NORM)
            loss = content + self.l1_weight * l1
            logits = self.local_classifier(feat.float().mean((2, 3)))
            aux = torch.zeros((), device=L.device)
            if "label" in batch:
                lab = batch["label"].long()
                ok = (lab >= 0) & (lab < self.num_classes)
                aux = F.cross_entropy(logits, lab.clamp(0, self.num_classes - 1), reduction="none")
                aux = (aux * ok.float()).sum() / ok.float().sum().clamp_min(1.0)
        self.step(loss + self.adv_weight * g_adv + 0.1 * aux, "generator")
        return {"loss": loss.detach(), "g_adv": g_adv.detach(), **logs, "aux_ce": aux.detach()}

