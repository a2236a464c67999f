"""§2.6.3 PixColor (Guadarrama, Dahl, Bieber, Norouzi, Shlens, Murphy, BMVC 2017): a conditional
PixelCNN samples a low-resolution chroma image, a refinement network brings it to full size."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..base import EVAL_SAMPLES, ModelCard
from ..layers import AB_NORM, ConvBlock, ResidualBlock, fp32, norm_L
from ..losses import huber_ab
from ..registry import register
from .base import BinnedColorModel

__all__ = ["PixColor", "MaskedConv2d", "GatedMaskedBlock", "ConditionalPixelCNN"]


class MaskedConv2d(nn.Conv2d):
    """A convolution that sees only pixels before the centre in raster order (row by row, left
    to right): mask "A" hides the centre too (the first layer: a pixel never sees itself), mask
    "B" lets it through (later layers). van den Oord et al. 2016, PixelCNN."""

    def __init__(self, cin: int, cout: int, kernel_size: int, mask: str = "B", **kw):
        super().__init__(cin, cout, kernel_size, padding=kernel_size // 2, **kw)
        if mask not in ("A", "B"):
            raise ValueError(f"mask must be 'A' or 'B'; got {mask!r}")
        k = kernel_size
        m = torch.ones(k, k, device="cpu")
        m[k // 2, k // 2 + (mask == "B"):] = 0
        m[k // 2 + 1:] = 0
        self.register_buffer("mask", m, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask.to(self.weight), self.bias, padding=self.padding)


class GatedMaskedBlock(nn.Module):
    """x + 1x1(tanh(f) * sigmoid(g)), (f, g) = masked-B conv(x) + 1x1(conditioning): the gated
    block of the conditional PixelCNN (van den Oord et al. 2016). (B, c, h, w) -> same."""

    def __init__(self, c: int, cond: int, kernel_size: int = 3):
        super().__init__()
        self.conv = MaskedConv2d(c, 2 * c, kernel_size, "B")
        self.cond = nn.Conv2d(cond, 2 * c, 1, bias=False)
        self.out = nn.Conv2d(c, c, 1)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        f, g = (self.conv(x) + self.cond(h)).chunk(2, 1)
        return x + self.out(torch.tanh(f) * torch.sigmoid(g))


class ConditionalPixelCNN(nn.Module):
    """Logits (B, Q, h, w) of every low-resolution pixel's chroma bin given the bins before it
    (one-hot x (B, Q, h, w)) and conditioning features (B, cond, h, w): a 7x7 mask-A conv,
    ``blocks`` gated mask-B blocks, a 3x3 mask-B conv, ReLU, 1x1 to Q. Causal in raster order."""

    def __init__(self, Q: int, c: int, cond: int, blocks: int):
        super().__init__()
        self.first = MaskedConv2d(Q, c, 7, "A")
        self.gated = nn.ModuleList([GatedMaskedBlock(c, cond) for _ in range(blocks)])
        self.last = nn.Sequential(nn.ReLU(), MaskedConv2d(c, c, 3, "B"), nn.ReLU(), nn.Conv2d(c, Q, 1))

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        y = self.first(x)
        for blk in self.gated:
            y = blk(y, h)
        return self.last(y)

    @property
    def reach(self) -> int:
        """How many rows up (and columns either side) an output can see: 3 (the 7x7 mask A) +
        1 per masked 3x3 layer."""
        return self.first.kernel_size[0] // 2 + len(self.gated) + 1

    def logits_at(self, x: torch.Tensor, h: torch.Tensor, i: int, j: int) -> torch.Tensor:
        """The logits (B, Q) at (i, j) — equal to ``self(x, h)[:, :, i, j]`` — computed on the window
        of rows i - reach..i and columns j - reach..j + reach only (what the output can see:
        the zero padding at the window's edges reaches the centre through no more layers than
        there are), so sampling costs a window per pixel instead of the whole image."""
        r = self.reach
        top, left = max(0, i - r), max(0, j - r)
        right = min(x.shape[-1], j + r + 1)
        return self(x[:, :, top:i + 1, left:right], h[:, :, top:i + 1, left:right])[:, :, -1, j - left]


@register
class PixColor(BinnedColorModel):
    """PixColor: a conditional PixelCNN samples low-resolution chroma, a CNN refines it.

    1. **Conditioning network**: the gray image rescaled to ``8 x lowres`` square (224 for the
       paper's 28 x 28 chroma), a 7x7 stride-2 stem and three stages of residual blocks
       (``blocks``; ResNet-101's 3, 4, 23 at "paper", with basic blocks) down to lowres x lowres.
    2. **Conditional PixelCNN** over the lowres x lowres chroma, quantised into in-gamut ab bins:
       a 7x7 masked convolution, ``gated`` gated masked blocks conditioned on the features
       (10 at "paper", the survey's "Gated convolutional Block with ten layers"), a masked 3x3
       and a 1x1 to the bins. Trained by maximum likelihood (cross-entropy, teacher forcing);
       at test the chroma is **sampled** pixel by pixel in raster order.
    3. **Refinement network**: the full-resolution gray image and the low-resolution chroma
       (bilinearly resized to it), convolutions at 1/4 resolution, two bilinear x2 upsamplings
       each followed by two convolutions, three final convolutions to ab. Trained on the
       *ground-truth* chroma downsampled to lowres x lowres (as the survey says).

    ``colorize(L, seed=0, temperature=1.0)``: one sample; vary ``seed`` for others (the global
    RNG is never touched, so the same seed gives the same sample). ``temperature`` 0: the most
    likely bin at each step (greedy). ``sample(L, n, seed)``: n of them, (B, n, 2, H, W).
    """

    #: a colouring per seed (``sample(L, n, seed)`` from the base class); scored best-of-N
    stochastic: ClassVar[bool] = True
    eval_samples: ClassVar[int] = EVAL_SAMPLES

    card = ModelCard(
        key="pixcolor",
        title="PixColor: Pixel Recursive Colorization",
        authors="Sergio Guadarrama, Ryan Dahl, David Bieber, Mohammad Norouzi, Jonathon Shlens, Kevin Murphy",
        venue="BMVC", year=2017, section="2.6.3", taxonomy="multi-path",
        conditions=("seed",),
        losses=("PixelCNN: cross-entropy of the low-resolution chroma bins (maximum likelihood, teacher forcing)",
                "refinement: Huber on ab from the ground-truth low-resolution chroma"),
        framework="TensorFlow (no code released)",
        parameters=48_048_711,
        parameters_source="this re-implementation (no official code)",
        survey_recipe="§2.6.3: PixelCNN trained by maximum likelihood with cross-entropy; refinement network "
                      "trained on ground-truth chroma downsampled to 28x28. The survey gives no data set, "
                      "iterations or learning rate",
        notes="No official code: every width, the bin quantisation and the refinement loss are our choices "
              "where the paper (as the survey reports it) is silent.",
        substitutions=(
            "Conditioning: basic residual blocks (3, 4, 23 at widths 64, 128, 256) in place of ResNet-101's "
            "bottleneck blocks, trained from scratch. Chroma: joint ab bins on Zhang et al.'s in-gamut lattice "
            "(step 10: 262 bins; 'small'/'smoke' step 20) in one softmax, not separate a and b channels. "
            "Simple masked convolutions (one stack, so the PixelCNN's blind spot remains) rather than the "
            "gated vertical/horizontal stacks. Refinement: 8 convolutions at 1/4 resolution instead of 16, "
            "Huber loss (ours). 'small': lowres 12, widths 16-32-64, blocks (1, 1, 2), 3 gated blocks of 32, refinement 32 wide; "
            "'smoke': lowres 8, one block each, 2 gated blocks."),
    )
    sizes = {
        "paper": dict(lowres=28, width=64, blocks=(3, 4, 23), pixelcnn=256, gated=10, refine=(128, 8), grid=10.0),
        "small": dict(lowres=12, width=16, blocks=(1, 1, 2), pixelcnn=32, gated=3, refine=(32, 2), grid=20.0),
        "smoke": dict(lowres=8, width=8, blocks=(1, 1, 1), pixelcnn=16, gated=2, refine=(16, 1), grid=20.0),
    }

    def __init__(self, lowres: int = 28, width: int = 64, blocks=(3, 4, 23), pixelcnn: int = 256, gated: int = 10,
                 refine=(128, 8), grid: float = 10.0, lr: float = 1e-3):
        super().__init__()
        self.lowres, self.lr = lowres, lr
        Q = self._init_bins(grid)
        c1, c2, c3 = width, 2 * width, 4 * width
        self.conditioning = nn.Sequential(
            ConvBlock(1, c1, 1, stride=2, kernel_size=7),                                     # 1/2
            *[ResidualBlock(c1, post_act=True) for _ in range(blocks[0])], ConvBlock(c1, c2, 1, stride=2),  # 1/4
            *[ResidualBlock(c2, post_act=True) for _ in range(blocks[1])], ConvBlock(c2, c3, 1, stride=2),  # 1/8
            *[ResidualBlock(c3, post_act=True) for _ in range(blocks[2])])
        self.pixelcnn = ConditionalPixelCNN(Q, pixelcnn, c3, gated)
        r, n = refine
        self.refine_in = nn.Sequential(ConvBlock(3, r // 2, 1, stride=2), ConvBlock(r // 2, r, 1, stride=2),
                                       *[ConvBlock(r, r, 1) for _ in range(n)])
        self.refine_up = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear"), ConvBlock(r, r // 2, 2),
                                       nn.Upsample(scale_factor=2, mode="bilinear"), ConvBlock(r // 2, r // 4, 2))
        self.refine_out = nn.Sequential(ConvBlock(r // 4, r // 4, 2), nn.Conv2d(r // 4, 2, 3, padding=1), nn.Tanh())

    # -- the parts -----------------------------------------------------------------------
    def condition(self, L: torch.Tensor) -> torch.Tensor:
        """Features (B, 4 width, lowres, lowres) of L rescaled to 8 lowres square."""
        x = F.interpolate(norm_L(L), size=(8 * self.lowres,) * 2, mode="bilinear", align_corners=False)
        return self.conditioning(x)

    def low_res_bins(self, ab: torch.Tensor) -> torch.Tensor:
        """Ground-truth chroma (B, 2, H, W) -> nearest bin (B, lowres, lowres) of its area-downsampled ab."""
        from ...color import nearest_bin

        with fp32(ab.device):
            return nearest_bin(F.interpolate(ab.float(), size=(self.lowres,) * 2, mode="area"), self.bins)

    def one_hot(self, idx: torch.Tensor) -> torch.Tensor:
        return F.one_hot(idx, self.num_bins).permute(0, 3, 1, 2).float()

    def refine(self, L: torch.Tensor, ab_low: torch.Tensor) -> torch.Tensor:
        """ab (B, 2, H, W) from L (B, 1, H, W), H, W multiples of 4, and low-resolution ab."""
        up = F.interpolate(ab_low.float(), size=L.shape[-2:], mode="bilinear", align_corners=False) / AB_NORM
        x = self.refine_in(torch.cat([norm_L(L), up.to(L.dtype)], 1))
        return self.refine_out(self.refine_up(x)).float() * AB_NORM

    @torch.no_grad()
    def sample_bins(self, L: torch.Tensor, seed: int = 0, temperature: float = 1.0) -> torch.Tensor:
        """Low-resolution bins (B, lowres, lowres), sampled in raster order (one PixelCNN pass
        per pixel) with a generator seeded by ``seed``; ``temperature`` 0: argmax."""
        h = self.condition(L)
        B, n = L.shape[0], self.lowres
        gen = torch.Generator(device=L.device).manual_seed(int(seed))
        idx = torch.zeros(B, n, n, dtype=torch.long, device=L.device)
        x = torch.zeros(B, self.num_bins, n, n, device=L.device)
        for i in range(n):
            for j in range(n):
                z = self.pixelcnn.logits_at(x, h, i, j).float()
                if temperature <= 0:
                    k = z.argmax(1)
                else:
                    k = torch.multinomial(torch.softmax(z / temperature, 1), 1, generator=gen)[:, 0]
                idx[:, i, j] = k
                x[:, :, i, j] = F.one_hot(k, self.num_bins).float()
        return idx

    # -- inference -----------------------------------------------------------------------
    def colorize(self, L: torch.Tensor, seed: int = 0, temperature: float = 1.0, **_) -> torch.Tensor:
        """One sampled colorization, ab (B, 2, H, W); the sample is fixed by ``seed``."""
        H, W = L.shape[-2:]
        ab_low = self.bins[self.sample_bins(L, seed, temperature)].permute(0, 3, 1, 2)
        Lp, _ = self.pad_to_multiple(L, 4)
        return self.refine(Lp, ab_low)[..., :H, :W].contiguous()

    def explain(self, L: torch.Tensor, seed: int = 0, temperature: float = 1.0, **_) -> dict:
        """{"low_res_ab": the sampled chroma (B, 2, lowres, lowres), "ab": the refined (B, 2, H, W)}."""
        H, W = L.shape[-2:]
        ab_low = self.bins[self.sample_bins(L, seed, temperature)].permute(0, 3, 1, 2)
        Lp, _ = self.pad_to_multiple(L, 4)
        return {"low_res_ab": ab_low.float(), "ab": self.refine(Lp, ab_low)[..., :H, :W].contiguous()}

    # -- training ------------------------------------------------------------------------
    def training_step(self, batch: dict) -> dict:
        L, ab = batch["L"], batch["ab"]
        idx = self.low_res_bins(ab)
        logits = self.pixelcnn(self.one_hot(idx), self.condition(L))         # teacher forcing
        Lp, _ = self.pad_to_multiple(L, 4)
        abp, _ = self.pad_to_multiple(ab, 4)
        pred = self.refine(Lp, self.bins[idx].permute(0, 3, 1, 2))           # from ground-truth low-res chroma
        with fp32(L.device):
            nll = F.cross_entropy(logits.float(), idx)
            ref = huber_ab(pred, abp)
            loss = nll + 10.0 * ref
        self.step(loss)
        return {"loss": loss.detach(), "nll": nll.detach(), "refine": ref.detach()}
