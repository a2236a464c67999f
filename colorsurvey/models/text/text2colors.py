"""Coloring with Words (Text2Colors) — Bahng, Yoo, Cho, Park, Wu, Ma, Choo, ECCV 2018 (survey §2.4.2).

Two networks, mapped to the official code (``awesome-davian/Text2Colors``, commit 41283a3d):

* **Text-to-Palette Network** (``model/TPN.py``): word embedding (300-d) -> GRU (hidden 150)
  -> conditioning augmentation (``CA_NET``: Linear 150 -> 300 + ReLU split into mu and log
  variance, c = mu + eps * sigma) -> an attention GRU decoder that emits one Lab colour per
  step, five steps (the first attends to the mean of the encoder outputs) -> :class:`TPN`.
  A discriminator over (palette, text) -> :class:`TPNDiscriminator`. Loss: adversarial (BCE)
  + 100 x smooth-L1 (palette) + 0.5 x KL(CA).
* **Palette-based Colorization Network** (``model/PCN.py``): a U-Net on L whose encoder
  down-samples by BatchNorm and depthwise 1x1 stride-2 convolutions, with a dilated middle,
  transposed-convolution decoder stages with added conv "bridges", sigmoid ab out; the palette
  (15 numbers + a mask) goes through 1x1 conv stacks and is *added* at the 512-, 256- and
  128-channel decoder stages -> :class:`PCN`. A discriminator over (image, palette) ->
  :class:`PCNDiscriminator`. Loss: smooth-L1 + 0.1 x adversarial.

Colours use the official scaling: L / 100, (a + 88) / 185, (b + 127) / 212 (``util.py``).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...color import lab_to_rgb, rgb_to_lab
from ..adversarial import discriminator_loss, frozen, generator_loss
from ..base import ModelCard
from ..layers import fp32
from ..registry import register
from .base import TextConditionedModel

__all__ = ["Text2Colors", "TPN", "PCN", "TPNDiscriminator", "PCNDiscriminator", "scale_lab", "unscale_lab"]

_SHIFT = torch.tensor([0.0, 88.0, 127.0])
_SCALE = torch.tensor([100.0, 185.0, 212.0])


def scale_lab(lab: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Lab in Lab units to the official 0..1 scaling along ``dim`` (3 entries: L, a, b)."""
    shape = [1] * lab.dim()
    shape[dim] = 3
    return (lab.float() + _SHIFT.to(lab.device).view(shape)) / _SCALE.to(lab.device).view(shape)


