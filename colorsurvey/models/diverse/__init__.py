"""Diverse colorization (survey §2.5): methods that sample several plausible colourings
instead of recovering the one true colour. One file per method:

* :mod:`.cao_cgan` §2.5.1 :class:`CaoCGAN` (``cao-cgan``) — Cao, Zhou, Zhang, Yu, 2017: a
  stride-1 convolutional generator seeing the gray image before every layer and noise in the
  first three, against a Wasserstein critic;
* :mod:`.tandem` §2.5.2 :class:`Tandem` (``tandem``) — Frans, 2017: a colour-prediction U-Net
  (outline -> colour scheme) and a shading U-Net (outline + scheme -> colours);
* :mod:`.icgan` §2.5.3 :class:`ICGAN` (``icgan``) — Nazeri, Ng, Ebrahimi, 2018: a U-Net
  generator and a PatchGAN, non-saturating GAN + 100 x L1;
* :mod:`.divcolor` §2.5.4 :class:`DivColor` (``divcolor``) — Deshpande, Lu, Yeh, Chong,
  Forsyth, CVPR 2017: a conditional VAE over the colour field and a mixture density network
  over its latent code;
* :mod:`.chromagan` §2.5.5 :class:`ChromaGAN` (``chromagan``) — Vitoria, Raad, Ballester,
  WACV 2020: VGG16 trunk, chrominance and class-distribution branches, WGAN-GP PatchGAN critic;
* :mod:`.memopainter` §2.5.6 :class:`MemoPainter` (``memopainter``) — Yoo, Bahng, Chung, Lee,
  Chang, Choo, CVPR 2019: a key-value-age memory with the threshold update and triplet loss,
  and an AdaIN U-Net generator; few-shot colorization.

:mod:`.base` holds what they share: the ``seed`` condition and :meth:`DiverseModel.sample`,
the Gaussian KL term, the mixture density head, AdaIN, the U-Net, the DCGAN-like critic.
"""

from .base import (DIVERSE, EVAL_SAMPLES, AdaIN, ConvCritic, DiverseModel, MixtureDensity, UNet, gaussian_kl,
                   seeded_generator)
from .cao_cgan import CaoCGAN
from .tandem import Tandem, coarse_scheme
from .icgan import ICGAN
from .divcolor import DivColor
from .chromagan import ChromaGAN
from .memopainter import MemoPainter, color_distance, color_feature

__all__ = ["DiverseModel", "DIVERSE", "EVAL_SAMPLES", "AdaIN", "ConvCritic", "MixtureDensity", "UNet", "gaussian_kl",
           "seeded_generator", "CaoCGAN", "Tandem", "coarse_scheme", "ICGAN", "DivColor", "ChromaGAN", "MemoPainter",
           "color_distance", "color_feature"]
