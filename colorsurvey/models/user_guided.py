"""User-guided networks (survey §2.2): the gray image plus what a user tells the network.

The survey's second class of deep colorization methods take, besides the gray image, input
from a user — colour strokes, colour points, a global colour theme or histogram — and
propagate it over the image with a network trained on simulated input. Re-implemented here,
top to bottom:

* §2.2.1 :class:`Scribbler` — Sangkloy, Lu, Fang, Yu, Hays, CVPR 2017: a sketch plus colour
  strokes; an encoder / residual / decoder generator trained with pixel and adversarial losses;
* §2.2.2 :class:`RealTimeUserGuided` — Zhang, Zhu, Isola, Geng, Lin, Yu, Efros, SIGGRAPH 2017:
  the local-hint network (L, sparse ab points and their mask in, ab out; at size "paper" it is
  the published network and the official weights load by name), with a 529-bin distribution
  head that suggests colours for a clicked point, and :class:`RealTimeUserGuidedGlobal`, the
  global-hint network (a global ab histogram and the mean saturation as extra inputs);
* §2.2.3 :class:`InteractiveDeepColorization` — Xiao, Zhou, Zheng, Zhang, Chen, ICASSP 2019:
  gray image, local hints and a gradient map summed into one U-Net-like network, a global
  colour theme through four convolutions, a dilated module, a deconvolutional decoder;
* §2.2.4 :class:`AnimeLineArt` — Ci, Ma, Wang, Li, Luo, ACM MM 2018: line art plus colour
  hints, a U-Net of ResNeXt blocks with PixelShuffle upsampling and a local-feature encoder,
  trained against a WGAN-GP critic with a perceptual (content) loss.

Every method follows :class:`~colorsurvey.models.base.ColorizationModel`:
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
import functools
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import hints as H
from ..color import gamut_bins, lab_to_rgb, merge_lab
from .base import ColorizationModel, ModelCard
from .registry import register
from .weights import SIGGRAPH17

OFFICIAL_SIGGRAPH17_URL = SIGGRAPH17.url

__all__ = [
    "UserGuidedModel", "Scribbler", "RealTimeUserGuided", "RealTimeUserGuidedGlobal",
    "InteractiveDeepColorization", "AnimeLineArt", "HintPropagation", "siggraph17_bins", "in_gamut",
    "OFFICIAL_SIGGRAPH17_URL", "USER_GUIDED",
]

AB_NORM = 110.0

#: the registered keys of this module, in survey order
USER_GUIDED = ("scribbler", "realtime-ug", "realtime-ug-global", "idc", "lineart")


def _fp32(device: torch.device):
    """A region computed in float32 even inside a bf16 autocast (losses, colour maths)."""
    return torch.autocast(device_type=device.type, enabled=False)


@functools.lru_cache(maxsize=None)
def _gamut_bins_cached() -> torch.Tensor:
    return gamut_bins(10.0)


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


def _huber(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Zhang et al.'s Huber loss: on ab / 110 with delta = 1 / 110 (i.e. delta = 1 in Lab units),
    summed over a and b, averaged over pixels (optionally weighted)."""
    d = F.smooth_l1_loss(pred.float() / AB_NORM, target.float() / AB_NORM, beta=1.0 / AB_NORM,
                         reduction="none").sum(1, keepdim=True)
    if weight is None:
        return d.mean()
    return (d * weight).sum() / weight.sum().clamp_min(1.0)


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
        authors="-", venue="-", year=2020, section="2.2", taxonomy="baseline", conditions=("hints",),
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


# ======================================================================================
# §2.2.1  Scribbler (Sangkloy et al., CVPR 2017)
# ======================================================================================

class _ResBlock(nn.Module):
    def __init__(self, c: int, act: nn.Module | None = None, norm: bool = True):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c, c, 3, padding=1, bias=not norm), nn.BatchNorm2d(c) if norm else nn.Identity(),
            act if act is not None else nn.ReLU(inplace=True),
            nn.Conv2d(c, c, 3, padding=1, bias=not norm), nn.BatchNorm2d(c) if norm else nn.Identity())

    def forward(self, x):
        return x + self.body(x)


def _cbr(cin, cout, stride=1, k=3):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


