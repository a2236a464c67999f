"""Multi-path networks (survey §2.6): several paths through one network — global and local
features, colour and semantics, several hypotheses. One file per method:

* :mod:`.iizuka` §2.6.1 :class:`LetThereBeColor` — Iizuka, Simo-Serra, Ishikawa, SIGGRAPH 2016:
  a shared low-level network, a mid-level (local) and a global path fused by tiling the global
  vector, a jointly trained classifier (``iizuka``);
* :mod:`.larsson` §2.6.2 :class:`LarssonColorization` — Larsson, Maire, Shakhnarovich, ECCV
  2016: VGG16 hypercolumns, hue and chroma histograms (``larsson``);
* :mod:`.pixcolor` §2.6.3 :class:`PixColor` — Guadarrama et al., BMVC 2017: a conditional
  PixelCNN samples low-resolution chroma, a refinement network (``pixcolor``);
* :mod:`.colorcapsnet` §2.6.4 :class:`ColorCapsNet` — Ozbulak, CVPR-W 2019: capsules with
  dynamic routing on 9x9 patches (``colorcapsnet``);
* :mod:`.zhao_pixelated` §2.6.5 :class:`ZhaoPixelated` — Zhao et al., IJCV 2019: colour
  embedding + segmentation with ASPP + a semantic generator, three losses (``zhao-pixelated``);
* :mod:`.multi_hypothesis` §2.6.6 :class:`MultipleHypothesis` — Baig & Torresani 2017: K heads,
  the best-of-K loss (``multi-hypothesis``);
* :mod:`.zhao_semantic` §2.6.7 :class:`ZhaoSemantic` — Zhao et al., BMVC 2018: shared
  convolutions, colorization and segmentation branches, joint bilateral upsampling
  (``zhao-semantic``).

:mod:`.base` holds what they share: ab bins with rebalancing, the segmentation target and mean
IoU, the best-of-K loss, the gated residual block, the segmentation half of the Zhao methods.
"""

from .base import MULTI_PATH, BinnedColorModel, GatedResidualBlock, best_of_k, mean_iou, segmentation_target
from .iizuka import LetThereBeColor
from .larsson import LarssonColorization, chroma_median, hue_expectation
from .pixcolor import ConditionalPixelCNN, MaskedConv2d, PixColor
from .colorcapsnet import ColorCapsNet, dynamic_routing, squash
from .zhao_pixelated import ASPP, ZhaoPixelated
from .multi_hypothesis import MultipleHypothesis
from .zhao_semantic import ZhaoSemantic  # registered in the survey's order (§2.6.1 ... §2.6.7)

__all__ = [
    "MULTI_PATH", "BinnedColorModel", "GatedResidualBlock", "best_of_k", "mean_iou", "segmentation_target",
    "LetThereBeColor", "LarssonColorization", "chroma_median", "hue_expectation", "ConditionalPixelCNN",
    "MaskedConv2d", "PixColor", "ColorCapsNet", "dynamic_routing", "squash", "ASPP", "ZhaoPixelated",
    "MultipleHypothesis", "ZhaoSemantic",
]
