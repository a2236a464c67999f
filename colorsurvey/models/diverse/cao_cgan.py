"""§2.5.1 Unsupervised Diverse Colorization via Generative Adversarial Networks (Cao, Zhou,
Zhang, Yu, ECML-PKDD 2017): a fully convolutional generator at stride 1 that sees the gray
image before every layer and noise in several layers, against a Wasserstein critic."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..adversarial import AdversarialMixin, parameters_except
from ..base import ModelCard
from ..layers import AB_NORM, fp32, norm_L
from ..registry import register
from .base import ConvCritic, DiverseModel, seeded_generator

__all__ = ["CaoCGAN"]


@register
class CaoCGAN(AdversarialMixin, DiverseModel):
    """Cao et al.'s conditional GAN for diverse colorization.

    Generator (paper §3, official ``generator_colorization``): a noise vector z (100-d, uniform
    in [-1, 1]) -> linear -> a 64 x 64 plane (resized here to the image) -> BatchNorm -> ReLU;
    then six stride-1 convolutions (7x7 -> 128, 5x5 -> 64, 64, 64, 32, then 5x5 -> 2 with tanh),
    each preceded by concatenating the gray image (the "multi-layer condition": the resolution
    never drops, so the colours stay aligned with the gray edges). The paper injects noise in
    several layers ("multi-layer noise"; the survey, §2.5.1: "noise channels are added to the
    first three convolutional layers"); the official code only at the first layer. Here the
    z-plane feeds layer 1 and a fresh uniform noise plane is concatenated before layers 2 and 3
    (``noise_layers=3``; ``noise_layers=1`` is the code's generator, exactly 895,350 parameters
    at size "paper").
    Critic: four 5x5 stride-2 convolutions (64, 128, 256, 512) with LeakyReLU(0.2) and two
    linear layers (-> 64 -> 1), no sigmoid (Wasserstein). ``colorize(L, seed=k)``: z and the
    noise planes come from a generator seeded with k (None: 0).
    """

    card = ModelCard(
        key="cao-cgan", title="Unsupervised Diverse Colorization via Generative Adversarial Networks",
        authors="Yun Cao, Zhiming Zhou, Weinan Zhang, Yong Yu", venue="ECML-PKDD", year=2017,
        section="2.5.1", taxonomy="diverse", conditions=("seed",),
        losses=("Wasserstein adversarial (critic with gradient penalty)", "L1 on ab (ours, for brief training)"),
        framework="TensorFlow 1 (official code)",
        parameters=898_550, parameters_source="this re-implementation (the official code's generator: 895,350)",
        survey_recipe=("§2.5.1: LSUN bedrooms at 64 x 64 in YUV; WGAN with RMSProp; the survey gives no "
                       "iterations or batch size (official code: D lr 2e-4, G lr 1e-4, weight clip 0.01, "
                       "5 critic steps per generator step, batch 64, 100 epochs)"),
        substitutions=(
            "ab (Lab) instead of UV (YUV); the 64 x 64 z-plane is resized to the image, so any size "
            "works. Multi-layer noise as the survey describes it (noise in the first three layers): a "
            "uniform noise plane concatenated before layers 2 and 3 besides the z-plane of layer 1 "
            "(+3,200 parameters over the official generator, which injects noise at the first layer only). The critic has no BatchNorm and is trained with the gradient "
            "penalty (the code's --improved_wgan option, lambda = 10) instead of weight clipping, with "
            "RMSProp as published; it averages to 4 x 4 before its linear layers, so it takes any size. "
            "The paper is unsupervised; an L1 term on ab (weight 10 at 'small'/'smoke', 0 at 'paper') "
            "is added for brief training and logged as 'loss' (it pulls the samples together: the "
            "diversity columns show the price). 'small': widths / 4, a critic of width 16 and one critic step (a CPU can train it: 1.7 s a step of 16 at 64 px on one contended thread, against 9 s with widths / 2 and two critic steps); 'smoke': widths / 8."),
    )
    sizes = {
        "paper": dict(widths=(128, 64, 64, 64, 32), n_critic=5, l1_weight=0.0, lr=1e-4),
        "small": dict(widths=(32, 16, 16, 16, 16), n_critic=1, d_width=16),   # ~5x cheaper than widths / 2 with 2 critic steps
        "smoke": dict(widths=(16, 8, 8, 8, 8), n_critic=1),
    }
    training_only = ("critic",)
    stochastic = True
    gan_kind, discriminator_name, gp_weight = "wgan", "critic", 10.0

    def __init__(self, widths=(128, 64, 64, 64, 32), z_dim: int = 100, plane: int = 64, noise_layers: int = 3,
                 n_critic: int = 5, l1_weight: float = 10.0, lr: float = 1e-3, d_width: int = 64):
        super().__init__()
        self.z_dim, self.plane, self.noise_layers = z_dim, plane, noise_layers
        self.n_critic, self.l1_weight, self.lr = n_critic, l1_weight, lr
        self.project = nn.Linear(z_dim, plane * plane)
        self.project_norm = nn.BatchNorm2d(1)
        layers, cin = [], 1
        for i, (cout, k) in enumerate(zip((*widths, 2), (7, 5, 5, 5, 5, 5))):
            extra = 1 + int(0 < i < noise_layers)           # the gray image (+ a noise plane)
            conv = nn.Conv2d(cin + extra, cout, k, padding=k // 2)
            layers.append(conv if i == len(widths) else nn.Sequential(conv, nn.BatchNorm2d(cout), nn.ReLU(inplace=True)))
            cin = cout
        self.layers = nn.ModuleList(layers)
        d = d_width                                       # the critic (training only): no BatchNorm (WGAN-GP)
        self.critic = ConvCritic(3, (d, 2 * d, 4 * d, 8 * d), hidden=(64,))

    def configure_optimizers(self):
        """RMSProp (decay 0.9), as published; the critic at twice the generator's rate."""
        d = self.critic
        return {"generator": torch.optim.RMSprop(parameters_except(self, d), lr=self.lr, alpha=0.9),
                "discriminator": torch.optim.RMSprop(d.parameters(), lr=2 * self.lr, alpha=0.9)}

    def noise(self, L: torch.Tensor, seed: int | None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """z (B, z_dim) and the noise planes (B, 1, H, W) of the later layers, uniform in [-1, 1],
        from ``seed`` (None: the global generator — training draws fresh noise every step)."""
        g = seeded_generator(seed)
        B, _, Hh, Ww = L.shape
        u = lambda *s: (torch.rand(*s, generator=g) * 2 - 1).to(L.device)  # noqa: E731
        z = u(B, self.z_dim)
        planes = [u(B, 1, Hh, Ww) for _ in range(1, self.noise_layers)]
        return z, planes

    def generate(self, L: torch.Tensor, z: torch.Tensor, planes: list[torch.Tensor]) -> torch.Tensor:
        B, _, Hh, Ww = L.shape
        y = norm_L(L)
        h = self.project(z).view(B, 1, self.plane, self.plane)
        h = F.relu(self.project_norm(self._resize(h, (Hh, Ww))))
        for i, layer in enumerate(self.layers):
            parts = [h, y] + ([planes[i - 1]] if 0 < i < self.noise_layers else [])
            h = layer(torch.cat(parts, 1))
        return AB_NORM * torch.tanh(h.float())

    def colorize(self, L, seed: int | None = None, **_):
        return self.generate(L, *self.noise(L, 0 if seed is None else seed))

    def training_step(self, batch: dict) -> dict:
        L, real = batch["L"], batch["ab"].float() / AB_NORM
        fake = self.generate(L, *self.noise(L, None)) / AB_NORM
        y = norm_L(L)
        logs = self.discriminator_step(torch.cat([y, real], 1), torch.cat([y, fake], 1))
        g_adv = self.adversarial_term(torch.cat([y, fake], 1))
        with fp32(L.device):
            l1 = F.l1_loss(fake.float(), real)
        self.step(g_adv + self.l1_weight * l1, "generator")
        return {"loss": l1.detach(), "g_adv": g_adv.detach(), **logs}
