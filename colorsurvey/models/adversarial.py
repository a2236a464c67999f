"""The adversarial toolkit every GAN method uses (labml's way: small loss modules, one gradient
penalty reused by every Wasserstein variant).

Losses take *logits* (raw discriminator / critic outputs, any shape) and return 0-d tensors:

=================  =======================================  =====================================
``kind``           discriminator loss                       generator loss
=================  =======================================  =====================================
"nonsaturating"    BCE(real, 1) + BCE(fake, 0), halved      BCE(fake, 1)  (Goodfellow et al. 2014)
"hinge"            relu(1 - real) + relu(1 + fake), means   -fake.mean()  (Lim & Ye 2017)
"lsgan"            ((real - 1)^2 + fake^2) / 2, means       (fake - 1)^2 / 2  (Mao et al. 2017)
"wgan"             fake.mean() - real.mean()                -fake.mean()  (Arjovsky et al. 2017)
=================  =======================================  =====================================

With "wgan", add :func:`gradient_penalty` (Gulrajani et al. 2017, WGAN-GP) and optionally a
drift term (Karras et al. 2018). :func:`frozen` stops gradients into a module while the
generator's loss passes through it; :func:`parameters_except` selects parameters by module, not
by name prefix.

The convention of every adversarial method in :mod:`colorsurvey.models`
(:class:`AdversarialMixin`): optimisers named ``"generator"`` and ``"discriminator"``; an
``n_critic`` attribute (discriminator steps per generator step); the discriminator or critic
declared as a training-only part; logged terms ``"loss"`` (the reconstruction term that the
contract test watches fall), ``"g_adv"`` (the generator's adversarial term), ``"d_loss"`` (the
discriminator's whole loss) and, for WGAN-GP, ``"gp"``.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import fp32

__all__ = ["GAN_KINDS", "discriminator_loss", "generator_loss", "gradient_penalty", "frozen",
           "parameters_except", "AdversarialMixin"]

GAN_KINDS = ("nonsaturating", "hinge", "lsgan", "wgan")


def _check(kind: str) -> None:
    if kind not in GAN_KINDS:
        raise ValueError(f"GAN loss {kind!r}: expected one of {', '.join(GAN_KINDS)}")


def discriminator_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """The discriminator's (critic's) loss on logits for real and generated samples (see the
    module table). Computed in float32. Raises ValueError for an unknown ``kind``."""
    _check(kind)
    real, fake = real.float(), fake.float()
    if kind == "nonsaturating":
        return 0.5 * (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                      + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
    if kind == "hinge":
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    if kind == "lsgan":
        return 0.5 * ((real - 1.0).pow(2).mean() + fake.pow(2).mean())
    return fake.mean() - real.mean()


def generator_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    """The generator's adversarial loss on the discriminator's logits for generated samples."""
    _check(kind)
    fake = fake.float()
    if kind == "nonsaturating":
        return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
    if kind == "lsgan":
        return 0.5 * (fake - 1.0).pow(2).mean()
    return -fake.mean()   # hinge and wgan


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     target: float = 1.0) -> torch.Tensor:
    """WGAN-GP's penalty E[(||grad_x critic(x)|| - target)^2] at random interpolates x of real and
    fake samples (Gulrajani et al., NeurIPS 2017, eq. 3). ``real`` and ``fake``: (B, ...), the
    same shape; ``fake`` is detached here. 0-d float32 tensor, differentiable in the critic's
    parameters (create_graph=True). A 1-Lipschitz linear critic with unit gradient scores 0."""
    real, fake = real.float(), fake.detach().float()
    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device)
    mix = (eps * real + (1.0 - eps) * fake).requires_grad_(True)
    with fp32(real.device):
        out = critic(mix)
        grad = torch.autograd.grad(out.float().sum(), mix, create_graph=True)[0]
    return (grad.flatten(1).norm(dim=1) - target).pow(2).mean()


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[nn.Module]:
    """Within the block, ``module``'s parameters take no gradient (the generator's adversarial
    loss passes through the discriminator without training it); each parameter's previous
    ``requires_grad`` is restored afterwards, also on an exception."""
    params = list(module.parameters())
    before = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield module
    finally:
        for p, r in zip(params, before):
            p.requires_grad_(r)


def parameters_except(model: nn.Module, *excluded: nn.Module) -> list[nn.Parameter]:
    """``model``'s parameters that do not belong to any of the ``excluded`` sub-modules (by
    identity, so renaming a module cannot silently put it into the wrong optimiser)."""
    skip = {id(p) for m in excluded for p in m.parameters()}
    return [p for p in model.parameters() if id(p) not in skip]


class AdversarialMixin:
    """The shared convention of the adversarial methods (see the module docstring).

    A subclass sets ``gan_kind``, ``discriminator_name`` (the attribute holding its discriminator
    or critic), ``n_critic``, and the Adam betas/lr it trains with; it calls
    :meth:`discriminator_step` with the discriminator's inputs for real and fake samples, then
    computes its generator loss with :meth:`adversarial_term` and steps ``"generator"``.
    """

    gan_kind: str = "nonsaturating"
    discriminator_name: str = "discriminator"
    n_critic: int = 1
    gp_weight: float = 0.0      # WGAN-GP penalty weight (0: none)
    drift: float = 0.0          # drift term weight on real scores (Karras et al. 2018)
    betas: tuple[float, float] = (0.5, 0.999)

    @property
    def discriminator_module(self) -> nn.Module:
        return getattr(self, self.discriminator_name)

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        d = self.discriminator_module
        return {"generator": torch.optim.Adam(parameters_except(self, d), lr=self.lr, betas=self.betas),
                "discriminator": torch.optim.Adam(d.parameters(), lr=self.lr, betas=self.betas)}

    def discriminator_step(self, real_in: torch.Tensor, fake_in: torch.Tensor) -> dict[str, torch.Tensor]:
        """``n_critic`` updates of the discriminator on (real_in, fake_in.detach()); returns the
        last ``{"d_loss"[, "gp"]}`` as detached 0-d tensors."""
        d = self.discriminator_module
        fake_in = fake_in.detach()
        out: dict[str, torch.Tensor] = {}
        for _ in range(max(1, int(self.n_critic))):
            d_real, d_fake = d(real_in), d(fake_in)
            with fp32(real_in.device):
                loss = discriminator_loss(self.gan_kind, d_real, d_fake)
                if self.gp_weight:
                    gp = gradient_penalty(d, real_in, fake_in)
                    loss = loss + self.gp_weight * gp
                    out["gp"] = gp.detach()
                if self.drift:
                    loss = loss + self.drift * d_real.float().pow(2).mean()
            self.step(loss, "discriminator")
            out["d_loss"] = loss.detach()
        return out

    def adversarial_term(self, fake_in: torch.Tensor) -> torch.Tensor:
        """The generator's adversarial loss on ``fake_in``, through a frozen discriminator."""
        d = self.discriminator_module
        with frozen(d):
            logits = d(fake_in)
        with fp32(fake_in.device):
            return generator_loss(self.gan_kind, logits)
