"""§2.3.4 Reference-based Sketch Image Colorization using Augmented-Self Reference and Dense
Semantic Correspondence (Lee, Kim, Lee, Kim, Chang, Choo, CVPR 2020): two encoders (sketch,
reference), the spatially corresponding feature transfer (SCFT, attention of sketch features
over reference features), residual blocks and a U-Net decoder; trained on augmented
self-references with reconstruction, adversarial, perceptual and style losses.

No official code; the layer tables follow the re-implementation zhaoyuzhi/Reference-Based-
Sketch-Image-Colorization-ImageNet (``network.py``), whose shapes agree with the paper's
d_v = 992."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ...data import domain as D
from ...references import ReferenceBank
from ..adversarial import AdversarialMixin, parameters_except
from ..base import ModelCard
from ..layers import ConvBlock, RandomFeatures, ResidualBlock, fp32
from ..registry import register
from .base import DomainModel, ab_of_rgb

__all__ = ["SCFT", "ReferenceSketch", "SketchEncoder"]

#: encoder widths (paper) and which of the ten layers stride by 2
_WIDTHS = (16, 16, 32, 32, 64, 64, 128, 128, 256, 256)
_STRIDED = (2, 4, 6, 8)


class SketchEncoder(nn.Module):
    """Ten 3x3 ConvBlocks (conv without bias, BatchNorm, LeakyReLU 0.2) of widths 16, 16, 32 s2,
    32, 64 s2, 64, 128 s2, 128, 256 s2, 256 (times ``width``). ``forward`` returns (v, maps):
    every layer's map average-pooled to the last layer's grid (H/16 x W/16) and concatenated,
    (B, 992 x width, H/16, W/16), and the ten maps (the decoder's skips)."""

    def __init__(self, cin: int, width: float = 1.0):
        super().__init__()
        ws = [max(1, int(round(c * width))) for c in _WIDTHS]
        self.layers = nn.ModuleList()
        for i, c in enumerate(ws):
            self.layers.append(ConvBlock(cin, c, n=1, stride=2 if i in _STRIDED else 1, act="lrelu"))
            cin = c
        self.widths, self.channels = ws, sum(ws)

    def forward(self, x):
        maps = []
        for layer in self.layers:
            x = layer(x)
            maps.append(x)
        grid = maps[-1].shape[-2:]
        return torch.cat([F.adaptive_avg_pool2d(m, grid) for m in maps], 1), maps


class SCFT(nn.Module):
    """Spatially corresponding feature transfer: queries from the sketch's features, keys and
    values from the reference's (linear maps W_q, W_k, W_v of d x d), attention
    A = softmax(Q K^T / sqrt d) over the reference positions (each row sums to 1), and
    v_c = v_s + A V. Inputs (B, d, h, w) each; returns (v_c (B, d, h, w), A (B, hw, hw))."""

    def __init__(self, d: int):
        super().__init__()
        self.w_q, self.w_k, self.w_v = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.scale = 1.0 / math.sqrt(d)

    def forward(self, v_s, v_r):
        B, d, h, w = v_s.shape
        s, r = v_s.flatten(2).transpose(1, 2), v_r.flatten(2).transpose(1, 2)      # (B, N, d)
        q, k, v = self.w_q(s), self.w_k(r), self.w_v(r)
        with fp32(v_s.device):
            att = torch.softmax(q.float() @ k.float().transpose(1, 2) * self.scale, dim=-1)
        out = s + (att.to(v.dtype) @ v)
        return out.transpose(1, 2).reshape(B, d, h, w), att


class _UpBlock(nn.Module):
    """Bilinear x2 up-sampling of x, concatenated with the encoder's skip, then a ConvBlock."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = ConvBlock(cin, cout, n=1, act="lrelu")

    def forward(self, x, skip):
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=True)
        return self.conv(torch.cat([skip, x], 1))


class Decoder(nn.Module):
    """The U-Net decoder of the re-implementation: from [residual output, v_c] (2d channels) at
    H/16 through ten ConvBlocks (four of them up-sampling), each joined with the sketch encoder's
    maps 9 ... 1, to a 3x3 conv and tanh (RGB in [-1, 1])."""

    def __init__(self, ws, d: int):
        super().__init__()
        w1, w2, w3, w4, w5, w6, w7, w8, w9, _ = ws
        self.l10 = ConvBlock(2 * d, w9, n=1, act="lrelu")
        self.l9 = ConvBlock(w9 + w9, w9, n=1, act="lrelu")
        self.l8, self.l7 = _UpBlock(w9 + w8, w8), ConvBlock(w8 + w7, w7, n=1, act="lrelu")
        self.l6, self.l5 = _UpBlock(w7 + w6, w6), ConvBlock(w6 + w5, w5, n=1, act="lrelu")
        self.l4, self.l3 = _UpBlock(w5 + w4, w4), ConvBlock(w4 + w3, w3, n=1, act="lrelu")
        self.l2, self.l1 = _UpBlock(w3 + w2, w2), ConvBlock(w2 + w1, w1, n=1, act="lrelu")
        self.last = nn.Conv2d(w1, 3, 3, padding=1)

    def forward(self, x, m):
        y = self.l9(torch.cat([self.l10(x), m[8]], 1))
        y = self.l7(torch.cat([self.l8(y, m[7]), m[6]], 1))
        y = self.l5(torch.cat([self.l6(y, m[5]), m[4]], 1))
        y = self.l3(torch.cat([self.l4(y, m[3]), m[2]], 1))
        y = self.l1(torch.cat([self.l2(y, m[1]), m[0]], 1))
        return torch.tanh(self.last(y).float())


class _Residuals(nn.Module):
    """Four residual blocks at d channels plus an outer skip (``ResBlockNet``)."""

    def __init__(self, d: int, n: int = 4):
        super().__init__()
        self.main = nn.Sequential(*[ResidualBlock(d) for _ in range(n)])

    def forward(self, x):
        return self.main(x) + x


def _gram(f: torch.Tensor) -> torch.Tensor:
    B, C = f.shape[:2]
    f = f.float().flatten(2)
    return f @ f.transpose(1, 2) / f.shape[-1]


@register
class ReferenceSketch(AdversarialMixin, DomainModel):
    """Lee et al.'s reference-based sketch colorization.

    ``colorize(L, sketch=..., reference_rgb=...)``: the sketch (B, 1, H, W) in [0, 1], dark
    lines on white, and a colour reference (B or 1, 3, H', W') in [0, 1], any size (resized to
    the sketch's). Both are encoded, the SCFT moves the reference's features to the sketch's
    positions, four residual blocks and the decoder give RGB. ``explain`` adds the attention map
    (B, N, N) over the N = h x w positions of the H/16 grid (``grid``). Training: the reference is
    the augmented self-reference of the ground truth (:func:`colorsurvey.data.domain.
    augmented_self_reference`); generator loss λ_L1 ℓ1 + λ_perc perceptual + λ_style style +
    λ_GAN adversarial (30, 0.01, 50, 1), the discriminator (spectral norm) judges (image, sketch).
    """

    card = ModelCard(
        key="ref-sketch", title="Reference-based Sketch Image Colorization using Augmented-Self Reference and Dense Semantic Correspondence",
        authors="Junsoo Lee, Eungyeup Kim, Yunsung Lee, Dongjun Kim, Jaehyuk Chang, Jaegul Choo", venue="CVPR",
        year=2020, section="2.3.4", taxonomy="domain-specific", conditions=("sketch", "reference_rgb"),
        losses=("ℓ1 reconstruction", "adversarial (LSGAN)", "perceptual", "style (Gram)"),
        framework="(no official code; PyTorch re-implementations)", parameters=82_915_283,
        parameters_source="re-implementation zhaoyuzhi/Reference-Based-Sketch-Image-Colorization-ImageNet",
        survey_recipe="§2.3.4: augmented self-reference (colour perturbation + thin-plate-spline warp of the ground truth) in training; the survey gives no optimiser or schedule",
        substitutions=(
            "Sketch: XDoG line art of the colour image (colorsurvey.data.domain.sketch_from_rgb), not artists' "
            "sketches; real pairs load with DomainFolder(root, 'sketch'). Layers as the re-implementation (encoders, "
            "SCFT at 992 channels, 4 residual blocks, U-Net decoder) at 'paper', widths x1/4 at 'small' and x1/8 at "
            "'smoke'; the SCFT scales Q K^T by 1/sqrt(d) before the softmax (the re-implementation divides after it) "
            "and pools every layer to the input's H/16 grid (not a fixed 16 x 16). Perceptual and style losses on a "
            "frozen randomly initialised VGG-like network (no ImageNet VGG16 here); no triplet loss (the "
            "re-implementation sets its weight to 0 too). Evaluation references: a same-category image of the "
            "training split when the model has a reference pool (references=), else the augmented self-reference "
            "drawn per image. Adam (0.5, 0.999), lr 1e-4 / 2e-4 (G / D) at 'paper', 1e-3 at the small sizes."))
    domain_input, domain_what, standin_function = "sketch", "a sketch in [0, 1] (dark lines on white)", "colorsurvey.data.domain.sketch_from_rgb(rgb)"
    strength = ("thickness", 1, (1, 2, 3))
    gan_kind = "lsgan"
    training_only = ("discriminator", "features")
    sizes = {
        "paper": dict(width=1.0, lr=1e-4, lr_d=2e-4),
        "small": dict(width=0.25),
        "smoke": dict(width=0.125),
    }

    def __init__(self, width: float = 1.0, lr: float = 1e-3, lr_d: float | None = None, references=None,
                 weights=(30.0, 0.01, 50.0, 1.0), jitter: float = 0.5, warp: float = 0.1):
        super().__init__()
        self.lr, self.lr_d, self.weights, self.jitter, self.warp = lr, lr_d or lr, weights, jitter, warp
        self.enc_sketch, self.enc_reference = SketchEncoder(1, width), SketchEncoder(3, width)
        d = self.enc_sketch.channels
        self.scft = SCFT(d)
        self.residuals = _Residuals(d)
        self.decoder = Decoder(self.enc_sketch.widths, d)
        ws = [max(1, int(round(c * width))) for c in (16, 32, 64, 128)]
        sn = lambda cin, cout, s: nn.Sequential(spectral_norm(nn.Conv2d(cin, cout, 3, s, 1, bias=False)),
                                                nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, inplace=True))
        self.discriminator = nn.Sequential(sn(4, ws[0], 2), sn(ws[0], ws[1], 2), sn(ws[1], ws[2], 2), sn(ws[2], ws[3], 2),
                                           nn.Conv2d(ws[3], 1, 3, padding=1))
        self.features = RandomFeatures()
        self._bank = ReferenceBank(references) if references is not None else None

    def configure_optimizers(self):
        d = self.discriminator
        return {"generator": torch.optim.Adam(parameters_except(self, d), lr=self.lr, betas=self.betas),
                "discriminator": torch.optim.Adam(d.parameters(), lr=self.lr_d, betas=self.betas)}

    # -- inputs ----------------------------------------------------------------------------
    def check_inputs(self, L, conditions):
        if conditions.get("reference_rgb") is None and conditions.get("sketch") is not None:
            raise ValueError("ref-sketch needs a colour reference: pass reference_rgb=..., a float sRGB image in "
                             "[0, 1], (3, H, W) or (B, 3, H, W); for training-style input use "
                             "colorsurvey.data.domain.augmented_self_reference(rgb)")
        return super().check_inputs(L, conditions)

    def standin(self, batch: dict, strength=None, seeds=None) -> dict:
        rgb = batch["rgb"].float()
        sketch = D.sketch_from_rgb(rgb, self.strength[1] if strength is None else strength)
        if seeds is None:
            ref = D.augmented_self_reference(rgb, self.jitter, self.warp)
        else:
            ref = torch.cat([D.augmented_self_reference(rgb[i:i + 1], self.jitter, self.warp,
                                                        torch.Generator().manual_seed(int(s)))
                             for i, s in enumerate(seeds)])
        if self._bank is not None and "label" in batch and "index" in batch and seeds is not None:
            pick = self._bank.pick(batch["label"], batch["index"], "matched")
            if bool((pick >= 0).all()):
                ref = self._bank.load(pick, size=tuple(rgb.shape[-2:]), device=rgb.device)
        return {"sketch": sketch, "reference_rgb": ref.to(rgb.device)}

    def example_conditions(self, L):
        g = torch.Generator().manual_seed(0)
        B, (h, w) = L.shape[0], L.shape[-2:]
        return {"sketch": (torch.rand(B, 1, h, w, generator=g) > 0.1).float().to(L.device),
                "reference_rgb": torch.rand(B, 3, max(h, 16), max(w, 16), generator=g).to(L.device)}

    # -- network ---------------------------------------------------------------------------
    def generate(self, sketch: torch.Tensor, reference: torch.Tensor) -> dict:
        """dict(rgb (B, 3, H, W) in [0, 1], attention (B, N, N), grid (h, w))."""
        Hh, Ww = sketch.shape[-2:]
        s, _ = self.pad_to_multiple(sketch.float() * 2 - 1, 16)
        if reference.dim() == 3:
            reference = reference[None]
        r = F.interpolate(reference.float(), size=s.shape[-2:], mode="bilinear", align_corners=False)
        r = r.expand(s.shape[0], -1, -1, -1) * 2 - 1
        v_s, maps = self.enc_sketch(s)
        v_r, _ = self.enc_reference(r)
        v_c, att = self.scft(v_s, v_r)
        y = self.decoder(torch.cat([self.residuals(v_c), v_c], 1), maps)
        return {"rgb": ((y + 1) / 2)[..., :Hh, :Ww], "attention": att, "grid": tuple(v_s.shape[-2:])}

    def explain(self, L, sketch=None, reference_rgb=None, **_):
        return self.generate(self._domain(L, sketch), reference_rgb.to(L.device))

    def colorize(self, L, sketch=None, reference_rgb=None, **_):
        return ab_of_rgb(self.explain(L, sketch=sketch, reference_rgb=reference_rgb)["rgb"])

    def training_step(self, batch: dict) -> dict:
        cond = self.training_conditions(batch)
        sketch, rgb = cond["sketch"], batch["rgb"].float()
        fake = self.generate(sketch, cond["reference_rgb"])["rgb"]
        real_in, fake_in = torch.cat([rgb * 2 - 1, sketch], 1), torch.cat([fake * 2 - 1, sketch], 1)
        logs = self.discriminator_step(real_in, fake_in)
        g_adv = self.adversarial_term(fake_in)
        w_l1, w_perc, w_style, w_gan = self.weights
        with fp32(rgb.device):
            l1 = F.l1_loss(fake.float(), rgb)
            f_fake, f_real = self.features(fake.float()), self.features(rgb)
            perc = F.l1_loss(f_fake, f_real)
            style = F.l1_loss(_gram(f_fake), _gram(f_real))
        self.step(w_l1 * l1 + w_perc * perc + w_style * style + w_gan * g_adv, "generator")
        return {"loss": l1.detach(), "perceptual": perc.detach(), "style": style.detach(), "g_adv": g_adv.detach(), **logs}
