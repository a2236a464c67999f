"""The shared part of the text-based methods (survey §2.4): captions in, checked and tokenised.

Every text-based method follows :class:`~colorsurvey.models.base.ColorizationModel` and takes
``caption=`` — one string (for every image of the batch), a list of B strings, or token ids
(B, T) long from :meth:`Vocabulary.encode` (0 = padding). The base class's automatic checks only
look at tensors, so :meth:`TextConditionedModel.check_inputs` checks captions itself and raises
one TypeError / ValueError naming the expected form. Unknown words are not an error: they map
to ``<unk>`` and :meth:`TextConditionedModel.unknown_words` lists them for the user.
``conditions_from_batch`` passes the batch's captions (every data source has them), so the
benchmark and the contract test run these methods without special cases. In training each
caption is said in one of several phrasings (:func:`colorsurvey.data.text.rephrase`), drawn per
step.
"""

from __future__ import annotations

from typing import Sequence

import torch

from ...data.text import PHRASINGS, Vocabulary, default_vocabulary, rephrase
from ..base import ColorizationModel

__all__ = ["TextConditionedModel", "TEXT_BASED", "CAPTION_FORMS"]

#: the registered keys of this class, in survey order
TEXT_BASED = ("color-from-language", "text2colors")

CAPTION_FORMS = ("caption: expected a string, a list of B strings (one per image), or token ids (B, T) long "
                 "from Vocabulary.encode")


class TextConditionedModel(ColorizationModel):
    """Base of the text-based methods: a vocabulary, caption checks and encoding.

    ``vocab_size``: rows of the word embedding (at least the vocabulary's length; the ``paper``
    presets use the official vocabulary sizes so parameter counts can be checked against the
    published code; rows beyond the vocabulary are never indexed by our tokenizer).
    """

    #: the caption used by :meth:`example_conditions`
    example_caption = "a ripe red apple"

    def __init__(self, vocab_size: int | None = None, vocabulary: Vocabulary | None = None):
        super().__init__()
        self.vocab = vocabulary if vocabulary is not None else default_vocabulary()
        self.num_words = max(int(vocab_size or 0), len(self.vocab))

    # -- captions --------------------------------------------------------------------------
    def check_captions(self, caption, B: int) -> None:
        """Raise one clear error unless ``caption`` is a caption for a batch of ``B`` images."""
        if caption is None:
            return
        if isinstance(caption, str):
            if not caption.strip():
                raise ValueError("caption is empty: describe the image in a few words, e.g. 'a ripe red apple'")
            return
        if isinstance(caption, torch.Tensor):
            if caption.dtype != torch.long or caption.dim() != 2:
                raise TypeError(f"{CAPTION_FORMS}; got a tensor of dtype {caption.dtype}, shape {tuple(caption.shape)}")
            if caption.shape[0] not in (1, B) or caption.shape[1] == 0:
                raise ValueError(f"{CAPTION_FORMS}; got ids of shape {tuple(caption.shape)} for {B} images")
            if caption.numel() and (int(caption.min()) < 0 or int(caption.max()) >= self.num_words):
                raise ValueError(f"caption: token ids must lie in 0..{self.num_words - 1} (this model's "
                                 f"vocabulary); got [{int(caption.min())}, {int(caption.max())}]")
            return
        if isinstance(caption, (list, tuple)):
            bad = [type(c).__name__ for c in caption if not isinstance(c, str)]
            if bad:
                raise TypeError(f"{CAPTION_FORMS}; got a list holding {bad[0]}")
            if len(caption) not in (1, B):
                raise ValueError(f"caption: {len(caption)} captions for {B} images; pass one per image, or one string "
                                 "for all")
            if any(not c.strip() for c in caption):
                raise ValueError("caption: an empty caption; describe each image in a few words")
            return
        raise TypeError(f"{CAPTION_FORMS}; got {type(caption).__name__}")

    def check_inputs(self, L, conditions: dict) -> torch.Tensor:
        L = super().check_inputs(L, conditions)
        self.check_captions(conditions.get("caption"), L.shape[0])
        return L

    def encode_captions(self, caption: str | Sequence[str] | torch.Tensor, B: int,
                        device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids (B, T) long and lengths (B,) long on ``device`` for a checked caption (one
        caption is repeated for the batch)."""
        if isinstance(caption, torch.Tensor):
            ids = caption.to(device)
            lengths = (ids != 0).sum(1).clamp_min(1)
        else:
            texts = [caption] if isinstance(caption, str) else list(caption)
            ids, lengths = self.vocab.encode(texts, device=device)
        if ids.shape[0] == 1 and B > 1:
            ids, lengths = ids.expand(B, -1), lengths.expand(B)
        return ids, lengths

    def unknown_words(self, caption: str | Sequence[str]) -> list[str]:
        """The words of ``caption`` this model does not know (they act as ``<unk>``)."""
        return self.vocab.unknown(caption)

    @staticmethod
    def training_captions(captions: Sequence[str]) -> list[str]:
        """Each caption in a phrasing drawn from torch's global generator (:data:`PHRASINGS`)."""
        k = torch.randint(len(PHRASINGS), (len(captions),)).tolist()
        return [rephrase(c, j) for c, j in zip(captions, k)]

    # -- conditions --------------------------------------------------------------------------
    def conditions_from_batch(self, batch: dict) -> dict:
        """The batch's captions (every data source writes them: rendered variants, or the
        category name of a real folder)."""
        return {"caption": list(batch["caption"])}

    def example_conditions(self, L: torch.Tensor) -> dict:
        return {"caption": [self.example_caption] * L.shape[0]}