def unscale_lab(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Inverse of :func:`scale_lab`."""
    shape = [1] * x.dim()
    shape[dim] = 3
    return x.float() * _SCALE.to(x.device).view(shape) - _SHIFT.to(x.device).view(shape)


def palette_rgb_to_scaled(palette: torch.Tensor) -> torch.Tensor:
    """sRGB palette (B, 5, 3) in [0, 1] -> scaled Lab (B, 5, 3)."""
    lab = rgb_to_lab(palette.float().permute(0, 2, 1).unsqueeze(-1))[..., 0].permute(0, 2, 1)
    return scale_lab(lab)


def palette_scaled_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Scaled Lab (B, 5, 3) -> sRGB (B, 5, 3) in [0, 1] (clipped into the gamut)."""
    lab = unscale_lab(x).clamp(min=torch.tensor([0.0, -128, -128], device=x.device),
                               max=torch.tensor([100.0, 127, 127], device=x.device))
    return lab_to_rgb(lab.permute(0, 2, 1).unsqueeze(-1))[..., 0].permute(0, 2, 1)


# ======================================================================================
# Text-to-Palette Network
# ======================================================================================

class TPN(nn.Module):
    """Caption ids (B, T), lengths (B,) -> five colours, scaled Lab (B, 5, 3), plus (mu, logvar)
    of the conditioning augmentation (B, T, hidden) and the text code (B, hidden)."""

    def __init__(self, num_words: int, d_emb: int = 300, hidden: int = 150, colors: int = 5):
        super().__init__()
        self.hidden, self.colors = hidden, colors
        self.embed = nn.Embedding(num_words, d_emb, padding_idx=0)
        self.gru = nn.GRU(d_emb, hidden, 1, batch_first=True)
        self.ca_fc = nn.Linear(hidden, 2 * hidden)                           # CA_NET
        self.attn_e, self.attn_h = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)
        self.attn_energy = nn.Linear(hidden, 1)
        self.dec_gru = nn.GRUCell(hidden + 3, hidden)
        self.out = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.BatchNorm1d(hidden),
                                 nn.Linear(hidden, 3))

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor, sample: bool = True):
        B, T = ids.shape
        valid = torch.arange(T, device=ids.device)[None] < lengths[:, None]       # (B, T)
        enc, _ = self.gru(self.embed(ids))                                          # (B, T, hidden)
        last = enc.gather(1, (lengths - 1).clamp_min(0).view(B, 1, 1).expand(B, 1, self.hidden))[:, 0]
        mu, logvar = F.relu(self.ca_fc(enc)).chunk(2, dim=-1)
        code = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if sample else mu   # (B, T, hidden)
        m = valid.unsqueeze(-1).float()
        context = (code * m).sum(1) / m.sum(1)                                      # step 0: the mean
        text = context
        h, colour, out = last, code.new_zeros(B, 3), []
        for i in range(self.colors):
            if i > 0:                                                                # attention over words
                e = self.attn_energy(torch.sigmoid(self.attn_e(code) + self.attn_h(h)[:, None]))[..., 0]
                w = torch.softmax(e.masked_fill(~valid, float("-inf")), dim=1)
                context = torch.bmm(w[:, None], code)[:, 0]
            h = self.dec_gru(torch.cat([colour, context], 1), h)
            colour = self.out(h)
            out.append(colour)
        return torch.stack(out, 1), mu, logvar, text


class TPNDiscriminator(nn.Sequential):
    """MLP over (palette 15, text code ``hidden``): (15 + hidden) -> /2 -> /4 -> /8 -> 1 logit."""

    def __init__(self, hidden: int = 150, colors: int = 5):
        d = 3 * colors + hidden
        super().__init__(nn.Linear(d, d // 2), nn.ReLU(inplace=True), nn.Linear(d // 2, d // 4), nn.ReLU(inplace=True),
                         nn.Linear(d // 4, d // 8), nn.ReLU(inplace=True), nn.Linear(d // 8, 1))


# ======================================================================================
# Palette-based Colorization Network
# ======================================================================================

def _convs(cin: int, cout: int, n: int, dilation: int = 1) -> nn.Sequential:
    """n x (3x3 conv, ReLU) at ``dilation``."""
    layers: list[nn.Module] = []
    for i in range(n):
        layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=dilation, dilation=dilation), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class _Down(nn.Module):
    """Official UNetConvBlock{1_2,2,3}: [ReLU], convs, BatchNorm, depthwise 1x1 stride-2 conv;
    ``down=False``: the "_2" twin without the down-sampling (a skip branch)."""

    def __init__(self, cin: int, cout: int, n: int, pre_act: bool = False, down: bool = True):
        super().__init__()
        self.pre = nn.ReLU() if pre_act else nn.Identity()
        self.convs, self.bn = _convs(cin, cout, n), nn.BatchNorm2d(cout)
        self.down = nn.Conv2d(cout, cout, 1, stride=2, groups=cout, bias=False) if down else nn.Identity()

    def forward(self, x):
        return self.down(self.bn(self.convs(self.pre(x))))


class _Up(nn.Module):
    """Official UNetConvBlock8/9/10: transposed 4x4 stride-2 conv, plus a 3x3 conv of the skip,
    ReLU, ``n`` convs, BatchNorm (the last stage: LeakyReLU 0.02 and no BatchNorm)."""

    def __init__(self, cin: int, cout: int, skip: int, n: int, last: bool = False):
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1)
        self.bridge = nn.Conv2d(skip, cout, 3, padding=1)
        self.convs = nn.Sequential(*[m for i in range(n) for m in (nn.Conv2d(cout, cout, 3, padding=1),
                                                                  nn.LeakyReLU(0.02) if last else nn.ReLU(inplace=True))])
        self.bn = nn.Identity() if last else nn.BatchNorm2d(cout)

    def forward(self, x, skip):
        return self.bn(self.convs(F.relu(self.up(x) + self.bridge(skip))))


class _Global(nn.Sequential):
    """The palette branch (official ``global_network``): 1x1 convs + ReLU, (B, 16, 1, 1) -> (B, c, 1, 1)."""

    def __init__(self, widths):
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Conv2d(a, b, 1), nn.ReLU(inplace=True)]
        super().__init__(*layers)


