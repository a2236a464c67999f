"""Learning to Color from Language — Manjunatha, Iyyer, Boyd-Graber, Davis, NAACL 2018 (survey §2.4.1).

The paper's pipeline, mapped to the lines below (official code: ``superhans/colorfromlanguage``,
``autocolorize_resnet.py``, commit d8a01e6e):

* image features: a frozen ImageNet ResNet-101, conv1 to ``layer2``, on the gray image: 512
  channels at 1/8 of the input (28 x 28 for 224 x 224) -> :class:`ResNetStem` at size
  ``paper`` (the same layout; no ImageNet weights are loaded here, so it is trained on the
  colour data), a small strided CNN at the smaller sizes;
* caption encoder (``CaptionEncoder``): word embedding (300-d) -> dropout 0.2 -> one-layer
  bidirectional LSTM (hidden 256); the final forward and backward states, concatenated, are
  the caption vector -> :class:`CaptionEncoder`;
* four ``FilMedResBlock``s: conv 1x1 + ReLU, conv 3x3 + ReLU, BatchNorm, FiLM
  ``gamma * x + beta`` with (gamma, beta) = ``Linear(512, 2 * 512)`` of the caption vector,
  ReLU, plus the identity -> :class:`FiLMResBlock`, ``dense_film``;
* bilinear x2 upsampling, 1x1 conv to 625 classes: a 25 x 25 grid of ab bins of width 10
  (``priors/full_lab_grid_10.npy``) -> ``classifier``;
* loss: cross-entropy against the ab bin of every 4th pixel (``[::4, ::4]``), with class
  rebalancing (``prior_boosting``, gamma 0.5) from the ab prior of the training data.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence

from ...color import ab_prior, annealed_mean, nearest_bin, rebalance_weights
from ..base import ModelCard
from ..layers import ConvBlock, fp32, norm_L
from ..registry import register
from .base import TextConditionedModel

__all__ = ["ColorFromLanguage", "CaptionEncoder", "FiLMResBlock", "ResNetStem", "full_lab_grid"]


def full_lab_grid(step: float = 10.0, half: float = 120.0) -> torch.Tensor:
    """The official 625 ab classes: a 25 x 25 grid from -120 to 120 in steps of 10, (625, 2) float32."""
    v = torch.arange(-half, half + step / 2, step, device="cpu")
    a, b = torch.meshgrid(v, v, indexing="ij")
    return torch.stack([a.flatten(), b.flatten()], 1).float()


class CaptionEncoder(nn.Module):
    """Embedding (num_words x d_emb) -> dropout -> 1-layer BiLSTM (hidden d_hid); returns the
    last forward and backward hidden states concatenated, (B, 2 * d_hid). ids (B, T) long,
    lengths (B,) long >= 1."""

    def __init__(self, num_words: int, d_emb: int = 300, d_hid: int = 256, dropout: float = 0.2):
        super().__init__()
        self.embedding = nn.Embedding(num_words, d_emb, padding_idx=0)
        self.dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(d_emb, d_hid, num_layers=1, bidirectional=True, batch_first=True)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = self.dropout(self.embedding(ids))
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, (h, _) = self.lstm(packed)                       # h: (2, B, d_hid), forward and backward
        return torch.cat([h[0], h[1]], 1)


class FiLMResBlock(nn.Module):
    """The official ``FilMedResBlock``: x + relu(FiLM(bn(relu(conv3(relu(conv1(x))))))), where
    FiLM(y) = gamma * y + beta per channel (Perez et al. 2018). (B, c, H, W) -> same."""

    def __init__(self, c: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 1)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        out = self.bn2(F.relu(self.conv2(F.relu(self.conv1(x)))))
        out = F.relu(gamma[..., None, None] * out + beta[..., None, None])
        return out + x


class _Bottleneck(nn.Module):
    """torchvision's ResNet Bottleneck (1x1, 3x3 stride s, 1x1 x4, BatchNorm, projection shortcut)."""

    def __init__(self, cin: int, planes: int, stride: int = 1):
        super().__init__()
        out = planes * 4
        self.conv1, self.bn1 = nn.Conv2d(cin, planes, 1, bias=False), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False), nn.BatchNorm2d(planes)
        self.conv3, self.bn3 = nn.Conv2d(planes, out, 1, bias=False), nn.BatchNorm2d(out)
        self.downsample = (nn.Sequential(nn.Conv2d(cin, out, 1, stride, bias=False), nn.BatchNorm2d(out))
                           if stride != 1 or cin != out else None)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNetStem(nn.Module):
    """ResNet-101 from conv1 to ``layer2`` (He et al. 2016; torchvision's layout and names): 7x7
    stride-2 conv, max-pool, 3 bottlenecks of 256 channels, 4 of 512 at stride 2. Gray image as
    3 channels (B, 3, H, W) -> (B, 512, H/8, W/8)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = nn.Sequential(_Bottleneck(64, 64), _Bottleneck(256, 64), _Bottleneck(256, 64))
        self.layer2 = nn.Sequential(_Bottleneck(256, 128, 2), *[_Bottleneck(512, 128) for _ in range(3)])

    def forward(self, x):
        return self.layer2(self.layer1(self.maxpool(F.relu(self.bn1(self.conv1(x))))))


@register
class ColorFromLanguage(TextConditionedModel):
    """Learning to Color from Language: gray-image features modulated by the caption (FiLM),
    classification over 625 quantised ab bins with class rebalancing.

    ``colorize(L, caption, T=None)``: L (B, 1, H, W) in 0..100, any H, W; ``caption`` as in
    :class:`~colorsurvey.models.text.base.TextConditionedModel` (required: ValueError without
    it); returns ab (B, 2, H, W) in Lab units, decoded by the annealed mean at temperature ``T``
    (default ``self.temperature``). ``explain`` also returns the bin logits and the FiLM
    parameters (gamma, beta) of each block.
    """

    card = ModelCard(
        key="color-from-language",
        title="Learning to Color from Language",
        authors="Manjunatha, Iyyer, Boyd-Graber, Davis",
        venue="NAACL",
        year=2018,
        section="2.4.1",
        taxonomy="text-based",
        conditions=("caption",),
        losses=("class-rebalanced cross-entropy over 625 ab bins",),
        framework="PyTorch (official, Python 2)",
        substitutions=(
            "image features: the official network uses a frozen ImageNet ResNet-101 (conv1..layer2); no "
            "ImageNet weights are loaded here, so at size 'paper' the same ResNet-101 stem layout is trained on "
            "the colour data, and a small strided CNN stands in at the smaller sizes; word embeddings start "
            "random (the official ones start from word2vec); our vocabulary of the rendered captions (the paper "
            "preset keeps the official 10,004 embedding rows); decoding by the annealed mean (T = 0.38, Zhang "
            "et al.'s); COCO captions replaced by the data's captions in several phrasings"),
        notes="Teaching demo: the same gray image with captions that differ in one colour word.",
        survey_recipe=(
            "§2.4.1: the survey gives no optimiser or schedule. Official code: Adam lr 1e-3, batch 24, 30 "
            "epochs on COCO captions (images 224 x 224, features precomputed)"),
        parameters=18_504_737,
        parameters_source=("this re-implementation: the official colorizer's 17,059,809 (official code: "
                           "embedding 3,001,200, BiLSTM 1,142,784, FiLM blocks 10,493,952, dense_film "
                           "2,101,248, classifier 320,625) + the ResNet-101 conv1..layer2 stem, 1,444,928, which "
                           "the official code keeps frozen and does not count"),
    )
    sizes = {
        "paper": dict(vocab_size=10004, d_emb=300, d_hid=256, width=512, backbone="resnet101"),
        "small": dict(d_emb=64, d_hid=64, width=96, backbone="cnn"),
        "smoke": dict(d_emb=16, d_hid=16, width=24, backbone="cnn"),
    }
    lr = 1e-3
    example_caption = "a ripe red apple"

    def __init__(self, vocab_size: int | None = None, d_emb: int = 300, d_hid: int = 256, width: int = 512,
                 backbone: str = "cnn", blocks: int = 4, temperature: float = 0.38, lam: float = 0.5,
                 sigma: float = 5.0, vocabulary=None):
        super().__init__(vocab_size, vocabulary)
        if backbone == "resnet101":
            if width != 512:
                raise ValueError("the ResNet-101 stem gives 512 channels: use width=512 with backbone='resnet101'")
            self.features = ResNetStem()
        elif backbone == "cnn":
            self.features = nn.Sequential(ConvBlock(3, width // 4, n=1, stride=2), ConvBlock(width // 4, width // 2, n=1, stride=2),
                                          ConvBlock(width // 2, width, n=2, stride=2))
        else:
            raise ValueError(f"backbone {backbone!r}: expected 'resnet101' or 'cnn'")
        self.caption_encoder = CaptionEncoder(self.num_words, d_emb, d_hid)
        self.film_blocks = nn.ModuleList([FiLMResBlock(width) for _ in range(blocks)])
        self.dense_film = nn.ModuleList([nn.Linear(2 * d_hid, 2 * width) for _ in range(blocks)])
        self.classifier = nn.Conv2d(width, 625, 1)
        self.register_buffer("grid", full_lab_grid(), persistent=False)
        self.register_buffer("class_weights", torch.ones(625))
        self.temperature, self.lam, self.sigma = temperature, lam, sigma

    # -- network ---------------------------------------------------------------------------
    def film_parameters(self, ids: torch.Tensor, lengths: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(gamma, beta), each (B, width), per FiLM block, from the caption vector."""
        h = self.caption_encoder(ids, lengths)
        return [tuple(d(h).chunk(2, dim=1)) for d in self.dense_film]

    def logits(self, L: torch.Tensor, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Bin logits (B, 625, H'/4, W'/4) for L padded to a multiple of 8 (H', W')."""
        Lp, _ = self.pad_to_multiple(L, 8)
        x = self.features(norm_L(Lp).expand(-1, 3, -1, -1))                     # (B, width, H'/8, W'/8)
        for block, (gamma, beta) in zip(self.film_blocks, self.film_parameters(ids, lengths)):
            x = block(x, gamma, beta)
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        return self.classifier(x)

    def _caption_ids(self, L, caption):
        if caption is None:
            raise ValueError("color-from-language colours from a caption: pass caption='a ripe red apple' "
                             "(or one string per image)")
        return self.encode_captions(caption, L.shape[0], L.device)

    def colorize(self, L: torch.Tensor, caption=None, T: float | None = None, **_) -> torch.Tensor:
        return self.explain(L, caption=caption, T=T)["ab"]

    def explain(self, L: torch.Tensor, caption=None, T: float | None = None, **_) -> dict:
        """``{"ab", "logits", "film"}``: ab (B, 2, H, W), the bin logits at 1/4 resolution, and the
        (gamma, beta) of each FiLM block (B, width)."""
        ids, lengths = self._caption_ids(L, caption)
        z = self.logits(L, ids, lengths)
        with fp32(L.device):
            ab = annealed_mean(z.float(), self.grid, self.temperature if T is None else T)
        ab = F.interpolate(ab, scale_factor=4, mode="bilinear", align_corners=False)[..., :L.shape[-2], :L.shape[-1]]
        return {"ab": self.to_input_size(ab, L), "logits": z, "film": self.film_parameters(ids, lengths)}

    # -- training --------------------------------------------------------------------------
    @torch.no_grad()
    def fit_statistics(self, batches) -> None:
        """Class rebalancing (official ``prior_boosting``, gamma 0.5): the ab prior over the 625
        bins on training batches, smoothed and mixed with uniform (Zhang et al. eq. 4)."""
        prior = ab_prior((b["ab"].float().cpu() for b in batches), self.grid.cpu())
        w = rebalance_weights(prior, self.grid.cpu(), lam=self.lam, sigma=self.sigma)
        self.class_weights.copy_(w.to(self.class_weights.device))

    def training_step(self, batch: dict) -> dict:
        L, ab = batch["L"], batch["ab"]
        ids, lengths = self.encode_captions(self.training_captions(batch["caption"]), L.shape[0], L.device)
        z = self.logits(L, ids, lengths)
        abp, _ = self.pad_to_multiple(ab, 8)
        with fp32(L.device):
            target = nearest_bin(abp[..., ::4, ::4].float(), self.grid)     # every 4th pixel, as the official code
            loss = F.cross_entropy(z.float(), target, weight=self.class_weights)
        self.step(loss)
        return {"loss": loss.detach()}
