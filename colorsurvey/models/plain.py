"""Plain networks (survey §2.1): one network, one input, one colour output.

The survey's first class of deep colorization methods are "plain" networks: a single stack
of layers maps the gray image (or, in §2.1.3, a depth map) to colour, without branches,
user input or generative sampling. Three are re-implemented here, top to bottom:

* §2.1.1 :class:`DeepColorization` — Cheng, Yang, Sheng, ICCV 2015: hand-made features per
  pixel, a five-layer fully connected network regressing U, V, a joint bilateral filter;
* §2.1.2 :class:`ColorfulColorization` — Zhang, Isola, Efros, ECCV 2016: a VGG-like
  convolutional network classifying every pixel's ab into 313 bins, class rebalancing, the
  annealed mean; at size "paper" the official PyTorch weights load by name;
* §2.1.3 :class:`DeepDepthColorization` — Carlucci, Russo, Caputo, RA-L 2018, (DE)²CO: a
  residual network colorizing *depth maps* so that a frozen RGB classifier recognises them.

Shared piece: :class:`SmallClassifier` (a small CNN standing in for the ImageNet networks of
the papers). The (DE)²CO depth-recognition experiment and its classifier helpers are in
:mod:`colorsurvey.experiments.depth`.

Every method follows :class:`~colorsurvey.models.base.ColorizationModel`: ``colorize(L)``
returns ab in Lab units at the input size (any H, W), ``training_step(batch)`` does one
optimisation step and returns 0-d detached tensors (no host sync), losses are computed in
float32 so the step runs under ``torch.autocast(..., dtype=torch.bfloat16)``.
"""

from __future__ import annotations

import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..color import (ab_prior, annealed_mean, gamut_bins, rebalance_weights, rgb_to_lab, soft_encode,
                     yuv_to_rgb)
from ..features import daisy_dims, daisy_features_torch, patch_features
from ..postprocess import joint_bilateral_filter
from .base import ColorizationModel, ModelCard
from .layers import ResidualBlock, fp32
from .registry import create, register
from .weights import ZHANG_LICENCE, OfficialWeights, declare

__all__ = [
    "DeepColorization", "ColorfulColorization", "DeepDepthColorization",
    "SmallClassifier", "ResidualBlock", "official_eccv16_bins", "load_official_state_dict",
    "OFFICIAL_ECCV16_URL", "ECCV16",
]


# ======================================================================================
# Shared: a small CNN classifier (stands in for the papers' ImageNet networks)
# ======================================================================================

