"""§2.5.6 Coloring With Limited Data: Few-Shot Colorization via Memory-Augmented Networks
(MemoPainter; Yoo, Bahng, Chung, Lee, Chang, Choo, CVPR 2019): a memory of (key, value, age)
triples — spatial features, colour features, how long since a slot was used — written by a
threshold rule and trained with a threshold triplet loss, and a U-Net generator conditioned on
the retrieved colour feature through adaptive instance normalisation."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...color import gamut_bins, soft_encode
from ..adversarial import AdversarialMixin
from ..base import ModelCard
from ..layers import AB_NORM, ConvBlock, PatchDiscriminator, fp32, norm_L
from ..registry import register
from .base import DiverseModel, UNet, seeded_generator

__all__ = ["MemoPainter", "color_distance", "color_feature"]


def color_feature(ab: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """An image's colour feature: its ab distribution over the gamut bins (soft-encoded, averaged
    over the pixels; the paper's "color_info dist", 313 bins there). ab (B, 2, H, W) in Lab
    units -> (B, Q), each row summing to 1."""
    return soft_encode(ab.float(), bins).mean((2, 3))


def color_distance(p: torch.Tensor, q: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """KL(p || q) between colour distributions (..., Q) -> (...) (the threshold rule's distance)."""
    p, q = p.float() + eps, q.float() + eps
    p, q = p / p.sum(-1, keepdim=True), q / q.sum(-1, keepdim=True)
    return (p * (p.log() - q.log())).sum(-1)


@register
class MemoPainter(AdversarialMixin, DiverseModel):
    """MemoPainter (paper §3; no official code; the unofficial dongheehand/MemoPainter-PyTorch
    where the paper is silent).

    * Query: a spatial feature of the gray image, normalised to unit length (the paper: a frozen
      ImageNet ResNet-18 and a linear layer; here a small CNN of our own plus the linear layer,
      trained by the triplet loss).
    * Memory (buffers): keys K (M, D) unit vectors, values V (M, Q) colour distributions, ages
      A (M,). Retrieval: cosine similarity q . K, the value of the nearest key (top-k kept).
    * Threshold update (:meth:`update_memory`): n1 = the nearest key; if the colour distance
      KL(v || V[n1]) < delta, K[n1] <- normalise(q + K[n1]) and A[n1] <- 0; otherwise the
      oldest slot is overwritten with (q, v) and its age set to 0; every other age grows by 1.
    * Threshold triplet loss (:meth:`triplet_loss`): among the top-k keys, the nearest whose
      value lies within delta of v is the positive, the nearest beyond delta the negative;
      max(0, q . k_neg - q . k_pos + alpha).
    * Generator: pix2pix's U-Net (4x4 stride-2, eight down / eight up at "paper") with AdaIN
      after every inner convolution, its scales and shifts from a three-layer MLP on the colour
      feature; training feeds the ground truth's colour feature, colorize the retrieved one.
      Discriminator: PatchGAN on (L, ab, the colour feature tiled). Loss: smooth L1 on ab +
      BCE GAN; Adam 1e-4.

    ``colorize(L, seed=k)``: with k, the value of a slot drawn among the top-k nearest by
    softmax(similarity / 0.1) (another plausible colouring); seed None: the nearest slot;
    ``value=`` (B, Q) a colour feature of your own (swap in another slot's colours).
    """

    card = ModelCard(
        key="memopainter", title="Coloring With Limited Data: Few-Shot Colorization via Memory-Augmented Networks",
        authors="Seungjoo Yoo, Hyojin Bahng, Sunghyo Chung, Junsoo Lee, Jaehyuk Chang, Jaegul Choo",
        venue="CVPR", year=2019, section="2.5.6", taxonomy="diverse", conditions=("seed", "value"),
        losses=("threshold triplet loss (memory)", "smooth L1 on ab", "non-saturating GAN (PatchGAN)"),
        framework="none released (unofficial PyTorch re-implementation: dongheehand/MemoPainter-PyTorch)",
        parameters=253_102_402, parameters_source=("this re-implementation: generator 251,288,962 (U-Net "
                                                   "54,405,506 + AdaIN MLP 196,883,456) + query network 1,813,440"),
        survey_recipe=("§2.5.6: few-shot colorization with a memory network; the survey gives no iterations, "
                       "learning rate or batch size (re-implementation: Adam 1e-4, batch 4, 256 x 256; memory "
                       "~1.2 x the training set; top-k 256; margin 0.1-0.3)"),
        substitutions=(
            "No official code: where the paper is silent we follow the unofficial re-implementation "
            "(the AdaIN MLP of three layers as wide as the AdaIN parameters, 9,856 at 'paper' — its "
            "choice, not the paper's). The query network is a small CNN trained here with the triplet "
            "loss (four stride-2 3x3 ConvBlocks and a global average, 512-d at 'paper') instead of a "
            "frozen ImageNet ResNet-18. The colour feature is the ab distribution over the 261 gamut "
            "bins of colorsurvey.color.gamut_bins (the paper: 313 bins), hence the generator is 0.2 % "
            "smaller than the re-implementation's 251,801,474. The discriminator is the toolkit's "
            "PatchGAN (theirs, from Text2Colors, ends in a linear layer). Inputs are padded (replicate) "
            "to a multiple of 2^depth. Memory of 1024 slots at 'paper', 256 at 'small', 32 at 'smoke'; "
            "'small': ngf 16, depth 6, MLP 256; 'smoke': ngf 8, depth 4, MLP 64."),
    )
    sizes = {
        "paper": dict(ngf=64, depth=8, mlp_hidden=None, query_dim=512, mem_size=1024, lr=1e-4),
        "small": dict(ngf=16, depth=6, mlp_hidden=256, query_dim=128, mem_size=256),
        "smoke": dict(ngf=8, depth=4, mlp_hidden=64, query_dim=32, mem_size=32, d_layers=2),
    }
    training_only = ("discriminator",)
    stochastic = True
    gan_kind = "nonsaturating"

    def __init__(self, ngf: int = 64, depth: int = 8, mlp_hidden: int | None = None, query_dim: int = 512,
                 mem_size: int = 1024, top_k: int = 16, color_threshold: float = 0.5, margin: float = 0.1,
                 temperature: float = 0.1, adv_weight: float = 0.01, d_layers: int = 3, lr: float = 1e-3):
        super().__init__()
        self.top_k, self.color_threshold, self.margin = top_k, color_threshold, margin
        self.temperature, self.adv_weight, self.lr = temperature, adv_weight, lr
        self.register_buffer("bins", gamut_bins(10.0))
        Q = self.bins.shape[0]
        widths = [ngf * min(2 ** i, 8) for i in range(depth)]
        enc = [(c, 2, 0 < i < depth - 1) for i, c in enumerate(widths)]
        dec = [(widths[depth - 2 - i], True) for i in range(depth - 1)]
        self.generator = UNet(1, 2, enc, dec, kernel=4, pre_act=True, norm="adain", dropout=min(3, depth - 2))
        P = 2 * sum(self.generator.adain_channels)
        h = mlp_hidden or P
        self.style_mlp = nn.Sequential(nn.Linear(Q, h), nn.ReLU(inplace=True), nn.Linear(h, h),
                                       nn.ReLU(inplace=True), nn.Linear(h, P))
        qw = [max(4, query_dim // 8), max(4, query_dim // 4), max(4, query_dim // 2), query_dim]
        self.query_net = nn.Sequential(ConvBlock(1, qw[0], n=1, stride=2), ConvBlock(qw[0], qw[1], n=1, stride=2),
                                       ConvBlock(qw[1], qw[2], n=1, stride=2), ConvBlock(qw[2], qw[3], n=1, stride=2),
                                       nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.query_head = nn.Linear(query_dim, query_dim)
        keys = F.normalize(torch.randn(mem_size, query_dim, generator=torch.Generator().manual_seed(0)), dim=1)
        self.register_buffer("keys", keys)
        self.register_buffer("values", torch.full((mem_size, Q), 1.0 / Q))
        self.register_buffer("ages", torch.zeros(mem_size))
        self.discriminator = PatchDiscriminator(3 + Q, width=ngf, n_layers=d_layers, norm="batch")

    # -- memory --------------------------------------------------------------------------
    def query(self, L: torch.Tensor) -> torch.Tensor:
        """Unit query vectors (B, D) of L (at any size; at least 16 x 16 after padding)."""
        x = norm_L(L)
        if min(x.shape[-2:]) < 16:
            x = self._resize(x, (max(16, x.shape[-2]), max(16, x.shape[-1])))
        return F.normalize(self.query_head(self.query_net(x)).float(), dim=1)

    def nearest(self, q: torch.Tensor, k: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-k cosine similarities and slot indices (B, k) of unit queries q (B, D)."""
        k = min(k or self.top_k, self.keys.shape[0])
        return (q @ self.keys.t().to(q.dtype)).topk(k, dim=1)

    @torch.no_grad()
    def update_memory(self, q: torch.Tensor, v: torch.Tensor) -> list[str]:
        """The threshold update, one (query, colour feature) pair at a time: q (B, D) unit
        vectors, v (B, Q) colour distributions. Returns, per pair, "updated" (the nearest slot's
        colour was within the threshold: its key moved towards q, its age reset) or "replaced"
        (the oldest slot now holds (q, v))."""
        what = []
        for qi, vi in zip(q.detach().float(), v.detach().float()):
            n1 = int((self.keys @ qi).argmax())
            self.ages += 1
            if float(color_distance(vi, self.values[n1])) < self.color_threshold:
                self.keys[n1] = F.normalize(self.keys[n1] + qi, dim=0)
                self.ages[n1] = 0
                what.append("updated")
            else:
                old = int(self.ages.argmax())
                self.keys[old], self.values[old], self.ages[old] = qi, vi, 0
                what.append("replaced")
        return what

    def triplet_loss(self, q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """The threshold triplet loss (0-d, mean over the pairs that have both a positive and a
        negative among their top-k slots; 0 if none do). q (B, D) carries gradients; v (B, Q)."""
        sims, idx = self.nearest(q)
        dist = color_distance(v[:, None].float(), self.values[idx].float())          # (B, k)
        pos_ok, neg_ok = dist < self.color_threshold, dist >= self.color_threshold
        big = torch.finfo(sims.dtype).max
        s_pos = torch.where(pos_ok, sims, torch.full_like(sims, -big)).max(1).values
        s_neg = torch.where(neg_ok, sims, torch.full_like(sims, -big)).max(1).values
        ok = (pos_ok.any(1) & neg_ok.any(1)).float()
        hinge = F.relu(torch.where(ok > 0, s_neg - s_pos, torch.zeros_like(s_pos)) + self.margin) * ok
        return hinge.sum() / ok.sum().clamp_min(1.0)

    def retrieve(self, L: torch.Tensor, seed: int | None = None) -> torch.Tensor:
        """The colour feature for L (B, Q): the nearest slot's value, or (with a seed) a slot drawn
        among the top-k by softmax(similarity / temperature)."""
        sims, idx = self.nearest(self.query(L))
        g = seeded_generator(seed)
        if g is None:
            pick = idx[:, 0]
        else:
            probs = torch.softmax(sims.float().cpu() / self.temperature, dim=1)
            j = torch.multinomial(probs, 1, generator=g).view(-1).to(idx.device)
            pick = idx.gather(1, j[:, None])[:, 0]
        return self.values[pick]

    # -- generator -----------------------------------------------------------------------
    def generate(self, L: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """ab / 110 (B, 2, H, W) from L and a colour feature (B, Q)."""
        Hh, Ww = L.shape[-2:]
        style = self.style_mlp(value.to(self.bins.dtype))
        return self.generator(self._pad(norm_L(L), self.generator.multiple), style)[..., :Hh, :Ww]

    def colorize(self, L, seed=None, value=None, **_):
        if value is None:
            value = self.retrieve(L, seed)
        elif value.shape != (L.shape[0], self.values.shape[1]):
            raise ValueError(f"value: expected a colour feature (B, {self.values.shape[1]}) for L of batch "
                             f"{L.shape[0]}; got {tuple(value.shape)}")
        return AB_NORM * self.generate(L, value)

    def _d_in(self, L, ab, value):
        return torch.cat([norm_L(L), ab, value[:, :, None, None].expand(-1, -1, *L.shape[-2:])], 1)

    def training_step(self, batch: dict) -> dict:
        L, ab = batch["L"], batch["ab"].float()
        v = color_feature(ab, self.bins)
        q = self.query(L)
        with fp32(L.device):
            trip = self.triplet_loss(q, v)
        self.step(trip, "memory")
        self.update_memory(q, v)
        real = ab / AB_NORM
        fake = self.generate(L, v)
        logs = self.discriminator_step(self._d_in(L, real, v), self._d_in(L, fake, v))
        g_adv = self.adversarial_term(self._d_in(L, fake, v))
        with fp32(L.device):
            rec = F.smooth_l1_loss(fake.float(), real, beta=1.0 / AB_NORM) * AB_NORM
        self.step(rec + self.adv_weight * g_adv, "generator")
        return {"loss": rec.detach(), "triplet": trip.detach(), "g_adv": g_adv.detach(), **logs}

    def configure_optimizers(self):
        """Adam for the generator + style MLP, the query network, and the discriminator."""
        gen = [*self.generator.parameters(), *self.style_mlp.parameters()]
        memory = [*self.query_net.parameters(), *self.query_head.parameters()]
        return {"generator": torch.optim.Adam(gen, lr=self.lr, betas=self.betas),
                "memory": torch.optim.Adam(memory, lr=self.lr, betas=self.betas),
                "discriminator": torch.optim.Adam(self.discriminator.parameters(), lr=self.lr, betas=self.betas)}