@register
class Scribbler(UserGuidedModel):
    """Scribbler: a sketch plus colour strokes in, a colour image out.

    Generator (Sangkloy et al. §3): a 3x3 stem, three stride-2 convolutions (1/8 resolution),
    seven residual blocks, three bilinear-upsampling stages (upsample x2 + 3x3 conv), BatchNorm
    and ReLU throughout, and a Tanh output (ab = 110 tanh). Its input is the sketch — here the
    edges of the gray image (:func:`colorsurvey.hints.sketch`) — and the strokes (ab / 110 and
    their mask). Discriminator: five convolutions and two residual blocks with LeakyReLU and a
    sigmoid, judging (input, ab) pairs patch-wise. Loss: pixel (L2 on ab / 110) plus a small
    adversarial term.
    """

    card = ModelCard(
        key="scribbler", title="Scribbler: Controlling Deep Image Synthesis with Sketch and Color",
        authors="Patsorn Sangkloy, Jingwan Lu, Chen Fang, Fisher Yu, James Hays",
        venue="CVPR", year=2017, section="2.2.1", taxonomy="user-guided",
        conditions=("hints", "sketch"),
        losses=("pixel L2 on ab", "adversarial (BCE, patch discriminator)"),
        framework="Torch (Lua)",
        substitutions=(
            "Sketches are the edges of the gray image (Sobel magnitude, soft-thresholded) instead of "
            "the paper's boundary-detector / synthetic sketches; strokes are simulated from the ground "
            "truth as short polylines (1-3 segments, 1-3 px wide) carrying the local colour (5x5 mean ab); "
            "their number in training is log-uniform over 0-100 (ours: with a geometric count of mean 3, "
            "the cpu-profile network fell from 29.9 dB PSNR without strokes to 25.6 dB with 100; "
            "log-uniform: 29.8 / 29.7 dB). The network predicts ab only and is combined with the input "
            "L (the paper synthesises the whole RGB image from the sketch, so it never sees L; set "
            "gray_input=True to also feed L). Widths are ours (32-64-128-256 at 'paper'); decoder "
            "stages add the encoder's features at equal resolution (a skip we add for brief training). "
            "The paper's feature (VGG) and total-variation losses are left out; the adversarial weight "
            "is 0.01. 'small': width 16, 'smoke': width 8 with 2 residual blocks."),
    )
    sizes = {
        "paper": dict(width=32, blocks=7),
        "small": dict(width=16, blocks=7),
        "smoke": dict(width=8, blocks=2),
    }
    hint_kind = "strokes"
    stroke_law = "log-uniform"   # as many training images with 10-100 strokes as with 1-10

    def __init__(self, width: int = 32, blocks: int = 7, gray_input: bool = False, adv_weight: float = 0.01,
                 lr: float = 1e-3, d_width: int | None = None):
        super().__init__()
        self.gray_input, self.adv_weight, self.lr = gray_input, adv_weight, lr
        c = width
        cin = 4 + int(gray_input)
        self.stem = _cbr(cin, c)
        self.down = nn.ModuleList([_cbr(c, 2 * c, 2), _cbr(2 * c, 4 * c, 2), _cbr(4 * c, 8 * c, 2)])
        self.res = nn.Sequential(*[_ResBlock(8 * c) for _ in range(blocks)])
        self.up = nn.ModuleList([_cbr(8 * c, 4 * c), _cbr(4 * c, 2 * c), _cbr(2 * c, c)])
        self.out = nn.Conv2d(c, 2, 3, padding=1)
        d = d_width or c
        lrelu = lambda: nn.LeakyReLU(0.2, inplace=True)  # noqa: E731
        self.disc = nn.Sequential(                       # five convs + two residual blocks
            nn.Conv2d(cin + 2, d, 4, 2, 1), lrelu(),
            nn.Conv2d(d, 2 * d, 4, 2, 1), lrelu(),
            nn.Conv2d(2 * d, 4 * d, 3, 1, 1), lrelu(),
            _ResBlock(4 * d, nn.LeakyReLU(0.2, inplace=True), norm=False),
            _ResBlock(4 * d, nn.LeakyReLU(0.2, inplace=True), norm=False),
            nn.Conv2d(4 * d, 4 * d, 4, 2, 1), lrelu(),
            nn.Conv2d(4 * d, 1, 3, 1, 1))                 # logits; the sigmoid is in the BCE loss

    def inputs(self, L, hints, mask):
        hints, mask = self._hint_inputs(L, hints, mask)
        parts = [H.sketch(L), hints / AB_NORM, mask]
        if self.gray_input:
            parts.append((L - 50.0) / 50.0)
        return torch.cat(parts, 1)

    def generate(self, x: torch.Tensor) -> torch.Tensor:
        Hh, Ww = x.shape[-2:]
        x = self._pad(x, 8)
        skips = [self.stem(x)]
        for d in self.down:
            skips.append(d(skips[-1]))
        y = self.res(skips.pop())
        for u in self.up:
            skip = skips.pop()
            y = u(F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False)) + skip
        ab = AB_NORM * torch.tanh(self.out(y).float())
        return ab[..., :Hh, :Ww]

    def colorize(self, L, hints=None, mask=None, **_):
        return self.generate(self.inputs(L, hints, mask))

    def configure_optimizers(self):
        g = [p for n, p in self.named_parameters() if not n.startswith("disc.")]
        return {"main": torch.optim.Adam(g, lr=self.lr, betas=(0.5, 0.999)),
                "disc": torch.optim.Adam(self.disc.parameters(), lr=self.lr, betas=(0.5, 0.999))}

    def training_step(self, batch: dict) -> dict:
        cond = self.training_conditions(batch)
        x = self.inputs(batch["L"], cond["hints"], cond["mask"])
        real = batch["ab"].float() / AB_NORM
        fake = self.generate(x) / AB_NORM
        # discriminator
        d_real = self.disc(torch.cat([x, real], 1))
        d_fake = self.disc(torch.cat([x, fake.detach()], 1))
        with _fp32(x.device):
            d_loss = 0.5 * (F.binary_cross_entropy_with_logits(d_real.float(), torch.ones_like(d_real.float()))
                            + F.binary_cross_entropy_with_logits(d_fake.float(), torch.zeros_like(d_fake.float())))
        self.step(d_loss, "disc")
        # generator
        for p in self.disc.parameters():
            p.requires_grad_(False)
        g_logit = self.disc(torch.cat([x, fake], 1))
        for p in self.disc.parameters():
            p.requires_grad_(True)
        with _fp32(x.device):
            pix = F.mse_loss(fake.float(), real)
            adv = F.binary_cross_entropy_with_logits(g_logit.float(), torch.ones_like(g_logit.float()))
        self.step(pix + self.adv_weight * adv, "main")
        return {"loss": pix.detach(), "g_adv": adv.detach(), "d_loss": d_loss.detach()}


# ======================================================================================
# §2.2.2  Real-Time User-Guided Image Colorization (Zhang et al., SIGGRAPH 2017)
# ======================================================================================

