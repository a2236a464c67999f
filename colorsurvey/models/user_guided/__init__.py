"""User-guided networks (survey §2.2): the gray image plus what a user tells the network.

The survey's second class of deep colorization methods take, besides the gray image, input
from a user — colour strokes, colour points, a global colour theme or histogram — and
propagate it over the image with a network trained on simulated input. One file per method:

* :mod:`.scribbler` §2.2.1 :class:`Scribbler` — Sangkloy, Lu, Fang, Yu, Hays, CVPR 2017: a
  sketch plus colour strokes; an encoder / residual / decoder generator trained with pixel and
  adversarial losses;
* :mod:`.realtime` §2.2.2 :class:`RealTimeUserGuided` — Zhang, Zhu, Isola, Geng, Lin, Yu,
  Efros, SIGGRAPH 2017: the local-hint network (L, sparse ab points and their mask in, ab out;
  at size "paper" it is the published network and the official weights load by name), with a
  529-bin distribution head that suggests colours for a clicked point, and
  :class:`RealTimeUserGuidedGlobal`, the global-hint network (a global ab histogram and the
  mean saturation as extra inputs);
* :mod:`.idc` §2.2.3 :class:`InteractiveDeepColorization` — Xiao, Zhou, Zheng, Leung, ICASSP
  2019: gray image, local hints and a gradient map summed into one U-Net-like network, a global
  colour theme through four convolutions, a dilated module, a deconvolutional decoder;
* :mod:`.lineart` §2.2.4 :class:`AnimeLineArt` — Ci, Ma, Wang, Li, Luo, ACM MM 2018: line art
  plus colour hints, a U-Net of ResNeXt blocks with PixelShuffle upsampling and a local-feature
  encoder, trained against a WGAN-GP critic with a perceptual (content) loss;
* :mod:`.propagation` :class:`HintPropagation` — a learning-free reference.

:mod:`.base` holds what they share (simulated users, hint budgets, colour suggestions). The
PSNR-against-hints experiment lives in :mod:`colorsurvey.experiments.hints` (re-exported here).
"""

from .base import AB_NORM, USER_GUIDED, UserGuidedModel, encode_ab_index, in_gamut, siggraph17_bins
from .propagation import HintPropagation
from .scribbler import Scribbler
from .realtime import OFFICIAL_SIGGRAPH17_URL, RealTimeUserGuided, RealTimeUserGuidedGlobal
from .idc import InteractiveDeepColorization
from .lineart import AnimeLineArt
from ...experiments.hints import HINT_BUDGETS, plot_psnr_vs_hints, psnr_vs_hints

__all__ = [
    "UserGuidedModel", "Scribbler", "RealTimeUserGuided", "RealTimeUserGuidedGlobal",
    "InteractiveDeepColorization", "AnimeLineArt", "HintPropagation", "siggraph17_bins", "in_gamut",
    "encode_ab_index", "OFFICIAL_SIGGRAPH17_URL", "USER_GUIDED", "AB_NORM", "HINT_BUDGETS",
    "psnr_vs_hints", "plot_psnr_vs_hints",
]
