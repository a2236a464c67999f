"""Words for the text-based methods (survey §2.4): caption phrasings, a tokenizer, a vocabulary
with an unknown-word token, and a reader of the published Palette-and-Text (PAT) files.

* :func:`tokenize` — lower-case words (letters only; hyphens and punctuation split words:
  "pink-blushed" -> ["pink", "blushed"]).
* :func:`rephrase` — several phrasings of one caption ("a ripe yellow banana" -> "a photo of a
  ripe yellow banana", "a ripe yellow banana on a white background", ...), so that a network
  learns the words that matter (colour words, ripeness) and not one sentence pattern. The
  rendered set's captions come from its colour variants (``produce_colors.json``: red / green /
  yellow apples, ripe and unripe bananas, dark and pale shades); captions of real folders from
  the category names (:func:`colorsurvey.data.real.caption_for`).
* :class:`Vocabulary` — word <-> index with ``<pad>`` = 0 and ``<unk>`` = 1. Unknown words
  map to ``<unk>`` and are reported (:meth:`Vocabulary.unknown`), never an error.
  :func:`default_vocabulary` is built from every caption the rendered set can produce in every
  phrasing, the caption words of real folders and the basic colour terms.
* :func:`load_pat` — the PAT data set of Text2Colors (Bahng et al., ECCV 2018; 10,183 phrases,
  each with a five-colour palette), in its published form: two pickles, the phrases as lists of
  words and the palettes as five RGB triplets in 0..255 (the official ``data_loader.py``).
"""

from __future__ import annotations

import functools
import io
import os
import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import torch

__all__ = ["tokenize", "PHRASINGS", "rephrase", "all_captions", "BASIC_COLOR_TERMS", "Vocabulary",
           "default_vocabulary", "PaletteText", "load_pat", "PAT_PHRASES"]

#: number of phrases of the published PAT data set (Bahng et al. 2018, §3)
PAT_PHRASES = 10183

#: the eleven basic colour terms (Berlin & Kay 1969) and common shade words
BASIC_COLOR_TERMS = ("black", "white", "red", "green", "yellow", "blue", "brown", "purple", "pink", "orange",
                     "gray", "grey", "violet", "golden", "crimson", "scarlet", "maroon", "olive", "lime", "cream",
                     "dark", "light", "pale", "deep", "bright", "ripe", "unripe", "fresh", "bluish", "greenish",
                     "reddish", "yellowish", "pinkish", "brownish")

#: phrasings of a caption ``{c}`` ("a ripe yellow banana"); the first is the caption itself
PHRASINGS = ("{c}", "a photo of {c}", "{c} on a white background", "a close-up of {c}", "a picture of {c}",
             "there is {c} on the table", "this is {c}", "a single {c0}")

_WORD = re.compile(r"[a-z]+")


def tokenize(text: str) -> list[str]:
    """Lower-case words of ``text``: runs of the letters a-z (digits, hyphens, brackets and
    punctuation separate words). TypeError for a non-string."""
    if not isinstance(text, str):
        raise TypeError(f"a caption must be a string; got {type(text).__name__}")
    return _WORD.findall(text.lower())


def rephrase(caption: str, k: int) -> str:
    """Phrasing ``k`` (any integer, taken modulo ``len(PHRASINGS)``) of ``caption``; phrasing 0
    is the caption unchanged. "a single ..." drops the caption's leading article."""
    c0 = re.sub(r"^(a|an)\s+", "", caption.strip())
    return PHRASINGS[int(k) % len(PHRASINGS)].format(c=caption.strip(), c0=c0)


def all_captions() -> list[str]:
    """Every caption the rendered set writes for one object (each colour variant of each
    category), in category order. Multi-object scenes join these with commas and "and"."""
    from .synthetic import CATEGORIES, NOUNS, VARIANTS

    return [v[0].format(n=NOUNS[i]) for i, c in enumerate(CATEGORIES) for v in VARIANTS[c]]