class SmallClassifier(nn.Module):
    """A small VGG-like CNN: 4 stages of two 3x3 conv + BN + ReLU, each stage opening with a
    stride-2 conv (1/16 resolution at the end), global average pooling, and a replaceable
    last layer ``fc``.

    Input images in [0, 1] with ``in_channels`` channels (3 for RGB, 1 for gray), any size.
    """

    def __init__(self, num_classes: int = 20, width: int = 32, in_channels: int = 3):
        super().__init__()
        chans = [width, 2 * width, 4 * width, 8 * width]
        layers: list[nn.Module] = []
        cin = in_channels
        for c in chans:
            layers += [nn.Conv2d(cin, c, 3, stride=2, padding=1, bias=False),
                       nn.BatchNorm2d(c), nn.ReLU(inplace=True),
                       nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            cin = c
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(chans[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x * 2.0 - 1.0))

    def reset_fc(self) -> None:
        """Re-initialise the last layer (to retrain it on another input modality)."""
        self.fc.reset_parameters()


def _onehot(label: torch.Tensor, k: int, dtype=torch.float32) -> torch.Tensor:
    """(B,) long -> (B, k), built with scatter (no host-side range check, no sync)."""
    return torch.zeros(label.shape[0], k, device=label.device, dtype=dtype).scatter_(1, label.view(-1, 1), 1.0)


# ======================================================================================
# §2.1.1  Deep Colorization (Cheng, Yang, Sheng, ICCV 2015)
# ======================================================================================

UV_SCALE = 0.5  # the network regresses (U, V) / 0.5, so its targets are of order 1


@register
class DeepColorization(ColorizationModel):
    """Deep Colorization: per-pixel regression of chroma from a three-level feature vector.

    The paper (survey §2.1.1) "re-formulates the colorization problem so that deep learning
    techniques can be directly employed": regression, pixel by pixel, of the two chroma
    channels U, V of YUV from a feature descriptor of the gray pixel, by a fully connected
    network of five layers (input, three hidden, output) with ReLU and a least-squares loss.
    The descriptor concatenates

    * low level: the 7x7 patch of gray values (49) — :func:`colorsurvey.features.patch_features`;
    * mid level: DAISY (32) — :func:`colorsurvey.features.daisy_features_torch`;
    * high level: semantics. The paper uses a scene-parsing network's labels (47 object
      categories). Here: the dataset's *category* as a one-hot vector (``num_classes``),
      broadcast to every pixel — the true label while training, and at inference the
      category predicted by a :class:`SmallClassifier` on the gray image, trained alongside
      (its cross-entropy is added to the step). ``colorize(L, label=...)`` can pass a known
      label instead.

    "To ensure artifact-free quality, a joint bilateral filtering based post-processing step"
    smooths the predicted U, V guided by the gray image
    (:func:`colorsurvey.postprocess.joint_bilateral_filter`).
    """

    card = ModelCard(
        key="deep-colorization",
        parameters=1_224_118, parameters_source="this re-implementation",
        survey_recipe="§2.1.1: 2,688 SUN images segmented into 47 object categories; least squares; the survey gives no iterations or learning rate",
        title="Deep Colorization",
        authors="Zezhou Cheng, Qingxiong Yang, Bin Sheng",
        venue="ICCV", year=2015, section="2.1.1", taxonomy="plain",
        conditions=(),
        losses=("least squares on U, V (per sampled pixel)",
                "cross-entropy of the category classifier (semantic feature, ours)"),
        framework="Matlab (the authors' released code and models)",
        substitutions=(
            "Semantic features: the paper's 47-category scene-parsing labels are replaced by the "
            "dataset's image category as a one-hot vector (20 for NCD), the true one while "
            "training and the prediction of a small CNN classifier on the gray image (trained "
            "alongside) at inference. Hidden widths: the published layer widths could not be "
            "found, so 'paper' uses 49+32+K -> 128 -> 128 -> 128 -> 2 (K categories); "
            "'small' 64s, 'smoke' 32s. DAISY: 1 ring x 3 histograms + centre, 8 orientations "
            "(32 values; radius 8 at 'paper', 4 'small', 3 'smoke'), computed by a torch port of "
            "scikit-image's daisy that a test holds to it. Chroma in BT.601 YUV; the gray input "
            "is the sRGB gray of the Lab L (so train and test see the same signal). The paper's "
            "adaptive image clustering (a network per cluster) is left out. Joint bilateral "
            "filter parameters (radius 3, sigma_space 2 px, sigma_range 0.1) are ours."),
        extra={"feature_dims": {"patch": 49, "daisy": 32, "semantic": "num_classes"},
               "pixels_per_image": "sampled per image per step"},
    )
    sizes = {
        "paper": dict(hidden=(128, 128, 128), daisy_radius=8, pixels_per_image=1024, classifier_width=32),
        "small": dict(hidden=(64, 64, 64), daisy_radius=4, pixels_per_image=256, classifier_width=16),
        "smoke": dict(hidden=(32, 32, 32), daisy_radius=3, pixels_per_image=64, classifier_width=8),
    }

    def __init__(self, hidden=(128, 128, 128), num_classes: int = 20, patch: int = 7,
                 daisy_radius: int = 4, pixels_per_image: int = 256, classifier_width: int = 16,
                 jbf=(3, 2.0, 0.1), lr: float = 1e-3):
        super().__init__()
        self.patch, self.daisy_radius, self.num_classes = patch, daisy_radius, num_classes
        self.pixels_per_image, self.jbf, self.lr = pixels_per_image, tuple(jbf), lr
        self.in_dims = patch * patch + daisy_dims() + num_classes
        # "a fully connected network of five layers": input -> 3 hidden (ReLU) -> output (U, V)
        dims = [self.in_dims, *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b), nn.ReLU(inplace=True)]
        self.mlp = nn.Sequential(*layers, nn.Linear(dims[-1], 2))
        # the semantic level at inference: a category classifier on the gray image
        self.classifier = SmallClassifier(num_classes, classifier_width, in_channels=1)

    # -- features ------------------------------------------------------------------------
    @staticmethod
    def gray(L: torch.Tensor) -> torch.Tensor:
        """The sRGB gray value (= Y' of YUV) of the neutral colour (L, 0, 0), (B, 1, H, W) in [0, 1]:
        CIE L -> relative luminance Y -> sRGB transfer curve (``colorsurvey.color.gray_rgb_from_L``
        in closed form, so a step copies no constants to the device)."""
        with fp32(L.device):
            fy = (L.float() + 16.0) / 116.0
            Y = torch.where(fy > 6 / 29, fy ** 3, (fy - 4 / 29) * 3 * (6 / 29) ** 2).clamp(0.0, 1.0)
            return torch.where(Y > 0.0031308, 1.055 * Y.clamp_min(0.0031308) ** (1 / 2.4) - 0.055, 12.92 * Y)

    @staticmethod
    def uv(rgb: torch.Tensor) -> torch.Tensor:
        """U = 0.492 (B - Y'), V = 0.877 (R - Y') of BT.601 YUV (as ``colorsurvey.color.rgb_to_yuv``),
        (B, 2, H, W), with Python-float constants (nothing copied to the device per step)."""
        r, g, b = rgb.float().unbind(1)
        y = 0.299 * r + 0.587 * g + 0.114 * b
        return torch.stack([0.492 * (b - y), 0.877 * (r - y)], 1)

    def pixel_features(self, gray: torch.Tensor, idx: torch.Tensor | None = None) -> torch.Tensor:
        """Low + mid level features, roughly zero-centred: of every pixel, (B, 49 + 32, H, W),
        or only of the pixels ``idx`` (B, 1, n) (flat indices), (B, 49 + 32, n)."""
        with fp32(gray.device):
            low = patch_features(gray.float(), self.patch, idx)                  # 7x7 gray values
            mid = daisy_features_torch(gray.float(), radius=self.daisy_radius)   # DAISY
            if idx is not None:
                B, n = gray.shape[0], idx.shape[-1]
                mid = mid.reshape(B, mid.shape[1], -1).gather(2, idx.expand(-1, mid.shape[1], n))
            return torch.cat([low * 2.0 - 1.0, mid * daisy_dims() - 1.0], dim=1)

    def semantic(self, gray: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        """High level: one-hot category (B, K), the given label or the classifier's guess."""
        if label is None:
            label = self.classifier(gray).argmax(1)
        return _onehot(label, self.num_classes)

    # -- inference -----------------------------------------------------------------------
    @torch.no_grad()
    def colorize(self, L: torch.Tensor, postprocess: bool = True, label: torch.Tensor | None = None,
                 chunk: int = 1 << 18, **_) -> torch.Tensor:
        """ab (B, 2, H, W): the network applied to every pixel (``chunk`` pixels at a time),
        U, V joint-bilateral filtered unless ``postprocess=False``, then YUV -> sRGB -> Lab.
        ``label`` (B,) replaces the classifier's guess of the category."""
        B, _, H, W = L.shape
        gray = self.gray(L)
        f = self.pixel_features(gray).permute(0, 2, 3, 1).reshape(B, H * W, -1)   # (B, HW, 81)
        s = self.semantic(gray, label)                                              # (B, K)
        uv = torch.empty(B, H * W, 2, device=L.device)
        for b in range(B):
            for i in range(0, H * W, chunk):
                fi = f[b, i:i + chunk]
                x = torch.cat([fi, s[b].expand(fi.shape[0], -1)], 1)
                uv[b, i:i + chunk] = self.mlp(x).float() * UV_SCALE
        uv = uv.reshape(B, H, W, 2).permute(0, 3, 1, 2)
        with fp32(L.device):
            if postprocess:  # "joint bilateral filtering" of the chroma, guided by the gray image
                uv = joint_bilateral_filter(uv, gray, *self.jbf)
            rgb = yuv_to_rgb(torch.cat([gray, uv], 1))
            return rgb_to_lab(rgb)[:, 1:]

    # -- training ------------------------------------------------------------------------
    def training_step(self, batch: dict) -> dict:
        L, rgb = batch["L"], batch["rgb"]
        B, _, H, W = L.shape
        gray = self.gray(L)
        with fp32(L.device):
            target = self.uv(rgb) / UV_SCALE                                 # (B, 2, H, W)
        # "trained on sampled pixels": N random pixels per image per step
        n = min(self.pixels_per_image, H * W)
        idx = torch.randint(0, H * W, (B, 1, n), device=L.device)
        f = self.pixel_features(gray, idx)                                   # (B, 81, n)
        t = target.reshape(B, 2, H * W).gather(2, idx.expand(-1, 2, -1))
        label = batch.get("label")
        if label is None:       # no category known: use the classifier's (untrained) guess
            with torch.no_grad():
                sem, cls_loss = self.semantic(gray), None
        else:                   # the true category; the classifier learns to predict it
            sem = _onehot(label, self.num_classes)
            cls_loss = F.cross_entropy(self.classifier(gray).float(), label)
        x = torch.cat([f, sem[:, :, None].expand(-1, -1, n)], 1).permute(0, 2, 1).reshape(-1, self.in_dims)
        pred = self.mlp(x).float()
        loss = F.mse_loss(pred, t.permute(0, 2, 1).reshape(-1, 2))          # least squares
        self.step(loss if cls_loss is None else loss + cls_loss)
        out = {"loss": loss.detach()}
        if cls_loss is not None:
            out["cls_loss"] = cls_loss.detach()
        return out


# ======================================================================================
# §2.1.2  Colorful Image Colorization (Zhang, Isola, Efros, ECCV 2016)
# ======================================================================================

#: The authors' released weights (richzhang/colorization), loaded by
#: ``create("colorful", size="paper", pretrained=True)``.
ECCV16 = declare(OfficialWeights(
    name="eccv16",
    title="Colorful Image Colorization (Zhang, Isola, Efros, ECCV 2016), PyTorch port",
    url="https://colorizers.s3.us-east-2.amazonaws.com/colorization_release_v2-9b330a0b.pth",
    # only the prefix in the torch-hub style name is published; the full digest and the size
    # could not be measured here (no network), so the check is on the prefix
    sha256="9b330a0b", bytes=None, licence=ZHANG_LICENCE,
    source="github.com/richzhang/colorization (README, colorizers/eccv16.py)", parameters=32_236_011,
    method="colorful", size="paper", label="Colorful Colorization (official ECCV16 weights)",
    # the port decodes with a plain softmax: the paper's annealing is folded into the weights
    # (see the card), so T = 1
    build={"temperature": 1.0},
))
OFFICIAL_ECCV16_URL = ECCV16.url

# The 313 in-gamut ab bins of the official model (pts_in_hull.npy of richzhang/colorization),
# in the order of its 313 output channels: for every a (step 10), b runs from b_min to b_max.
_OFFICIAL_BIN_ROWS = (
    (-90, 50, 90), (-80, 20, 90), (-70, 0, 90), (-60, -20, 90), (-50, -30, 100), (-40, -40, 100),
    (-30, -50, 100), (-20, -50, 100), (-10, -60, 100), (0, -70, 100), (10, -80, 90), (20, -80, 90),
    (30, -90, 90), (40, -100, 90), (50, -100, 80), (60, -110, 80), (70, -110, 80), (80, -110, 70),
    (90, -110, 70), (100, -90, 0),
)


def official_eccv16_bins() -> torch.Tensor:
    """The 313 ab bin centres of Zhang et al., (313, 2) float32, in the official channel order."""
    pts = [(a, b) for a, lo, hi in _OFFICIAL_BIN_ROWS for b in range(lo, hi + 1, 10)]
    return torch.tensor(pts, dtype=torch.float32)


@register
class ColorfulColorization(ColorizationModel):
    """Colorful Image Colorization: ab as a 313-way classification per pixel.

    Zhang et al. (survey §2.1.2) predict, for every pixel, a distribution Ẑ over Q quantised
    ab bins (grid 10, in gamut) with a VGG-like network of eight blocks of 2-3 convolutions,
    ReLU and BatchNorm, without pooling: downsampling by stride 2 at the ends of blocks 1-3,
    dilation 2 in blocks 5-6, a 4x4 stride-2 transposed convolution opening block 8, and a
    1x1 convolution to Q logits at 1/4 of the input resolution. Training: multinomial
    cross-entropy against soft-encoded targets (5 nearest bins, Gaussian sigma 5), each pixel
    weighted by the rebalancing weight of its nearest bin (prior smoothed by sigma 5, mixed
    with uniform by lambda 0.5). Inference: the annealed mean with temperature T = 0.38,
    then 4x bilinear upsampling.

    The official PyTorch model decodes with a 1x1 conv (Q -> 2, no bias) whose weights are
    the bin centres / 110, applied to the softmax, and multiplies by 110 (its ab
    normalisation; L enters as (L - 50) / 100). Here that conv (``model_out``) is kept, frozen,
    as the store of the bin centres; ``colorize`` uses ``annealed_mean`` with them (at T = 1
    it equals ``model_out(softmax(z)) * 110``).
    """

    card = ModelCard(
        key="colorful",
        parameters=ECCV16.parameters, parameters_source="official code (richzhang/colorization, colorizers/eccv16.py)",
        survey_recipe="§2.1.2: Caffe, Adam, 450k iterations at learning rate 3e-5, lowered to 1e-5 at 200k and 3e-6 at 375k; 256x256 input (the survey names no data set; the paper trains on ImageNet)",
        notes="Survey slip (§2.1.2): it gives the output as 224x224 for a 256x256 input; the official network (richzhang/colorization, eccv16) predicts the bins at a quarter of the input's resolution (64x64 for 256x256) and upsamples the ab by 4, as this one does.",
        title="Colorful Image Colorization",
        authors="Richard Zhang, Phillip Isola, Alexei A. Efros",
        venue="ECCV", year=2016, section="2.1.2", taxonomy="plain",
        conditions=(),
        losses=("multinomial cross-entropy on soft-encoded ab bins, class-rebalanced",),
        framework="Caffe (original); official PyTorch port of the weights in richzhang/colorization",
        substitutions=(
            "'paper' is the published ECCV16 network (32,236,011 parameters) with the official "
            "module names, so the released weights load by name (from_official); its 313 bins "
            "are the official ones. 'small' (width x1/4, 2 convs per block, 1 in blocks 1-2) and "
            "'smoke' (width x1/8, one conv per block) use the gamut bins computed here from the "
            "sRGB cube (about 260 at grid 10). The class-rebalancing prior is measured on the training "
            "data (fit_statistics) rather than on ImageNet; it is not saved with the weights. "
            "Temperature of the official weights: the Caffe deploy net scales the logits by 2.606 "
            "(= 1/0.38) before the softmax; the PyTorch port has no such layer and decodes with a "
            "plain softmax, so the scale is taken to be folded into model8.6 and from_official "
            "sets temperature 1.0 (T is then relative to the paper's 0.38). This is inferred from "
            "the two official codes, not checked against the weights (no network here). Zhang et al.'s "
            "optimiser (Adam, lr 3e-5, betas 0.9/0.99, weight decay 1e-3) is used at 'paper'; "
            "the smaller sizes use lr 1e-3 for brief training."),
    )
    sizes = {
        "paper": dict(width=1.0, convs=(2, 2, 3, 3, 3, 3, 3, 3), bins="official", lr=3e-5, weight_decay=1e-3),
        "small": dict(width=0.25, convs=(1, 1, 2, 2, 2, 2, 2, 2), bins="gamut", lr=1e-3),
        "smoke": dict(width=0.125, convs=(1, 1, 1, 1, 1, 1, 1, 1), bins="gamut", lr=1e-3),
    }
    L_CENT, L_NORM, AB_NORM = 50.0, 100.0, 110.0      # the official model's normalisation

    def __init__(self, width: float = 1.0, convs=(2, 2, 3, 3, 3, 3, 3, 3), bins: str | torch.Tensor = "official",
                 temperature: float = 0.38, lam: float = 0.5, sigma: float = 5.0,
                 lr: float = 1e-3, weight_decay: float = 0.0):
        super().__init__()
        if isinstance(bins, str):
            bins = {"official": official_eccv16_bins, "gamut": gamut_bins}[bins]()
        Q = bins.shape[0]
        c = [max(1, round(w * width)) for w in (64, 128, 256, 512, 512, 512, 512, 256)]
        self.temperature, self.lam, self.sigma = temperature, lam, sigma
        self.lr, self.weight_decay = lr, weight_decay

        def block(cin, cout, n, stride=1, dilation=1):
            """n x (3x3 conv + ReLU), the last one strided, then BatchNorm (official order)."""
            layers = []
            for i in range(n):
                s = stride if i == n - 1 else 1
                layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, stride=s, padding=dilation,
                                     dilation=dilation, bias=True), nn.ReLU(True)]
            return nn.Sequential(*layers, nn.BatchNorm2d(cout))

        self.model1 = block(1, c[0], convs[0], stride=2)            # conv1: 1/2
        self.model2 = block(c[0], c[1], convs[1], stride=2)         # conv2: 1/4
        self.model3 = block(c[1], c[2], convs[2], stride=2)         # conv3: 1/8
        self.model4 = block(c[2], c[3], convs[3])                   # conv4
        self.model5 = block(c[3], c[4], convs[4], dilation=2)       # conv5: "a trous", dilation 2
        self.model6 = block(c[4], c[5], convs[5], dilation=2)       # conv6: dilation 2
        self.model7 = block(c[5], c[6], convs[6])                   # conv7
        m8 = [nn.ConvTranspose2d(c[6], c[7], 4, stride=2, padding=1, bias=True), nn.ReLU(True)]  # conv8: 1/4
        for _ in range(convs[7] - 1):
            m8 += [nn.Conv2d(c[7], c[7], 3, padding=1, bias=True), nn.ReLU(True)]
        m8 += [nn.Conv2d(c[7], Q, 1, bias=True)]                    # Q-way logits per pixel
        self.model8 = nn.Sequential(*m8)
        self.softmax = nn.Softmax(dim=1)
        # decoding conv of the official model: weights = bin centres / 110 (frozen)
        self.model_out = nn.Conv2d(Q, 2, 1, bias=False)
        self.model_out.weight.data.copy_((bins.float() / self.AB_NORM).t().reshape(2, Q, 1, 1))
        self.model_out.weight.requires_grad_(False)
        self.upsample4 = nn.Upsample(scale_factor=4, mode="bilinear")
        # class-rebalancing weights (fit_statistics); not part of the state dict, so the
        # state dict is exactly the official one
        self.register_buffer("class_weights", torch.ones(Q), persistent=False)
        self.register_buffer("prior", torch.full((Q,), 1.0 / Q), persistent=False)

    # -- the bins ------------------------------------------------------------------------
    @property
    def bins(self) -> torch.Tensor:
        """ab bin centres (Q, 2) in Lab units, read from ``model_out`` (so they travel with the weights)."""
        return self.model_out.weight.detach()[:, :, 0, 0].t().float() * self.AB_NORM

    @property
    def num_bins(self) -> int:
        return self.model_out.weight.shape[1]

    # -- network -------------------------------------------------------------------------
    def forward(self, L: torch.Tensor) -> torch.Tensor:
        """Logits (B, Q, H/4, W/4) for L (B, 1, H, W) with H, W multiples of 8."""
        x = (L - self.L_CENT) / self.L_NORM
        for m in (self.model1, self.model2, self.model3, self.model4, self.model5, self.model6,
                  self.model7, self.model8):
            x = m(x)
        return x

    def logits(self, L: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """Logits for any H, W (replicate-padded to a multiple of 8), and the input size."""
        H, W = L.shape[-2:]
        Lp, _ = self.pad_to_multiple(L, 8)
        return self(Lp), (H, W)

    def decode(self, logits: torch.Tensor, T: float | None = None) -> torch.Tensor:
        """ab (B, 2, h, w) at the logits' resolution by the annealed mean (T -> 0: the mode's bin)."""
        T = self.temperature if T is None else T
        with fp32(logits.device):
            return annealed_mean(logits.float(), self.bins, T)

    @torch.no_grad()
    def colorize(self, L: torch.Tensor, T: float | None = None, **_) -> torch.Tensor:
        z, (H, W) = self.logits(L)
        with fp32(L.device):
            ab = self.upsample4(self.decode(z, T))
        return self.to_input_size(ab[..., :H, :W], L)

    @torch.no_grad()
    def distribution(self, L: torch.Tensor, T: float = 1.0, full_resolution: bool = True) -> torch.Tensor:
        """Per-pixel bin probabilities (B, Q, H, W) (or at 1/4 resolution), re-sharpened by T.

        Pair with :attr:`bins` (Q, 2) to draw a pixel's distribution over ab.
        """
        z, (H, W) = self.logits(L)
        with fp32(L.device):
            p = torch.softmax(torch.log_softmax(z.float(), 1) / T, 1)
            if full_resolution:  # bilinear weights are convex: probabilities still sum to 1
                p = self.upsample4(p)[..., :H, :W]
        return p

    # -- training ------------------------------------------------------------------------
    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        return {"main": torch.optim.Adam(params, lr=self.lr, betas=(0.9, 0.99), weight_decay=self.weight_decay)}

    @torch.no_grad()
    def fit_statistics(self, batches) -> None:
        """Measure the ab prior over the bins on training batches and set the rebalancing
        weights (Zhang et al. eq. 3-4: smoothed by sigma 5, mixed with uniform by lambda 0.5)."""
        bins = self.bins.cpu()
        prior = ab_prior((b["ab"].float().cpu() for b in batches), bins)
        w = rebalance_weights(prior, bins, lam=self.lam, sigma=self.sigma)
        self.prior.copy_(prior.to(self.prior.device))
        self.class_weights.copy_(w.to(self.class_weights.device))

    def training_step(self, batch: dict) -> dict:
        L, ab = batch["L"], batch["ab"]
        Lp, _ = self.pad_to_multiple(L, 8)
        abp, _ = self.pad_to_multiple(ab, 8)
        z = self(Lp)                                                   # (B, Q, H/4, W/4)
        with fp32(L.device):
            target = F.avg_pool2d(abp.float(), 4)                      # ab at the output's 1/4 res
            Z = soft_encode(target, self.bins, sigma=5.0, k=5)         # soft-encoded ground truth
            v = self.class_weights[Z.argmax(1)]                        # weight of the nearest bin
            logp = F.log_softmax(z.float(), dim=1)
            loss = -(v * (Z * logp).sum(1)).mean()                     # L_cl (eq. 2), per pixel
        self.step(loss)
        return {"loss": loss.detach()}

    # -- the official weights ------------------------------------------------------------
    @classmethod
    def load_official_state_dict(cls, path: str | os.PathLike, temperature: float = 1.0) -> "ColorfulColorization":
        """The 'paper' network with a state dict saved in the official layout, from a local file
        (= ``create("colorful", size="paper", pretrained=path)``).

        The bins come from the file's ``model_out.weight`` (2, 313, 1, 1) x 110. A file named
        as the release (``colorization_release_v2-9b330a0b.pth``) must have a sha256 starting
        with 9b330a0b. ``temperature`` defaults to 1.0: the official weights already include
        the paper's annealing (see the card); pass 0.38 to anneal again. A file that does not
        fit raises ValueError naming the missing and unexpected keys.
        """
        return create("colorful", size="paper", pretrained=path, temperature=temperature)

    @classmethod
    def from_official(cls, cache_dir: str | os.PathLike | None = None, progress: bool = True,
                      temperature: float = 1.0) -> "ColorfulColorization":
        """The published ECCV16 model with its released weights
        (= ``create("colorful", size="paper", pretrained=True)``, declared in :data:`ECCV16`).

        Looks for ``colorization_release_v2-9b330a0b.pth`` in ``cache_dir`` (default
        ``$COLORSURVEY_CACHE/weights`` or ``~/.cache/colorsurvey/weights``, then torch.hub's
        checkpoint folder, where richzhang/colorization's own loader keeps it); a file found
        there is used without downloading. Otherwise downloads it from the URL in the
        official README (the name's 9b330a0b is checked against the sha256). Offline:
        :class:`colorsurvey.data.download.OfflineError` saying where to put the file by hand.
        """
        return create("colorful", size="paper", pretrained=True, weights_cache=cache_dir, progress=progress,
                      temperature=temperature)


load_official_state_dict = ColorfulColorization.load_official_state_dict


# ======================================================================================
# §2.1.3  (DE)²CO: Deep Depth Colorization (Carlucci, Russo, Caputo, RA-L 2018)
# ======================================================================================

@register
class DeepDepthColorization(ColorizationModel):
    """(DE)²CO: learn to colorize a depth map so that an RGB-trained classifier recognises it.

    Carlucci et al. (survey §2.1.3) map a one-channel depth map to a three-channel image
    with a residual network — a 7x7 stride-2 convolution (64 filters) with BatchNorm and
    LeakyReLU and a 3x3 stride-2 max-pool to 1/4 resolution, a stack of residual blocks
    (8 in the final model), a convolution to 3 channels, and a deconvolution upsampling x4 —
    and train it *through a frozen classifier pretrained on RGB images*: the loss is the
    classifier's cross-entropy on the colorized depth, so the network learns the colour
    mapping that the RGB network finds most recognisable.

    Here: ``set_classifier(clf)`` installs the frozen classifier (loss "classifier"); without
    one the fallback is an L1 loss to the ground-truth RGB (loss "rgb"). The produced image
    passes a sigmoid, so it is an sRGB image in [0, 1]. ``colorize(L, depth=...)`` returns
    the ab of that image, so the method is evaluated like the others (it never sees L).
    """

    card = ModelCard(
        key="de2co",
        parameters=597_446, parameters_source="this re-implementation",
        survey_recipe="§2.1.3: ImageNet-pretrained recognition networks kept frozen; Washington-RGBD, JHUIT-50 and BigBIRD depth maps at 228x228; on an unseen data set only the last convolution is retrained",
        notes="Survey slips (§2.1.3): it says (DE)²CO outperforms CaffeNet, VGG16, GoogleNet and ResNet50, but those are the frozen recognition networks the paper feeds colorized depth to; what (DE)²CO outperforms are the other depth encodings fed to them (Carlucci et al. 2018). Its footnote 3 links github.com/engharat/SBADAGAN, a different project (SBADA-GAN) of the same group.",
        title="(DE)²CO: Deep Depth Colorization",
        authors="Fabio Maria Carlucci, Paolo Russo, Barbara Caputo",
        venue="IEEE Robotics and Automation Letters", year=2018, section="2.1.3", taxonomy="plain",
        conditions=("depth",),
        losses=("cross-entropy of a frozen RGB classifier on the colorized depth",
                "fallback: L1 to the ground-truth RGB when no classifier is set"),
        framework="not found (the paper evaluates with ImageNet CaffeNet, VGG-16, GoogLeNet, ResNet-50)",
        substitutions=(
            "The ImageNet-pretrained classifiers of the paper are replaced by a small CNN "
            "(SmallClassifier) trained here on the dataset's RGB images and then frozen; the "
            "depth maps are the rendered height fields of the synthetic set (a proxy for "
            "Washington RGB-D / JHUIT-50 / BigBIRD). 'paper' keeps 64 filters and 8 residual "
            "blocks; 'small' 32 and 3, 'smoke' 8 and 1. The LeakyReLU slope (0.2), the "
            "transposed convolution's kernel (8, stride 4) and the output sigmoid are ours. "
            "Without a classifier the network trains with an L1 loss to the true RGB image."),
    )
    sizes = {
        "paper": dict(width=64, blocks=8),
        "small": dict(width=32, blocks=3),
        "smoke": dict(width=8, blocks=1),
    }

    def __init__(self, width: int = 64, blocks: int = 8, slope: float = 0.2, loss: str = "auto",
                 lr: float = 1e-3):
        super().__init__()
        if loss not in ("auto", "classifier", "rgb"):
            raise ValueError("loss must be 'auto', 'classifier' or 'rgb'")
        self.loss_kind, self.lr = loss, lr
        self.stem = nn.Sequential(                                      # to 1/4 resolution
            nn.Conv2d(1, width, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(width),
            nn.LeakyReLU(slope, inplace=True), nn.MaxPool2d(3, stride=2, padding=1))
        self.blocks = nn.Sequential(*[ResidualBlock(width, act="lrelu", post_act=True, slope=slope) for _ in range(blocks)])
        self.to_rgb = nn.Conv2d(width, 3, 3, padding=1)                 # "a final conv to 3 channels"
        self.up = nn.ConvTranspose2d(3, 3, 8, stride=4, padding=2)      # deconvolution, x4
        self._classifier: nn.Module | None = None                       # kept out of the state dict

    # -- the frozen classifier -----------------------------------------------------------
    def set_classifier(self, clf: nn.Module | None) -> "DeepDepthColorization":
        """Install a classifier trained on RGB; it is frozen (no grad, eval mode) and not
        registered as a submodule (not saved, not optimised)."""
        if clf is not None:
            clf.eval().requires_grad_(False)
        object.__setattr__(self, "_classifier", clf)
        return self

    @property
    def classifier(self) -> nn.Module | None:
        return self._classifier

    def active_loss(self) -> str:
        if self.loss_kind == "auto":
            return "classifier" if self._classifier is not None else "rgb"
        return self.loss_kind

    # -- network -------------------------------------------------------------------------
    def colorize_depth(self, depth: torch.Tensor) -> torch.Tensor:
        """Depth (B, 1, H, W) in [0, 1] -> sRGB (B, 3, H, W) in [0, 1], any H, W."""
        H, W = depth.shape[-2:]
        d, _ = self.pad_to_multiple(depth, 4)
        x = self.stem((d - 0.5) * 2.0)
        x = self.up(self.to_rgb(self.blocks(x)))
        return torch.sigmoid(x.float())[..., :H, :W]

    def forward(self, depth: torch.Tensor) -> torch.Tensor:
        return self.colorize_depth(depth)

    def example_conditions(self, L: torch.Tensor) -> dict:
        """A dome-shaped depth map of L's size (for timing and FLOP counts)."""
        H, W = L.shape[-2:]
        y, x = torch.meshgrid(torch.linspace(-1, 1, H, device=L.device), torch.linspace(-1, 1, W, device=L.device),
                              indexing="ij")
        return {"depth": (0.3 * (1 - x ** 2 - y ** 2)).clamp_min(0).expand(L.shape[0], 1, H, W)}

    def conditions_from_batch(self, batch: dict) -> dict:
        if "depth" not in batch:
            raise KeyError("(DE)²CO colorizes depth maps: the batch has no 'depth' (rendered data has one)")
        return {"depth": batch["depth"]}

    @torch.no_grad()
    def colorize(self, L: torch.Tensor, depth: torch.Tensor | None = None, **_) -> torch.Tensor:
        if depth is None:
            raise ValueError("de2co needs colorize(L, depth=...): it colorizes the depth map, not L")
        rgb = self.colorize_depth(depth)
        with fp32(rgb.device):
            ab = rgb_to_lab(rgb.float())[:, 1:]
        return self.to_input_size(ab, L)

    # -- training ------------------------------------------------------------------------
    def training_step(self, batch: dict) -> dict:
        rgb_hat = self.colorize_depth(batch["depth"])
        if self.active_loss() == "classifier":
            if self._classifier is None:
                raise RuntimeError("loss='classifier' needs set_classifier(clf) first")
            clf = self._classifier.to(rgb_hat.device)
            logits = clf(rgb_hat)
            loss = F.cross_entropy(logits.float(), batch["label"])
            self.step(loss)
            acc = (logits.argmax(1) == batch["label"]).float().mean()
            return {"loss": loss.detach(), "acc": acc.detach()}
        loss = F.l1_loss(rgb_hat.float(), batch["rgb"].float())
        self.step(loss)
        return {"loss": loss.detach()}


_MOVED = {"train_classifier", "evaluate_classifier", "depth_recognition_experiment"}


def __getattr__(name: str):
    """The classifier helpers and the depth-recognition experiment moved to
    :mod:`colorsurvey.experiments.depth`; importing them from here keeps working."""
    if name in _MOVED:
        from ..experiments import depth

        return getattr(depth, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
