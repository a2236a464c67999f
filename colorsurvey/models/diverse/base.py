"""The shared part of the diverse methods (survey §2.5): seeded sampling, the Gaussian KL term,
a mixture density over latent codes, and the U-Net builders two of them share.

A diverse method does not try to recover the one true colour: it samples several plausible
ones. Every method here follows :class:`~colorsurvey.models.base.ColorizationModel`:
``colorize(L, seed=None, ...)`` takes L (B, 1, H, W) in 0..100 at any H, W and returns ab
(B, 2, H, W) in Lab units. The base class restores the global random generator after every
``colorize`` call (so repeated calls give the same output); a method that samples therefore
draws its noise from its own generator seeded by the ``seed`` condition — same seed, same
colouring; another seed, another draw — and :meth:`~colorsurvey.models.base.ColorizationModel.sample` stacks ``n`` of them.
Methods that do not sample (``stochastic = False``: a deterministic GAN) return the same
colouring for every seed, and their diversity is honestly 0.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..base import EVAL_SAMPLES, ColorizationModel
from ..layers import AB_NORM  # noqa: F401  (re-exported: the ab scale of every method here)

__all__ = ["DiverseModel", "DIVERSE", "seeded_generator", "gaussian_kl", "MixtureDensity", "AdaIN", "UNet", "ConvCritic",
           "EVAL_SAMPLES"]

#: the registered keys of this class, in survey order
DIVERSE = ("cao-cgan", "tandem", "icgan", "divcolor", "chromagan", "memopainter")


def seeded_generator(seed: int | None) -> torch.Generator | None:
    """A fresh CPU ``torch.Generator`` seeded with ``seed`` (an int), or None for None. Noise is
    drawn on the CPU and moved to the model's device, so a seed gives the same sample on every
    device. ValueError for a seed that is not an integer."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int):
        if isinstance(seed, torch.Tensor) and seed.numel() == 1 and not seed.is_floating_point():
            seed = int(seed)
        else:
            raise ValueError(f"seed: expected an int (or None); got {seed!r}")
    g = torch.Generator()
    g.manual_seed(int(seed) % (2 ** 63))
    return g


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) summed over the latent axis and averaged over the batch
    (Kingma & Welling 2014, appendix B): 0.5 * sum(mu^2 + exp(logvar) - logvar - 1). mu, logvar
    (B, D); returns a 0-d float32 tensor, >= 0 (0 only at mu = 0, logvar = 0)."""
    mu, logvar = mu.float(), logvar.float()
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0).sum(1).mean()


class AdaIN(nn.Module):
    """Adaptive instance normalisation (Huang & Belongie, ICCV 2017): instance-normalise x
    (B, C, H, W) and scale / shift it by per-sample (gamma, beta) (B, 2C) given by a caller.
    A 1x1 map is only centred (instance statistics need two pixels)."""

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels

    def forward(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        gamma, beta = params.float().chunk(2, dim=1)
        xf = x.float()
        mean = xf.mean((2, 3), keepdim=True)
        var = xf.var((2, 3), keepdim=True, unbiased=False) if x.shape[-1] * x.shape[-2] > 1 else torch.ones_like(mean)
        y = (xf - mean) / torch.sqrt(var + 1e-5)
        return (y * (1 + gamma[..., None, None]) + beta[..., None, None]).to(x.dtype)


class MixtureDensity(nn.Module):
    """A mixture density network head (Bishop 1994) over a D-dimensional code: from a feature
    vector (B, F) it predicts ``n_mix`` means (B, K, D) and mixture weights pi (B, K) (softmax:
    each row sums to 1); every component is an isotropic Gaussian of fixed ``sigma``
    (Deshpande et al. 2017: K = 8, sigma = 0.1). ``hidden``: a FC layer with tanh before the
    output (their 4096)."""

    def __init__(self, features: int, dim: int, n_mix: int = 8, hidden: int = 4096, sigma: float = 0.1,
                 dropout: float = 0.25):
        super().__init__()
        self.dim, self.n_mix, self.sigma = dim, n_mix, sigma
        self.fc = nn.Sequential(nn.Dropout(dropout), nn.Linear(features, hidden), nn.Tanh(),
                                nn.Linear(hidden, (dim + 1) * n_mix))

    def forward(self, feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.fc(feat.flatten(1)).float()
        K, D = self.n_mix, self.dim
        means = out[:, :K * D].view(-1, K, D)
        weights = torch.softmax(out[:, K * D:], dim=1)
        return weights, means

    def best_component_loss(self, weights: torch.Tensor, means: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Deshpande et al.'s MDN loss: the negative log-likelihood of ``target`` (B, D) under the
        component that explains it best, -log(pi_k N(target; mu_k, sigma^2 I)) minimised over k,
        averaged over the batch (constant terms dropped). 0-d float32."""
        d2 = (means - target.float()[:, None]).pow(2).sum(-1)                # (B, K)
        nll = d2 / (2 * self.sigma ** 2) - torch.log(weights.clamp_min(1e-8))
        return nll.min(1).values.mean()

    def draw(self, weights: torch.Tensor, means: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """A code per sample: with no generator the mean of the most probable component (the
        repeatable default); with one, a component drawn by pi and a Gaussian draw around its
        mean. (B, D)."""
        B = weights.shape[0]
        if generator is None:
            return means[torch.arange(B), weights.argmax(1)]
        k = torch.multinomial(weights.float().cpu(), 1, generator=generator).view(-1).to(means.device)
        eps = torch.randn(means[:, 0].shape, generator=generator).to(means.device)
        return means[torch.arange(B), k] + self.sigma * eps


class DiverseModel(ColorizationModel):
    """Base of the diverse methods: a ``seed`` condition, and every method scored best-of-N
    (:meth:`~colorsurvey.models.base.ColorizationModel.sample`, N = ``eval_samples``); the noise-
    or latent-driven ones set ``stochastic``."""

    eval_samples: ClassVar[int] = EVAL_SAMPLES

    # -- helpers -----------------------------------------------------------------------
    @staticmethod
    def _pad(x: torch.Tensor, m: int) -> torch.Tensor:
        """Replicate-pad (B, C, H, W) on the bottom / right to multiples of ``m`` (reflect is
        undefined for 1-pixel sides)."""
        return ColorizationModel.pad_to_multiple(x, m)[0]

    @staticmethod
    def _resize(x: torch.Tensor, size) -> torch.Tensor:
        size = (size, size) if isinstance(size, int) else tuple(size)
        if tuple(x.shape[-2:]) == size:
            return x
        return F.interpolate(x.float(), size=size, mode="bilinear", align_corners=False)


class UNet(nn.Module):
    """The U-Net of three methods here (pix2pix's skip layout, Isola et al. CVPR 2017): an
    encoder of k x k convolutions ``enc`` = ((width, stride, normed), ...), a decoder of k x k
    stride-2 transposed convolutions ``dec`` = ((width, normed), ...), one per encoder layer but
    the last, each output concatenated with the encoder output of the same resolution, then
    the output layer to ``cout`` channels with tanh (values in -1..1).

    * ``pre_act=False`` (Nazeri et al.'s ICGAN): conv -> norm -> LeakyReLU(0.2) in the encoder,
      transposed conv -> norm -> ReLU in the decoder, a 1x1 output convolution;
    * ``pre_act=True`` (pix2pix, Frans's tandem, MemoPainter): LeakyReLU(0.2) before every
      encoder conv but the first, ReLU before every transposed conv, a transposed-conv output.

    ``norm``: "batch" or "adain" (MemoPainter: instance normalisation whose per-channel scale and
    shift come from outside, :meth:`forward`'s ``style``, (B, 2 x sum(adain_channels))).
    ``dropout``: how many of the first decoder layers drop half their units while training.
    Input (B, cin, H, W) with H, W multiples of :attr:`multiple`; output (B, cout, H, W).
    """

    def __init__(self, cin: int, cout: int, enc, dec, kernel: int = 4, pre_act: bool = False,
                 norm: str = "batch", dropout: int = 0):
        super().__init__()
        if len(dec) != len(enc) - 1:
            raise ValueError(f"a U-Net needs one decoder layer per encoder layer but the last; got {len(enc)} and {len(dec)}")
        if norm not in ("batch", "adain"):
            raise ValueError(f"norm {norm!r}: expected 'batch' or 'adain'")
        self.pre_act, self.norm_kind = pre_act, norm
        self.multiple = 2 ** sum(1 for _, s, _ in enc if s == 2)
        pad = (kernel - 1) // 2

        def norm_layer(c):
            return nn.BatchNorm2d(c) if norm == "batch" else AdaIN(c)

        self.enc, self.enc_norm = nn.ModuleList(), nn.ModuleList()
        c, widths = cin, []
        for w, s, normed in enc:
            if s == 2:
                self.enc.append(nn.Conv2d(c, w, kernel, 2, padding=pad))
            else:                                         # TensorFlow's "same": (k-1)//2 before, the rest after
                self.enc.append(nn.Sequential(nn.ZeroPad2d((pad, kernel - 1 - pad) * 2), nn.Conv2d(c, w, kernel)))
            self.enc_norm.append(norm_layer(w) if normed else nn.Identity())
            widths.append(w)
            c = w
        self.dec, self.dec_norm = nn.ModuleList(), nn.ModuleList()
        for i, (w, normed) in enumerate(dec):
            self.dec.append(nn.ConvTranspose2d(c, w, kernel, 2, padding=pad, output_padding=kernel % 2))
            self.dec_norm.append(norm_layer(w) if normed else nn.Identity())
            c = w + widths[-2 - i]
        self.dropout = dropout
        first_stride = enc[0][1]
        self.out = (nn.Conv2d(c, cout, 1) if not pre_act or first_stride == 1
                    else nn.ConvTranspose2d(c, cout, kernel, 2, padding=pad, output_padding=kernel % 2))

    @property
    def adain_channels(self) -> list[int]:
        """Channels of the AdaIN layers in the order :meth:`forward` consumes ``style``."""
        return [m.channels for m in (*self.enc_norm, *self.dec_norm) if isinstance(m, AdaIN)]

    def _norm(self, m: nn.Module, x: torch.Tensor, style: list) -> torch.Tensor:
        return m(x, style.pop(0)) if isinstance(m, AdaIN) else m(x)

    def forward(self, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        chunks: list = []
        if self.norm_kind == "adain":
            if style is None:
                raise ValueError("this U-Net normalises with AdaIN: pass style (B, 2 x sum(adain_channels))")
            chunks = list(style.split([2 * c for c in self.adain_channels], dim=1))
        skips = []
        for i, (conv, nrm) in enumerate(zip(self.enc, self.enc_norm)):
            if self.pre_act and i > 0:
                x = F.leaky_relu(x, 0.2)
            x = self._norm(nrm, conv(x), chunks)
            if not self.pre_act:
                x = F.leaky_relu(x, 0.2)
            skips.append(x)
        skips.pop()
        for i, (conv, nrm) in enumerate(zip(self.dec, self.dec_norm)):
            x = self._norm(nrm, conv(F.relu(x) if self.pre_act else x), chunks)
            if not self.pre_act:
                x = F.relu(x)
            if i < self.dropout:
                x = F.dropout(x, 0.5, self.training)
            x = torch.cat([x, skips.pop()], 1)
        return torch.tanh(self.out(F.relu(x) if self.pre_act else x).float())


class ConvCritic(nn.Sequential):
    """The discriminator of Cao et al. and Frans (DCGAN-like): 5x5 convolutions ``widths`` with
    ``strides``, LeakyReLU(0.2), BatchNorm on all but the first when ``norm`` (none for a
    WGAN-GP critic), then an average pool to ``pool`` x ``pool`` (so any input size works; the
    originals flatten a fixed 64 x 64 or 256 x 256 map) and linear layers through ``hidden``
    to one logit. (B, cin, H, W) -> (B, 1)."""

    def __init__(self, cin: int, widths=(64, 128, 256, 512), strides=(2, 2, 2, 2), norm: bool = False,
                 hidden=(), pool: int = 4):
        layers: list[nn.Module] = []
        c = cin
        for i, (w, s) in enumerate(zip(widths, strides)):
            layers.append(nn.Conv2d(c, w, 5, s, 2, bias=not (norm and i > 0)))
            if norm and i > 0:
                layers.append(nn.BatchNorm2d(w))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            c = w
        layers += [nn.AdaptiveAvgPool2d(pool), nn.Flatten()]
        f = c * pool * pool
        for h in hidden:
            layers.append(nn.Linear(f, h))
            f = h
        layers.append(nn.Linear(f, 1))
        super().__init__(*layers)
