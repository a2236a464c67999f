"""§2.6.2 Learning Representations for Automatic Colorization (Larsson, Maire, Shakhnarovich,
ECCV 2016): hypercolumns of a VGG16 trunk, a 1024-wide layer, hue and chroma histograms."""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..base import ColorizationModel, ModelCard
from ..layers import fp32, norm_L
from ..registry import register

__all__ = ["LarssonColorization", "hue_expectation", "chroma_median", "hue_chroma", "circular_soft_target"]

#: the largest chroma the bins cover (Lab units): the sRGB gamut's chroma reaches about 134
C_MAX = 128.0
#: VGG16's convolution stages: (width, convolutions) before each 2x2 max-pool
VGG16 = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))


def hue_chroma(ab: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """LCh of ab (B, 2, ...): hue in degrees [0, 360) and chroma sqrt(a^2 + b^2) (Lab units)."""
    a, b = ab[:, 0].float(), ab[:, 1].float()
    return torch.remainder(torch.rad2deg(torch.atan2(b, a)), 360.0), torch.hypot(a, b)


def circular_soft_target(hue: torch.Tensor, centres: torch.Tensor, sigma: float) -> torch.Tensor:
    """A Gaussian over the circular hue bins: hue (...) in degrees -> (..., K) summing to 1."""
    d = torch.remainder(hue[..., None] - centres + 180.0, 360.0) - 180.0     # signed circular distance
    return torch.softmax(-d ** 2 / (2 * sigma ** 2), -1)


def hue_expectation(p: torch.Tensor, centres: torch.Tensor, dim: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """The circular mean of a hue histogram: the direction of the expected unit vector.

    ``p`` (..., K, ...) probabilities along ``dim``; ``centres`` (K,) in degrees. Returns (hue in
    degrees [0, 360), resultant length R in [0, 1]: 1 when all mass sits on one hue, near 0 for
    opposite hues). Circular: mass split between 350 and 10 degrees averages to 0, not 180.
    """
    shape = [1] * p.dim()
    shape[dim] = -1
    rad = torch.deg2rad(centres.float()).view(shape).to(p.device)
    x, y = (p * torch.cos(rad)).sum(dim), (p * torch.sin(rad)).sum(dim)
    return torch.remainder(torch.rad2deg(torch.atan2(y, x)), 360.0), torch.hypot(x, y)


def chroma_median(p: torch.Tensor, edges: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """The median of a chroma histogram ``p`` along ``dim`` (K bins between ``edges`` (K + 1,)),
    interpolated linearly inside the bin where the cumulative mass crosses 1/2."""
    p = p.movedim(dim, -1).float()
    cdf = p.cumsum(-1)
    k = (cdf < 0.5).sum(-1, keepdim=True).clamp(max=p.shape[-1] - 1)
    before = torch.where(k > 0, cdf.gather(-1, (k - 1).clamp_min(0)), torch.zeros_like(k, dtype=cdf.dtype))
    frac = ((0.5 - before) / p.gather(-1, k).clamp_min(1e-8)).clamp(0, 1)
    lo, width = edges[:-1].to(p.device)[k], (edges[1:] - edges[:-1]).to(p.device)[k]
    return (lo + frac * width)[..., 0]


@register
class LarssonColorization(ColorizationModel):
    """Learning Representations for Automatic Colorization: hypercolumns -> hue and chroma.

    Following the official Caffe nets (gustavla/autocolorize): a VGG16 trunk on the gray image
    (conv1_1 with one input channel, BatchNorm without affine after every convolution in
    training), fc6 as a 7x7 convolution (4096) and fc7 as a 1x1 convolution (4096), with
    dropout. A pixel's **hypercolumn** is the input and every one of those 15 layers' outputs,
    sampled bilinearly at the pixel (1 + 64 + 64 + 128 + 128 + 3 x 256 + 6 x 512 + 2 x 4096 =
    12,417 values at size "paper"). A 1024-wide layer (``h_fc1``) + ReLU, then two heads: 32
    **hue** bins and 32 **chroma** bins, softmax each.

    Training samples ``pixels`` random pixels per image (the paper's sparse hypercolumns, 128);
    inference computes every pixel of a 1/4-resolution grid (dense) and upsamples the ab.
    Loss: KL divergence of each histogram from a soft target (a Gaussian of one bin width
    around the true hue / chroma), hue weighted by the pixel's chroma (hue is meaningless on
    gray pixels) and by 5, chroma by 1 (the official loss weights).

    Decoding (``decode``): "median" — the chroma histogram's median and the hue's circular
    expectation (the paper's choice: vivid); "expectation" — the expected ab vector, E[C] times
    the mean unit hue vector, which a bimodal hue (a red or green car) pulls towards gray.
    """

    card = ModelCard(
        key="larsson",
        title="Learning Representations for Automatic Colorization",
        authors="Gustav Larsson, Michael Maire, Gregory Shakhnarovich",
        venue="ECCV", year=2016, section="2.6.2", taxonomy="multi-path",
        conditions=(),
        losses=("KL divergence of the 32-bin hue histogram, weighted by chroma (x5)",
                "KL divergence of the 32-bin chroma histogram (x1)"),
        framework="Caffe (official: gustavla/autocolorize)",
        parameters=147_041_024,
        parameters_source="official code (autocolorize.prototxt.template, counted in the reference file)",
        survey_recipe="§2.6.2: 256x256 input; Caffe; fine-tuned for ten epochs of about 17 hours each; other "
                      "settings as VGG16 (the official solver: SGD momentum 0.9, lr 1e-3, 2M iterations of batch 8)",
        substitutions=(
            "Hue and chroma are those of CIE LCh (from Lab ab), not the paper's Munsell-like HSV-derived "
            "values; chroma bins cover 0..128. Soft targets are Gaussians of one bin width (the official "
            "UniformToHistogram layer's kernel could not be checked). Hypercolumns are sampled with bilinear "
            "interpolation of every layer (the official dense net pools conv1 and upsamples the deeper "
            "layers with fixed bilinear deconvolutions). The VGG16 trunk is trained from scratch (no "
            "ImageNet weights here). 'small' and 'smoke': widths x1/8 and x1/16, fc6/fc7 of 128/32 "
            "channels with a 3x3 fc6, hidden layer 128/32; Adam lr 1e-3 instead of SGD."),
    )
    sizes = {
        "paper": dict(width=1.0, fc=4096, fc6_kernel=7, hidden=1024, pixels=128, optimizer="sgd"),
        "small": dict(width=0.125, fc=128, fc6_kernel=3, hidden=128, pixels=128),
        "smoke": dict(width=0.0625, fc=32, fc6_kernel=3, hidden=32, pixels=64),
    }

    def __init__(self, width: float = 1.0, fc: int = 4096, fc6_kernel: int = 7, hidden: int = 1024,
                 hue_bins: int = 32, chroma_bins: int = 32, pixels: int = 128, dropout: float = 0.5,
                 hue_weight: float = 5.0, optimizer: str = "adam", lr: float = 1e-3):
        super().__init__()
        self.pixels, self.hue_weight, self.optimizer, self.lr = pixels, hue_weight, optimizer, lr
        layers, widths, cin = [], [], 1
        for c, n in VGG16:
            c = max(1, round(c * width))
            for _ in range(n):         # conv + BatchNorm (no affine: the official training net) + ReLU
                layers.append(nn.Sequential(nn.Conv2d(cin, c, 3, padding=1), nn.BatchNorm2d(c, affine=False),
                                            nn.ReLU(inplace=True)))
                widths.append(c)
                cin = c
        self.trunk = nn.ModuleList(layers)
        self.fc6 = nn.Sequential(nn.Conv2d(cin, fc, fc6_kernel, padding=fc6_kernel // 2), nn.ReLU(inplace=True),
                                 nn.Dropout(dropout))
        self.fc7 = nn.Sequential(nn.Conv2d(fc, fc, 1), nn.ReLU(inplace=True), nn.Dropout(dropout))
        self.hypercolumn_dims = 1 + sum(widths) + 2 * fc
        self.h_fc1 = nn.Sequential(nn.Linear(self.hypercolumn_dims, hidden), nn.ReLU(inplace=True))
        self.prediction_h = nn.Linear(hidden, hue_bins)
        self.prediction_c = nn.Linear(hidden, chroma_bins)
        self.register_buffer("hue_centres", (torch.arange(hue_bins) + 0.5) * (360.0 / hue_bins), persistent=False)
        self.register_buffer("chroma_edges", torch.linspace(0, C_MAX, chroma_bins + 1), persistent=False)
        self._pool_after = {sum(n for _, n in VGG16[:i + 1]) - 1 for i in range(len(VGG16))}

    @property
    def chroma_centres(self) -> torch.Tensor:
        return (self.chroma_edges[1:] + self.chroma_edges[:-1]) / 2

    # -- hypercolumns --------------------------------------------------------------------
    def feature_maps(self, L: torch.Tensor) -> list[torch.Tensor]:
        """The input and every layer's output (16 maps) for L with H, W multiples of 32."""
        x = norm_L(L)
        maps = [x]
        for i, layer in enumerate(self.trunk):
            x = layer(x)
            maps.append(x)
            if i in self._pool_after:
                x = F.max_pool2d(x, 2)
        x = self.fc6(x)
        maps.append(x)
        maps.append(self.fc7(x))
        return maps

    @staticmethod
    def hypercolumns(maps: list[torch.Tensor], grid: torch.Tensor) -> torch.Tensor:
        """Hypercolumns (B, n, D) at ``grid`` (B, n, 2), (x, y) normalised to [-1, 1] (pixel
        centres, align_corners=False): every map sampled bilinearly and concatenated."""
        g = grid[:, :, None, :].to(maps[0].dtype)
        cols = [F.grid_sample(m, g.to(m.dtype), mode="bilinear", padding_mode="border", align_corners=False)[..., 0]
                for m in maps]
        return torch.cat(cols, 1).transpose(1, 2)

    def head(self, columns: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(hue logits, chroma logits), each (B, n, 32), from hypercolumns (B, n, D)."""
        h = self.h_fc1(columns)
        return self.prediction_h(h), self.prediction_c(h)

    @staticmethod
    def _centres_grid(h: int, w: int, B: int, device) -> torch.Tensor:
        ys = (torch.arange(h, device=device) + 0.5) / h * 2 - 1
        xs = (torch.arange(w, device=device) + 0.5) / w * 2 - 1
        yy, xx = torch.meshgrid(ys, xs, indexing="ij")
        return torch.stack([xx, yy], -1).reshape(1, -1, 2).expand(B, -1, -1)

    # -- inference -----------------------------------------------------------------------
    def distribution(self, L: torch.Tensor, **_) -> dict:
        """Hue and chroma histograms of every pixel of the 1/4-resolution grid (dense):
        {"hue": (B, 32, h, w), "chroma": (B, 32, h, w)}, probabilities, with
        ``hue_centres`` (degrees) and ``chroma_edges`` (Lab units) to read them."""
        H, W = L.shape[-2:]
        Lp, _ = self.pad_to_multiple(L, 32)
        h, w = Lp.shape[-2] // 4, Lp.shape[-1] // 4
        zh, zc = self.head(self.hypercolumns(self.feature_maps(Lp), self._centres_grid(h, w, L.shape[0], L.device)))
        with fp32(L.device):
            ph = torch.softmax(zh.float(), -1).transpose(1, 2).reshape(L.shape[0], -1, h, w)
            pc = torch.softmax(zc.float(), -1).transpose(1, 2).reshape(L.shape[0], -1, h, w)
        hh, ww = math.ceil(H / 4), math.ceil(W / 4)
        return {"hue": ph[..., :hh, :ww], "chroma": pc[..., :hh, :ww]}

    def decode(self, p_hue: torch.Tensor, p_chroma: torch.Tensor, how: str = "median") -> torch.Tensor:
        """ab (B, 2, h, w) from histograms (B, K, h, w): "median" (chroma median, circular hue
        expectation; the paper's) or "expectation" (E[C] times the mean hue vector). ValueError
        for another ``how``."""
        hue, R = hue_expectation(p_hue, self.hue_centres)
        if how == "median":
            C = chroma_median(p_chroma, self.chroma_edges)
        elif how == "expectation":
            C = (p_chroma * self.chroma_centres.view(1, -1, 1, 1)).sum(1) * R
        else:
            raise ValueError(f"decode: how must be 'median' or 'expectation'; got {how!r}")
        rad = torch.deg2rad(hue)
        return torch.stack([C * torch.cos(rad), C * torch.sin(rad)], 1)

    def colorize(self, L: torch.Tensor, decode: str = "median", **_) -> torch.Tensor:
        """ab (B, 2, H, W) in Lab units, decoded by ``decode`` ("median" or "expectation")."""
        d = self.distribution(L)
        with fp32(L.device):
            ab = self.decode(d["hue"], d["chroma"], decode)
            ab = F.interpolate(ab, scale_factor=4, mode="bilinear", align_corners=False)
        return self.to_input_size(ab[..., :L.shape[-2], :L.shape[-1]].contiguous(), L)

    # -- training ------------------------------------------------------------------------
    def configure_optimizers(self):
        if self.optimizer == "sgd":        # the official solver
            return {"main": torch.optim.SGD(self.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)}
        return {"main": torch.optim.Adam(self.parameters(), lr=self.lr)}

    def training_step(self, batch: dict) -> dict:
        L, ab = batch["L"], batch["ab"]
        B, _, H, W = L.shape
        Lp, _ = self.pad_to_multiple(L, 32)
        Hp, Wp = Lp.shape[-2:]
        n = min(self.pixels, H * W)
        idx = torch.randint(0, H * W, (B, n), device=L.device)              # sparse: random pixels
        y, x = idx // W, idx % W
        grid = torch.stack([(x + 0.5) / Wp * 2 - 1, (y + 0.5) / Hp * 2 - 1], -1)
        zh, zc = self.head(self.hypercolumns(self.feature_maps(Lp), grid))
        with fp32(L.device):
            t = ab.float().reshape(B, 2, H * W).gather(2, idx[:, None].expand(-1, 2, -1))   # (B, 2, n)
            hue, C = hue_chroma(t)
            th = circular_soft_target(hue, self.hue_centres, 360.0 / len(self.hue_centres))
            step = float(self.chroma_edges[1] - self.chroma_edges[0])
            tc = torch.softmax(-(C[..., None] - self.chroma_centres) ** 2 / (2 * step ** 2), -1)

            def kl(target, logits):
                return (target * (target.clamp_min(1e-8).log() - F.log_softmax(logits.float(), -1))).sum(-1)

            w = (C / C_MAX).clamp(0, 1)                                       # hue weighted by chroma
            hue_loss = (w * kl(th, zh)).sum() / w.sum().clamp_min(1e-3)
            chroma_loss = kl(tc, zc).mean()
            loss = self.hue_weight * hue_loss + chroma_loss
        self.step(loss)
        return {"loss": loss.detach(), "hue_kl": hue_loss.detach(), "chroma_kl": chroma_loss.detach()}
