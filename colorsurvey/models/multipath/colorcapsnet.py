"""§2.6.4 ColorCapsNet (Ozbulak, CVPR Workshops 2019): a capsule network colorizing 9x9 patches,
tiled back into the image."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...color import gray_rgb_from_L
from ..base import ColorizationModel, ModelCard
from ..layers import fp32
from ..registry import register

__all__ = ["ColorCapsNet", "squash", "dynamic_routing", "CapsuleLayer"]


def squash(s: torch.Tensor, dim: int = -1, eps: float = 1e-7) -> torch.Tensor:
    """Capsule non-linearity (Sabour et al. 2017): s |s|^2 / (1 + |s|^2) / |s| — the direction
    kept, the length squashed into [0, 1)."""
    n2 = (s * s).sum(dim, keepdim=True)
    return s * (n2 / (1.0 + n2) / torch.sqrt(n2 + eps))


def dynamic_routing(u_hat: torch.Tensor, iterations: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Routing by agreement (Sabour et al. 2017, as CapsNet-Keras which ColorCapsNet uses).

    ``u_hat`` (B, N_out, N_in, D): each input capsule's prediction for each output capsule.
    Logits b (B, N_out, N_in) start at 0; each iteration the coupling coefficients
    c = softmax(b) over the *output* capsules (so each input capsule distributes a total of 1),
    v = squash(sum_i c u_hat), and b += <v, u_hat> (not after the last). Returns
    (v (B, N_out, D), c (B, N_out, N_in)). ValueError for ``iterations`` < 1."""
    if iterations < 1:
        raise ValueError(f"dynamic routing needs at least 1 iteration; got {iterations}")
    b = torch.zeros(u_hat.shape[:3], device=u_hat.device, dtype=u_hat.dtype)
    for i in range(iterations):
        c = torch.softmax(b, dim=1)
        v = squash((c[..., None] * u_hat).sum(2))
        if i < iterations - 1:
            b = b + (v[:, :, None] * u_hat).sum(-1)
    return v, c


class CapsuleLayer(nn.Module):
    """A fully connected capsule layer: W (N_out, N_in, D_out, D_in), no bias; u_hat = W u,
    then :func:`dynamic_routing`. (B, N_in, D_in) -> (B, N_out, D_out)."""

    def __init__(self, n_in: int, d_in: int, n_out: int, d_out: int, routings: int = 3):
        super().__init__()
        self.routings = routings
        self.W = nn.Parameter(torch.randn(n_out, n_in, d_out, d_in) * 0.01)
        self.last_coupling: torch.Tensor | None = None

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        u_hat = torch.einsum("oidk,bik->boid", self.W, u)
        v, c = dynamic_routing(u_hat, self.routings)
        self.last_coupling = c.detach()
        return v


