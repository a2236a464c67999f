"""§2.3.3 Radar Image Colorization: Converting Single-Polarization to Fully Polarimetric Using
Deep Neural Networks (Song, Xu, Jin, IEEE Access 2018; official TF1 code fudanxu/SAR-Colorization):
frozen VGG16 features to conv3_3 as a per-pixel hypercolumn, a translator MLP with nine
softmax heads of 32 bins, one per polarimetric channel."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...data import domain as D
from ..base import ModelCard
from ..registry import register
from ..vgg import get_vgg19, vgg_widths
from .base import DomainModel, ab_of_rgb

__all__ = ["RadarPolarimetric", "VGG16Hypercolumn"]

#: the VGG16 convolutions up to conv3_3 (block, convs) and their index in torchvision's VGG19
#: ``features`` (the two networks agree up to conv3_3)
_VGG16_TO_CONV3_3 = (("conv1_1", 0), ("conv1_2", 2), ("conv2_1", 5), ("conv2_2", 7), ("conv3_1", 10),
                     ("conv3_2", 12), ("conv3_3", 14))


class VGG16Hypercolumn(nn.Module):
    """VGG16's conv1_1 ... conv3_3 (ReLU after each, 2x2 max pooling after conv1_2 and conv2_2)
    on a one-channel input in [0, 1]; ``forward`` returns the hypercolumn (B, 1 + sum of widths,
    H, W): the input and every layer's map bilinearly upsampled to the input's size (1 + 64 + 64 +
    128 + 128 + 256 + 256 + 256 = 1,153 at width 1, as in the official ``utils.py``)."""

    def __init__(self, width: float = 1.0):
        super().__init__()
        c1, c2, c3 = vgg_widths(width)[:3]
        chans = (1, c1, c1, c2, c2, c3, c3, c3)
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1) for a, b in zip(chans[:-1], chans[1:]))
        self.channels = 1 + sum(chans[1:])
        self.register_buffer("state", torch.zeros((), dtype=torch.uint8))   # 0 random, 1 trained here
        self.source = "untrained (random weights)"

    def load_from_vgg19(self, vgg) -> None:
        """Copy conv1_1 ... conv3_3 from a :class:`~colorsurvey.models.vgg.VGG19Features`; its RGB
        conv1_1 (with its ImageNet input normalisation) is folded onto one gray channel, so a gray
        input gives the maps the RGB network gives the gray image (exactly, away from the
        one-pixel border, where the two zero paddings differ)."""
        f = vgg.features
        for (name, i), conv in zip(_VGG16_TO_CONV3_3, self.convs):
            w, b = f[i].weight.detach(), f[i].bias.detach()
            if i == 0:
                std, mean = vgg.std.view(1, 3, 1, 1), vgg.mean.view(1, 3, 1, 1)
                b = b - (w * (mean / std)).sum((1, 2, 3))
                w = (w / std).sum(1, keepdim=True)
            conv.weight.data.copy_(w)
            conv.bias.data.copy_(b)
        self.state.fill_(1)
        self.source = vgg.describe()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        maps, y = [x], x
        for k, conv in enumerate(self.convs):
            if k in (2, 4):
                y = F.max_pool2d(y, 2, ceil_mode=True)
            y = F.relu(conv(y))
            maps.append(y if y.shape[-2:] == size else F.interpolate(y, size=size, mode="bilinear", align_corners=False))
        return torch.cat(maps, 1)


class Translator(nn.Module):
    """The official per-pixel MLP: hypercolumn -> 2048 ReLU -> 1024 ReLU -> 9 heads of
    (1024 -> 512 ReLU -> 32) logits, as 1x1 convolutions. (B, C, H, W) -> (B, 9, 32, H, W)."""

    def __init__(self, cin: int, h1: int = 2048, h2: int = 1024, h3: int = 512, channels: int = 9, bins: int = 32):
        super().__init__()
        self.trunk = nn.Sequential(nn.Conv2d(cin, h1, 1), nn.ReLU(inplace=True), nn.Conv2d(h1, h2, 1), nn.ReLU(inplace=True))
        self.heads = nn.ModuleList(nn.Sequential(nn.Conv2d(h2, h3, 1), nn.ReLU(inplace=True), nn.Conv2d(h3, bins, 1))
                                   for _ in range(channels))

    def forward(self, x):
        t = self.trunk(x)
        return torch.stack([h(t) for h in self.heads], 1)


@register
class RadarPolarimetric(DomainModel):
    """Song et al.'s single-pol to full-pol translator.

    ``colorize(L, vv=...)``: the VV intensity in [0, 1] (dB clipped to [-25, 0], the official
    input), (B, 1, H, W). The hypercolumn (frozen VGG16 features, standardised per channel with
    statistics measured once on training data, as the official ``mean_and_var.mat``) goes
    through the translator; each of the 9 heads is a softmax over 32 bins of one polarimetric
    channel (:data:`colorsurvey.data.domain.POL_CHANNELS`). ``explain`` returns the 9
    probability maps, the expected channel values and their Pauli-RGB composite; ``colorize``
    returns the composite's ab. Trained with cross-entropy on random pixels (``pixels`` per
    image per step, as the official mini-batches of random pixels).
    """

    card = ModelCard(
        key="radar-pol", title="Radar Image Colorization: Converting Single-Polarization to Fully Polarimetric Using Deep Neural Networks",
        authors="Qian Song, Feng Xu, Ya-Qiu Jin", venue="IEEE Access", year=2018, section="2.3.3",
        taxonomy="domain-specific", conditions=("vv",), losses=("cross-entropy over 9 x 32 bins",),
        framework="TensorFlow 1 (fudanxu/SAR-Colorization)", parameters=11_066_848, parameters_source="official code",
        survey_recipe="§2.3.3: VGG16 (ImageNet) as feature extractor, five fully connected layers, nine softmax groups; trained on full polarimetric radar patches",
        substitutions=(
            "Targets: nine polarimetric-like channels derived from the colour image (colorsurvey.data.domain."
            "polarimetric_from_rgb: the coherency matrix of a Pauli vector whose magnitudes are the B, R, G values "
            "and whose phases follow a, b), quantised to 32 bins, and the VV input computed from them in dB "
            "as the official code does — not real radar; real stacks load with DomainFolder(root, 'vv') "
            "(vv/ images and pol/ .npy). VGG16 conv1_1-conv3_3 are not ImageNet weights here: they are copied "
            "from the project's VGG19 (identical up to conv3_3), torchvision's ImageNet file when it is on "
            "disk at width 1, else the VGG19 trained on the colour data (models.vgg), and then frozen; conv1_1 is "
            "folded onto one channel. Widths: the official shapes at 'paper' (1,153-2,048-1,024-512-32), VGG x1/4 "
            "and MLP 256-128-64 at 'small', x1/16 and 64-32-16 at 'smoke'. Adam lr 1e-4 at 'paper' as published, "
            "1e-3 below; 256 random pixels per image per step."))
    domain_input, domain_what, standin_function = "vv", "a single-polarisation (VV) radar image in [0, 1]", "colorsurvey.data.domain.vv_from_polarimetric(polarimetric_from_rgb(rgb))"
    strength = ("looks", 0, (0, 1, 4, 16))          # 0: no speckle (the official data are multilooked)
    training_only = ()
    sizes = {
        "paper": dict(vgg_width=1.0, hidden=(2048, 1024, 512), lr=1e-4, vgg_steps=3000),
        "small": dict(vgg_width=0.25, hidden=(256, 128, 64), vgg_steps=300),
        "smoke": dict(vgg_width=0.0625, hidden=(64, 32, 16), vgg_steps=40),
    }

    def __init__(self, vgg_width: float = 1.0, hidden=(2048, 1024, 512), lr: float = 1e-3, vgg_steps: int = 300,
                 pixels: int = 256, vgg_kind: str = "auto"):
        super().__init__()
        self.lr, self.vgg_steps, self.pixels, self.vgg_kind, self.vgg_width = lr, vgg_steps, pixels, vgg_kind, vgg_width
        self.features = VGG16Hypercolumn(vgg_width).requires_grad_(False)
        c = self.features.channels
        self.register_buffer("feat_mean", torch.zeros(1, c, 1, 1))
        self.register_buffer("feat_std", torch.ones(1, c, 1, 1))
        self.translator = Translator(c, *hidden, channels=len(D.POL_CHANNELS), bins=D.POL_BINS)
        self.register_buffer("centres", D.dequantize(torch.arange(D.POL_BINS)))

    # -- data ------------------------------------------------------------------------------
    def standin(self, batch: dict, strength=None, seeds=None) -> dict:
        pol = batch["pol"].float() if "pol" in batch else D.polarimetric_from_rgb(batch["rgb"])
        vv = D.vv_from_polarimetric(pol)
        looks = self.strength[1] if strength is None else strength
        if looks:
            db = vv * 25 - 25                                      # back to dB, speckle, and back
            inten = 10 ** (db / 10) * D.speckle(vv.shape, looks, seeds=seeds, device=vv.device)
            vv = ((10 * torch.log10(inten + 1e-6)).clamp(-25, 0) + 25) / 25
        return {"vv": vv}

    def targets(self, batch: dict) -> torch.Tensor:
        """The 9 channels' bin indices (B, 9, H, W): the batch's ``pol`` or the stand-in."""
        pol = batch["pol"].float() if "pol" in batch else D.polarimetric_from_rgb(batch["rgb"])
        return D.quantize(pol)

    def fit_statistics(self, batches) -> None:
        """Give the VGG its weights (once) and measure the hypercolumn's per-channel mean and std."""
        items = list(batches)
        if not items:
            return
        dev = self.feat_mean.device
        if not int(self.features.state):
            n_cls = max(int(b["label"].max()) for b in items) + 1
            vgg = get_vgg19(self.vgg_width, kind=self.vgg_kind, source=items,
                            steps=self.vgg_steps, device=dev, num_classes=n_cls)
            self.features.load_from_vgg19(vgg.to(dev))
        with torch.no_grad():
            h = torch.cat([self.features(self.standin(b)["vv"].to(dev)).flatten(2) for b in items], 2)
            self.feat_mean.copy_(h.mean((0, 2)).view_as(self.feat_mean))
            self.feat_std.copy_(h.std((0, 2)).clamp_min(1e-3).view_as(self.feat_std))

    # -- network ---------------------------------------------------------------------------
    def hypercolumn(self, vv: torch.Tensor) -> torch.Tensor:
        return (self.features(vv.float()) - self.feat_mean) / self.feat_std

    def explain(self, L, vv=None, **_):
        """dict(prob (B, 9, 32, H, W), pol (B, 9, H, W) expected values, rgb (B, 3, H, W) Pauli composite)."""
        prob = self.translator(self.hypercolumn(self._domain(L, vv))).float().softmax(2)
        pol = (prob * self.centres.view(1, 1, -1, 1, 1)).sum(2)
        return {"prob": prob, "pol": pol, "rgb": D.pauli_rgb(pol)}

    def colorize(self, L, vv=None, **_):
        return ab_of_rgb(self.explain(L, vv=vv)["rgb"])

    def training_step(self, batch: dict) -> dict:
        vv = self.training_conditions(batch)["vv"]
        target = self.targets(batch)
        B, _, Hh, Ww = vv.shape
        n = min(self.pixels, Hh * Ww)
        idx = torch.stack([torch.randperm(Hh * Ww, device=vv.device)[:n] for _ in range(B)])     # (B, n)
        h = self.hypercolumn(vv).flatten(2)
        h = torch.gather(h, 2, idx[:, None].expand(-1, h.shape[1], -1)).unsqueeze(-1)         # (B, C, n, 1)
        logits = self.translator(h).squeeze(-1).float()                                        # (B, 9, 32, n)
        t = torch.gather(target.flatten(2), 2, idx[:, None].expand(-1, target.shape[1], -1))   # (B, 9, n)
        loss = F.cross_entropy(logits.permute(0, 2, 1, 3), t)
        self.step(loss)
        return {"loss": loss.detach()}

    def configure_optimizers(self):
        return {"main": torch.optim.Adam(self.translator.parameters(), lr=self.lr, eps=1e-6)}
