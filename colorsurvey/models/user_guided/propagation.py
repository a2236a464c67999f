"""Hint propagation by normalised convolution: a learning-free reference for the user-guided
methods (not a surveyed method; see its card)."""

from __future__ import annotations

import math

import torch

from ... import hints as H
from ..base import ModelCard
from ..registry import register
from .base import UserGuidedModel

__all__ = ["HintPropagation"]


@register
class HintPropagation(UserGuidedModel):
    """A reference without learning: spread each hint's colour by normalised convolution.

    ab = G * (mask hints) / (G * mask + k), with G a Gaussian of sigma = ``spread`` x the image
    side and k = ``floor``: the hints' colour near them, fading to gray far from any. It shows
    what the hints alone give, so the user-guided networks can be judged on what they add (the
    colour of unhinted regions, edges respected); it also answers instantly in the hint painter.
    """

    card = ModelCard(
        key="hint-propagation", title="Hint propagation by normalised convolution (reference)",
        parameters=0, parameters_source="this re-implementation",
        authors="-", venue="-", year=None, section="—", taxonomy="baseline", conditions=("hints",),
        losses=(),
        substitutions="Not a surveyed method: a Gaussian normalised convolution of the hints (sigma = 1/8 "
                      "of the image side), a learning-free stand-in for the optimisation-based propagation "
                      "(Levin et al. 2004) that the survey's user-guided networks replace.",
    )
    sizes = {"paper": {}, "small": {}, "smoke": {}}

    def __init__(self, spread: float = 0.125, floor: float = 0.02):
        super().__init__()
        self.spread, self.floor = spread, floor

    def needs_fit(self) -> bool:
        return False

    def training_step(self, batch: dict) -> dict:
        return {}

    def colorize(self, L, hints=None, mask=None, **_):
        hints, mask = self._hint_inputs(L, hints, mask)
        sigma = max(0.5, self.spread * max(L.shape[-2:]))
        blurred = H._gauss(torch.cat([mask, mask * hints], 1), sigma)   # weights and weighted ab, one pass
        w, v = blurred[:, :1], blurred[:, 1:]
        peak = 1.0 / (2 * math.pi * sigma ** 2)          # the weight a one-pixel hint gives itself
        return v / (w + self.floor * peak)

