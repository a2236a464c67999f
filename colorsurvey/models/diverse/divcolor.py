"""§2.5.4 Learning Diverse Image Colorization (Deshpande, Lu, Yeh, Chong, Forsyth, CVPR 2017):
a conditional VAE over the 64 x 64 colour field with skip features of the gray image, and a
mixture density network that predicts, from the gray image, a mixture of 8 Gaussians over
the VAE's latent code; sampling the mixture gives several colourings."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...color import ab_prior, gamut_bins, nearest_bin, rebalance_weights
from ..base import ModelCard
from ..layers import AB_NORM, fp32, norm_L
from ..registry import register
from .base import DiverseModel, MixtureDensity, gaussian_kl, seeded_generator

__all__ = ["DivColor"]


def _block(cin: int, cout: int, k: int, stride: int = 2, bias: bool = True) -> nn.Sequential:
    """k x k conv (padding k // 2, or 1 for k = 4) -> ReLU -> BatchNorm (their layer order)."""
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, padding=1 if k == 4 else k // 2, bias=bias),
                         nn.ReLU(inplace=True), nn.BatchNorm2d(cout, eps=1e-4, momentum=0.01))


@register
class DivColor(DiverseModel):
    """Deshpande et al.'s VAE + MDN (official ``vae_skipconn.py`` and ``mdn.py``).

    Everything runs on the 64 x 64 colour field (L resized to 64 x 64; ab upsampled back).

    * conditional encoder (gray -> skip features): 5x5 stride-2 convs 128, 256, 512 and a 4x4
      stride-2 conv to 64 channels at 4 x 4, each -> ReLU -> BatchNorm;
    * encoder (ab -> code, training only): 5x5 stride-2 convs 128, 256, 512, a 4x4 stride-2 conv
      to 1024, dropout, a linear layer to mu and log sigma^2 of a 64-d code;
    * decoder: z resized to 4 x 4 and multiplied by the 4 x 4 gray feature, a 4x4 conv to 1024,
      then three (upsample x2, concatenate the gray feature of that size, 5x5 conv) stages to
      512, 256, 128, an upsample to 64 x 64, a 5x5 conv to ab, BatchNorm, tanh;
    * MDN: from gray features at 28 x 28 (here a small trunk of our own; the paper used Zhang et
      al.'s conv7_3, 512 channels), 5x5 convs without bias 384, 320, 288, 256 (stride 2), 128,
      dropout, FC 4096 (tanh), FC to 8 x (64 + 1): 8 means and the mixture weights pi (softmax),
      each component with sigma = 0.1.

    Losses: KL(q(z | ab, gray) || N(0, I)) + a specificity-weighted L2 (the per-pixel weights
    are the inverse colour prior of the training data: rare, saturated colours count more —
    their "colourfulness" term; ``specificity=False``, as the ``small`` and ``smoke`` presets
    set, keeps them uniform), plus 1e-3 x a gradient loss; the MDN is trained with the
    best-component loss on the encoder's mu (detached). ``colorize(L, seed=k)``: a component
    drawn by pi and a code drawn around its mean (seed None: the mean of the most probable
    component); ``z=`` (B, 64) decodes a code of your own; :meth:`distribution` returns pi and
    the means.
    """

    card = ModelCard(
        key="divcolor", title="Learning Diverse Image Colorization",
        authors="Aditya Deshpande, Jiajun Lu, Mao-Chuang Yeh, Min Jin Chong, David Forsyth",
        venue="CVPR", year=2017, section="2.5.4", taxonomy="diverse", conditions=("seed", "z"),
        losses=("KL divergence (VAE)", "specificity-weighted L2 (inverse colour prior; uniform in small and smoke)",
                "1e-3 x gradient loss",
                "MDN best-component negative log-likelihood"),
        framework="TensorFlow 1 (official code)",
        parameters=150_009_486,
        parameters_source=("this re-implementation: the official VAE's conditional encoder + decoder "
                           "(31,491,910) + the official MDN (117,851,336) + our feature trunk (666,240); "
                           "the whole VAE with its encoder: 46,085,958 in the official code"),
        survey_recipe=("§2.5.4: the VAE learns a low-dimensional embedding of colour fields and the MDN "
                       "a multimodal conditional model; the survey gives no iterations or learning rate "
                       "(official code: VAE Adam lr 1e-6, batch 32, 10 epochs; MDN SGD lr 1e-5, batch 1, 5 epochs; "
                       "LFW, LSUN-Church, ImageNet-Val at 64 x 64)"),
        substitutions=(
            "The MDN reads features of a small trunk trained here with it (three convs on L resized "
            "to 112 x 112 -> 28 x 28) instead of Zhang et al.'s frozen conv7_3; VAE and MDN train "
            "together in one step (the MDN on the encoder's detached mu) instead of one after the "
            "other. The specificity weights are Zhang-style rebalancing weights over the gamut's ab "
            "bins measured on the training data (fit_statistics; uniform until measured); the "
            "official loss takes the per-image square root of the weighted sum, kept here. The KL "
            "weight ramps from 0 to kl_weight over the first kl_ramp steps (theirs: 1e-2 x epoch / "
            "max epoch). Lab is in Lab units / 110 (theirs: OpenCV 8-bit Lab). 'small': widths / 4 (the MDN's hidden layer too: 1024), "
            "32 x 32 field, and uniform weights (specificity=False): in the cpu profile (400 steps of 8) "
            "the inverse-prior weights drove the decoder to saturated colours below the gray baseline "
            "(measured on the earlier rendered set, whose objects covered about 15 % of the frame: "
            "23.3 dB with the weights, 27.2 dB without, gray 23.9; BatchNorm momentum 0.1 in both); "
            "'smoke': widths / 16, 16 x 16 field, uniform weights."),
    )
    sizes = {
        "paper": dict(width=1.0, field=64, lr=1e-4),
        "small": dict(width=0.25, field=32, mdn_hidden=1024, specificity=False),
        "smoke": dict(width=0.0625, field=16, mdn_hidden=64, specificity=False),
    }
    training_only = ("encoder",)
    stochastic = True

    def __init__(self, width: float = 1.0, field: int = 64, hidden: int = 64, n_mix: int = 8,
                 mdn_hidden: int = 4096, kl_weight: float = 1e-2, kl_ramp: int = 500, grad_weight: float = 1e-3,
                 lr: float = 1e-3, specificity: bool = True):
        super().__init__()
        if field % 16:
            raise ValueError(f"field: the colour field's side must be a multiple of 16; got {field}")
        w = lambda c: max(4, int(round(c * width)))  # noqa: E731
        c1, c2, c3, c4 = w(128), w(256), w(512), w(1024)
        self.field, self.hidden = field, hidden
        self.kl_weight, self.kl_ramp, self.grad_weight, self.lr = kl_weight, kl_ramp, grad_weight, lr
        self.specificity = specificity
        self.cond_encoder = nn.ModuleList([_block(1, c1, 5), _block(c1, c2, 5), _block(c2, c3, 5), _block(c3, hidden, 4)])
        top = field // 16
        self.encoder = nn.Sequential(_block(2, c1, 5), _block(c1, c2, 5), _block(c2, c3, 5), _block(c3, c4, 4),
                                     nn.Dropout(0.3), nn.Flatten(), nn.Linear(c4 * top * top, 2 * hidden))
        self.dec_in = nn.Sequential(nn.ZeroPad2d((1, 2, 1, 2)), nn.Conv2d(hidden, c4, 4), nn.ReLU(inplace=True),
                                    nn.BatchNorm2d(c4, eps=1e-4, momentum=0.01))
        self.dec = nn.ModuleList([_block(c4 + c3, c3, 5, 1), _block(c3 + c2, c2, 5, 1), _block(c2 + c1, c1, 5, 1)])
        self.dec_out = nn.Sequential(nn.Conv2d(c1, 2, 5, padding=2), nn.BatchNorm2d(2, eps=1e-4, momentum=0.01))
        f = w(512)
        self.trunk = nn.Sequential(_block(1, w(64), 3), _block(w(64), w(128), 3), _block(w(128), f, 3, 1))
        widths = [f, w(384), w(320), w(288), w(256), w(128)]
        convs = [_block(a, b, 5, 2 if i == 3 else 1, bias=False) for i, (a, b) in enumerate(zip(widths, widths[1:]))]
        self.mdn_convs = nn.Sequential(*convs)
        self.mdn = MixtureDensity(widths[-1] * 14 * 14, hidden, n_mix, mdn_hidden)
        self.register_buffer("bins", gamut_bins(10.0))
        self.register_buffer("bin_weights", torch.ones(self.bins.shape[0]))
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    # -- statistics ----------------------------------------------------------------------
    def fit_statistics(self, batches) -> None:
        """The specificity weights: inverse of the training data's ab prior (Zhang et al. eq. 4).

        With ``specificity=False`` the weights stay uniform (a plain L2)."""
        if not self.specificity:
            return
        prior = ab_prior((b["ab"] for b in batches), self.bins.cpu())
        self.bin_weights.copy_(rebalance_weights(prior, self.bins.cpu()))

    # -- parts ---------------------------------------------------------------------------
    def gray_features(self, L: torch.Tensor) -> list[torch.Tensor]:
        x = norm_L(self._resize(L, self.field))
        feats = []
        for layer in self.cond_encoder:
            x = layer(x)
            feats.append(x)
        return feats                                        # field/2, /4, /8 and the 4x4 (hidden) map

    def encode(self, ab: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z | ab): mu, log sigma^2 (B, hidden) from ab in Lab units at any size."""
        out = self.encoder(self._resize(ab, self.field) / AB_NORM).float()
        return out[:, :self.hidden], out[:, self.hidden:].clamp(-10, 10)

    def decode(self, z: torch.Tensor, feats: list[torch.Tensor]) -> torch.Tensor:
        """ab / 110 at the field size from a code (B, hidden) and the gray features."""
        g1, g2, g3, g4 = feats
        x = self.dec_in(z[:, :, None, None].to(g4.dtype) * g4)   # z "resized" to 4 x 4, times the gray map
        for layer, skip in zip(self.dec, (g3, g2, g1)):
            x = layer(torch.cat([F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False), skip], 1))
        x = F.interpolate(x, size=(self.field, self.field), mode="bilinear", align_corners=False)
        return torch.tanh(self.dec_out(x).float())

    def mixture(self, L: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """MDN: pi (B, 8), summing to 1, and the component means (B, 8, hidden)."""
        x = self.trunk(norm_L(self._resize(L, 112)))
        return self.mdn(self.mdn_convs(x))

    # -- inference -----------------------------------------------------------------------
    def distribution(self, L, seed=None, z=None, **_):
        """The MDN's mixture for L: ``{"weights": pi (B, 8), "means": (B, 8, 64)}``."""
        weights, means = self.mixture(L)
        return {"weights": weights, "means": means}

    def colorize(self, L, seed=None, z=None, **_):
        if z is None:
            z = self.mdn.draw(*self.mixture(L), seeded_generator(seed))
        elif z.dim() != 2 or z.shape != (L.shape[0], self.hidden):
            raise ValueError(f"z: expected a code (B, {self.hidden}) for L of batch {L.shape[0]}; got {tuple(z.shape)}")
        ab = AB_NORM * self.decode(z.float(), self.gray_features(L))
        return self.to_input_size(ab, L)

    # -- training ------------------------------------------------------------------------
    def weighted_l2(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Their reconstruction term: per image sqrt(sum_pixels w(target) |pred - target|^2), mean
        over the batch (pred, target ab / 110 at the field size)."""
        idx = nearest_bin(target * AB_NORM, self.bins)
        w = self.bin_weights[idx][:, None]
        return torch.sqrt((w * (pred - target).pow(2)).flatten(1).sum(1) + 1e-8).mean()

    @staticmethod
    def gradient_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Squared difference of horizontal and vertical ab gradients, summed per image, mean over the batch."""
        dx = lambda x: x[..., :, 1:] - x[..., :, :-1]  # noqa: E731
        dy = lambda x: x[..., 1:, :] - x[..., :-1, :]  # noqa: E731
        return ((dx(pred) - dx(target)).pow(2).flatten(1).sum(1) + (dy(pred) - dy(target)).pow(2).flatten(1).sum(1)).mean()

    def training_step(self, batch: dict) -> dict:
        L = batch["L"]
        target = self._resize(batch["ab"].float(), self.field) / AB_NORM
        mu, logvar = self.encode(batch["ab"].float())
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        pred = self.decode(z, self.gray_features(L))
        weights, means = self.mixture(L)
        with fp32(L.device):
            kl = gaussian_kl(mu, logvar)
            rec = self.weighted_l2(pred, target)
            grad = self.gradient_loss(pred, target)
            mdn = self.mdn.best_component_loss(weights, means, mu.detach())
            ramp = min(1.0, float(self.steps) / max(1, self.kl_ramp))
            loss = rec + self.grad_weight * grad + ramp * self.kl_weight * kl
        self.step(loss + 1e-3 * mdn)
        self.steps += 1
        return {"loss": rec.detach(), "kl": kl.detach(), "grad": grad.detach(), "mdn": mdn.detach()}
