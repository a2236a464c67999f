"""Building blocks shared by the methods, each defined once (in the manner of ``timm.layers``).

* :data:`AB_NORM` — the ab scale: networks regress ``ab / AB_NORM`` (about -1..1) and multiply
  back; 110 covers the sRGB gamut's ab range (Zhang et al. 2016/2017 use the same constant).
* :func:`fp32` — a region computed in float32 even inside a bf16 autocast (colour maths,
  correspondences, losses).
* :func:`norm_L` — L (0..100) to about -1..1, ``(L - 50) / 50``.
* :class:`ConvBlock` — ``n`` x (conv, BatchNorm, ReLU): the U-Nets' stage, the encoders' strided
  stems, the dilated modules.
* :class:`ResidualBlock` — two 3x3 convolutions (with BatchNorm or not) plus the identity
  (He et al. 2016), optionally activated after the sum.
* :class:`PatchDiscriminator` — the PatchGAN discriminator of pix2pix (Isola et al. 2017): a
  stack of 4x4 stride-2 convolutions with LeakyReLU(0.2) that scores overlapping patches,
  one logit per patch (70x70 receptive field at three downsamplings).
* :class:`RandomFeatures` — a frozen random VGG-like feature network for perceptual losses
  where no ImageNet VGG is available.

Every block keeps the module layout (``nn.Sequential`` indices, ``body``) of the code it
replaced, so parameter names and counts of the methods did not change when they moved here.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["AB_NORM", "fp32", "norm_L", "ConvBlock", "ResidualBlock", "PatchDiscriminator", "RandomFeatures"]

#: ab is predicted as ab / AB_NORM; 110 spans the ab range of the sRGB gamut (Zhang et al.).
AB_NORM = 110.0


def fp32(device: torch.device):
    """A context in which autocast is off on ``device``'s type: the region runs in float32 even
    inside a bf16 autocast (losses, colour maths, correspondences)."""
    return torch.autocast(device_type=torch.device(device).type, enabled=False)


def norm_L(L: torch.Tensor) -> torch.Tensor:
    """L in Lab units (0..100) to (L - 50) / 50, about -1..1, in float32. Same shape."""
    return (L.float() - 50.0) / 50.0


def _activation(kind: str, slope: float = 0.2) -> nn.Module:
    if kind == "relu":
        return nn.ReLU(inplace=True)
    if kind == "lrelu":
        return nn.LeakyReLU(slope, inplace=True)
    raise ValueError(f"activation {kind!r}: expected 'relu' or 'lrelu'")


class ConvBlock(nn.Sequential):
    """``n`` x (k x k conv, BatchNorm, ReLU), the first with ``stride``; padding keeps the size
    (``dilation`` x (k // 2)). Without ``norm`` the convolution has a bias and no BatchNorm.

    (B, cin, H, W) -> (B, cout, ceil(H / stride), ceil(W / stride)). The U-Nets' stage is
    ``ConvBlock(cin, cout, n=2)``; an encoder's strided stage ``ConvBlock(cin, cout, n=1, stride=2)``.
    """

    def __init__(self, cin: int, cout: int, n: int = 2, dilation: int = 1, stride: int = 1,
                 kernel_size: int = 3, norm: bool = True, act: str = "relu"):
        layers: list[nn.Module] = []
        for i in range(n):
            layers.append(nn.Conv2d(cin if i == 0 else cout, cout, kernel_size, stride=stride if i == 0 else 1,
                                    padding=dilation * (kernel_size // 2), dilation=dilation, bias=not norm))
            if norm:
                layers.append(nn.BatchNorm2d(cout))
            layers.append(_activation(act))
        super().__init__(*layers)


class ResidualBlock(nn.Module):
    """x + body(x), body = 3x3 conv, [BatchNorm], activation, 3x3 conv, [BatchNorm] (He et al.
    2016); with ``post_act`` the sum is activated too. Shape-preserving, (B, c, H, W).

    ``act``: "relu" or "lrelu" (slope ``slope``); convolutions carry a bias only without norm.
    """

    def __init__(self, c: int, act: str = "relu", norm: bool = True, post_act: bool = False, slope: float = 0.2):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c, c, 3, padding=1, bias=not norm), nn.BatchNorm2d(c) if norm else nn.Identity(),
            _activation(act, slope),
            nn.Conv2d(c, c, 3, padding=1, bias=not norm), nn.BatchNorm2d(c) if norm else nn.Identity())
        self.act = _activation(act, slope) if post_act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.body(x))


class PatchDiscriminator(nn.Sequential):
    """PatchGAN (pix2pix, Isola et al. CVPR 2017, their ``NLayerDiscriminator``): a 4x4 stride-2
    conv + LeakyReLU(0.2), then ``n_layers - 1`` more 4x4 stride-2 convs doubling the width (up
    to 8x) with a norm layer, one 4x4 stride-1 conv with norm, and a 4x4 conv to one logit per
    patch. Input (B, cin, H, W) with H, W >= 2^(n_layers+2) or so; output (B, 1, h, w) logits
    (no sigmoid: the losses in :mod:`colorsurvey.models.adversarial` take logits).

    ``norm``: "batch" (pix2pix), "instance", or "none" (WGAN-GP critics must not use BatchNorm).
    With ``n_layers=3`` each logit sees a 70x70 patch.
    """

    def __init__(self, cin: int, width: int = 64, n_layers: int = 3, norm: str = "batch"):
        def norm_layer(c: int) -> nn.Module:
            if norm == "batch":
                return nn.BatchNorm2d(c)
            if norm == "instance":
                return nn.InstanceNorm2d(c, affine=True)
            if norm == "none":
                return nn.Identity()
            raise ValueError(f"norm {norm!r}: expected 'batch', 'instance' or 'none'")

        bias = norm != "batch"
        layers: list[nn.Module] = [nn.Conv2d(cin, width, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        c = width
        for i in range(1, n_layers + 1):
            cout = width * min(2 ** i, 8)
            stride = 2 if i < n_layers else 1
            layers += [nn.Conv2d(c, cout, 4, stride, 1, bias=bias), norm_layer(cout), nn.LeakyReLU(0.2, inplace=True)]
            c = cout
        layers.append(nn.Conv2d(c, 1, 4, 1, 1))
        super().__init__(*layers)


class RandomFeatures(nn.Module):
    """A frozen, randomly initialised VGG-like feature extractor for perceptual / content / style
    losses where a paper uses an ImageNet VGG (line art, reference-based sketch): 3x3 convs with
    ReLU, 2x2 average pooling between them; weights drawn from a fixed seed, not saved (buffers).
    sRGB (B, 3, H, W) in [0, 1] -> (B, widths[-1], H / 2^(n-1), W / 2^(n-1))."""

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
