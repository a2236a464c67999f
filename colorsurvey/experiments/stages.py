"""Splitting a step budget over a method's training stages (Instance-aware colorization, Su et al.
CVPR 2020, survey §2.7.3, trains its instance network, its full-image network and its fusion
modules one after the other)."""

from __future__ import annotations

from typing import Sequence

__all__ = ["stage_split"]


def stage_split(total_steps: int, fractions: Sequence[float] = (0.4, 0.3, 0.3)) -> tuple[int, int, int]:
    """Split a step budget over Su et al.'s three stages (at least one step each)."""
    total = max(3, int(total_steps))
    a = max(1, round(total * fractions[0]))
    b = max(1, round(total * fractions[1]))
    return a, b, max(1, total - a - b)
