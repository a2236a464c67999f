"""Text-based networks (survey §2.4): colour from words.

The survey's fourth class conditions the colours on language: a caption that names the
object's colours, or a phrase from which a palette is imagined first. One file per method:

* :mod:`.color_from_language` §2.4.1 :class:`ColorFromLanguage` — Manjunatha, Iyyer,
  Boyd-Graber, Davis, NAACL 2018: gray-image features modulated by the caption through FiLM
  (feature-wise gamma, beta from a BiLSTM caption encoder) in four residual blocks,
  classification over 625 ab bins with class rebalancing;
* :mod:`.text2colors` §2.4.2 :class:`Text2Colors` — Bahng et al., ECCV 2018: the
  Text-to-Palette Network (GRU encoder, conditioning augmentation, attention decoder emitting
  five Lab colours, a text-and-palette discriminator) and the Palette-based Colorization
  Network (a U-Net with the palette added at three decoder stages, an image-and-palette
  discriminator).

:mod:`.base` holds what they share (caption checks, the vocabulary, training phrasings);
tokenizer, vocabulary and the PAT reader are in :mod:`colorsurvey.data.text`.
"""

from .base import CAPTION_FORMS, TEXT_BASED, TextConditionedModel
from .color_from_language import CaptionEncoder, ColorFromLanguage, FiLMResBlock, ResNetStem, full_lab_grid
from .text2colors import (PCN, TPN, PCNDiscriminator, Text2Colors, TPNDiscriminator, palette_rgb_to_scaled,
                          palette_scaled_to_rgb, scale_lab, unscale_lab)

__all__ = ["TextConditionedModel", "TEXT_BASED", "CAPTION_FORMS", "ColorFromLanguage", "CaptionEncoder", "FiLMResBlock",
           "ResNetStem", "full_lab_grid", "Text2Colors", "TPN", "PCN", "TPNDiscriminator", "PCNDiscriminator",
           "scale_lab", "unscale_lab", "palette_rgb_to_scaled", "palette_scaled_to_rgb"]