@register
class ColorCapsNet(ColorizationModel):
    """ColorCapsNet: a capsule auto-encoder from a gray 9x9 patch to its Lab colours.

    From the official Keras code (gokhanozbulak/ColorCapsNet, ``colorizer.py``): the patch, as
    three identical gray channels in [0, 1], goes through conv1 (3x3, 64, same) + BatchNorm +
    ReLU and conv2 (3x3, 64, same) + BatchNorm + ReLU — VGG19's first two convolutions in the
    paper, initialised from it —, **primary capsules** (a 9x9 stride-2 valid conv to 32 x 8
    channels + BatchNorm: 32 capsules of dimension 8, squashed), a **capsule layer** of
    ``n_capsules`` capsules of dimension 16 with dynamic routing (6 and 1 routing as the
    README's command; the survey: "reduced from ten to six"), and a dense decoder 512 -> 1024 ->
    9 x 9 x 3 (sigmoid): the patch's Lab, as OpenCV's 8-bit Lab / 255. Loss: MSE.

    Training takes ``patches`` random 9x9 patches of each image; ``colorize`` tiles the image
    (replicate-padded to a multiple of 9) into non-overlapping 9x9 patches (stride 9) and puts
    the predicted ab back in place.
    """

    card = ModelCard(
        key="colorcapsnet",
        title="Image Colorization by Capsule Networks (ColorCapsNet)",
        authors="Gokhan Ozbulak",
        venue="CVPR Workshops (NTIRE)", year=2019, section="2.6.4", taxonomy="multi-path",
        conditions=(),
        losses=("MSE on the patch's Lab (OpenCV 8-bit Lab / 255)",),
        framework="Keras (official: gokhanozbulak/ColorCapsNet)",
        parameters=2_215_475,
        parameters_source="official code at the README's setting (complexity 6; counted in the reference file)",
        survey_recipe="§2.6.4: MSE; Adam, learning rate 0.001; trained on ILSVRC 2012 patches, then fine-tuned on "
                      "DIV2K",
        substitutions=(
            "conv1/conv2 start from random weights (the paper initialises them from ImageNet VGG19; no "
            "downloads here). Lab targets are computed in float (CIE Lab scaled as OpenCV's 8-bit Lab: "
            "L x 255/100, a + 128, b + 128, then / 255). Training patches are drawn at random positions of "
            "the training images (the official script cuts a stride-9 grid with 4x sampling). 'small' and "
            "'smoke' narrow the convolutions (32 / 16), capsules (16 x 8 / 8 x 4 primary, 6 x 16 / 4 x 8 "
            "output) and decoder (256-512 / 64-128)."),
    )
    sizes = {
        "paper": dict(width=64, primary=(32, 8), capsules=(6, 16), decoder=(512, 1024), routings=1),
        "small": dict(width=32, primary=(16, 8), capsules=(6, 16), decoder=(256, 512), routings=1),
        "smoke": dict(width=16, primary=(8, 4), capsules=(4, 8), decoder=(64, 128), routings=1),
    }
    PATCH = 9

    def __init__(self, width: int = 64, primary=(32, 8), capsules=(6, 16), decoder=(512, 1024),
                 routings: int = 1, patches: int = 16, lr: float = 1e-3):
        super().__init__()
        self.primary_shape, self.patches, self.lr = tuple(primary), patches, lr
        self.conv1 = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        self.conv2 = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        self.primary_caps = nn.Sequential(nn.Conv2d(width, primary[0] * primary[1], 9, stride=2),
                                          nn.BatchNorm2d(primary[0] * primary[1]))
        self.color_caps = CapsuleLayer(primary[0], primary[1], capsules[0], capsules[1], routings)
        P = self.PATCH
        self.decoder = nn.Sequential(nn.Flatten(), nn.Linear(capsules[0] * capsules[1], decoder[0]), nn.ReLU(inplace=True),
                                     nn.Linear(decoder[0], decoder[1]), nn.ReLU(inplace=True),
                                     nn.Linear(decoder[1], P * P * 3), nn.Sigmoid())

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        """Gray patches (N, 3, 9, 9) in [0, 1] -> Lab / 255 patches (N, 3, 9, 9) in [0, 1]."""
        x = self.primary_caps(self.conv2(self.conv1(patches)))             # (N, 32 * 8, 1, 1)
        u = squash(x.reshape(x.shape[0], self.primary_shape[1], -1).transpose(1, 2))  # (N, 32, 8)
        return self.decoder(self.color_caps(u)).reshape(-1, 3, self.PATCH, self.PATCH)

    @staticmethod
    def lab_target(L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        """Lab in Lab units -> OpenCV's 8-bit Lab / 255: (L x 255/100, a + 128, b + 128) / 255."""
        return torch.cat([L.float() / 100.0, (ab.float() + 128.0) / 255.0], 1)

    # -- inference -----------------------------------------------------------------------
    def colorize(self, L: torch.Tensor, **_) -> torch.Tensor:
        """ab (B, 2, H, W): every 9x9 tile (stride 9, the image replicate-padded) colorized."""
        B, _, H, W = L.shape
        P = self.PATCH
        gray = gray_rgb_from_L(L.float()).to(L.dtype)[:, :1]
        gp, _ = self.pad_to_multiple(gray, P)
        Hp, Wp = gp.shape[-2:]
        tiles = F.unfold(gp, P, stride=P)                                   # (B, 81, n)
        n = tiles.shape[-1]
        x = tiles.transpose(1, 2).reshape(B * n, 1, P, P).expand(-1, 3, -1, -1)
        out = self(x).float()                                               # (B n, 3, 9, 9)
        ab = out[:, 1:] * 255.0 - 128.0
        ab = F.fold(ab.reshape(B, n, 2 * P * P).transpose(1, 2), (Hp, Wp), P, stride=P)
        return ab[..., :H, :W].contiguous()

    # -- training ------------------------------------------------------------------------
    def training_step(self, batch: dict) -> dict:
        L, ab = batch["L"], batch["ab"]
        P = self.PATCH
        Lp, _ = self.pad_to_multiple(L, P)          # images smaller than a patch: replicate-padded
        abp, _ = self.pad_to_multiple(ab, P)
        B, _, H, W = Lp.shape
        n = self.patches
        y = torch.randint(0, H - P + 1, (B, n), device=L.device)
        x = torch.randint(0, W - P + 1, (B, n), device=L.device)
        ar = torch.arange(P, device=L.device)
        rows = (y[..., None] + ar)[..., :, None].expand(-1, -1, P, P)       # (B, n, 9, 9)
        cols = (x[..., None] + ar)[..., None, :].expand(-1, -1, P, P)
        flat = (rows * W + cols).reshape(B, 1, -1)

        def cut(img):  # (B, C, H, W) -> (B n, C, 9, 9)
            C = img.shape[1]
            return img.reshape(B, C, -1).gather(2, flat.expand(-1, C, -1)).reshape(B, C, n, P, P).transpose(1, 2) \
                .reshape(B * n, C, P, P)

        gray = gray_rgb_from_L(Lp.float())[:, :1]
        pred = self(cut(gray).expand(-1, 3, -1, -1))
        with fp32(L.device):
            loss = F.mse_loss(pred.float(), cut(self.lab_target(Lp, abp)))
        self.step(loss)
        return {"loss": loss.detach()}
