"""The domain-specific class (survey §2.3, issue 11): the stand-in inputs' properties, the
methods' own properties (division residual, attention rows, wrong conditions), the real-data
folder, and each paper preset's parameter count against the reference file."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from colorsurvey import models
from colorsurvey.data import domain as D
from colorsurvey.models import count_parameters
from colorsurvey.models.domain import DOMAIN_SPECIFIC, SCFT, division_residual

from .conftest import TinyColors

pytestmark = pytest.mark.usefixtures("one_thread")


def build(key):
    return models.create(key, size="smoke", seed=0).eval()


# ---------------------------------------------------------------------------------------
# stand-ins
# ---------------------------------------------------------------------------------------

def test_nir_mix_on_known_colours():
    rgb = torch.tensor([[0, 1, 0], [1, 0, 0], [0, 0, 1], [1, 1, 1], [0, 0, 0], [0.2, 0.6, 0.2]]).float().view(6, 3, 1, 1)
    nir = D.nir_from_rgb(rgb).flatten()
    green, red, blue, white, black, foliage = nir.tolist()
    assert blue == 0 and black == 0 and white == 1
    assert green > red > blue                        # vegetation bright, blue dark
    assert foliage > D.nir_from_rgb(rgb, mix=0.0).flatten()[5]   # foliage brighter than in plain luminance
    assert torch.allclose(D.nir_from_rgb(rgb, mix=0.0).flatten()[:3], torch.tensor([0.7152, 0.2126, 0.0722]))
    with pytest.raises(ValueError, match="mix"):
        D.nir_from_rgb(rgb, mix=1.5)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        D.nir_from_rgb(rgb[:, :1])


@pytest.mark.parametrize("looks", [1, 4])
def test_speckle_has_mean_one_and_variance_one_over_looks(looks):
    s = D.speckle((4, 1, 128, 128), looks, generator=torch.Generator().manual_seed(looks))
    n = s.numel()
    assert (s >= 0).all()
    # standard errors: mean 1/sqrt(L n); variance about sqrt(2 + 6/L)/L/sqrt(n) (Gamma's kurtosis)
    assert abs(float(s.mean()) - 1) < 5 / (looks * n) ** 0.5
    assert abs(float(s.var()) - 1 / looks) < 5 * (2 + 6 / looks) ** 0.5 / looks / n ** 0.5


def test_speckle_is_repeatable_per_image_seed():
    a = D.speckle((2, 1, 8, 8), 4, seeds=[3, 5])
    b = D.speckle((1, 1, 8, 8), 4, seeds=[5])
    assert torch.equal(a[1:], b)
    with pytest.raises(ValueError, match="looks"):
        D.speckle((1, 1, 4, 4), 0)


def test_sar_is_gray_times_speckle():
    gray = torch.rand(2, 1, 16, 16)
    assert torch.allclose(D.sar_from_gray(gray, 4, seeds=[1, 2]), gray * D.speckle(gray.shape, 4, seeds=[1, 2]))


@settings(max_examples=20, deadline=None, derandomize=True)
@given(st.integers(1, 9), st.integers(1, 9))
def test_polarimetric_targets_round_trip(h, w):
    rgb = torch.rand(2, 3, h, w, generator=torch.Generator().manual_seed(h * 10 + w))
    pol = D.polarimetric_from_rgb(rgb)
    assert pol.shape == (2, 9, h, w) and pol.min() >= 0 and pol.max() <= 1
    assert torch.allclose(D.pauli_rgb(pol), rgb, atol=1e-5)          # the Pauli composite is the image
    q = D.quantize(pol)
    assert q.dtype == torch.long and q.min() >= 0 and q.max() < 32
    assert (D.dequantize(q) - pol).abs().max() <= 0.5 / 32 + 1e-6
    vv = D.vv_from_polarimetric(pol)
    assert vv.shape == (2, 1, h, w) and vv.min() >= 0 and vv.max() <= 1


def test_polarimetric_is_a_rank_one_coherency():
    """T = k k^H: |T12|^2 = T11 T22 for each pixel."""
    pol = D.polarimetric_from_rgb(torch.rand(1, 3, 5, 5))
    re, im = pol[:, 3] * 2 - 1, pol[:, 4] * 2 - 1
    assert torch.allclose(re ** 2 + im ** 2, pol[:, 0] * pol[:, 1], atol=1e-5)


def test_sketch_thickness_darkens_more_pixels():
    rgb = TinyColors(n=2, size=32).batch([0, 1])["rgb"]
    s1, s3 = D.sketch_from_rgb(rgb, 1), D.sketch_from_rgb(rgb, 3)
    assert s1.shape == (2, 1, 32, 32) and s1.min() >= 0 and s1.max() <= 1
    assert (s3 < 0.5).sum() > (s1 < 0.5).sum() > 0
    with pytest.raises(ValueError, match="thickness"):
        D.sketch_from_rgb(rgb, 0)


def test_augmented_self_reference_keeps_size_and_range():
    rgb = TinyColors(n=2, size=24).batch([0, 1])["rgb"]
    ref = D.augmented_self_reference(rgb, generator=torch.Generator().manual_seed(0))
    assert ref.shape == rgb.shape and ref.min() >= 0 and ref.max() <= 1 and not torch.allclose(ref, rgb)


def test_domain_folder_reads_pairs(tmp_path):
    from PIL import Image

    for sub in ("rgb", "sar"):
        (tmp_path / sub).mkdir()
    for n in ("a", "b"):
        Image.fromarray(np.full((20, 30, 3), 200, np.uint8)).save(tmp_path / "rgb" / f"{n}.png")
        np.save(tmp_path / "sar" / f"{n}.npy", np.full((20, 30), 1.5, np.float32))
    ds = D.DomainFolder(tmp_path, "sar", size=16)
    b = ds.batch([0, 1])
    assert len(ds) == 2 and b["sar"].shape == (2, 1, 16, 16) and torch.allclose(b["sar"], torch.tensor(1.5))
    m = build("sar-gan")
    assert torch.equal(m.conditions_from_batch(b)["sar"], b["sar"])          # the real input is used
    (tmp_path / "rgb" / "c.png").write_bytes((tmp_path / "rgb" / "a.png").read_bytes())
    with pytest.raises(ValueError, match="without a partner"):
        D.DomainFolder(tmp_path, "sar")
    with pytest.raises(FileNotFoundError, match="nir"):
        D.DomainFolder(tmp_path, "nir")


# ---------------------------------------------------------------------------------------
# method properties
# ---------------------------------------------------------------------------------------

def test_division_residual_returns_the_input_for_unit_speckle():
    x = torch.rand(2, 1, 7, 5) * 3
    assert torch.equal(division_residual(x, torch.ones_like(x)), x)
    assert torch.allclose(division_residual(x, torch.full_like(x, 2.0)), x / 2)


def test_sar_gan_shows_the_despeckled_intermediate():
    m = build("sar-gan")
    b = TinyColors(n=2, size=24).batch([0, 1])
    out = m.explain(b["L"], **m.conditions_from_batch(b))
    assert out["despeckled"].shape == out["speckle"].shape == (2, 1, 24, 24) and (out["speckle"] > 0).all()
    assert out["rgb"].shape == (2, 3, 24, 24)


@settings(max_examples=10, deadline=None, derandomize=True)
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 3))
def test_scft_attention_rows_sum_to_one(h, w, B):
    torch.manual_seed(0)
    scft = SCFT(12)
    v_c, att = scft(torch.randn(B, 12, h, w), torch.randn(B, 12, h, w) * 5)
    assert v_c.shape == (B, 12, h, w) and att.shape == (B, h * w, h * w)
    assert torch.allclose(att.sum(-1), torch.ones(B, h * w), atol=1e-5) and (att >= 0).all()


def test_ref_sketch_attention_map_for_one_point():
    m = build("ref-sketch")
    b = TinyColors(n=2, size=48).batch([0, 1])
    out = m.explain(b["L"], **m.conditions_from_batch(b))
    gh, gw = out["grid"]
    assert (gh, gw) == (3, 3) and out["attention"].shape == (2, 9, 9)
    assert torch.allclose(out["attention"].sum(-1), torch.ones(2, 9), atol=1e-5)


def test_radar_pol_predicts_nine_distributions_of_32_bins():
    m = build("radar-pol")
    b = TinyColors(n=2, size=20).batch([0, 1])
    out = m.explain(b["L"], **m.conditions_from_batch(b))
    assert out["prob"].shape == (2, 9, 32, 20, 20)
    assert torch.allclose(out["prob"].sum(2), torch.ones(2, 9, 20, 20), atol=1e-5)
    assert out["rgb"].shape == (2, 3, 20, 20) and m.targets(b).shape == (2, 9, 20, 20)


def test_radar_pol_vgg_fold_is_exact_on_gray():
    """conv1_1 folded onto one channel: a gray input gives the RGB network's map of the gray image."""
    from colorsurvey.models.vgg import VGG19Features

    torch.manual_seed(0)
    vgg = VGG19Features(0.0625)
    hc = models.create("radar-pol", size="smoke").features
    hc.load_from_vgg19(vgg)
    x = torch.rand(1, 1, 8, 8)
    ref = vgg.features[1](vgg.features[0]((x.expand(-1, 3, -1, -1) - vgg.mean) / vgg.std))
    inner = (..., slice(1, -1), slice(1, -1))            # zero padding differs on the one-pixel border
    assert torch.allclose(hc(x)[:, 1:1 + ref.shape[1]][inner], ref[inner], atol=1e-5)