class Vocabulary:
    """Words <-> indices. Index 0 is ``<pad>`` (padding), 1 is ``<unk>`` (any word not in the
    vocabulary); the words follow in the order given.

    ``encode(texts)`` returns (ids (B, T) long, lengths (B,) long); a text without any word
    encodes as one ``<unk>`` (length 1), so a network always sees at least one token.
    ``unknown(texts)`` lists the words that map to ``<unk>`` (what a user should be told).
    """

    PAD, UNK = "<pad>", "<unk>"

    def __init__(self, words: Iterable[str]):
        self.itos: list[str] = [self.PAD, self.UNK]
        for w in words:
            if not isinstance(w, str) or not w:
                raise ValueError(f"vocabulary words must be non-empty strings; got {w!r}")
            if w not in self.itos:
                self.itos.append(w)
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    @classmethod
    def build(cls, texts: Iterable[str], min_count: int = 1, extra: Iterable[str] = ()) -> "Vocabulary":
        """The words of ``texts`` seen at least ``min_count`` times (in order of first appearance),
        then ``extra`` words."""
        counts: dict[str, int] = {}
        for t in texts:
            for w in tokenize(t):
                counts[w] = counts.get(w, 0) + 1
        return cls([w for w, n in counts.items() if n >= min_count] + list(extra))

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, word: str) -> bool:
        return word in self.stoi

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self.itos == other.itos

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} entries: {', '.join(self.itos[2:8])}, ...)"

    def index(self, word: str) -> int:
        return self.stoi.get(word, 1)

    def unknown(self, texts: str | Sequence[str]) -> list[str]:
        """Words of ``texts`` (one string or several) not in the vocabulary, each once, in order."""
        texts = [texts] if isinstance(texts, str) else texts
        out: list[str] = []
        for t in texts:
            out += [w for w in tokenize(t) if w not in self.stoi and w not in out]
        return out

    def encode(self, texts: str | Sequence[str], max_len: int | None = None,
               device: str | torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids (B, T) long, padded with 0, and lengths (B,) long; T = the longest text (or
        ``max_len``, longer texts cut). Unknown words become 1 (``<unk>``)."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        seqs = [[self.index(w) for w in tokenize(t)] or [1] for t in texts]
        if max_len is not None:
            seqs = [s[:max_len] for s in seqs]
        T = max((len(s) for s in seqs), default=1)
        ids = torch.zeros(len(seqs), T, dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, :len(s)] = torch.tensor(s, dtype=torch.long)
        lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
        return ids.to(device), lengths.to(device)

    def decode(self, ids: torch.Tensor | Sequence[int]) -> str:
        """Words of one id sequence joined by spaces, padding dropped."""
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        return " ".join(self.itos[i] for i in ids if i != 0)

    def to_list(self) -> list[str]:
        """The words without the two special tokens (``Vocabulary(v.to_list()) == v``)."""
        return self.itos[2:]


@functools.lru_cache(maxsize=1)
def _default_words() -> tuple[str, ...]:
    from .real import caption_for
    from .synthetic import CATEGORIES

    texts = [rephrase(c, k) for c in all_captions() for k in range(len(PHRASINGS))]
    texts += [caption_for(c) for c in CATEGORIES] + ["and"]
    return tuple(Vocabulary.build(texts, extra=BASIC_COLOR_TERMS).to_list())


def default_vocabulary() -> Vocabulary:
    """The vocabulary of the text-based methods: every word of every rendered caption in every
    phrasing (:data:`PHRASINGS`), of the real folders' captions for the NCD categories, and the
    basic colour terms (:data:`BASIC_COLOR_TERMS`). Deterministic (same words, same order)."""
    return Vocabulary(_default_words())


# ======================================================================================
# The Palette-and-Text (PAT) data set
# ======================================================================================

@dataclass
class PaletteText:
    """Phrases with their five-colour palettes: ``phrases`` (N strings, words joined by spaces)
    and ``palettes`` (N, 5, 3) float32 sRGB in [0, 1]."""

    phrases: list[str]
    palettes: torch.Tensor

    def __len__(self) -> int:
        return len(self.phrases)

    def vocabulary(self, min_count: int = 1) -> Vocabulary:
        return Vocabulary.build(self.phrases, min_count=min_count)


class _SafeUnpickler(pickle.Unpickler):
    """Reads plain data only: lists, tuples, strings, numbers and numpy arrays (as the PAT pickles
    hold); any other class is refused, so a crafted file cannot run code."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
                ("numpy._core.multiarray", "scalar"), ("builtins", "list"), ("builtins", "tuple")}

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a PAT file holds only lists of words "
                                     "and RGB triplets")


def _read_pickle(path: Path, what: str):
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"PAT {what} file not found: {path}. The published set ships as "
                                f"train/test_names.pkl and train/test_palettes_rgb.pkl (data/hexcolor_vf)") from None
    try:
        return _SafeUnpickler(io.BytesIO(data)).load()
    except (pickle.UnpicklingError, EOFError, ValueError, AttributeError) as e:
        raise ValueError(f"{path} is not a PAT {what} pickle: {e}") from None


def load_pat(names: str | os.PathLike, palettes: str | os.PathLike) -> PaletteText:
    """Read the published PAT format (Bahng et al. 2018, official ``data_loader.py``):

    * ``names``: a pickle of a list of phrases, each a list of words (``["ocean", "breeze"]``)
      or a string;
    * ``palettes``: a pickle of a list with, per phrase, five RGB triplets in 0..255.

    Returns a :class:`PaletteText` (palettes as sRGB in [0, 1]). FileNotFoundError for a missing
    file; ValueError (naming the file and the entry) for a file that is not such a pickle, a
    phrase count that differs from the palette count, a palette without five colours of three
    values, or values outside 0..255. Only plain data is unpickled (lists, strings, numbers,
    numpy arrays): other objects are refused.
    """
    names_p, pal_p = Path(names), Path(palettes)
    raw_names = _read_pickle(names_p, "phrase")
    raw_pals = _read_pickle(pal_p, "palette")
    if not isinstance(raw_names, (list, tuple)) or not isinstance(raw_pals, (list, tuple)):
        raise ValueError(f"a PAT file holds a list; got {type(raw_names).__name__} in {names_p} and "
                         f"{type(raw_pals).__name__} in {pal_p}")
    if len(raw_names) != len(raw_pals):
        raise ValueError(f"{names_p} holds {len(raw_names)} phrases but {pal_p} {len(raw_pals)} palettes: "
                         "pass the names and palettes of the same split")
    phrases = []
    for i, n in enumerate(raw_names):
        words = n.split() if isinstance(n, str) else list(n)
        if not all(isinstance(w, str) for w in words):
            raise ValueError(f"{names_p}, phrase {i}: expected words (strings); got {n!r}")
        phrases.append(" ".join(words))
    try:
        pal = torch.tensor([[[float(x) for x in c] for c in p] for p in raw_pals], dtype=torch.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{pal_p}: expected five RGB triplets per phrase; {e}") from None
    if pal.dim() != 3 or pal.shape[1:] != (5, 3):
        raise ValueError(f"{pal_p}: expected five RGB triplets per phrase, shape (N, 5, 3); got {tuple(pal.shape)}")
    if pal.numel() and (pal.min() < 0 or pal.max() > 255):
        raise ValueError(f"{pal_p}: RGB values must lie in 0..255; got [{pal.min():.4g}, {pal.max():.4g}]")
    return PaletteText(phrases, (pal / 255.0).float())