@register
class RealTimeUserGuided(UserGuidedModel):
    """The local-hint network of Zhang et al. (SIGGRAPH 2017), with its distribution head.

    Input: L, a sparse ab map of user points and their mask (4 channels: (L - 50)/100, ab/110,
    mask - mask_cent). Ten blocks of 3x3 conv + ReLU, each closed by BatchNorm: blocks 1-4 halve
    the resolution between them (by taking every second pixel, as the official code does) to 1/8
    with widths 64-128-256-512, blocks 5-6 are dilated by 2, block 7 plain, blocks 8-10 double it
    back with 4x4 transposed convolutions (widths 256-128-128), each added to a 3x3 conv of the
    encoder's block 3, 2 and 1 ("symmetric shortcuts"); block 10 ends in LeakyReLU(0.2); a 1x1
    conv and Tanh give ab / 110. A 1x1 conv on block 8 (1/4 resolution) gives logits over the
    529 ab bins of a 23 x 23 grid: the *distribution head* that suggests colours for a point.
    Loss: Huber on ab (delta = 1 Lab unit) plus cross-entropy of the distribution head, which
    sees block 8's features detached so it cannot disturb the regression.

    At size "paper" the module names and shapes are exactly those of the official PyTorch
    weights (34,187,027 parameters); :meth:`from_official` downloads and loads them.
    """

    card = ModelCard(
        key="realtime-ug", title="Real-Time User-Guided Image Colorization with Learned Deep Priors",
        authors="Richard Zhang, Jun-Yan Zhu, Phillip Isola, Xinyang Geng, Angela S. Lin, Tianhe Yu, Alexei A. Efros",
        venue="ACM Transactions on Graphics (SIGGRAPH)", year=2017, section="2.2.2", taxonomy="user-guided",
        conditions=("hints",),
        losses=("Huber (smooth L1) on ab, delta = 1 Lab unit", "cross-entropy of the 529-bin distribution head"),
        framework="Caffe (original); official PyTorch port of the weights in richzhang/colorization",
        substitutions=(
            "'paper' is the published local-hint network with the official module names and shapes "
            "(34,187,027 parameters): from_official() loads the released weights (they expect a hint "
            "mask in {0, 1}, mask_cent = 0; networks trained here centre it to {-0.5, 0.5} as the "
            "authors' training code does). 'small' is x1/4 wide with one or two convs per block, "
            "'smoke' x1/8 wide with one conv per block. Hints are simulated as in the authors' code "
            "(geometric count p = 1/8, patches of side 1-9 centred around the image centre with spread "
            "(H - P + 1)/4, each the patch's mean ab). The authors train the distribution head first "
            "and the regression second on ImageNet; here both train together on the dataset, the head "
            "on detached features. The distribution head offers the suggested colours; the paper's "
            "tool also shows them as a gamut palette (see the hint painter)."),
    )
    sizes = {
        "paper": dict(width=1.0, convs=(2, 2, 3, 3, 3, 3, 3, 2)),
        "small": dict(width=0.25, convs=(1, 1, 2, 2, 2, 2, 2, 1)),
        "smoke": dict(width=0.125, convs=(1, 1, 1, 1, 1, 1, 1, 1)),
    }
    L_CENT, L_NORM = 50.0, 100.0
    NUM_BINS = 529

    def __init__(self, width: float = 1.0, convs=(2, 2, 3, 3, 3, 3, 3, 2), mask_cent: float = 0.5,
                 ce_weight: float = 1.0, lr: float = 1e-3, classes: int = 529):
        super().__init__()
        self.mask_cent, self.ce_weight, self.lr = mask_cent, ce_weight, lr
        c = [max(1, round(v * width)) for v in (64, 128, 256, 512, 512, 512, 512, 256, 128, 128)]
        self.widths = c

        def block(cin, cout, n, dilation=1):
            """n x (3x3 conv + ReLU), then BatchNorm: the official layout (conv at 0, 2, ...)."""
            layers: list[nn.Module] = []
            for i in range(n):
                layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=dilation, dilation=dilation,
                                     bias=True), nn.ReLU(True)]
            return nn.Sequential(*layers, nn.BatchNorm2d(cout))

        self.model1 = block(4, c[0], convs[0])
        self.model2 = block(c[0], c[1], convs[1])
        self.model3 = block(c[1], c[2], convs[2])
        self.model4 = block(c[2], c[3], convs[3])
        self.model5 = block(c[3], c[4], convs[4], dilation=2)
        self.model6 = block(c[4], c[5], convs[5], dilation=2)
        self.model7 = block(c[5], c[6], convs[6])
        self.model8up = nn.Sequential(nn.ConvTranspose2d(c[6], c[7], 4, stride=2, padding=1, bias=True))
        m8: list[nn.Module] = [nn.ReLU(True)]
        for _ in range(convs[7]):
            m8 += [nn.Conv2d(c[7], c[7], 3, padding=1, bias=True), nn.ReLU(True)]
        self.model8 = nn.Sequential(*m8, nn.BatchNorm2d(c[7]))
        self.model9up = nn.Sequential(nn.ConvTranspose2d(c[7], c[8], 4, stride=2, padding=1, bias=True))
        self.model9 = nn.Sequential(nn.ReLU(True), nn.Conv2d(c[8], c[8], 3, padding=1, bias=True), nn.ReLU(True),
                                    nn.BatchNorm2d(c[8]))
        self.model10up = nn.Sequential(nn.ConvTranspose2d(c[8], c[9], 4, stride=2, padding=1, bias=True))
        self.model10 = nn.Sequential(nn.ReLU(True), nn.Conv2d(c[9], c[9], 3, padding=1, bias=True),
                                     nn.LeakyReLU(negative_slope=0.2))
        self.model3short8 = nn.Sequential(nn.Conv2d(c[2], c[7], 3, padding=1, bias=True))
        self.model2short9 = nn.Sequential(nn.Conv2d(c[1], c[8], 3, padding=1, bias=True))
        self.model1short10 = nn.Sequential(nn.Conv2d(c[0], c[9], 3, padding=1, bias=True))
        self.model_class = nn.Sequential(nn.Conv2d(c[7], classes, 1, bias=True))
        self.model_out = nn.Sequential(nn.Conv2d(c[9], 2, 1, bias=True), nn.Tanh())
        self.register_buffer("bins", siggraph17_bins(), persistent=False)

    # -- network -------------------------------------------------------------------------
    def global_features(self, **conditions):   # the global-hint subclass adds to block 4
        return None

    def forward(self, L: torch.Tensor, hints: torch.Tensor, mask: torch.Tensor, **conditions):
        """(ab in Lab units, class logits at 1/4) for inputs whose H, W are multiples of 8."""
        x = torch.cat([(L - self.L_CENT) / self.L_NORM, hints / AB_NORM, mask - self.mask_cent], 1)
        conv1_2 = self.model1(x)
        conv2_2 = self.model2(conv1_2[:, :, ::2, ::2])
        conv3_3 = self.model3(conv2_2[:, :, ::2, ::2])
        conv4_3 = self.model4(conv3_3[:, :, ::2, ::2])
        g = self.global_features(**conditions)
        if g is not None:
            conv4_3 = conv4_3 + g.to(conv4_3.dtype)
        conv7_3 = self.model7(self.model6(self.model5(conv4_3)))
        conv8_3 = self.model8(self.model8up(conv7_3) + self.model3short8(conv3_3))
        logits = self.model_class(conv8_3.detach())
        conv9_3 = self.model9(self.model9up(conv8_3) + self.model2short9(conv2_2))
        conv10_2 = self.model10(self.model10up(conv9_3) + self.model1short10(conv1_2))
        return self.model_out(conv10_2).float() * AB_NORM, logits

    def _run(self, L, hints=None, mask=None, **conditions):
        hints, mask = self._hint_inputs(L, hints, mask)
        Hh, Ww = L.shape[-2:]
        ab, logits = self(self._pad(L, 8), self._pad(hints, 8, "zeros"), self._pad(mask, 8, "zeros"), **conditions)
        return ab[..., :Hh, :Ww], logits

    def colorize(self, L, hints=None, mask=None, **conditions):
        return self._run(L, hints, mask, **conditions)[0]

    @torch.no_grad()
    def distribution(self, L, hints=None, mask=None, **conditions) -> torch.Tensor:
        """Per-pixel probabilities over the 529 bins (:attr:`bins`), (B, 529, H, W)."""
        _, logits = self._run(L, hints, mask, **conditions)
        p = torch.softmax(logits.float(), 1)
        p = F.interpolate(p, scale_factor=4, mode="bilinear", align_corners=False)
        return p[..., :L.shape[-2], :L.shape[-1]]

    @torch.no_grad()
    def suggest_colors(self, L, x, y, hints=None, mask=None, k: int = 6, **conditions):
        """The ``k`` most probable in-gamut ab bins at pixel (x, y) under the distribution head,
        as (a, b, probability), most probable first (the authors' suggested-colour palette)."""
        was = self.training
        self.eval()
        try:
            _, logits = self._run(L, hints, mask, **conditions)
        finally:
            self.train(was)
        yy = min(int(y) // 4, logits.shape[-2] - 1)
        xx = min(int(x) // 4, logits.shape[-1] - 1)
        p = torch.softmax(logits[0, :, yy, xx].float(), 0).cpu()
        ok = in_gamut(float(L[0, 0, int(y), int(x)]), self.bins.cpu())
        p = torch.where(ok, p, torch.zeros_like(p))
        top = p.argsort(descending=True)[:k]
        return [(float(self.bins[q, 0]), float(self.bins[q, 1]), float(p[q])) for q in top.tolist() if p[q] > 0]

    # -- training ------------------------------------------------------------------------
    def training_step(self, batch: dict) -> dict:
        cond = self.training_conditions(batch)
        L, ab = batch["L"], batch["ab"]
        extra = {k: v for k, v in cond.items() if k not in ("hints", "mask")}
        pred, logits = self._run(L, cond["hints"], cond["mask"], **extra)
        with _fp32(L.device):
            loss = _huber(pred, ab)
            target = encode_ab_index(self._pad(ab, 8)[:, :, ::4, ::4])      # as the authors: subsampled
            ce = F.cross_entropy(logits.float(), target)
        self.step(loss + self.ce_weight * ce)
        return {"loss": loss.detach(), "ce": ce.detach()}

    # -- the official weights ------------------------------------------------------------
    @classmethod
    def load_official_state_dict(cls, path: str | os.PathLike) -> "RealTimeUserGuided":
        """Build the 'paper' local-hint network and load a state dict in the official layout
        (``siggraph17-df00044c.pth``). A file whose name carries a torch-hub hash
        (``name-<hex>.pth``) must have a sha256 starting with it. The hint mask is then taken
        in {0, 1} (``mask_cent = 0``), as the released (Caffe-converted) weights expect."""
        sd = SIGGRAPH17.read_state_dict(path)
        if "model_class.0.weight" not in sd or "model1.0.weight" not in sd:
            raise KeyError(f"{path} is not a SIGGRAPH17 state dict (no 'model1.0.weight' / 'model_class.0.weight')")
        model = RealTimeUserGuided(**{**RealTimeUserGuided.sizes["paper"], "mask_cent": 0.0})
        model.load_state_dict(sd, strict=True)
        model.size_name = "paper"
        return model.eval()

    @classmethod
    def from_official(cls, cache_dir: str | os.PathLike | None = None, progress: bool = True) -> "RealTimeUserGuided":
        """The published local-hint network with its released weights.

        Looks for ``siggraph17-df00044c.pth`` in ``cache_dir`` (default
        ``$COLORSURVEY_CACHE/weights`` or ``~/.cache/colorsurvey/weights``, then torch.hub's
        checkpoint folder, where richzhang/colorization's own loader keeps it) and otherwise
        downloads it from the authors' URL; the sha256 must start with ``df00044c``. Offline:
        :class:`colorsurvey.data.download.OfflineError` saying where to put the file by hand.
        """
        return cls.load_official_state_dict(SIGGRAPH17.fetch(cache_dir, progress))


@register
class RealTimeUserGuidedGlobal(RealTimeUserGuided):
    """The global-hint network of Zhang et al. 2017: the local-hint network plus global inputs.

    A global ab histogram (here over the sRGB-gamut bins at grid 10) and the mean saturation,
    each with a flag saying whether it is given, pass through four 1x1 conv + ReLU layers
    (512 wide at 'paper') and are added to block 4's features. Simulated from the ground truth:
    the histogram at 1/4 resolution and the mean HSV saturation, each given with probability
    1/2 in training, both at evaluation (``eval_global``).
    """

    card = ModelCard(
        key="realtime-ug-global", title="Real-Time User-Guided Image Colorization — global hints network",
        authors=RealTimeUserGuided.card.authors, venue=RealTimeUserGuided.card.venue, year=2017,
        section="2.2.2", taxonomy="user-guided", conditions=("hints", "histogram", "saturation"),
        losses=RealTimeUserGuided.card.losses, framework="Caffe (original)",
        substitutions=(
            "The global histogram is over the 262 sRGB-gamut ab bins computed here (grid 10) instead "
            "of the paper's 313; each global input is given with probability 1/2 during training "
            "(our choice); the network is trained from scratch jointly with its local-hint trunk "
            "(the authors fine-tune from the local-hint network). No official weights are released "
            "for it. Sizes as for realtime-ug."),
    )
    sizes = RealTimeUserGuided.sizes

    def __init__(self, width: float = 1.0, convs=(2, 2, 3, 3, 3, 3, 3, 2), p_global: float = 0.5, **kw):
        super().__init__(width=width, convs=convs, **kw)
        self.p_global = p_global
        self.register_buffer("hist_bins", _gamut_bins_cached().clone(), persistent=False)
        Q = self.hist_bins.shape[0]
        g = max(1, round(512 * width))
        layers: list[nn.Module] = []
        cin = Q + 3
        for _ in range(3):
            layers += [nn.Conv2d(cin, g, 1), nn.ReLU(True)]
            cin = g
        layers += [nn.Conv2d(g, self.widths[3], 1)]     # the fourth conv maps to block 4's width
        self.global_net = nn.Sequential(*layers)

    def simulate(self, batch, num_points=None, seeds=None, seed=None, give_global=None) -> dict:
        out = super().simulate(batch, num_points=num_points, seeds=seeds, seed=seed)
        hist, sat = H.global_hints(batch["ab"], self.hist_bins, batch.get("rgb"))
        B = hist.shape[0]
        if sat is None:
            sat = torch.zeros(B, device=hist.device)
        if give_global is None:   # training: each given with probability p_global
            g = torch.Generator().manual_seed(int(torch.randint(0, 2 ** 62, (1,)).item()) if seed is None else int(seed))
            use = (torch.rand(B, 2, generator=g) < self.p_global).float().to(hist.device)
        else:
            use = torch.full((B, 2), float(bool(give_global)), device=hist.device)
        out.update(histogram=hist * use[:, :1], histogram_given=use[:, 0],
                   saturation=sat * use[:, 1], saturation_given=use[:, 1])
        return out

    def global_features(self, histogram=None, histogram_given=None, saturation=None, saturation_given=None, **_):
        dev = self.hist_bins.device
        if histogram is None and saturation is None:
            return None
        B = (histogram if histogram is not None else saturation).shape[0]
        Q = self.hist_bins.shape[0]
        hist = histogram if histogram is not None else torch.zeros(B, Q, device=dev)
        hg = histogram_given if histogram_given is not None else torch.full((B,), float(histogram is not None), device=dev)
        sat = saturation if saturation is not None else torch.zeros(B, device=dev)
        sg = saturation_given if saturation_given is not None else torch.full((B,), float(saturation is not None), device=dev)
        v = torch.cat([hist.float(), hg.float().view(B, 1), sat.float().view(B, 1), sg.float().view(B, 1)], 1)
        return self.global_net(v.view(B, -1, 1, 1))


# ======================================================================================
# §2.2.3  Interactive Deep Colorization (Xiao et al., ICASSP 2019)
# ======================================================================================

@register
class InteractiveDeepColorization(UserGuidedModel):
    """Interactive deep colorization with simultaneous global and local inputs.

    U-Net-like (survey §2.2.3): a *feature-extraction module* whose first layer is the
    element-wise sum of three 3x3 convolutions — of the gray image, of the local hints (ab and
    mask) and of the gradient map of the gray image — followed by three stride-2 stages; the
    *global input* (a colour theme: here the image's 5-colour palette in Lab, with a flag)
    through four 1x1 convolutions, added to the bottleneck; a *dilated module* (dilations 2, 4,
    8, 1); a *reconstruction module* of 4x4 transposed convolutions and 3x3 convolutions with
    the encoder's features concatenated; ReLU everywhere but the Tanh output; the last
    convolution also sees the gray input ("output combined with the gray input"), and the
    predicted ab is joined with the input L. Loss: the modified Huber loss — Huber on every
    pixel plus a second Huber term restricted to the hinted pixels, so errors where the user
    gave a colour cost twice. Both terms compare with the ground truth: a simulated hint is a
    patch *mean*, wrong at the patch's edges, and a term pulling the output towards it taught
    the network to paint flat patches — then more hints lowered PSNR (cpu profile, 100 test
    images: 31.47 / 31.38 / 31.16 dB at 0 / 10 / 100 hints; against the truth: 31.99 / 32.41
    / 33.11 dB).
    """

    card = ModelCard(
        key="idc", title="Interactive Deep Colorization Using Simultaneous Global and Local Inputs",
        authors="Yi Xiao, Peiyao Zhou, Yan Zheng, Chi-Sing Leung", venue="ICASSP", year=2019,
        section="2.2.3", taxonomy="user-guided", conditions=("hints", "palette"),
        losses=("modified Huber: Huber on all pixels + Huber on the hinted pixels (both against the ground truth)",),
        framework="not released (the paper uses Caffe-era tooling)",
        substitutions=(
            "The global colour theme is the data set's 5-colour palette (k-means on real images), "
            "given with probability 1/2 in training and always at evaluation; the paper's colour-theme "
            "recommendation system is left out. The exact weighting of the modified Huber loss is ours "
            "(hinted pixels weighted 1 more, against the ground truth rather than the hint value, which is a "
            "patch mean and wrong at edges). BatchNorm follows each 3x3 convolution (ours: without it the "
            "plain ReLU stack trains too slowly for the brief budgets; norm=False removes it). Widths 64-128-256-512 at 'paper', 16-32-64-128 at 'small', "
            "8-16-32-64 at 'smoke'. Local hints follow Zhang et al.'s simulation."),
    )
    sizes = {"paper": dict(width=64), "small": dict(width=16), "smoke": dict(width=8)}

    def __init__(self, width: int = 64, local_weight: float = 1.0, p_global: float = 0.5, lr: float = 1e-3,
                 norm: bool = True):
        super().__init__()
        c = width
        self.local_weight, self.p_global, self.lr = local_weight, p_global, lr
        self.in_gray = nn.Conv2d(1, c, 3, padding=1)
        self.in_local = nn.Conv2d(3, c, 3, padding=1)
        self.in_grad = nn.Conv2d(1, c, 3, padding=1)
        relu = lambda: nn.ReLU(inplace=True)  # noqa: E731

        def conv(cin, cout, stride=1, dilation=1):
            if norm:
                return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation,
                                               bias=False), nn.BatchNorm2d(cout), relu())
            return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation), relu())

        self.enc1 = conv(c, c)
        self.enc2 = nn.Sequential(conv(c, 2 * c, 2), conv(2 * c, 2 * c))
        self.enc3 = nn.Sequential(conv(2 * c, 4 * c, 2), conv(4 * c, 4 * c))
        self.enc4 = nn.Sequential(conv(4 * c, 8 * c, 2), conv(8 * c, 8 * c))
        g = 8 * c
        self.global_net = nn.Sequential(nn.Conv2d(16, g, 1), relu(), nn.Conv2d(g, g, 1), relu(),
                                        nn.Conv2d(g, g, 1), relu(), nn.Conv2d(g, g, 1))
        self.dilated = nn.Sequential(conv(8 * c, 8 * c, dilation=2), conv(8 * c, 8 * c, dilation=4),
                                     conv(8 * c, 8 * c, dilation=8), conv(8 * c, 8 * c))
        self.up3 = nn.Sequential(nn.ConvTranspose2d(8 * c, 4 * c, 4, 2, 1), relu())
        self.dec3 = conv(8 * c, 4 * c)
        self.up2 = nn.Sequential(nn.ConvTranspose2d(4 * c, 2 * c, 4, 2, 1), relu())
        self.dec2 = conv(4 * c, 2 * c)
        self.up1 = nn.Sequential(nn.ConvTranspose2d(2 * c, c, 4, 2, 1), relu())
        self.dec1 = conv(2 * c, c)
        self.out = nn.Conv2d(c + 1, 2, 3, padding=1)

    def simulate(self, batch, num_points=None, seeds=None, seed=None, give_global=None) -> dict:
        out = super().simulate(batch, num_points=num_points, seeds=seeds, seed=seed)
        if "palette" in batch:
            from ..color import rgb_to_lab

            pal = batch["palette"].float()                                   # (B, 5, 3) sRGB
            lab = rgb_to_lab(pal.permute(0, 2, 1).unsqueeze(-1)).squeeze(-1).permute(0, 2, 1)   # (B, 5, 3)
            B = pal.shape[0]
            if give_global is None:
                g = torch.Generator().manual_seed(int(torch.randint(0, 2 ** 62, (1,)).item()) if seed is None else int(seed))
                use = (torch.rand(B, generator=g) < self.p_global).float().to(pal.device)
            else:
                use = torch.full((B,), float(bool(give_global)), device=pal.device)
            out["palette"] = lab * use.view(B, 1, 1)
            out["palette_given"] = use
        return out

    def colorize(self, L, hints=None, mask=None, palette=None, palette_given=None, **_):
        hints, mask = self._hint_inputs(L, hints, mask)
        Hh, Ww = L.shape[-2:]
        Lp = self._pad(L, 8)
        hp, mp = self._pad(hints, 8, "zeros"), self._pad(mask, 8, "zeros")
        gray = (Lp - 50.0) / 50.0
        x = self.in_gray(gray) + self.in_local(torch.cat([hp / AB_NORM, mp], 1)) + self.in_grad(H.gradient_map(Lp))
        e1 = self.enc1(torch.relu(x))
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        e4 = self.enc4(e3)
        if palette is not None:
            B = L.shape[0]
            given = palette_given if palette_given is not None else torch.ones(B, device=L.device)
            v = torch.cat([(palette.float() / torch.tensor([100.0, AB_NORM, AB_NORM], device=L.device)).reshape(B, 15),
                           given.float().view(B, 1)], 1)
            e4 = e4 + self.global_net(v.view(B, 16, 1, 1)).to(e4.dtype)
        y = self.dilated(e4)
        y = self.dec3(torch.cat([self.up3(y), e3], 1))
        y = self.dec2(torch.cat([self.up2(y), e2], 1))
        y = self.dec1(torch.cat([self.up1(y), e1], 1))
        ab = AB_NORM * torch.tanh(self.out(torch.cat([y, gray.to(y.dtype)], 1)).float())
        return ab[..., :Hh, :Ww]

    def training_step(self, batch: dict) -> dict:
        cond = self.training_conditions(batch)
        pred = self.colorize(batch["L"], **cond)
        with _fp32(pred.device):
            loss = _huber(pred, batch["ab"])
            local = _huber(pred, batch["ab"], weight=cond["mask"])   # the hinted pixels, once more
        self.step(loss + self.local_weight * local)
        return {"loss": loss.detach(), "local": local.detach()}


