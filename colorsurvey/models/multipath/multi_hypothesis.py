"""§2.6.6 Multiple Hypothesis Colorization (Baig & Torresani, 2017): a residual trunk split into K
heads, each a per-pixel colour distribution, trained with the best-of-K (oracle) loss."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..base import ModelCard
from ..layers import ConvBlock, ResidualBlock, fp32, norm_L
from ..registry import register
from .base import BinnedColorModel, best_of_k

__all__ = ["MultipleHypothesis"]


@register
class MultipleHypothesis(BinnedColorModel):
    """Multiple hypothesis colorization: one trunk, K heads, the best-of-K loss.

    As the survey (§2.6.6) describes it: a **fully convolutional** common trunk of residual
    blocks — "batch normalization is performed in all blocks, and ReLU is applied to all layers,
    except the last of each block" (:class:`~colorsurvey.models.layers.ResidualBlock` without
    the post-sum activation) — "preceded by a stand-alone convolutional layer", whose widths grow
    stage by stage (32 to 1024 over 21 blocks for ImageNet at size "paper"; a 1x1 conv, stride 2
    on the first two stages, changes the width between stages); the trunk is then **split into
    K branches**, each a conv block and a 1x1 conv to a softmax over the ab bins per pixel
    (at 1/4 resolution). Training: each head's rebalanced cross-entropy per image; only the
    best head per image learns (:func:`~colorsurvey.models.multipath.base.best_of_k`).

    ``colorize(L, head=None)``: one answer from the K heads — their per-pixel distributions
    mixed with weights proportional to the training images each head won (``wins``), decoded by
    the annealed mean — or the hypothesis of the ``head`` given; ``explain`` returns all K
    hypotheses.
    """

    card = ModelCard(
        key="multi-hypothesis",
        title="Multiple Hypothesis Colorization and Its Application to Image Compression",
        authors="Mohammad Haris Baig, Lorenzo Torresani",
        venue="CVIU (arXiv 2016/2017)", year=2017, section="2.6.6", taxonomy="multi-path",
        conditions=(),
        losses=("best-of-K: the smallest of the K heads' per-image rebalanced cross-entropies over ab bins",),
        framework="not released",
        parameters=92_135_828,
        parameters_source="this re-implementation (no official code)",
        survey_recipe="§2.6.6: softmax loss. CIFAR-100 model: 31 blocks of 64-256 channels, 40k iterations, lr "
                      "0.001 dropped x0.1 after 10k and 20k. ImageNet model: 21 blocks of 32-1024 channels, "
                      "120k iterations, lr 0.0005 dropped by a factor of 5 after 40k and 80k",
        notes="Survey slip (§2.6.6): it names the authors 'Mohammad & Lorenzo', their given names; they are "
              "Baig and Torresani (its reference [78]). No official code: the stage layout of the 21 blocks, K, "
              "the heads and the bins are ours.",
        substitutions=(
            "'paper': the ImageNet trunk as 21 residual blocks in six stages (32, 64, 128, 256, 512, 1024 "
            "channels; 3, 3, 4, 4, 4, 3 blocks), K = 4 heads. 'small': 7 blocks of 16-128, K = 4; 'smoke': 3 "
            "blocks of 8-32, K = 3. Bins: Zhang et al.'s in-gamut ab lattice (step 10; 20 at 'smoke'), "
            "rebalanced. The single answer colorize gives by default is our choice (the paper evaluates the "
            "oracle): the heads' distributions mixed by their training wins, decoded by the annealed mean "
            "(in the cpu profile, on eight test images: 23.99 dB against 22.12 for the most-winning head alone; "
            "on the 200 test images 23.33 dB against 20.57 for gray)."),
    )
    sizes = {
        "paper": dict(stages=((32, 3), (64, 3), (128, 4), (256, 4), (512, 4), (1024, 3)), heads=4, grid=10.0),
        "small": dict(stages=((16, 2), (32, 2), (64, 2), (128, 1)), heads=4, grid=10.0),
        "smoke": dict(stages=((8, 1), (16, 1), (32, 1)), heads=3, grid=20.0),
    }

    def __init__(self, stages=((32, 3), (64, 3), (128, 4), (256, 4), (512, 4), (1024, 3)), heads: int = 4,
                 grid: float = 10.0, temperature: float = 0.38, lr: float = 1e-3):
        super().__init__()
        if heads < 1:
            raise ValueError(f"heads must be at least 1; got {heads}")
        Q = self._init_bins(grid)
        self.temperature, self.lr = temperature, lr
        layers: list[nn.Module] = [nn.Conv2d(1, stages[0][0], 3, padding=1)]   # the stand-alone convolution
        cin = stages[0][0]
        for i, (c, n) in enumerate(stages):
            if c != cin or i < 2:                                             # width change; 1/2, 1/4
                layers.append(ConvBlock(cin, c, 1, stride=2 if i < 2 else 1, kernel_size=1 if i >= 2 else 3))
            layers += [ResidualBlock(c) for _ in range(n)]
            cin = c
        self.trunk = nn.Sequential(*layers)
        hc = max(8, cin // 4)
        self.heads = nn.ModuleList([nn.Sequential(ConvBlock(cin, hc, 1), nn.Conv2d(hc, Q, 1)) for _ in range(heads)])
        self.register_buffer("wins", torch.zeros(heads, dtype=torch.long))

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        """Logits (K, B, Q, H/4, W/4) of the K hypotheses, for H, W multiples of 4."""
        f = self.trunk(norm_L(L))
        return torch.stack([h(f) for h in self.heads])

    def _logits(self, L: torch.Tensor) -> torch.Tensor:
        """Logits (K, B, Q, h, w) of the K heads for L of any size (padded to multiples of 4)."""
        return self(self.pad_to_multiple(L, 4)[0])

    def _to_ab(self, logits: torch.Tensor, L: torch.Tensor, T: float | None) -> torch.Tensor:
        """ab (N, 2, H, W) at L's size from logits (N, Q, h, w), by the annealed mean."""
        H, W = L.shape[-2:]
        with fp32(L.device):
            ab = self.decode(logits, self.temperature if T is None else T)
            ab = F.interpolate(ab, scale_factor=4, mode="bilinear", align_corners=False)
        return ab[..., :H, :W].contiguous()

    def _hypotheses(self, z: torch.Tensor, L: torch.Tensor, T: float | None) -> torch.Tensor:
        """ab (K, B, 2, H, W) of every head from the logits ``z`` (K, B, Q, h, w)."""
        K, B = z.shape[:2]
        return self._to_ab(z.flatten(0, 1), L, T).reshape(K, B, 2, *L.shape[-2:])

    def _mixture(self, z: torch.Tensor, L: torch.Tensor, T: float | None) -> torch.Tensor:
        """ab (B, 2, H, W): the annealed mean of the heads' per-pixel distributions mixed by
        :meth:`head_weights` — one answer from K hypotheses."""
        with fp32(L.device):
            p = (z.float().softmax(2) * self.head_weights().to(z.device)[:, None, None, None, None]).sum(0)
        return self._to_ab(p.clamp_min(1e-12).log(), L, T)

    def default_head(self) -> int:
        """The head that won the most training images (0 before training)."""
        return int(self.wins.argmax())

    def head_weights(self) -> torch.Tensor:
        """(K,) mixture weights of the heads: each head's share of the training images it won
        (uniform before training)."""
        w = self.wins.float()
        return w / w.sum() if float(w.sum()) > 0 else torch.full_like(w, 1.0 / len(w))

    def colorize(self, L: torch.Tensor, head: int | None = None, T: float | None = None, **_) -> torch.Tensor:
        """ab (B, 2, H, W) in Lab units: the heads' mixture (:meth:`_mixture`) by default, or
        hypothesis ``head`` (0..K-1; ValueError otherwise)."""
        if head is not None and not 0 <= int(head) < len(self.heads):
            raise ValueError(f"head must be in 0..{len(self.heads) - 1}; got {head}")
        z = self._logits(L)
        return self._mixture(z, L, T) if head is None else self._to_ab(z[int(head)], L, T)

    def explain(self, L: torch.Tensor, T: float | None = None, **_) -> dict:
        """{"hypotheses": ab of every head (B, K, 2, H, W), "ab": the heads' mixture (B, 2, H, W),
        "weights": the heads' mixture weights (K,)}."""
        z = self._logits(L)                               # one pass of the network for both
        return {"hypotheses": self._hypotheses(z, L, T).transpose(0, 1).contiguous(), "ab": self._mixture(z, L, T),
                "weights": self.head_weights()}

    def head_losses(self, L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        """Each head's per-image loss (K, B): the mean over pixels of its rebalanced cross-entropy."""
        Lp, _ = self.pad_to_multiple(L, 4)
        abp, _ = self.pad_to_multiple(ab, 4)
        z = self(Lp)
        K, B = z.shape[:2]
        return self.bin_loss(z.flatten(0, 1), abp.repeat(K, 1, 1, 1)).reshape(K, B, -1).mean(-1)

    def training_step(self, batch: dict) -> dict:
        losses = self.head_losses(batch["L"], batch["ab"])
        loss, winner = best_of_k(losses)
        self.step(loss)
        with torch.no_grad():
            self.wins += torch.bincount(winner, minlength=len(self.heads))
        return {"loss": loss.detach(), "mean_head_loss": losses.mean().detach()}