@pytest.mark.parametrize("key", DOMAIN_SPECIFIC)
def test_wrong_conditions_name_what_was_expected(key):
    m = build(key)
    b = TinyColors(n=2, size=16).batch([0, 1])
    cond = m.conditions_from_batch(b)
    name = m.domain_input
    with pytest.raises(ValueError, match=name):                       # missing domain input
        m.colorize(b["L"], **{k: v for k, v in cond.items() if k != name})
    with pytest.raises(ValueError, match=rf"{name}: expected .*\(B, 1, H, W\)"):     # wrong channels
        m.colorize(b["L"], **{**cond, name: cond[name].expand(-1, 3, -1, -1)})
    with pytest.raises(ValueError, match=rf"{name}: expected .*\(B, 1, H, W\) at L's size"):   # wrong size
        m.colorize(b["L"], **{**cond, name: cond[name][..., :8, :8]})
    if key == "ref-sketch":
        with pytest.raises(ValueError, match="reference_rgb"):         # missing reference
            m.colorize(b["L"], sketch=cond["sketch"])
    if key == "sar-gan":
        with pytest.raises(ValueError, match="intensity, not dB"):
            m.colorize(b["L"], sar=cond["sar"] - 1)


@pytest.mark.parametrize("key", DOMAIN_SPECIFIC)
def test_stand_in_strength_changes_the_input(key):
    m = build(key)
    b = TinyColors(n=2, size=16).batch([0, 1])
    name, default, choices = m.strength
    a = m.standin(b, strength=choices[0], seeds=[1, 2])[m.domain_input]
    c = m.standin(b, strength=choices[-1], seeds=[1, 2])[m.domain_input]
    assert not torch.allclose(a, c), (key, name)