# ======================================================================================
# §2.2.4  User-guided anime line-art colorization (Ci et al., ACM MM 2018)
# ======================================================================================

class _ResNeXt(nn.Module):
    """ResNeXt bottleneck (1x1 reduce, grouped dilated 3x3, 1x1 expand) + identity, LeakyReLU."""

    def __init__(self, c: int, cardinality: int = 8, dilation: int = 1):
        super().__init__()
        mid = max(cardinality, c // 2 // cardinality * cardinality)
        self.body = nn.Sequential(
            nn.Conv2d(c, mid, 1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(mid, mid, 3, padding=dilation, dilation=dilation, groups=cardinality),
            nn.LeakyReLU(0.2, inplace=True), nn.Conv2d(mid, c, 1))

    def forward(self, x):
        return x + self.body(x)


def _ps_up(cin: int, cout: int) -> nn.Sequential:
    """x2 upsampling by PixelShuffle (sub-pixel convolution)."""
    return nn.Sequential(nn.Conv2d(cin, cout * 4, 3, padding=1), nn.PixelShuffle(2), nn.LeakyReLU(0.2, inplace=True))


class _RandomFeatures(nn.Module):
    """A frozen, randomly initialised VGG-like feature extractor for the content loss
    (stands in for the ImageNet VGG16 of the paper; weights from a fixed seed, not saved)."""

    def __init__(self, widths=(16, 32, 64), seed: int = 1234):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        cin = 3
        self.n = len(widths)
        for i, c in enumerate(widths):
            w = torch.randn(c, cin, 3, 3, generator=g) * (2.0 / (cin * 9)) ** 0.5
            self.register_buffer(f"w{i}", w, persistent=False)
            cin = c

    def forward(self, rgb):
        x = (rgb - 0.45) / 0.25
        for i in range(self.n):
            x = F.relu(F.conv2d(x, getattr(self, f"w{i}").to(x.dtype), padding=1))
            if i < self.n - 1:
                x = F.avg_pool2d(x, 2)
        return x


@register
class AnimeLineArt(UserGuidedModel):
    """User-guided line-art colorization with conditional adversarial networks (Ci et al.).

    Input: line art (here extracted from the colour image's lightness by XDoG) and the user's
    colour hints (ab and mask). Generator: a U-Net — three stride-2 encoder stages with
    LeakyReLU; at 1/8 resolution the features of a *local-feature encoder* of the line art are
    concatenated (the paper uses Illustration2Vec), followed by ResNeXt blocks with dilations
    1, 2, 4, 1; each decoder stage upsamples by PixelShuffle, concatenates the encoder's skip
    and applies ResNeXt blocks; Tanh output. Critic: SRGAN-like (pairs of 3x3 convolutions, the
    second strided, LeakyReLU), trained with WGAN-GP (gradient penalty 10, drift 1e-3).
    Generator loss: content (perceptual) loss + 1e-4 x adversarial; Adam with beta = (0.5, 0.9).
    """

    card = ModelCard(
        key="lineart", title="User-Guided Deep Anime Line Art Colorization with Conditional Adversarial Networks",
        authors="Yuanzheng Ci, Xinzhu Ma, Zhihui Wang, Haojie Li, Zhongxuan Luo", venue="ACM Multimedia",
        year=2018, section="2.2.4", taxonomy="user-guided", conditions=("hints", "sketch"),
        losses=("content (perceptual) loss", "L1 on ab", "WGAN-GP adversarial (critic)",
                "auxiliary classification of the local-feature encoder"),
        framework="PyTorch",
        substitutions=(
            "Line art is extracted from the gray image by XDoG (the usual synthesis) instead of the "
            "paper's anime line-art data; the network predicts ab and is joined with the input L "
            "(the paper predicts RGB from line art alone). Illustration2Vec, the paper's local-feature "
            "network, is replaced by a small CNN encoder of the line art trained here jointly with the "
            "generator through an auxiliary category-classification loss. The content loss uses a "
            "frozen randomly initialised VGG-like network (no ImageNet VGG16 here) and an L1 term on ab "
            "is added for brief training; the critic has no BatchNorm (WGAN-GP) and takes one step per "
            "generator step. Hints follow Zhang et al.'s point simulation at full resolution (the paper "
            "samples them at 1/4). Widths 64-128-256-512 at 'paper' (4 ResNeXt blocks at the bottleneck), "
            "16-32-64-128 at 'small', 8-16-32-64 with one block at 'smoke'; lr 1e-4 at 'paper' as "
            "published, 1e-3 at the small sizes."),
    )
    sizes = {
        "paper": dict(width=64, blocks=4, lr=1e-4),
        "small": dict(width=16, blocks=4),
        "smoke": dict(width=8, blocks=1),
    }

    def __init__(self, width: int = 64, blocks: int = 4, num_classes: int = 20, adv_weight: float = 1e-4,
                 l1_weight: float = 1.0, gp_weight: float = 10.0, drift: float = 1e-3, lr: float = 1e-3):
        super().__init__()
        c = width
        self.num_classes, self.adv_weight, self.l1_weight = num_classes, adv_weight, l1_weight
        self.gp_weight, self.drift, self.lr = gp_weight, drift, lr
        lrelu = lambda: nn.LeakyReLU(0.2, inplace=True)  # noqa: E731
        card = max(1, min(8, c // 4))
        self.enc0 = nn.Sequential(nn.Conv2d(4, c, 3, padding=1), lrelu())
        self.enc1 = nn.Sequential(nn.Conv2d(c, 2 * c, 4, 2, 1), lrelu())
        self.enc2 = nn.Sequential(nn.Conv2d(2 * c, 4 * c, 4, 2, 1), lrelu())
        self.enc3 = nn.Sequential(nn.Conv2d(4 * c, 8 * c, 4, 2, 1), lrelu())
        # local-feature encoder of the line art (stands in for Illustration2Vec)
        f = 4 * c
        self.local_features = nn.Sequential(
            nn.Conv2d(1, c, 3, 2, 1), lrelu(), nn.Conv2d(c, 2 * c, 3, 2, 1), lrelu(),
            nn.Conv2d(2 * c, f, 3, 2, 1), lrelu())
        self.local_classifier = nn.Linear(f, num_classes)
        self.merge = nn.Sequential(nn.Conv2d(8 * c + f, 8 * c, 1), lrelu())
        dil = [1, 2, 4, 1]
        self.bottleneck = nn.Sequential(*[_ResNeXt(8 * c, card, dil[i % 4]) for i in range(blocks)])
        self.up3, self.dec3 = _ps_up(8 * c, 4 * c), nn.Sequential(nn.Conv2d(8 * c, 4 * c, 3, padding=1), lrelu(), _ResNeXt(4 * c, card))
        self.up2, self.dec2 = _ps_up(4 * c, 2 * c), nn.Sequential(nn.Conv2d(4 * c, 2 * c, 3, padding=1), lrelu(), _ResNeXt(2 * c, card))
        self.up1, self.dec1 = _ps_up(2 * c, c), nn.Sequential(nn.Conv2d(2 * c, c, 3, padding=1), lrelu())
        self.out = nn.Conv2d(c, 2, 3, padding=1)
        # SRGAN-like critic on (line art, L, ab): conv pairs, the second strided; no BatchNorm (WGAN-GP)
        d = c
        layers: list[nn.Module] = [nn.Conv2d(4, d, 3, 1, 1), lrelu(), nn.Conv2d(d, d, 3, 2, 1), lrelu()]
        for cin, cout in ((d, 2 * d), (2 * d, 4 * d), (4 * d, 8 * d)):
            layers += [nn.Conv2d(cin, cout, 3, 1, 1), lrelu(), nn.Conv2d(cout, cout, 3, 2, 1), lrelu()]
        self.critic = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8 * d, 1))
        self.features = _RandomFeatures()

    def line_art(self, L):
        return H.xdog(L)

    def generate(self, L, hints, mask):
        hints, mask = self._hint_inputs(L, hints, mask)
        Hh, Ww = L.shape[-2:]
        Lp = self._pad(L, 8)
        line = self.line_art(Lp)
        x = torch.cat([line * 2 - 1, self._pad(hints, 8, "zeros") / AB_NORM, self._pad(mask, 8, "zeros")], 1)
        e0 = self.enc0(x)
        e1 = self.enc1(e0)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        feat = self.local_features(line * 2 - 1)
        y = self.bottleneck(self.merge(torch.cat([e3, feat], 1)))
        y = self.dec3(torch.cat([self.up3(y), e2], 1))
        y = self.dec2(torch.cat([self.up2(y), e1], 1))
        y = self.dec1(torch.cat([self.up1(y), e0], 1))
        ab = AB_NORM * torch.tanh(self.out(y).float())
        return ab[..., :Hh, :Ww], feat, line[..., :Hh, :Ww]

    def colorize(self, L, hints=None, mask=None, **_):
        return self.generate(L, hints, mask)[0]

    def _critic_in(self, line, L, ab):
        return torch.cat([line * 2 - 1, (L - 50.0) / 50.0, ab / AB_NORM], 1)

    def configure_optimizers(self):
        g = [p for n, p in self.named_parameters() if not n.startswith("critic.")]
        return {"main": torch.optim.Adam(g, lr=self.lr, betas=(0.5, 0.9)),
                "critic": torch.optim.Adam(self.critic.parameters(), lr=self.lr, betas=(0.5, 0.9))}

    def training_step(self, batch: dict) -> dict:
        cond = self.training_conditions(batch)
        L, ab = batch["L"], batch["ab"].float()
        fake, feat, line = self.generate(L, cond["hints"], cond["mask"])
        # critic (WGAN-GP)
        real_in = self._critic_in(line, L, ab).float()
        fake_in = self._critic_in(line, L, fake.detach()).float()
        with _fp32(L.device):
            eps = torch.rand(L.shape[0], 1, 1, 1, device=L.device)
            mix = (eps * real_in + (1 - eps) * fake_in).requires_grad_(True)
            d_real, d_fake = self.critic(real_in), self.critic(fake_in)
            grad = torch.autograd.grad(self.critic(mix).sum(), mix, create_graph=True)[0]
            gp = (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()
            d_loss = d_fake.mean() - d_real.mean() + self.gp_weight * gp + self.drift * d_real.pow(2).mean()
        self.step(d_loss, "critic")
        # generator
        for p in self.critic.parameters():
            p.requires_grad_(False)
        with _fp32(L.device):
            g_adv = -self.critic(self._critic_in(line, L, fake).float()).mean()
        for p in self.critic.parameters():
            p.requires_grad_(True)
        with _fp32(L.device):
            rgb_fake = merge_lab(L.float(), fake.float())
            rgb_real = batch["rgb"].float() if "rgb" in batch else merge_lab(L.float(), ab)
            content = F.mse_loss(self.features(rgb_fake), self.features(rgb_real))
            l1 = F.l1_loss(fake.float() / AB_NORM, ab / AB_NORM)
            loss = content + self.l1_weight * l1
            logits = self.local_classifier(feat.float().mean((2, 3)))
            aux = torch.zeros((), device=L.device)
            if "label" in batch:
                lab = batch["label"].long()
                ok = (lab >= 0) & (lab < self.num_classes)
                aux = F.cross_entropy(logits, lab.clamp(0, self.num_classes - 1), reduction="none")
                aux = (aux * ok.float()).sum() / ok.float().sum().clamp_min(1.0)
        self.step(loss + self.adv_weight * g_adv + 0.1 * aux, "main")
        return {"loss": loss.detach(), "g_adv": g_adv.detach(), "critic": d_loss.detach(), "aux_ce": aux.detach()}


# ======================================================================================
# Evaluation helpers: PSNR against the number of hints
# ======================================================================================

HINT_BUDGETS = (0, 1, 2, 5, 10, 20, 50, 100)


def psnr_vs_hints(methods: dict, dataset, budgets=HINT_BUDGETS, limit: int | None = None, device=None,
                  batch_size: int = 32, progress: bool = False):
    """Mean PSNR of each user-guided method given exactly k simulated hints (strokes for
    Scribbler), for every k in ``budgets`` — the classic figure of Zhang et al. 2017 (Fig. 6).

    ``methods`` maps a label to a model. Hints are drawn per image from its index, so every method
    and every k sees the same points for the same image (the first k of a larger budget are not
    the same points, though: each budget is its own draw). Global inputs, for the methods that take
    them, are given as at evaluation (``eval_global``). Returns a long DataFrame
    (method, hints, psnr, ssim).
    """
    import pandas as pd

    from ..evaluate import evaluate

    rows = []
    for name, model in methods.items():
        for k in budgets:
            with model.hint_budget(int(k)):     # a no-op for the automatic reference methods
                df = evaluate(model, dataset, limit=limit, device=device, batch_size=batch_size,
                              progress=progress, metrics=("psnr", "ssim"))
            rows.append({"method": name, "hints": int(k), "psnr": float(df.psnr.mean()),
                         "ssim": float(df.ssim.mean())})
    return pd.DataFrame(rows)


def plot_psnr_vs_hints(curves, references: dict | None = None, save=None, title: str | None = None,
                       metric: str = "psnr"):
    """Plot :func:`psnr_vs_hints`' table: one line per method against the number of hints (log
    axis; 0 drawn at the left edge), and horizontal reference lines (``references``: label -> value,
    e.g. the automatic ``gray`` and U-Net baselines)."""
    import matplotlib.pyplot as plt

    from ..viz import save_figure

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ks = sorted(curves.hints.unique())
    pos = {k: (0.5 if k == 0 else k) for k in ks}
    for name, g in curves.groupby("method", sort=False):
        g = g.sort_values("hints")
        style = "--" if "propagation" in name else "-"
        ax.plot([pos[k] for k in g.hints], g[metric], style, marker="o", ms=4, label=name)
    for i, (name, v) in enumerate((references or {}).items()):
        ax.axhline(v, color=f"C{7 + i % 3}", ls=":", lw=1.5, label=f"{name} (automatic)")
    ax.set_xscale("log")
    ax.set_xticks([pos[k] for k in ks])
    ax.set_xticklabels([str(k) for k in ks])
    ax.set_xlabel("number of simulated hints (strokes for Scribbler)")
    ax.set_ylabel({"psnr": "PSNR (dB)", "ssim": "SSIM"}.get(metric, metric))
    ax.set_title(title or f"{metric.upper()} against the number of user hints")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    save_figure(fig, save)
    return fig
