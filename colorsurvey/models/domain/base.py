"""What the domain-specific methods (survey §2.3) share: how the input of another domain enters
the one interface.

**The choice.** These methods do not colour a gray photograph: their input is a near-infrared
band, a speckled SAR intensity, a single-polarisation radar image or a sketch. Each still
implements ``colorize(L, **conditions)``, and the domain input is a *named, required*
condition of it — ``colorize(L, nir=...)``, ``colorize(L, sar=...)``, ``colorize(L, vv=...)``,
``colorize(L, sketch=..., reference_rgb=...)``: a float (B, 1, H, W) at L's size. The network
sees only the domain input (and the reference); it predicts a colour image (sRGB), and
``colorize`` returns that image's ab in Lab units at L's size, so the evaluation joins it with
the true L as for every other method (the methods' own full colour estimates are in
``explain(...)["rgb"]``). A missing or malformed domain input is a ValueError naming it, its
expected form and where a stand-in comes from; nothing is derived silently from L.

``conditions_from_batch`` builds the condition from a data batch: the real input when the batch
carries it under the condition's name (:class:`colorsurvey.data.domain.DomainFolder`), else the
documented stand-in from the colour image (:mod:`colorsurvey.data.domain`), drawn per image
from a seed made of its dataset index (speckle, references), so every table is repeatable. The
benchmark, the contract test and the notebooks therefore run these methods like any other.
``standin(batch, strength)`` gives the stand-in at another degradation strength (speckle looks,
line thickness, NIR mix) for the widget; ``example_conditions(L)`` a random one at L's size
for timing.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from ... import hints as H
from ...color import rgb_to_lab
from ..base import ColorizationModel, _check_map

__all__ = ["DOMAIN_SPECIFIC", "DomainModel", "ab_of_rgb"]

#: the registered keys of this package, in survey order
DOMAIN_SPECIFIC = ("nir", "sar-gan", "radar-pol", "ref-sketch")


def ab_of_rgb(rgb: torch.Tensor) -> torch.Tensor:
    """The ab channels (Lab units) of sRGB (B, 3, H, W) in [0, 1] (clamped first), float32."""
    return rgb_to_lab(rgb.float().clamp(0, 1))[:, 1:]


class DomainModel(ColorizationModel):
    """Base of the §2.3 methods. Subclasses set

    * ``domain_input`` — the condition's name; ``domain_what`` — its form in words;
      ``domain_range`` — (lo, hi) its values must lie in, or None (finite only);
    * ``strength`` — (name, default, choices) of the stand-in's degradation strength;

    and implement ``standin(batch, strength=None, seeds=None)`` (the conditions dict),
    ``forward_rgb(x, **conditions)`` (the network), ``colorize`` and ``training_step``.
    """

    domain_input: ClassVar[str] = ""
    domain_what: ClassVar[str] = ""
    domain_range: ClassVar[tuple[float, float] | None] = (0.0, 1.0)
    standin_function: ClassVar[str] = ""          # where the stand-in comes from, for messages
    strength: ClassVar[tuple[str, Any, tuple]] = ("", None, ())
    seed_base: int = 0

    # -- the domain input --------------------------------------------------------------
    def check_inputs(self, L, conditions: dict) -> torch.Tensor:
        """L and the shared conditions as every method checks them, then the domain input:
        present, float, (B, 1, H, W) at L's size, in ``domain_range``; ValueError naming it."""
        L = super().check_inputs(L, conditions)
        name = self.domain_input
        v = conditions.get(name)
        if v is None:
            raise ValueError(f"{self.card.key} colours {self.domain_what}: pass it as colorize(L, {name}=...), "
                             f"(B, 1, H, W) at L's size; a stand-in from a colour batch: "
                             f"model.conditions_from_batch(batch) or {self.standin_function}")
        _check_map(v, L, name, 1, f"{self.domain_what}, a float tensor (B, 1, H, W) at L's size",
                   lo_hi=self.domain_range)
        return L

    def _domain(self, L: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return v.to(L.device, torch.float32)

    def standin(self, batch: dict, strength=None, seeds=None) -> dict:  # pragma: no cover
        raise NotImplementedError

    def conditions_from_batch(self, batch: dict) -> dict:
        """The real domain input when the batch has it (under ``domain_input``), else the stand-in
        at the default strength, seeded per image by its dataset index."""
        seeds = H.image_seeds(batch["index"], self.seed_base) if "index" in batch else None
        cond = self.standin(batch, seeds=seeds if seeds is not None else [self.seed_base] * batch["rgb"].shape[0])
        if self.domain_input in batch:
            cond[self.domain_input] = batch[self.domain_input].float()
        return cond

    def training_conditions(self, batch: dict) -> dict:
        """As :meth:`conditions_from_batch`, with fresh random draws (global RNG) each step."""
        cond = self.standin(batch, strength=self.training_strength(batch["rgb"].shape[0]), seeds=None)
        if self.domain_input in batch:
            cond[self.domain_input] = batch[self.domain_input].float()
        return cond

    def training_strength(self, B: int):
        """The degradation strength of a training batch (default: the stand-in's default)."""
        return

    def example_conditions(self, L: torch.Tensor) -> dict:
        """A random domain input at L's size (depends only on L's shape and device)."""
        g = torch.Generator().manual_seed(0)
        B, (h, w) = L.shape[0], L.shape[-2:]
        return {self.domain_input: torch.rand(B, 1, h, w, generator=g).to(L.device)}

    @staticmethod
    def _gray(batch: dict) -> torch.Tensor:
        """The clean gray image in [0, 1]: L / 100, (B, 1, H, W)."""
        return (batch["L"].float() / 100.0).clamp(0, 1)
