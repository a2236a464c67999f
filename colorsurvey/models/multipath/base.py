"""What the multi-path methods (survey §2.6) share: ab bins with class rebalancing, the
segmentation target and its mean IoU, and the best-of-K (oracle) loss.

* :class:`BinnedColorModel` — a method that predicts a distribution over quantised ab bins
  (Zhang et al. 2016's lattice of step ``grid`` inside the sRGB gamut) per pixel: the bins as a
  buffer, the rebalancing weights measured on the training data (:meth:`fit_statistics`,
  Zhang et al. eq. 3-4), the per-pixel rebalanced cross-entropy against soft-encoded targets
  (:meth:`BinnedColorModel.bin_loss`) and the annealed-mean decoding. Zhao et al. 2018/2019 and
  Baig & Torresani 2017 all classify ab this way; PixColor samples its bins.
* :func:`segmentation_target` — per-pixel classes from the data: 0 for background, 1 + the
  image's category inside its object mask (rendered data has masks; real image folders get the
  mask of the non-white background). The segmentation-trained methods (Zhao et al.) learn it.
* :func:`mean_iou` — the mean intersection-over-union of a predicted and a true label map.
* :class:`SegmentationMixin` — the segmentation half of the two Zhao et al. methods: class
  weights from the training masks, the weighted cross-entropy, ``segment``.
* :func:`best_of_k` — the oracle loss of multiple-hypothesis training (Guzman-Rivera et al.
  2012; Baig & Torresani 2017): only the hypothesis closest to the truth is trained per image.
"""

from __future__ import annotations


import torch
import torch.nn as nn
import torch.nn.functional as F

from ...color import ab_prior, annealed_mean, gamut_bins, rebalance_weights, soft_encode
from ..base import ColorizationModel
from ..layers import fp32

__all__ = ["MULTI_PATH", "BinnedColorModel", "segmentation_target", "mean_iou", "best_of_k",
           "GatedResidualBlock", "SegmentationMixin"]

#: the registered keys of this class, in survey order (§2.6.1 ... §2.6.7)
MULTI_PATH = ("iizuka", "larsson", "pixcolor", "colorcapsnet", "zhao-pixelated", "multi-hypothesis",
              "zhao-semantic")


def segmentation_target(batch: dict, size: tuple[int, int] | None = None) -> torch.Tensor:
    """Per-pixel class (B, H, W) long: 0 = background, 1 + ``batch["label"]`` on the object
    (``batch["mask"] > 0.5``). ``size``: nearest-neighbour resized to (h, w).

    KeyError naming the fix when the batch has no ``"mask"`` or ``"label"`` (rendered data and
    real image folders have both)."""
    for k in ("mask", "label"):
        if k not in batch:
            raise KeyError(f"segmentation needs batch[{k!r}] (rendered data and image folders provide "
                           "'mask' and 'label'): use such a data set")
    m = batch["mask"].float()
    if size is not None and tuple(m.shape[-2:]) != tuple(size):
        m = F.interpolate(m, size=size, mode="nearest")
    return ((m[:, 0] > 0.5).long() * (batch["label"].long().view(-1, 1, 1) + 1))


