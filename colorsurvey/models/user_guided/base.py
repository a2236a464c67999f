"""The shared part of the user-guided methods (survey §2.2): simulated users, hint budgets,
colour suggestions, and the ab bins of Zhang et al.'s distribution head.

Every user-guided method follows :class:`~colorsurvey.models.base.ColorizationModel`:
``colorize(L, hints=None, mask=None, ...)`` takes L (B, 1, H, W) in 0..100 at any H, W, hints
(B, 2, H, W) in Lab units and a mask (B, 1, H, W) in {0, 1} (absent: no hints), and returns ab
in Lab units at the input size; ``conditions_from_batch`` simulates a user from the ground
truth (:mod:`colorsurvey.hints`), deterministically per image (seeded by the image's index), so
every table and the PSNR-against-hints curve are repeatable. ``with model.hint_budget(k):``
fixes the number of simulated hints (strokes, for Scribbler) for evaluation; the default is
the training law (geometric, p = 1/8). ``training_step`` returns 0-d detached tensors; the
supervised term is always logged as ``"loss"``.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F  # noqa: F401

from ... import hints as H
from ...color import lab_to_rgb
from ..base import ColorizationModel
from ..layers import AB_NORM  # noqa: F401  (re-exported: the ab scale of every method here)

__all__ = ["UserGuidedModel", "USER_GUIDED", "siggraph17_bins", "encode_ab_index", "in_gamut", "AB_NORM"]

#: the registered keys of this module, in survey order
USER_GUIDED = ("scribbler", "realtime-ug", "realtime-ug-global", "idc", "lineart")


def siggraph17_bins() -> torch.Tensor:
    """The 529 ab bins of Zhang et al. 2017's distribution head: a 23 x 23 grid of step 10 over
    [-110, 110]^2, bin q = 23 * a_index + b_index (their ``encode_ab_ind``). (529, 2) float32."""
    v = torch.arange(-110.0, 111.0, 10.0)
    a, b = torch.meshgrid(v, v, indexing="ij")
    return torch.stack([a.flatten(), b.flatten()], 1)


def encode_ab_index(ab: torch.Tensor) -> torch.Tensor:
    """ab (B, 2, h, w) in Lab units -> bin index (B, h, w) of :func:`siggraph17_bins`."""
    q = torch.round((ab.float().clamp(-110, 110) + 110.0) / 10.0).long()
    return q[:, 0] * 23 + q[:, 1]


def in_gamut(L: float, ab: torch.Tensor, tol: float = 1e-3) -> torch.Tensor:
    """Whether each ab (N, 2) is displayable in sRGB at lightness L. (N,) bool."""
    lab = torch.cat([torch.full_like(ab[:, :1], float(L)), ab.float()], 1).t().reshape(3, -1, 1)
    rgb = lab_to_rgb(lab, clip=False).reshape(3, -1)
    return ((rgb >= -tol) & (rgb <= 1 + tol)).all(0)


# ======================================================================================
# The shared part: simulated users, hint budgets, colour suggestions
# ======================================================================================

class UserGuidedModel(ColorizationModel):
    """Base of the user-guided methods: simulated hints, a hint budget, colour suggestions.

    Subclasses set ``hint_kind`` ("points" or "strokes") and implement ``forward_ab`` and
    ``training_step``. ``conditions_from_batch`` returns ``{"hints", "mask"}`` (plus global
    inputs for the methods that take them).
    """

    hint_kind = "points"
    hint_p = 0.125               # geometric parameter of the hint count (Zhang et al.)
    stroke_law = "geometric"     # stroke-count law in training (strokes only; see hints.simulate_strokes)

    def __init__(self):
        super().__init__()
        self.eval_points: int | None = None   # None: the training law; k: exactly k hints
        self.eval_global = True               # give global inputs at evaluation (methods that take them)
        self.hint_seed = 0

    # -- simulated users ---------------------------------------------------------------
    def simulate(self, batch: dict, num_points: int | None = None, seeds=None, seed: int | None = None,
                 give_global: bool | None = None) -> dict:
        """Simulated user input for a batch: ``{"hints", "mask"}`` drawn from the ground truth."""
        ab = batch["ab"]
        if self.hint_kind == "strokes":
            hints, mask = H.simulate_strokes(ab, num_strokes=num_points, seeds=seeds, seed=seed,
                                             law=self.stroke_law)
        else:
            hints, mask = H.simulate_hints(ab, p=self.hint_p, num_points=num_points, seeds=seeds, seed=seed)
        return {"hints": hints, "mask": mask}

    def conditions_from_batch(self, batch: dict) -> dict:
        """Evaluation-time user input: drawn per image from a seed made of its dataset index, so the
        same image always gets the same hints, whatever the batch."""
        seeds = H.image_seeds(batch["index"], self.hint_seed) if "index" in batch else None
        seed = None if seeds is not None else self.hint_seed
        return self.simulate(batch, num_points=self.eval_points, seeds=seeds, seed=seed,
                             give_global=self.eval_global)

    def training_conditions(self, batch: dict) -> dict:
        """Training-time user input: a fresh draw per step (seeded from torch's global RNG)."""
        return self.simulate(batch, num_points=None, seed=None, give_global=None)

    @contextlib.contextmanager
    def hint_budget(self, k: int | None, give_global: bool | None = None):
        """Evaluate with exactly ``k`` simulated hints (strokes for Scribbler); None: the training law."""
        old = (self.eval_points, self.eval_global)
        self.eval_points = k
        if give_global is not None:
            self.eval_global = give_global
        try:
            yield self
        finally:
            self.eval_points, self.eval_global = old

    # -- inputs ------------------------------------------------------------------------
    @staticmethod
    def _hint_inputs(L: torch.Tensor, hints: torch.Tensor | None, mask: torch.Tensor | None):
        B, _, Hh, Ww = L.shape
        if hints is None:
            hints = torch.zeros(B, 2, Hh, Ww, device=L.device, dtype=torch.float32)
        if mask is None:
            mask = (hints.abs().sum(1, keepdim=True) > 0).float()
        if hints.shape[-2:] != L.shape[-2:] or mask.shape[-2:] != L.shape[-2:]:
            raise ValueError(f"hints {tuple(hints.shape)} and mask {tuple(mask.shape)} must match L's size "
                             f"{tuple(L.shape[-2:])}")
        return hints.to(L.device, torch.float32), mask.to(L.device, torch.float32)

    @staticmethod
    def _pad(x: torch.Tensor, m: int, mode: str = "replicate") -> torch.Tensor:
        Hh, Ww = x.shape[-2:]
        ph, pw = (-Hh) % m, (-Ww) % m
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode=mode) if mode != "zeros" else F.pad(x, (0, pw, 0, ph))
        return x

    # -- suggestions ---------------------------------------------------------------------
    @torch.no_grad()
    def suggest_colors(self, L: torch.Tensor, x: int, y: int, hints: torch.Tensor | None = None,
                       mask: torch.Tensor | None = None, k: int = 6, **conditions) -> list[tuple[float, float, float]]:
        """Up to ``k`` colours (a, b, weight) to offer for pixel (x, y) of L (1, 1, H, W).

        Generic fallback: the method's current prediction at the point first, then the most
        frequent distinct colours its prediction uses over the image, all in gamut at the
        point's lightness. :class:`RealTimeUserGuided` overrides this with its distribution head.
        """
        was = self.training
        self.eval()
        try:
            ab = self.colorize(L, hints=hints, mask=mask, **conditions).float()[0]
        finally:
            self.train(was)
        Lp = float(L[0, 0, y, x])
        first = ab[:, y, x]
        q = torch.round(ab.reshape(2, -1).t() / 10.0) * 10.0
        uniq, counts = torch.unique(q, dim=0, return_counts=True)
        order = counts.argsort(descending=True)
        cands = torch.cat([first.view(1, 2), uniq[order]], 0)
        weights = torch.cat([torch.ones(1), counts[order].float() / counts.sum()])
        ok = in_gamut(Lp, cands.cpu())
        out: list[tuple[float, float, float]] = []
        for (a, b), w, g in zip(cands.cpu().tolist(), weights.tolist(), ok.tolist()):
            if g and all(abs(a - a2) + abs(b - b2) > 6 for a2, b2, _ in out):
                out.append((a, b, w))
            if len(out) >= k:
                break
        return out
