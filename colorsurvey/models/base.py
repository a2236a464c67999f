"""The one interface every surveyed method implements (DESIGN.md, "One interface").

A method is a ``torch.nn.Module`` subclass of :class:`ColorizationModel` with

* ``card`` — a :class:`ModelCard`: who, where, which survey section, what it is conditioned
  on, and what this re-implementation scales down or substitutes;
* ``sizes`` — named presets of constructor arguments: ``"paper"`` follows the published
  structure, smaller ones (``"small"``, ``"smoke"``) serve brief training and the CPU smoke run;
* ``colorize(L, **conditions) -> ab`` — inference: L in Lab units (0..100), (B, 1, H, W),
  any H, W; returns ab in Lab units, (B, 2, H, W), at the input size;
* ``training_step(batch) -> dict`` — one optimisation step; the method owns its optimisers
  and losses, so GANs, VAEs and classifiers all train under the same loop
  (:func:`colorsurvey.train.train`). Values are 0-d tensors or floats; the loop reads them
  only every few steps, so a step never forces a host sync.

A *batch* is a dict (see :mod:`colorsurvey.data`) holding at least ``"rgb"`` (B, 3, H, W) in
[0, 1], ``"L"`` (B, 1, H, W) and ``"ab"`` (B, 2, H, W) in Lab units, ``"label"`` (B,), and
whatever auxiliary signals the data source provides (``"mask"``, ``"depth"``, ``"box"``,
``"caption"``, ``"palette"``).
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["ModelCard", "ColorizationModel", "count_parameters"]

TAXONOMY = (
    "baseline", "plain", "user-guided", "domain-specific", "text-based",
    "diverse", "multi-path", "exemplar-based",
)


@dataclass(frozen=True)
class ModelCard:
    """What a method is and how faithfully it is re-implemented here."""

    key: str
    title: str
    authors: str
    venue: str
    year: int | None                 # None: not a published method (the baselines)
    section: str                     # survey section, e.g. "2.1.2"; "—" for what the survey lacks
    taxonomy: str                    # one of TAXONOMY
    conditions: tuple[str, ...] = ()  # extra inputs besides L: "hints", "exemplar", "text", ...
    losses: tuple[str, ...] = ()
    framework: str = ""              # the original implementation's framework
    substitutions: str = ""          # what was scaled down or substituted, in plain words
    notes: str = ""
    survey_recipe: str = ""          # training as the survey states it (iterations, lr, data), with §
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.taxonomy not in TAXONOMY:
            raise ValueError(f"taxonomy {self.taxonomy!r} is not one of {TAXONOMY}")

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        cond = ", ".join(self.conditions) or "none"
        where = f"survey §{self.section}" if self.section != "—" else "not in the survey"
        lines = [
            f"{self.title} ({self.authors}, {self.venue} {self.year or ''}".rstrip() + f") — {where}, {self.taxonomy}",
            f"  key: {self.key}   conditions: {cond}   losses: {', '.join(self.losses) or '-'}",
        ]
        if self.framework:
            lines.append(f"  original framework: {self.framework}")
        if self.substitutions:
            lines.append(f"  here: {self.substitutions}")
        return "\n".join(lines)


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


class ColorizationModel(nn.Module):
    """Base class of every method. Subclasses set ``card`` and ``sizes`` and implement
    ``colorize`` and ``training_step``."""

    card: ClassVar[ModelCard]
    sizes: ClassVar[dict[str, dict[str, Any]]] = {"paper": {}}
    lr: float = 1e-3

    def __init__(self):
        super().__init__()
        self.size_name: str | None = None
        self._optimizers: dict[str, torch.optim.Optimizer] | None = None

    # -- inference -----------------------------------------------------------------------
    def colorize(self, L: torch.Tensor, **conditions) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def conditions_from_batch(self, batch: dict) -> dict:
        """The keyword arguments ``colorize`` takes, drawn from a data batch.

        Automatic methods need nothing; conditional ones override this (hints simulated
        from the ground truth, an exemplar, a caption...).
        """
        return {}

    @contextlib.contextmanager
    def hint_budget(self, k: int | None, give_global: bool | None = None):
        """Evaluate with exactly ``k`` simulated user hints. Methods without user input have
        nothing to limit: a no-op here, so callers need not ask which kind a model is
        (user-guided methods override it)."""
        yield self

    def example_conditions(self, L: torch.Tensor) -> dict:
        """Stand-in conditioning inputs at L's size, for timing and FLOP counts
        (:func:`colorsurvey.evaluate.inference_ms`): a reference image, boxes, a depth map...
        Automatic methods need none."""
        return {}

    @torch.no_grad()
    def predict(self, batch: dict) -> torch.Tensor:
        """ab for a batch, in eval mode, at the batch's size."""
        was = self.training
        self.eval()
        try:
            return self.colorize(batch["L"], **self.conditions_from_batch(batch)).float()
        finally:
            self.train(was)

    # -- training ------------------------------------------------------------------------
    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Optimisers by name; the default is one Adam over all parameters."""
        return {"main": torch.optim.Adam(self.parameters(), lr=self.lr)}

    @property
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        if self._optimizers is None:
            self._optimizers = self.configure_optimizers()
        return self._optimizers

    def step(self, loss: torch.Tensor, name: str = "main") -> None:
        opt = self.optimizers[name]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def training_step(self, batch: dict) -> dict[str, torch.Tensor | float]:  # pragma: no cover
        raise NotImplementedError

    def needs_fit(self) -> bool:
        """Whether the method has parameters to train (baselines may only need statistics)."""
        return any(p.requires_grad for p in self.parameters())

    def fit_statistics(self, batches) -> None:
        """Hook for methods that measure something on the training data before training
        (a mean colour, a colour prior). ``batches`` is an iterable of batches."""

    # -- helpers ---------------------------------------------------------------------------
    @staticmethod
    def to_input_size(ab: torch.Tensor, L: torch.Tensor) -> torch.Tensor:
        """Resize predicted ab to L's spatial size (bilinear), as every method must return."""
        if ab.shape[-2:] != L.shape[-2:]:
            ab = F.interpolate(ab.float(), size=L.shape[-2:], mode="bilinear", align_corners=False)
        return ab

    @staticmethod
    def pad_to_multiple(x: torch.Tensor, m: int) -> tuple[torch.Tensor, tuple[int, int]]:
        """Replicate-pad (B, C, H, W) so H and W are multiples of ``m``; returns the pad."""
        H, W = x.shape[-2:]
        ph, pw = (-H) % m, (-W) % m
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        return x, (ph, pw)

    def extra_repr(self) -> str:
        return f"size={self.size_name!r}, params={count_parameters(self):,}"
