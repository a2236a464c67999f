"""§2.5.3 Image Colorization using Generative Adversarial Networks (Nazeri, Ng, Ebrahimi,
AMDO 2018): a U-Net generator from the gray image against a PatchGAN discriminator, with the
non-saturating GAN loss plus 100 x L1."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..adversarial import AdversarialMixin, parameters_except
from ..base import ModelCard
from ..layers import AB_NORM, PatchDiscriminator, fp32, norm_L
from ..registry import register
from .base import DiverseModel, UNet

__all__ = ["ICGAN"]


@register
class ICGAN(AdversarialMixin, DiverseModel):
    """Nazeri et al.'s conditional GAN (pix2pix for colour).

    Generator (official ``Places365Model``): a U-Net of 4x4 convolutions — encoder 64 (stride
    1), 64, 128, 256, 512 x 4 (stride 2), each conv -> BatchNorm -> LeakyReLU(0.2); decoder of
    4x4 stride-2 transposed convolutions 512, 512, 512, 256, 128, 64, 64, each -> BatchNorm ->
    ReLU and concatenated with the mirrored encoder output; a 1x1 convolution to three channels
    (L, a, b) with tanh. Discriminator: PatchGAN on (gray, colour) — 4x4 convs 64 (stride 2, no
    norm), 128, 256 (stride 2), 512 (stride 1) with BatchNorm and LeakyReLU, and a 4x4 conv to
    one logit per patch. Loss: non-saturating GAN + 100 x L1; Adam with beta1 = 0, the
    discriminator at a tenth of the generator's rate. Deterministic: no noise input, so every
    seed gives the same colouring (diversity 0).
    """

    card = ModelCard(
        key="icgan", title="Image Colorization using Generative Adversarial Networks",
        authors="Kamyar Nazeri, Eric Ng, Mehran Ebrahimi", venue="AMDO (LNCS)", year=2018,
        section="2.5.3", taxonomy="diverse", conditions=(),
        losses=("non-saturating GAN (PatchGAN)", "100 x L1 on Lab"),
        framework="TensorFlow 1 (official code)",
        parameters=42_023_811, parameters_source="official code (Places365 generator), rebuilt here layer by layer",
        survey_recipe=("§2.5.3: CIFAR-10 and Places365; Adam, learning rate 2e-4 as the survey states it "
                       "(official code: G 3e-4, D 3e-5, beta1 = 0, batch 16 on Places365 for 10 epochs), "
                       "100 x L1 beside the adversarial loss"),
        substitutions=(
            "Inputs of any size are padded (replicate) to a multiple of 128 at 'paper' (the seven "
            "stride-2 layers) and the output cropped. The generator predicts L, a and b as the "
            "official one does; the L1 term covers all three and colorize keeps the input L. One "
            "discriminator step per generator step (the code takes two generator steps per "
            "discriminator step) and no learning-rate decay. 'small': widths / 4, 'smoke': widths / 8 "
            "with five encoder layers and a two-layer PatchGAN (16-pixel crops)."),
    )
    _ENC = ((64, 1), (64, 2), (128, 2), (256, 2), (512, 2), (512, 2), (512, 2), (512, 2))
    _DEC = (512, 512, 512, 256, 128, 64, 64)
    sizes = {
        "paper": dict(width=1.0, depth=8, lr=3e-4),
        "small": dict(width=0.25, depth=8),
        "smoke": dict(width=0.125, depth=5, d_layers=2),
    }
    training_only = ("discriminator",)
    gan_kind, betas = "nonsaturating", (0.0, 0.999)

    def __init__(self, width: float = 1.0, depth: int = 8, l1_weight: float = 100.0, lr: float = 1e-3,
                 d_layers: int = 3):
        super().__init__()
        w = lambda c: max(4, int(round(c * width)))  # noqa: E731
        enc = [(w(c), s, True) for c, s in self._ENC[:depth]]
        dec = [(w(c), True) for c in self._DEC[len(self._DEC) - depth + 1:]]
        self.generator = UNet(1, 3, enc, dec, kernel=4)
        self.discriminator = PatchDiscriminator(3, width=w(64), n_layers=d_layers, norm="batch")
        self.l1_weight, self.lr = l1_weight, lr

    def configure_optimizers(self):
        d = self.discriminator
        return {"generator": torch.optim.Adam(parameters_except(self, d), lr=self.lr, betas=self.betas),
                "discriminator": torch.optim.Adam(d.parameters(), lr=self.lr / 10, betas=self.betas)}

    def generate(self, L: torch.Tensor) -> torch.Tensor:
        """Lab / (50, 110, 110) about -1..1, (B, 3, H, W) (the L channel centred at 50)."""
        Hh, Ww = L.shape[-2:]
        return self.generator(self._pad(norm_L(L), self.generator.multiple))[..., :Hh, :Ww]

    def colorize(self, L, seed=None, **_):
        return AB_NORM * self.generate(L)[:, 1:]

    def training_step(self, batch: dict) -> dict:
        L = batch["L"]
        y = norm_L(L)
        real = torch.cat([y, batch["ab"].float() / AB_NORM], 1)
        fake = self.generate(L)
        logs = self.discriminator_step(torch.cat([y, real[:, 1:]], 1), torch.cat([y, fake[:, 1:]], 1))
        g_adv = self.adversarial_term(torch.cat([y, fake[:, 1:]], 1))
        with fp32(L.device):
            l1 = F.l1_loss(fake.float(), real)
        self.step(g_adv + self.l1_weight * l1, "generator")
        return {"loss": l1.detach(), "g_adv": g_adv.detach(), **logs}
