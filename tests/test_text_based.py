"""Text-based methods (survey §2.4): words, the PAT reader, caption checks, the colour-word
learning test and the paper-size parameter counts (issue 12). The registry-wide contract
(shapes, inference, input checks, loss halving) is in test_contract.py."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from colorsurvey import models
from colorsurvey.color import lab_to_rgb
from colorsurvey.data.base import ColorDataset
from colorsurvey.data.text import (PHRASINGS, Vocabulary, all_captions, default_vocabulary, load_pat, rephrase,
                                   tokenize)
from colorsurvey.models import count_parameters
from colorsurvey.models.text import TEXT_BASED

pytestmark = pytest.mark.usefixtures("one_thread")


# --------------------------------------------------------------------------------------
# words
# --------------------------------------------------------------------------------------

def test_tokenize_splits_hyphens_and_punctuation():
    assert tokenize("A Pink-blushed apple, (fresh)!") == ["a", "pink", "blushed", "apple", "fresh"]
    assert tokenize("  ") == []
    with pytest.raises(TypeError, match="string"):
        tokenize(3)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(default_vocabulary().to_list()), min_size=1, max_size=12))
def test_vocabulary_round_trip(words):
    v = default_vocabulary()
    text = " ".join(words)
    ids, lengths = v.encode([text, "red"])
    assert ids.shape == (2, max(len(words), 1)) and lengths.tolist() == [len(words), 1]
    assert v.decode(ids[0]) == text and v.unknown(text) == []
    assert Vocabulary(v.to_list()) == v


def test_unknown_words_map_to_unk_and_are_reported():
    v = Vocabulary.build(["a red apple", "a green apple"])
    ids, lengths = v.encode("a turquoise zucchini apple")
    assert ids.tolist() == [[v.index("a"), 1, 1, v.index("apple")]]
    assert v.unknown(["a turquoise zucchini", "turquoise apple"]) == ["turquoise", "zucchini"]
    ids, lengths = v.encode("!!!")                         # no word at all: one <unk>
    assert ids.tolist() == [[1]] and lengths.tolist() == [1]


def test_captions_and_phrasings_keep_the_colour_words():
    caps = all_captions()
    assert "a ripe yellow banana" in caps and "an unripe green banana" in caps and "a red apple" in caps
    v = default_vocabulary()
    for c in caps:
        for k in range(len(PHRASINGS)):
            p = rephrase(c, k)
            assert v.unknown(p) == [], p
            assert set(tokenize(c)) - {"a", "an"} <= set(tokenize(p)), (c, p)
    assert rephrase("a red apple", 0) == "a red apple" and rephrase("an orange", 7) == "a single orange"


# --------------------------------------------------------------------------------------
# the PAT format
# --------------------------------------------------------------------------------------

def _write_pat(tmp_path, names, palettes):
    n, p = tmp_path / "train_names.pkl", tmp_path / "train_palettes_rgb.pkl"
    n.write_bytes(pickle.dumps(names))
    p.write_bytes(pickle.dumps(palettes))
    return n, p


def test_pat_loader_reads_the_published_format(tmp_path):
    names = [["ocean", "breeze"], ["autumn", "sunset"], ["mint"]]
    pals = [[(0, 105, 148), (72, 209, 204), (175, 238, 238), (255, 255, 255), (0, 0, 128)],
            [(204, 85, 0), (255, 140, 0), (139, 69, 19), (255, 215, 0), (128, 0, 0)],
            [[152, 255, 152]] * 5]
    data = load_pat(*_write_pat(tmp_path, names, pals))
    assert len(data) == 3 and data.phrases == ["ocean breeze", "autumn sunset", "mint"]
    assert data.palettes.shape == (3, 5, 3) and data.palettes.dtype == torch.float32
    assert torch.allclose(data.palettes[0, 0], torch.tensor([0, 105, 148]) / 255.0)
    assert data.vocabulary().unknown("ocean sunset") == []


def test_pat_loader_errors_are_clear(tmp_path):
    n, p = _write_pat(tmp_path, [["a"], ["b"]], [[(0, 0, 0)] * 5])
    with pytest.raises(ValueError, match="2 phrases but .* 1 palettes"):
        load_pat(n, p)
    n, p = _write_pat(tmp_path, [["a"]], [[(0, 0, 0)] * 4])
    with pytest.raises(ValueError, match="five RGB triplets"):
        load_pat(n, p)
    n, p = _write_pat(tmp_path, [["a"]], [[(0, 0, 300)] * 5])
    with pytest.raises(ValueError, match="0..255"):
        load_pat(n, p)
    with pytest.raises(FileNotFoundError, match="PAT phrase file not found"):
        load_pat(tmp_path / "missing.pkl", p)
    evil = tmp_path / "evil.pkl"                                  # a pickle that would run code
    evil.write_bytes(pickle.dumps(torch.nn.Identity()))
    with pytest.raises(ValueError, match="refusing"):
        load_pat(evil, p)


# --------------------------------------------------------------------------------------
# caption and palette inputs
# --------------------------------------------------------------------------------------

def smoke(key):
    return models.create(key, size="smoke", seed=0).eval()


@pytest.mark.parametrize("key", TEXT_BASED)
def test_caption_forms_and_errors(key):
    m = smoke(key)
    L = torch.full((2, 1, 9, 13), 60.0)
    ids, _ = m.vocab.encode(["a red apple", "a green pear"])
    for cap in ("a red apple", ["a red apple", "a green pear"], ["a red apple"], ids, ids[:1]):
        assert m.colorize(L, caption=cap).shape == (2, 2, 9, 13)
    assert torch.equal(m.colorize(L, caption=ids), m.colorize(L, caption=["a red apple", "a green pear"]))
    cases = [(3, TypeError, "string, a list"), ([1, 2], TypeError, "list holding int"),
             (["a", "b", "c"], ValueError, "3 captions for 2 images"), ("  ", ValueError, "empty"),
             (ids.float(), TypeError, "dtype"), (ids + 10 ** 6, ValueError, "token ids must lie")]
    for cap, err, msg in cases:
        with pytest.raises(err, match=msg):
            m.colorize(L, caption=cap)
    # unknown words: reported, never an error
    assert m.unknown_words("a turquoise zucchini") == ["turquoise", "zucchini"]
    assert torch.isfinite(m.colorize(L, caption="a turquoise zucchini")).all()


def test_text2colors_palette_input():
    m = smoke("text2colors")
    L = torch.full((2, 1, 11, 7), 55.0)
    pal = torch.rand(5, 3)
    out = m.explain(L, palette=pal)
    assert out["ab"].shape == (2, 2, 11, 7) and torch.allclose(out["palette"], pal.expand(2, 5, 3))
    assert m.text_to_palette(L, caption="a red apple").shape == (2, 5, 3)
    a, b = m.colorize(L, caption="a red apple", sample=True, seed=1), m.colorize(L, caption="a red apple", sample=True, seed=1)
    assert torch.equal(a, b)
    for bad, err, msg in [(pal * 255, ValueError, "divide by 255"), ((pal * 255).to(torch.uint8), TypeError, "255"),
                          (pal[:4], ValueError, r"\(B, 5, 3\)"), (torch.rand(3, 5, 3), ValueError, "for 2 images"),
                          (pal.tolist(), TypeError, "float tensor")]:
        with pytest.raises(err, match=msg):
            m.colorize(L, palette=bad)
    with pytest.raises(ValueError, match="caption.*palette"):
        m.colorize(L)


# --------------------------------------------------------------------------------------
# learning: the colour word moves the colour
# --------------------------------------------------------------------------------------

class ColourWords(ColorDataset):
    """Identical gray discs, coloured red or green by the caption alone: same L, opposite a."""

    categories = ["Red", "Green"]
    name = "colour-words"
    AB = {"red": (55.0, 35.0), "green": (-45.0, 40.0)}

    def __init__(self, n=16, size=16):
        self.n, self.size = n, size

    def __len__(self):
        return self.n

    def _load(self, idx, device):
        B, S = len(idx), self.size
        y, x = torch.meshgrid(torch.linspace(-1, 1, S), torch.linspace(-1, 1, S), indexing="ij")
        mask = (x ** 2 + y ** 2 < 0.5).float()[None, None].expand(B, 1, S, S)
        words = ["red" if i % 2 == 0 else "green" for i in idx.tolist()]
        ab = torch.tensor([self.AB[w] for w in words]).view(B, 2, 1, 1)
        lab = torch.cat([torch.full((B, 1, S, S), 55.0) - 8 * y[None, None], ab.expand(B, 2, S, S)], 1)
        white = torch.tensor([97.0, 0, 0]).view(1, 3, 1, 1)
        lab = mask * lab + (1 - mask) * white
        rgb = lab_to_rgb(lab)
        body = rgb[:, :, S // 2, S // 2]
        palette = torch.stack([body, body, body, body, torch.full_like(body, 0.97)], 1)
        return {"rgb": rgb.to(device), "label": (idx % 2).to(device), "mask": mask.to(device),
                "caption": [f"a {w} apple" for w in words], "palette": palette.to(device)}


#: TPN must learn the palette and PCN to follow it: text2colors needs more steps
LEARNING_STEPS = {"color-from-language": 150, "text2colors": 300}


@pytest.mark.parametrize("key", TEXT_BASED)
def test_swapping_the_colour_word_moves_mean_ab(key):
    """After training on discs that differ only by the colour word of their caption, the same gray
    disc is redder (higher a) under "red" than under "green" — a learning test, not a number."""
    torch.manual_seed(0)
    m = models.create(key, size="smoke", seed=0)
    data = ColourWords()
    m.fit_statistics([data.batch(range(16))])
    m.train()
    for step in range(LEARNING_STEPS[key]):
        logs = m.training_step(data.batch([(2 * step + j) % 16 for j in range(8)]))
        assert all(math.isfinite(float(v)) for v in logs.values()), logs   # GAN parts stay finite
    L = data.batch([0])["L"]
    mask = data.batch([0])["mask"].bool()[0, 0]
    a_red = m.colorize(L, caption="a red apple")[0, 0][mask].mean()
    a_green = m.colorize(L, caption="a green apple")[0, 0][mask].mean()
    gap = float(a_red - a_green)          # the true gap is 100 Lab units
    assert gap > 25, (key, float(a_red), float(a_green))


# --------------------------------------------------------------------------------------
# paper sizes against the reference counts (official code, counted)
# --------------------------------------------------------------------------------------

def test_color_from_language_paper_count():
    """The official colorizer (reference file, §2.4: 17,059,809 with the 10,004-word vocabulary)
    counts everything but the frozen ResNet-101 stem; ours adds the stem, trained here."""
    with torch.device("meta"):
        m = models.create("color-from-language", size="paper")
    assert m.num_words == 10004
    colorizer = count_parameters(m) - count_parameters(m.features)
    assert abs(colorizer - 17_059_809) <= 0.01 * 17_059_809, colorizer
    assert count_parameters(m.caption_encoder.embedding) == 3_001_200
    assert count_parameters(m.caption_encoder.lstm) == 1_142_784
    assert count_parameters(m.classifier) == 320_625


def test_text2colors_paper_counts():
    """PCN generator 37,072,706 in the official code, of which 821,504 sit in palette-branch 1x1
    convs that its forward never calls (``global_network``: the 128 stage uses 1 of its 4 layers,
    the 256 stage 2); ours builds only the used ones. TPN 454,804 + vocabulary x 300; TPN D
    17,876, PCN D 20,795,329 (reference file, §2.4)."""
    with torch.device("meta"):
        m = models.create("text2colors", size="paper")
    unused = 2 * (512 * 512 + 512) + 2 * (256 * 512 + 512) + (128 * 256 + 256)
    assert unused == 821_504
    pcn = count_parameters(m.pcn) + unused
    assert abs(pcn - 37_072_706) <= 0.01 * 37_072_706, pcn
    assert count_parameters(m.tpn) - count_parameters(m.tpn.embed) == 454_804
    assert count_parameters(m.tpn_discriminator) == 17_876
    assert count_parameters(m.pcn_discriminator) == 20_795_329


# --------------------------------------------------------------------------------------
# the text-and-palette widget, headless (the browser test drives the real page)
# --------------------------------------------------------------------------------------

def test_text_palette_widget_state():
    from colorsurvey.widgets import TextPalette
    from colorsurvey.widgets.text_palette import hex_to_rgb, rgb_to_hex

    images = ColourWords(n=4, size=16)
    tp = TextPalette(smoke("text2colors"), smoke("color-from-language"), images, index=0, caption="a red apple")
    first = tp.render()
    assert first["palette"].shape == (5, 3) and first["palette_result"].shape == (16, 16, 3)
    assert first["language_result"].shape == (16, 16, 3) and tp.unknown == []
    assert tp.set_caption("a turquoise zucchini") == "" and tp.unknown == ["turquoise", "zucchini"]
    assert tp.set_swatch(0, "#00ff00") == "" and torch.allclose(tp.palette[0], torch.tensor([0.0, 1.0, 0.0]))
    edited = tp.render()
    assert not np.allclose(edited["palette_result"], first["palette_result"])     # the palette acts
    assert "#rrggbb" in tp.set_swatch(1, "green") and "0..4" in tp.set_swatch(7, "#000000")
    assert "type a sentence" in tp.set_caption("   ") and "does not exist" in tp.set_image(99)
    assert "not an image" in tp.upload(b"not a png")
    assert rgb_to_hex(hex_to_rgb("#1a2b3c")) == "#1a2b3c"
    assert tp.strip().shape[0] == 16
    tp.widget                                             # builds without a kernel