class PCN(nn.Module):
    """L / 100 (B, 1, H, W), H, W multiples of 8, and the global hint (B, 16, 1, 1) (scaled Lab
    palette, 15, and a mask) -> ab scaled to 0..1 (B, 2, H, W). ``w`` scales every width
    (64 at size paper)."""

    def __init__(self, w: int = 64):
        super().__init__()
        c1, c2, c3, c4, cg = w, 2 * w, 4 * w, 8 * w, 2 * w
        self.conv1_1 = nn.Conv2d(1, c1, 3, padding=1)
        self.conv1_2 = _Down(c1, c1, 1, pre_act=True)
        self.conv1_2_2 = _Down(c1, c1, 1, pre_act=True, down=False)
        self.conv2 = _Down(c1, c2, 2)
        self.conv2_2 = _Down(c1, c2, 2, down=False)
        self.conv3 = _Down(c2, c3, 3)
        self.conv3_2 = _Down(c2, c3, 3, down=False)
        self.conv4 = nn.Sequential(_convs(c3, c4, 3), nn.BatchNorm2d(c4))
        self.conv5 = nn.Sequential(_convs(c4, c4, 3, dilation=2), nn.BatchNorm2d(c4))
        self.conv6 = nn.Sequential(_convs(c4, c4, 3, dilation=2), nn.BatchNorm2d(c4))
        self.conv7 = nn.Sequential(_convs(c4, c4, 3), nn.BatchNorm2d(c4))
        self.conv8 = _Up(c4, c3, c3, 2)
        self.conv9 = _Up(c3, c2, c2, 1)
        self.conv10 = _Up(c2, cg, c1, 1, last=True)
        self.prediction = nn.Conv2d(cg, 2, 1)
        self.global512 = _Global((16, cg, c3, c4, c4))
        self.global256 = _Global((16, cg, c3))
        self.global128 = _Global((16, cg))

    def forward(self, x: torch.Tensor, hint: torch.Tensor) -> torch.Tensor:
        l1 = self.conv1_1(x)
        l1_2, skip1 = self.conv1_2(l1), self.conv1_2_2(l1)
        l2, skip2 = self.conv2(l1_2), self.conv2_2(l1_2)
        l3, skip3 = self.conv3(l2), self.conv3_2(l2)
        l4 = self.conv4(l3) + self.global512(hint)                  # palette at the 512 stage
        l7 = self.conv7(self.conv6(self.conv5(l4)))
        l8 = self.conv8(l7, skip3) + self.global256(hint)           # ... at the 256 stage
        l9 = self.conv9(l8, skip2) + self.global128(hint)           # ... at the 128 stage
        return torch.sigmoid(self.prediction(self.conv10(l9, skip1)))


class PCNDiscriminator(nn.Module):
    """Official PCN ``Discriminator``: ``repeat`` 4x4 stride-2 convs (LeakyReLU 0.01, widths
    doubling from ``width``) on (L, ab, palette hint) = 18 channels, a 3x3 conv, BatchNorm1d and
    a linear logit. The official flattening needs 256 x 256 input; here the features are
    average-pooled to ``k`` x ``k`` first (k = 8, the official grid at 256, at size paper), so
    any size >= 2^repeat works."""

    def __init__(self, width: int = 64, repeat: int = 5, k: int = 8):
        super().__init__()
        layers, c = [nn.Conv2d(18, width, 4, 2, 1), nn.LeakyReLU(0.01, inplace=True)], width
        for _ in range(1, repeat):
            layers += [nn.Conv2d(c, 2 * c, 4, 2, 1), nn.LeakyReLU(0.01, inplace=True)]
            c *= 2
        self.main, self.k, self.min_size = nn.Sequential(*layers), k, 2 ** repeat
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.fc = nn.Sequential(nn.BatchNorm1d(k * k * c), nn.Linear(k * k * c, 1))

    def forward(self, x):
        h = self.conv1(self.main(x))
        return self.fc(F.adaptive_avg_pool2d(h, self.k).flatten(1))


