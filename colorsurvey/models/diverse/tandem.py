"""§2.5.2 Outline Colorization through Tandem Adversarial Networks (Frans, arXiv 2017): a
colour-prediction network (outline -> coarse colour scheme) and a shading network (outline +
scheme -> image), both U-Nets of 5x5 stride-2 convolutions with skips, and a discriminator."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ... import hints as H
from ..adversarial import AdversarialMixin
from ..base import ModelCard
from ..layers import AB_NORM, fp32
from ..registry import register
from .base import ConvCritic, DiverseModel, UNet

__all__ = ["Tandem"]


def coarse_scheme(ab: torch.Tensor, factor: int = 16) -> torch.Tensor:
    """The "colour scheme" of an image: its ab averaged over ``factor`` x ``factor`` cells and
    smoothly upsampled back (Frans blurs the image after whiting out random patches).
    (B, 2, H, W) -> (B, 2, H, W), Lab units."""
    Hh, Ww = ab.shape[-2:]
    small = F.adaptive_avg_pool2d(ab.float(), (max(1, Hh // factor), max(1, Ww // factor)))
    return F.interpolate(small, size=(Hh, Ww), mode="bilinear", align_corners=False)


@register
class Tandem(AdversarialMixin, DiverseModel):
    """Frans's tandem networks for line art.

    Both networks are the author's U-Net (``main.py``): five 5x5 stride-2 convolutions 64, 128,
    256, 512, 512 (BatchNorm on all but the first, LeakyReLU(0.2) before each but the first),
    four 5x5 stride-2 transposed convolutions 512, 256, 128, 64 (ReLU before, BatchNorm after,
    each concatenated with the mirrored encoder output) and a transposed convolution to the
    output with tanh. The colour-prediction network maps the outline (line art extracted from
    the image by XDoG) to a coarse colour scheme (ab, trained with L2 against
    :func:`coarse_scheme` of the ground truth); the shading network maps outline + scheme to
    the final ab, trained with L1 (weight 100) and an adversarial loss from a discriminator of
    four 5x5 convolutions (64, 128, 256 stride 2; 512 stride 1; BatchNorm) and a linear layer.
    In training the shading network sees the true scheme (as the author's hints come from the
    image); ``colorize`` chains the two networks. Deterministic (diversity 0); ``scheme=``
    replaces the predicted scheme by one of your own (B, 2, H, W) in Lab units.
    """

    card = ModelCard(
        key="tandem", title="Outline Colorization through Tandem Adversarial Networks",
        authors="Kevin Frans", venue="arXiv:1704.08834", year=2017, section="2.5.2", taxonomy="diverse",
        conditions=("sketch",),
        losses=("L2 on the colour scheme (colour-prediction network)",
                "100 x L1 + non-saturating GAN (shading network)"),
        framework="TensorFlow (author's code, kvfrans/deepcolor)",
        parameters=52_052_740, parameters_source="this re-implementation (the author's colouring generator: 26,032,771)",
        survey_recipe=("§2.5.2: two U-Nets of 5x5 stride-2 convolutions, feature maps doubling from 64; "
                       "L2 for the colour-prediction network, adversarial for the shading network; a "
                       "discriminator of four convolutions and a fully connected layer; the survey gives "
                       "no iterations, learning rate or batch size (author's code: Adam 2e-4, beta1 0.5, batch 4, 256 x 256)"),
        substitutions=(
            "Line art is XDoG of the gray image (the author: adaptive threshold of the colour image). "
            "Both networks predict ab (the author's predict RGB; the shading network never sees L, "
            "as in the paper, and colorize keeps the input L). The colour scheme is the ab averaged "
            "over 16 x 16 cells (the author: the image blurred after whiting out 30 random patches); "
            "at 'paper' each network is the author's U-Net with 1 (outline) or 3 (outline + ab "
            "scheme) inputs and 2 outputs, so 52.1 M parameters for the pair (the discriminator apart) against 26.0 M for the "
            "author's one 4-input network. The discriminator averages to 4 x 4 before its linear "
            "layer (any size). Inputs are padded (replicate) to a multiple of 32. 'small': widths / 4, "
            "'smoke': widths / 8."),
    )
    _ENC = ((64, False), (128, True), (256, True), (512, True), (512, True))
    _DEC = (512, 256, 128, 64)
    sizes = {
        "paper": dict(width=1.0, lr=2e-4),
        "small": dict(width=0.25),
        "smoke": dict(width=0.125),
    }
    training_only = ("discriminator",)
    gan_kind, betas = "nonsaturating", (0.5, 0.999)

    def __init__(self, width: float = 1.0, l1_weight: float = 100.0, scheme_factor: int = 16, lr: float = 1e-3):
        super().__init__()
        w = lambda c: max(4, int(round(c * width)))  # noqa: E731
        enc = [(w(c), 2, n) for c, n in self._ENC]
        dec = [(w(c), True) for c in self._DEC]
        self.color_net = UNet(1, 2, enc, dec, kernel=5, pre_act=True)
        self.shading_net = UNet(3, 2, enc, dec, kernel=5, pre_act=True)
        self.discriminator = ConvCritic(3, tuple(w(c) for c in (64, 128, 256, 512)), strides=(2, 2, 2, 1), norm=True)
        self.l1_weight, self.scheme_factor, self.lr = l1_weight, scheme_factor, lr

    def outline(self, L: torch.Tensor) -> torch.Tensor:
        """Line art of L: XDoG (:func:`colorsurvey.hints.xdog`), dark lines on white, mapped to -1..1."""
        return H.xdog(L) * 2 - 1

    def _run(self, net: UNet, x: torch.Tensor) -> torch.Tensor:
        Hh, Ww = x.shape[-2:]
        return net(self._pad(x, net.multiple))[..., :Hh, :Ww]

    def predict_scheme(self, line: torch.Tensor) -> torch.Tensor:
        """Colour-prediction network: outline (B, 1, H, W) in -1..1 -> scheme ab / 110."""
        return self._run(self.color_net, line)

    def shade(self, line: torch.Tensor, scheme: torch.Tensor) -> torch.Tensor:
        """Shading network: outline and scheme (ab / 110) -> ab / 110."""
        return self._run(self.shading_net, torch.cat([line, scheme], 1))

    def colorize(self, L, seed=None, scheme=None, **_):
        line = self.outline(L)
        s = self.predict_scheme(line) if scheme is None else scheme.float() / AB_NORM
        return AB_NORM * self.shade(line, s)

    def training_step(self, batch: dict) -> dict:
        L, ab = batch["L"], batch["ab"].float()
        line = self.outline(L)
        target_scheme = coarse_scheme(ab, self.scheme_factor) / AB_NORM
        scheme = self.predict_scheme(line)
        fake = self.shade(line, target_scheme)
        real = ab / AB_NORM
        logs = self.discriminator_step(torch.cat([line, real], 1), torch.cat([line, fake], 1))
        g_adv = self.adversarial_term(torch.cat([line, fake], 1))
        with fp32(L.device):
            l2 = F.mse_loss(scheme.float(), target_scheme)
            l1 = F.l1_loss(fake.float(), real)
        self.step(l2 + self.l1_weight * l1 + g_adv, "generator")
        return {"loss": (l2 + l1).detach(), "scheme_l2": l2.detach(), "g_adv": g_adv.detach(), **logs}
