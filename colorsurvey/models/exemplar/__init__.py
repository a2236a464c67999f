"""Exemplar-based colorization (survey §2.7): colour taken from a reference image.

The survey's last class of networks colorizes a gray *target* after a colour *reference*
(an exemplar) chosen by the user or retrieved from a database, so that the same gray image
can take different colours. Three methods are re-implemented here, top to bottom:

* §2.7.1 :class:`DeepExemplar` — He, Chen, Liao, Sander, Yuan, SIGGRAPH 2018: a similarity
  sub-network (VGG19 features of target and reference at five levels, bidirectional
  similarity maps, dense correspondence that warps the reference's chrominance) and a U-Net
  colorization sub-network; chrominance ℓ2 plus a perceptual loss.
* §2.7.2 :class:`FastDeepExemplar` — Xu, Wang, Fang, Sheng, Zhang, CVPR 2020: a transfer sub-network
  (VGG19 encoder to relu4_1, AdaIN between target and reference features, a symmetric
  decoder) gives coarse ab, which a U-Net colorization sub-network refines.
* §2.7.3 :class:`InstanceAware` — Su, Chu, Huang, CVPR 2020: object crops colorized by an
  instance network, the whole image by a full-image network (13 layers each), and fusion
  modules blending instance features into the full-image features at every layer with
  learned per-pixel weights; trained in three stages.

One file per method (:mod:`.deep_exemplar`, :mod:`.fast_exemplar`, :mod:`.instance_aware`);
what they share is in :mod:`.base`. Shared pieces elsewhere: :mod:`colorsurvey.models.vgg` (VGG19 features, torchvision's ImageNet weights
when available, else trained here) and :mod:`colorsurvey.references` (matched, mismatched
and self-references).

Conventions as everywhere in :mod:`colorsurvey.models`: ``colorize(L, reference_rgb=...)``
takes L in Lab units (B, 1, H, W), any H, W, and an sRGB reference in [0, 1], (B or 1, 3,
Hr, Wr), any size; it returns ab in Lab units at the input size. ``training_step`` returns
0-d detached tensors. Colour conversions, the correspondence and the losses run in float32
inside a bf16 autocast.
"""

from .base import ExemplarModel, UNetHead, adain, correspondence
from .deep_exemplar import DeepExemplar
from .fast_exemplar import FastDeepExemplar, TransferDecoder
from .instance_aware import INSTANCE_WIDTHS, FusionModule, InstanceAware, Net13, boxes_from_batch
from ...experiments.stages import stage_split

__all__ = ["DeepExemplar", "FastDeepExemplar", "InstanceAware", "adain", "correspondence",
           "ExemplarModel", "UNetHead", "TransferDecoder", "Net13", "FusionModule", "boxes_from_batch",
           "INSTANCE_WIDTHS", "stage_split"]