# ---------------------------------------------------------------------------------------
# paper presets against the reference file (architectures_2.3-2.6.md)
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("key, total, trainable", [
    ("radar-pol", 11_066_848, 9_332_512),     # official code: 9,332,512 trainable + 1,734,336 frozen VGG
    ("ref-sketch", 82_915_283, None),         # re-implementation's G (D: 98,977)
])
def test_paper_counts_match_the_reference_file(key, total, trainable):
    with torch.device("meta"):
        m = models.create(key, size="paper")
    n = count_parameters(m, part="inference")
    assert abs(n - total) <= 0.01 * total
    if trainable is not None:
        assert abs(count_parameters(m, trainable_only=True) - trainable) <= 0.01 * trainable
    if key == "ref-sketch":
        assert count_parameters(m.discriminator) == 98_977
        assert m.scft.w_q.in_features == 992


def test_degradation_explorer_renders_every_method_and_strength():
    from colorsurvey.widgets import DegradationExplorer

    b = TinyColors(n=3, size=16).batch([0, 1, 2])
    ex = DegradationExplorer({k: build(k) for k in DOMAIN_SPECIFIC}, b, zoom=1)
    for key in DOMAIN_SPECIFIC:
        assert ex.set(key=key) == ""
        for s in ex.choices():
            assert ex.set(strength=s, index=2) == ""
            pic, scores = ex.render()
            assert pic.shape[0] == 16 and pic.shape[2] == 3 and np.isfinite(scores["psnr"])
    assert "must be one of" in ex.set(strength=99) and ex.strength != 99
    assert "unknown method" in ex.set(key="nope")
    ex.widget                                            # builds without a front end