# ======================================================================================
# The method
# ======================================================================================

@register
class Text2Colors(TextConditionedModel):
    """Text2Colors: text -> five-colour palette (TPN) -> colour image (PCN).

    ``colorize(L, caption=None, palette=None, sample=False)``: L (B, 1, H, W) in 0..100, any H,
    W; ``palette`` (B or 1, 5, 3) or (5, 3) float sRGB in [0, 1] — when given it is used as is
    (a hand-edited palette), else ``caption`` (as in
    :class:`~colorsurvey.models.text.base.TextConditionedModel`) goes through TPN first; one of
    them is required (ValueError). ``sample=True`` draws the conditioning augmentation's noise
    (diverse palettes; seeded by ``seed``), else its mean. Returns ab (B, 2, H, W) in Lab units.
    :meth:`text_to_palette` gives TPN's palette alone (sRGB (B, 5, 3)).
    """

    card = ModelCard(
        key="text2colors",
        title="Coloring with Words: Guiding Image Colorization Through Text-based Palette Generation",
        authors="Bahng, Yoo, Cho, Park, Wu, Ma, Choo",
        venue="ECCV",
        year=2018,
        section="2.4.2",
        taxonomy="text-based",
        conditions=("caption", "palette"),
        losses=("TPN: 100 x smooth-L1 + BCE-GAN + 0.5 x KL", "PCN: smooth-L1 + 0.1 x BCE-GAN"),
        framework="PyTorch (official)",
        substitutions=(
            "TPN learns from the data's (caption, palette) pairs, PCN from each image's own palette, as the "
            "official solver does; embeddings start random (GloVe in the paper); attention masks padding; the "
            "PCN discriminator average-pools to the official 8 x 8 grid so it works at any size; the palette "
            "branch keeps only the 1x1 convs each stage uses (the official global_network defines all four in "
            "each of its three copies); TPN and PCN share no parameters and PCN trains on ground-truth "
            "palettes, so both take their optimiser step in every training step, TPN first (the paper trains "
            "them one after the other: the same result for the same number of steps each)"),
        notes="Teaching demo: one image, two texts, two palettes, two colourings; or hand-edited palettes.",
        survey_recipe=(
            "§2.4.2 (Text2Color; the heading is lost in our copy of the survey): TPN's generator and discriminator trained on the PAT data set for 500 epochs, "
            "then on the ground-truth images for 100 epochs; Adam, learning rate 0.0002 for all networks. "
            "Official code: Adam lr 5e-4, weight decay 5e-5, batch 32; PCN on CUB-200 birds / ImageNet at "
            "256 x 256"),
        parameters=36_731_206,
        parameters_source=("this re-implementation: PCN generator 36,251,202 (official code 37,072,706 minus "
                           "the 821,504 of palette-branch layers its forward never uses) + TPN 454,804 + "
                           "embedding 25,800 (our vocabulary: 86 entries x 300; the official one is built from PAT)"),
    )
    sizes = {
        "paper": dict(d_emb=300, hidden=150, width=64, d_repeat=5, d_width=64),
        "small": dict(d_emb=64, hidden=64, width=16, d_repeat=4, d_width=16),
        "smoke": dict(d_emb=16, hidden=16, width=8, d_repeat=3, d_width=8),
    }
    training_only = ("tpn_discriminator", "pcn_discriminator")
    lr = 5e-4
    betas = (0.5, 0.99)
    weight_decay = 5e-5
    lambda_sl1, lambda_kl, lambda_gan = 100.0, 0.5, 0.1

    def __init__(self, vocab_size: int | None = None, d_emb: int = 300, hidden: int = 150, width: int = 64,
                 d_repeat: int = 5, d_width: int = 64, vocabulary=None):
        super().__init__(vocab_size, vocabulary)
        self.tpn = TPN(self.num_words, d_emb, hidden)
        self.pcn = PCN(width)
        self.tpn_discriminator = TPNDiscriminator(hidden)
        self.pcn_discriminator = PCNDiscriminator(d_width, d_repeat)

    # -- inputs ------------------------------------------------------------------------------
    @staticmethod
    def check_palette(palette, B: int) -> None:
        what = "palette: expected five sRGB colours in [0, 1], a float tensor (B, 5, 3), (1, 5, 3) or (5, 3)"
        if palette is None:
            return
        if not isinstance(palette, torch.Tensor):
            raise TypeError(f"{what}; got {type(palette).__name__}")
        if not palette.is_floating_point():
            raise TypeError(f"{what}; got dtype {palette.dtype}" + (" (8-bit colours: divide by 255)"
                                                                   if palette.dtype == torch.uint8 else ""))
        if palette.shape[-2:] != (5, 3) or palette.dim() not in (2, 3) or (palette.dim() == 3 and palette.shape[0] not in (1, B)):
            raise ValueError(f"{what}; got shape {tuple(palette.shape)} for {B} images")
        lo, hi = float(palette.min()), float(palette.max())
        if not (lo >= -1e-3 and hi <= 1 + 1e-3):
            raise ValueError(f"{what}; got values in [{lo:.4g}, {hi:.4g}]" + (": divide by 255" if hi > 1.5 else ""))

    def check_inputs(self, L, conditions: dict) -> torch.Tensor:
        L = super().check_inputs(L, conditions)
        self.check_palette(conditions.get("palette"), L.shape[0])
        return L

    # -- inference -------------------------------------------------------------------------
    def _tpn(self, caption, B: int, device, sample: bool, seed: int):
        ids, lengths = self.encode_captions(caption, B, device)
        if sample:
            torch.manual_seed(seed)       # the inference wrapper restores the global generator
        return self.tpn(ids, lengths, sample=sample)

    def text_to_palette(self, L: torch.Tensor, caption=None, sample: bool = False, seed: int = 0) -> torch.Tensor:
        """TPN's palette for ``caption``: sRGB (B, 5, 3) in [0, 1] (B from L)."""
        return self.explain(L, caption=caption, sample=sample, seed=seed)["palette"]

    def colorize(self, L: torch.Tensor, caption=None, palette=None, sample: bool = False, seed: int = 0,
                 **_) -> torch.Tensor:
        return self.explain(L, caption=caption, palette=palette, sample=sample, seed=seed)["ab"]

    def explain(self, L: torch.Tensor, caption=None, palette=None, sample: bool = False, seed: int = 0, **_) -> dict:
        """``{"ab", "palette"}``: ab (B, 2, H, W) and the palette used, sRGB (B, 5, 3)."""
        B = L.shape[0]
        if palette is not None:
            pal = palette.to(L.device).float()
            pal = (pal if pal.dim() == 3 else pal[None]).expand(B, 5, 3)
            scaled = palette_rgb_to_scaled(pal)
        elif caption is not None:
            scaled = self._tpn(caption, B, L.device, sample, seed)[0].float()
            pal = palette_scaled_to_rgb(scaled)
        else:
            raise ValueError("text2colors needs a caption (caption='ocean breeze') or a palette "
                             "(palette=(5, 3) sRGB in [0, 1])")
        return {"ab": self.palette_to_ab(L, scaled), "palette": pal}

    def palette_to_ab(self, L: torch.Tensor, scaled: torch.Tensor) -> torch.Tensor:
        """PCN: ab (B, 2, H, W) in Lab units for L and a scaled-Lab palette (B, 5, 3)."""
        Lp, _ = self.pad_to_multiple(L, 8)
        hint = torch.cat([scaled.flatten(1), scaled.new_ones(L.shape[0], 1)], 1)[..., None, None]
        y = self.pcn(Lp.float() / 100.0, hint)[..., :L.shape[-2], :L.shape[-1]]
        with fp32(L.device):
            ab = torch.cat([y[:, :1] * 185.0 - 88.0, y[:, 1:] * 212.0 - 127.0], 1)
        return self.to_input_size(ab, L)

    # -- training --------------------------------------------------------------------------
    def configure_optimizers(self):
        def adam(params):
            return torch.optim.Adam(params, lr=self.lr, betas=self.betas, weight_decay=self.weight_decay)
        return {"tpn": adam(self.tpn.parameters()), "tpn_d": adam(self.tpn_discriminator.parameters()),
                "pcn": adam(self.pcn.parameters()), "pcn_d": adam(self.pcn_discriminator.parameters())}

    def _pcn_d_input(self, L, ab_scaled, hint):
        x = torch.cat([L / 100.0, ab_scaled, hint.expand(-1, -1, *L.shape[-2:])[:, :15]], 1)
        return self.pad_to_multiple(x, self.pcn_discriminator.min_size)[0]

    def training_step(self, batch: dict) -> dict:
        """One TPN step (its discriminator, then the generator), then one PCN step (likewise).
        Logs ``loss`` (the two reconstruction terms, TPN's smooth-L1 on the scaled palette +
        PCN's on scaled ab), ``tpn_loss``, ``pcn_loss``, ``kl``, ``g_adv``, ``d_loss``."""
        L, ab = batch["L"], batch["ab"]
        B = L.shape[0]
        real_pal = palette_rgb_to_scaled(batch["palette"].to(L.device)).flatten(1)     # (B, 15)
        # TPN: caption -> palette
        ids, lengths = self.encode_captions(self.training_captions(batch["caption"]), B, L.device)
        fake_pal, mu, logvar, text = self.tpn(ids, lengths)
        fake_pal = fake_pal.flatten(1)
        d = self.tpn_discriminator
        with fp32(L.device):
            d_tpn = discriminator_loss("nonsaturating", d(torch.cat([real_pal, text.detach()], 1)),
                                       d(torch.cat([fake_pal.detach(), text.detach()], 1)))
        self.step(d_tpn, "tpn_d")
        with frozen(d):
            logit = d(torch.cat([fake_pal, text], 1))
        with fp32(L.device):
            tpn_l1 = F.smooth_l1_loss(fake_pal.float(), real_pal)
            kl = -0.5 * (1 + logvar.float() - mu.float().pow(2) - logvar.float().exp()).mean()
            g_tpn = generator_loss("nonsaturating", logit)
            self.step(g_tpn + self.lambda_sl1 * tpn_l1 + self.lambda_kl * kl, "tpn")
        # PCN: (L, ground-truth palette) -> ab
        hint = torch.cat([real_pal, real_pal.new_ones(B, 1)], 1)[..., None, None]
        Lp, _ = self.pad_to_multiple(L, 8)
        abp, _ = self.pad_to_multiple(ab, 8)
        target = scale_lab(torch.cat([Lp, abp], 1), dim=1)[:, 1:]
        fake = self.pcn(Lp.float() / 100.0, hint)
        dp = self.pcn_discriminator
        with fp32(L.device):
            d_pcn = self.lambda_gan * discriminator_loss("nonsaturating", dp(self._pcn_d_input(Lp, target, hint)),
                                                         dp(self._pcn_d_input(Lp, fake.detach(), hint)))
        self.step(d_pcn, "pcn_d")
        with frozen(dp):
            logit = dp(self._pcn_d_input(Lp, fake, hint))
        with fp32(L.device):
            pcn_l1 = F.smooth_l1_loss(fake.float(), target)
            g_pcn = generator_loss("nonsaturating", logit)
            self.step(pcn_l1 + self.lambda_gan * g_pcn, "pcn")
        return {"loss": (tpn_l1 + pcn_l1).detach(), "tpn_loss": tpn_l1.detach(), "pcn_loss": pcn_l1.detach(),
                "kl": kl.detach(), "g_adv": (g_tpn + g_pcn).detach(), "d_loss": (d_tpn + d_pcn).detach()}
