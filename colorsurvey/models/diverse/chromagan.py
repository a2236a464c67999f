"""§2.5.5 ChromaGAN: Adversarial Picture Colorization with Semantic Class Distribution
(Vitoria, Raad, Ballester, WACV 2020): a VGG16 trunk, a chrominance branch and a
class-distribution branch fused into a decoder, trained against a PatchGAN critic (WGAN-GP)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..adversarial import AdversarialMixin
from ..base import ModelCard
from ..layers import AB_NORM, PatchDiscriminator, fp32, norm_L
from ..registry import register
from .base import DiverseModel

__all__ = ["ChromaGAN"]

#: VGG16's convolutions up to conv4_3 ("M": 2x2 max-pool)
VGG16_TO_CONV4_3 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512)


def _conv_relu_bn(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """3x3 conv -> ReLU -> BatchNorm (their order: Conv2D(activation="relu") then BatchNormalization)."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.ReLU(inplace=True), nn.BatchNorm2d(cout))


@register
class ChromaGAN(AdversarialMixin, DiverseModel):
    """ChromaGAN (official ``colorization_model`` and ``discriminator``).

    L (replicated to three channels) at ``image_size`` (224 at "paper") goes through VGG16 to
    conv4_3 (trained here, 1/8 resolution). Global branch: four 3x3 convs of 512 (stride 2, 1,
    2, 1; conv -> ReLU -> BatchNorm) to 1/32, then (a) FC 1024 -> 512 -> 256 (no activation),
    repeated over the 1/8 grid — the global feature — and (b) FC 4096 -> 4096 -> classes with
    softmax — the class distribution. Mid-level: 3x3 convs 512 and 256 on the trunk. Fusion:
    concatenate mid and global (256 + 256), 1x1 conv 256, 3x3 conv 128, upsample, two 3x3 convs
    64, upsample, 3x3 conv 32, 3x3 conv 2 with sigmoid, upsample. Critic: PatchGAN on (L, ab)
    without norm layers (4x4 convs 64, 128, 256 stride 2, 512 stride 1, then to one score).
    Generator loss: MSE(ab) + 0.003 x KL(class target || predicted distribution) - 0.1 x
    critic(fake); critic: WGAN-GP (penalty 10). Deterministic (diversity 0);
    :meth:`distribution` returns the class distribution.
    """

    card = ModelCard(
        key="chromagan", title="ChromaGAN: Adversarial Picture Colorization with Semantic Class Distribution",
        authors="Patricia Vitoria, Lara Raad, Coloma Ballester", venue="WACV", year=2020, section="2.5.5",
        taxonomy="diverse", conditions=(),
        losses=("MSE on ab", "0.003 x KL divergence of the class distribution", "0.1 x WGAN-GP adversarial (PatchGAN critic)"),
        framework="Keras / TensorFlow 1 (official code)",
        parameters=171_166_090, parameters_source="official code, rebuilt here layer by layer (123,642,856 in the class head)",
        survey_recipe=("§2.5.5: ImageNet at 224 x 224; Adam with learning rate 2e-5, beta1 0.5 (official "
                       "code: batch 10, 5 epochs; one generator step, then one critic step)"),
        substitutions=(
            "The VGG16 trunk is trained from scratch with the rest (no ImageNet weights are downloaded). "
            "The class-distribution target is the data's category as a label-smoothed one-hot "
            "distribution (0.9 on the label) instead of a pretrained VGG16's ImageNet prediction; the "
            "head keeps 1000 classes at 'paper' and has 32 at 'small' / 'smoke' (a dataset's category "
            "index beyond that is not used for the KL term). Any input is resized to image_size and the "
            "ab output resized back. ab = 110 x (2 sigmoid - 1) (theirs: OpenCV 8-bit ab / 255). "
            "'small': widths / 4, image_size 64; 'smoke': widths / 16, image_size 32, FC widths / 32."),
    )
    sizes = {
        "paper": dict(width=1.0, image_size=224, num_classes=1000, lr=2e-5),
        "small": dict(width=0.25, image_size=64, num_classes=32, fc_width=0.125),
        "smoke": dict(width=0.0625, image_size=32, num_classes=32, fc_width=1 / 32),
    }
    training_only = ("critic",)
    gan_kind, discriminator_name, gp_weight, betas = "wgan", "critic", 10.0, (0.5, 0.999)

    def __init__(self, width: float = 1.0, image_size: int = 224, num_classes: int = 1000, fc_width: float | None = None,
                 kl_weight: float = 0.003, adv_weight: float = 0.1, smoothing: float = 0.9, lr: float = 1e-3):
        super().__init__()
        if image_size % 32:
            raise ValueError(f"image_size must be a multiple of 32 (five halvings); got {image_size}")
        w = lambda c: max(4, int(round(c * width)))  # noqa: E731
        fw = lambda c: max(8, int(round(c * (fc_width if fc_width is not None else width))))  # noqa: E731
        self.image_size, self.num_classes = image_size, num_classes
        self.kl_weight, self.adv_weight, self.smoothing, self.lr = kl_weight, adv_weight, smoothing, lr
        layers, c = [], 3
        for v in VGG16_TO_CONV4_3:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(c, w(v), 3, padding=1), nn.ReLU(inplace=True)]
                c = w(v)
        self.vgg = nn.Sequential(*layers)
        c512 = w(512)
        self.global_convs = nn.Sequential(_conv_relu_bn(c512, c512, 2), _conv_relu_bn(c512, c512),
                                          _conv_relu_bn(c512, c512, 2), _conv_relu_bn(c512, c512))
        flat = c512 * (image_size // 32) ** 2
        self.global_fc = nn.Sequential(nn.Flatten(), nn.Linear(flat, fw(1024)), nn.Linear(fw(1024), fw(512)),
                                       nn.Linear(fw(512), w(256)))
        self.class_head = nn.Sequential(nn.Flatten(), nn.Linear(flat, fw(4096)), nn.Linear(fw(4096), fw(4096)),
                                        nn.Linear(fw(4096), num_classes))
        self.mid = nn.Sequential(_conv_relu_bn(c512, c512), _conv_relu_bn(c512, w(256)))
        relu = lambda: nn.ReLU(inplace=True)  # noqa: E731
        up = lambda: nn.Upsample(scale_factor=2, mode="nearest")  # noqa: E731
        self.fusion = nn.Sequential(
            nn.Conv2d(2 * w(256), w(256), 1), relu(), nn.Conv2d(w(256), w(128), 3, padding=1), relu(), up(),
            nn.Conv2d(w(128), w(64), 3, padding=1), relu(), nn.Conv2d(w(64), w(64), 3, padding=1), relu(), up(),
            nn.Conv2d(w(64), w(32), 3, padding=1), relu(), nn.Conv2d(w(32), 2, 3, padding=1))
        self.critic = PatchDiscriminator(3, width=w(64), n_layers=3, norm="none")

    def generate(self, L: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(ab / 110 at image_size, class logits (B, classes)) for L at any size."""
        x = norm_L(self._resize(L, self.image_size)).expand(-1, 3, -1, -1)
        trunk = self.vgg(x)
        g = self.global_convs(trunk)
        glob = self.global_fc(g)[:, :, None, None].expand(-1, -1, *trunk.shape[-2:])
        y = self.fusion(torch.cat([self.mid(trunk), glob], 1))
        ab = 2 * torch.sigmoid(F.interpolate(y.float(), scale_factor=2, mode="nearest")) - 1
        return ab, self.class_head(g).float()

    def colorize(self, L, seed=None, **_):
        return self.to_input_size(AB_NORM * self.generate(L)[0], L)

    def distribution(self, L, seed=None, **_):
        """The class-distribution branch: probabilities (B, classes), each row summing to 1."""
        return torch.softmax(self.generate(L)[1], dim=1)

    def class_target(self, label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Label-smoothed one-hot targets (B, classes) and which labels are in range (B,) bool."""
        ok = (label >= 0) & (label < self.num_classes)
        k = self.num_classes
        t = torch.full((label.shape[0], k), (1 - self.smoothing) / max(1, k - 1), device=label.device)
        t.scatter_(1, label.clamp(0, k - 1).long()[:, None], self.smoothing)
        return t, ok

    def training_step(self, batch: dict) -> dict:
        L = batch["L"]
        y = norm_L(self._resize(L, self.image_size))
        real = self._resize(batch["ab"].float(), self.image_size) / AB_NORM
        fake, logits = self.generate(L)
        logs = self.discriminator_step(torch.cat([y, real], 1), torch.cat([y, fake], 1))
        g_adv = self.adversarial_term(torch.cat([y, fake], 1))
        with fp32(L.device):
            mse = F.mse_loss(fake.float(), real)
            kl = torch.zeros((), device=L.device)
            if "label" in batch:
                target, ok = self.class_target(batch["label"])
                per = F.kl_div(F.log_softmax(logits, 1), target, reduction="none").sum(1)
                kl = (per * ok.float()).sum() / ok.float().sum().clamp_min(1.0)
        self.step(mse + self.kl_weight * kl + self.adv_weight * g_adv, "generator")
        return {"loss": mse.detach(), "kl": kl.detach(), "g_adv": g_adv.detach(), **logs}