def mean_iou(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> float:
    """Mean IoU over the classes present in ``target`` or ``pred``: pred, target (B, H, W) long
    in 0..num_classes-1. A class absent from both is left out of the mean."""
    p, t = pred.flatten().long(), target.flatten().long()
    inter = torch.bincount(t[p == t], minlength=num_classes).double()
    union = (torch.bincount(p, minlength=num_classes) + torch.bincount(t, minlength=num_classes)).double() - inter
    keep = union > 0
    return float((inter[keep] / union[keep]).mean()) if keep.any() else float("nan")


def best_of_k(losses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The best-of-K (oracle, min-over-hypotheses) loss.

    ``losses`` (K, B): each hypothesis' loss on each image. Returns (the mean over images of the
    smallest loss, 0-d; the winning hypothesis of each image, (B,) long). Only the winners get
    gradient, so the K heads specialise (Baig & Torresani 2017, after Guzman-Rivera et al. 2012).
    """
    if losses.dim() != 2:
        raise ValueError(f"best_of_k expects (K, B) per-hypothesis losses; got shape {tuple(losses.shape)}")
    best, winner = losses.min(0)
    return best.mean(), winner


class GatedResidualBlock(nn.Module):
    """x + tanh(f) * sigmoid(g), (f, g) = conv3x3(ReLU(conv3x3(x))) split in two: two
    convolutions, a skip connection and a gate (the block of Zhao et al. 2019's colour
    embedding branch, survey §2.6.5; the gated activation of van den Oord et al. 2016).
    Shape-preserving, (B, c, H, W); ``dilation`` widens the 3x3 kernels."""

    def __init__(self, c: int, dilation: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv2d(c, 2 * c, 3, padding=dilation, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f, g = self.conv2(F.relu(self.conv1(x))).chunk(2, 1)
        return x + torch.tanh(f) * torch.sigmoid(g)


class BinnedColorModel(ColorizationModel):
    """Base of the methods that classify ab into in-gamut bins (see the module docstring).

    ``bins`` (Q, 2) and ``class_weights`` (Q,) are non-persistent buffers: the bins are fixed
    by ``grid``, the weights measured by :meth:`fit_statistics` on the training data (uniform
    until then)."""

    def _init_bins(self, grid: float = 10.0, lam: float = 0.5, sigma: float = 5.0) -> int:
        bins = gamut_bins(grid)
        self.grid, self.lam, self.sigma = grid, lam, sigma
        self.register_buffer("bins", bins, persistent=False)
        self.register_buffer("class_weights", torch.ones(bins.shape[0], device=bins.device), persistent=False)
        return bins.shape[0]

    @property
    def num_bins(self) -> int:
        return self.bins.shape[0]

    @torch.no_grad()
    def fit_statistics(self, batches) -> None:
        """The ab prior over the bins on training batches -> rebalancing weights (Zhang et al.
        eq. 3-4: prior smoothed by sigma 5, mixed with uniform by lambda 0.5)."""
        batches = list(batches)
        bins = self.bins.cpu()
        prior = ab_prior((b["ab"].float().cpu() for b in batches), bins)
        w = rebalance_weights(prior, bins, lam=self.lam, sigma=self.sigma)
        self.class_weights.copy_(w.to(self.class_weights.device))

    def bin_loss(self, logits: torch.Tensor, ab: torch.Tensor, rebalance: bool = True) -> torch.Tensor:
        """Per-pixel multinomial cross-entropy (B, h, w), float32, of ``logits`` (B, Q, h, w)
        against the soft-encoded ab (B, 2, H, W) area-resized to (h, w) (5 nearest bins,
        sigma 5), weighted by the rebalancing weight of the nearest bin unless ``rebalance`` is
        False (Zhang et al. 2016 eq. 2)."""
        with fp32(logits.device):
            t = ab.float()
            if t.shape[-2:] != logits.shape[-2:]:
                t = F.interpolate(t, size=logits.shape[-2:], mode="area")
            Z = soft_encode(t, self.bins, sigma=5.0, k=5)
            ce = -(Z * F.log_softmax(logits.float(), 1)).sum(1)
            return ce * self.class_weights[Z.argmax(1)] if rebalance else ce

    def decode(self, logits: torch.Tensor, T: float = 0.38) -> torch.Tensor:
        """ab (B, 2, h, w) from logits (B, Q, h, w) by the annealed mean (T = 0.38, Zhang et al.)."""
        with fp32(logits.device):
            return annealed_mean(logits.float(), self.bins, T)


class SegmentationMixin:
    """The segmentation half shared by the two Zhao et al. methods: class weights measured on
    the training masks (median-frequency balancing, Eigen & Fergus 2015), the weighted
    cross-entropy, and ``segment`` (per-pixel classes, 0 = background, 1 + category)."""

    seg_classes: int

    def _init_segmentation(self, num_classes: int) -> None:
        self.seg_classes = num_classes + 1
        self.register_buffer("seg_weights", torch.ones(self.seg_classes), persistent=False)

    @torch.no_grad()
    def fit_statistics(self, batches) -> None:
        batches = list(batches)
        super().fit_statistics(batches)
        counts = torch.zeros(self.seg_classes, dtype=torch.float64)
        for b in batches:
            if "mask" in b and "label" in b:
                t = segmentation_target(b).flatten().cpu().clamp(max=self.seg_classes - 1)
                counts += torch.bincount(t, minlength=self.seg_classes).double()
        if counts.sum() > 0:
            freq = counts / counts.sum()
            present = freq > 0
            w = torch.ones_like(freq)
            w[present] = freq[present].median() / freq[present]
            self.seg_weights.copy_(w.float().to(self.seg_weights.device))

    def segmentation_logits(self, Lp: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        """Segmentation logits (B, S, H, W) for L padded to a multiple of 8 (each method's own)."""
        raise NotImplementedError

    def segment(self, L: torch.Tensor) -> torch.Tensor:
        """Per-pixel classes (B, H, W) long: 0 background, 1 + category (eval mode, no graph; the
        train/eval flags are restored)."""
        modes = [(m, m.training) for m in self.modules()]
        try:
            self.eval()
            with torch.no_grad():
                H, W = L.shape[-2:]
                return self.segmentation_logits(self.pad_to_multiple(L, 8)[0])[..., :H, :W].argmax(1)
        finally:
            for m, mode in modes:
                m.training = mode

    def seg_loss(self, logits: torch.Tensor, batch: dict) -> torch.Tensor:
        """Weighted cross-entropy of segmentation logits (B, S, h, w) against the batch's classes."""
        t = segmentation_target(batch, tuple(logits.shape[-2:])).clamp(max=self.seg_classes - 1)
        return F.cross_entropy(logits.float(), t, weight=self.seg_weights.to(logits.device))
