"""Reconstruction losses shared by several methods (the adversarial ones are in
:mod:`colorsurvey.models.adversarial`). Each returns a 0-d float32 tensor."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .layers import AB_NORM

__all__ = ["huber_ab"]


def huber_ab(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Zhang et al.'s (SIGGRAPH 2017) Huber loss on ab: smooth-L1 of ab / 110 with delta = 1 / 110
    (i.e. delta = 1 Lab unit), summed over a and b, averaged over pixels.

    ``pred``, ``target``: (B, 2, H, W) ab in Lab units; ``weight``: optional (B, 1, H, W) per-pixel
    weights (e.g. the hint mask), the sum then divided by the weights' sum (at least 1).
    """
    d = F.smooth_l1_loss(pred.float() / AB_NORM, target.float() / AB_NORM, beta=1.0 / AB_NORM,
                         reduction="none").sum(1, keepdim=True)
    if weight is None:
        return d.mean()
    return (d * weight).sum() / weight.sum().clamp_min(1.0)
