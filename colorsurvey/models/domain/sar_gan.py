"""§2.3.2 Generating High Quality Visible Images from SAR Images Using CNNs (SAR-GAN; Wang &
Patel, IEEE RadarConf 2018): a despeckling sub-network whose division residual removes the
estimated speckle, cascaded with a colorization encoder-decoder, trained adversarially with
an ℓ1 term."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...data import domain as D
from ..adversarial import AdversarialMixin
from ..base import ModelCard
from ..layers import PatchDiscriminator, fp32
from ..registry import register
from .base import DomainModel, ab_of_rgb

__all__ = ["SARGAN", "division_residual"]

_SOFTPLUS_ONE = 0.5413248546129181        # softplus(x) = 1 at this x


def division_residual(sar: torch.Tensor, speckle: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """The component-wise division residual of ID-CNN / SAR-GAN: the clean image is the input
    divided by the estimated speckle, ``sar / max(speckle, eps)``. Same shape; a speckle of 1
    returns the input unchanged."""
    return sar / speckle.clamp_min(eps)


class Despeckler(nn.Module):
    """Eight 3x3 convolutions (conv + ReLU, six conv + BatchNorm + ReLU, conv) estimating the
    multiplicative speckle of a SAR intensity (B, 1, H, W); the estimate is softplus of the
    last map, offset so a zero output means a speckle of 1; ``forward`` returns (clean, speckle)
    with clean = :func:`division_residual` (input, speckle)."""

    def __init__(self, width: int = 64, layers: int = 8):
        super().__init__()
        body: list[nn.Module] = [nn.Conv2d(1, width, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(layers - 2):
            body += [nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        body.append(nn.Conv2d(width, 1, 3, padding=1))
        self.body = nn.Sequential(*body)

    def forward(self, sar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        speckle = F.softplus(self.body(sar) + _SOFTPLUS_ONE) + 1e-3
        return division_residual(sar, speckle), speckle


class Colorizer(nn.Module):
    """The symmetric encoder-decoder: four encoder and four decoder 3x3 convolutions (eight),
    strides 2 in three of each, three skip connections (concatenation) joining the encoder's
    stages to the decoder's; LeakyReLU / ReLU with BatchNorm; sigmoid sRGB out. (B, 1, H, W)
    with H, W multiples of 8 -> (B, 3, H, W)."""

    def __init__(self, width: int = 64):
        super().__init__()
        w = width

        def block(cin, cout, stride=1):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                                 nn.LeakyReLU(0.2, inplace=True))

        self.e1, self.e2, self.e3, self.e4 = block(1, w), block(w, 2 * w, 2), block(2 * w, 4 * w, 2), block(4 * w, 8 * w, 2)
        self.d4, self.d3, self.d2 = block(8 * w, 4 * w), block(8 * w, 2 * w), block(4 * w, w)
        self.d1 = nn.Conv2d(2 * w, 3, 3, padding=1)

    def forward(self, x):
        up = lambda t: F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)
        e1 = self.e1(x)
        e2 = self.e2(e1)
        e3 = self.e3(e2)
        y = self.d4(self.e4(e3))
        y = self.d3(torch.cat([up(y), e3], 1))
        y = self.d2(torch.cat([up(y), e2], 1))
        return torch.sigmoid(self.d1(torch.cat([up(y), e1], 1)).float())


@register
class SARGAN(AdversarialMixin, DomainModel):
    """SAR-GAN: despeckle, then colorize; a conditional PatchGAN judges (SAR, colour) pairs.

    ``colorize(L, sar=...)``: the SAR intensity (B, 1, H, W) >= 0 (speckled, mean about the clean
    image in [0, 1]); ``explain`` also returns the despeckled intermediate and the speckle
    estimate. Generator loss: ℓ1 on RGB + ``adv_weight`` x adversarial + the despeckler's own ℓ2
    to the clean gray image (ID-CNN's Euclidean term, weight ``despeckle_weight``).
    """

    card = ModelCard(
        key="sar-gan", title="Generating High Quality Visible Images from SAR Images Using CNNs (SAR-GAN)",
        authors="Puyang Wang, Vishal M. Patel", venue="IEEE Radar Conference", year=2018, section="2.3.2",
        taxonomy="domain-specific", conditions=("sar",), framework="(no code published)",
        losses=("ℓ1 on RGB", "adversarial (non-saturating, PatchGAN)", "despeckling ℓ2 (ID-CNN)"),
        parameters=3_695_236, parameters_source="this re-implementation",
        survey_recipe="§2.3.2: Adam; ℓ1 + adversarial loss; tested on 85 of 3,292 synthetic images and on real SAR images",
        substitutions=(
            "No official code exists; widths are ours (64 in both sub-networks at 'paper'). Input: the gray image "
            "(L / 100) times Gamma speckle of L looks (colorsurvey.data.domain.sar_from_gray; training draws 1 or 4 "
            "looks per image, evaluation uses 4), not real SAR; real pairs load with DomainFolder(root, 'sar'). The "
            "network predicts sRGB; colorize returns its ab. The despeckler is trained jointly with an extra ℓ2 to "
            "the clean gray image (the paper's despeckler follows ID-CNN, trained on its own); speckle estimated "
            "through a softplus; PatchGAN discriminator of pix2pix (2 layers at the small sizes)."))
    domain_input, domain_what, standin_function = "sar", "a SAR intensity image (>= 0)", "colorsurvey.data.domain.sar_from_gray(L / 100, looks)"
    domain_range = None
    strength = ("looks", 4, (1, 2, 4, 8, 16))
    training_only = ("discriminator",)
    sizes = {
        "paper": dict(width=64, d_width=64, d_layers=3, lr=2e-4),
        "small": dict(width=16, d_width=16, d_layers=2),
        "smoke": dict(width=8, d_width=8, d_layers=2),
    }

    def __init__(self, width: int = 64, d_width: int = 64, d_layers: int = 3, lr: float = 1e-3,
                 adv_weight: float = 0.01, despeckle_weight: float = 1.0, train_looks: tuple[int, ...] = (1, 4)):
        super().__init__()
        self.lr, self.adv_weight, self.despeckle_weight, self.train_looks = lr, adv_weight, despeckle_weight, train_looks
        self.despeckler = Despeckler(width)
        self.colorizer = Colorizer(width)
        self.discriminator = PatchDiscriminator(4, d_width, d_layers)

    def check_inputs(self, L, conditions):
        L = super().check_inputs(L, conditions)
        v = conditions["sar"]
        if float(v.detach().min()) < 0:
            raise ValueError("sar: expected a SAR intensity image (>= 0), a float tensor (B, 1, H, W) at L's size; "
                             "got negative values (pass intensity, not dB)")
        return L

    def standin(self, batch: dict, strength=None, seeds=None) -> dict:
        looks = self.strength[1] if strength is None else strength
        return {"sar": D.sar_from_gray(self._gray(batch), looks, seeds=seeds)}

    def training_strength(self, B: int):
        i = torch.randint(len(self.train_looks), (B,))
        return [self.train_looks[int(k)] for k in i]

    def generate(self, sar: torch.Tensor) -> dict:
        """dict(rgb, despeckled, speckle) at the input's size."""
        Hh, Ww = sar.shape[-2:]
        x, _ = self.pad_to_multiple(sar.float(), 8)
        clean, sp = self.despeckler(x)
        rgb = self.colorizer(clean)
        return {"rgb": rgb[..., :Hh, :Ww], "despeckled": clean[..., :Hh, :Ww], "speckle": sp[..., :Hh, :Ww]}

    def explain(self, L, sar=None, **_):
        return self.generate(self._domain(L, sar))

    def colorize(self, L, sar=None, **_):
        return ab_of_rgb(self.generate(self._domain(L, sar))["rgb"])

    def training_step(self, batch: dict) -> dict:
        sar = self.training_conditions(batch)["sar"]
        out = self.generate(sar)
        real = torch.cat([sar, batch["rgb"].float()], 1)
        fake = torch.cat([sar, out["rgb"]], 1)
        logs = self.discriminator_step(real, fake)
        g_adv = self.adversarial_term(fake)
        with fp32(sar.device):
            l1 = F.l1_loss(out["rgb"].float(), batch["rgb"].float())
            desp = F.mse_loss(out["despeckled"].float(), self._gray(batch))
        self.step(l1 + self.adv_weight * g_adv + self.despeckle_weight * desp, "generator")
        return {"loss": l1.detach(), "g_adv": g_adv.detach(), "despeckle": desp.detach(), **logs}
