"""Multi-path networks (survey §2.6): the properties each method rests on, the paper presets'
parameter counts against the reference counts, and the survey's NCD table in data/.

(Shapes at odd sizes, inference without state change, input checks and "the loss halves on a
tiny fixed batch" are covered for every method by tests/test_contract.py.)"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from colorsurvey import models
from colorsurvey.models import count_parameters
from colorsurvey.models import multipath as MP
from colorsurvey.survey_table import (DATASET_LEVEL, SURVEY_METHODS, beside_ours, category_key, read_survey_table,
                                      survey_dataset_level, survey_way)

pytestmark = pytest.mark.usefixtures("one_thread")


def build(key, size="smoke", **kw):
    return models.create(key, size=size, seed=0, **kw)


def test_registered_with_full_cards():
    assert models.list_models("multi-path") == list(MP.MULTI_PATH)     # the survey's order
    for key in MP.MULTI_PATH:
        cls = models.get_class(key)
        assert {"paper", "small", "smoke"} <= set(cls.sizes)
        assert cls.card.section.startswith("2.6") and cls.card.survey_recipe and cls.card.substitutions


# the reference counts (architectures_2.3-2.6.md: Iizuka's Table 1 with a 205-class head, Larsson's
# official test net, ColorCapsNet's official code at the README's complexity 6)
REFERENCE = {"iizuka": 42_366_831, "larsson": 147_041_024, "colorcapsnet": 2_215_475}


@pytest.mark.parametrize("key", sorted(REFERENCE))
def test_paper_presets_match_the_reference_counts(key):
    with torch.device("meta"):
        m = models.create(key, size="paper")
    n = count_parameters(m)
    assert abs(n - REFERENCE[key]) <= 0.01 * REFERENCE[key], (key, n)


def test_larsson_hypercolumn_is_12417_wide_and_colorcaps_parts_are_the_official_ones():
    with torch.device("meta"):
        la = models.create("larsson", size="paper")
        cc = models.create("colorcapsnet", size="paper")
    assert la.hypercolumn_dims == 12_417
    assert count_parameters(cc.color_caps) == 24_576 and count_parameters(cc.decoder) == 824_051
    assert count_parameters(cc.primary_caps[0]) == 1_327_360


# --------------------------------------------------------------------------------------
# PixColor: the PixelCNN is causal
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", ["smoke", "small"])
def test_pixelcnn_output_never_depends_on_later_pixels(size):
    """The gradient of the logits at (i, j) with respect to the input chroma is zero at (i, j)
    itself and at every pixel after it in raster order, and not zero everywhere before it."""
    m = build("pixcolor", size).eval()
    n, Q = m.lowres, m.num_bins
    h = torch.randn(1, m.pixelcnn.gated[0].cond.in_channels, n, n)
    for i, j in [(0, 0), (n // 2, n // 3), (n - 1, n - 1), (2, n - 1)]:
        x = torch.rand(1, Q, n, n, requires_grad=True)
        m.pixelcnn(x, h)[0, :, i, j].sum().backward()
        g = x.grad.abs().sum(1)[0]                           # (n, n)
        order = torch.arange(n * n).view(n, n)
        later = order >= i * n + j
        assert g[later].max() == 0, (i, j)
        if i * n + j > 0:
            assert g[~later].max() > 0, (i, j)


def test_masked_convolution_masks():
    a, b = MP.MaskedConv2d(1, 1, 3, "A").mask, MP.MaskedConv2d(1, 1, 3, "B").mask
    assert a.tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert b.tolist() == [[1, 1, 1], [1, 1, 0], [0, 0, 0]]
    with pytest.raises(ValueError, match="'A' or 'B'"):
        MP.MaskedConv2d(1, 1, 3, "C")


def test_pixcolor_samples_differ_by_seed_and_repeat_with_it(tiny):
    m = build("pixcolor")
    L = tiny.batch([0, 1])["L"]
    a, b, a2 = m.colorize(L, seed=0), m.colorize(L, seed=1), m.colorize(L, seed=0)
    assert torch.equal(a, a2) and not torch.equal(a, b)
    many = m.sample(L, 3, seed=0)
    assert many.shape == (2, 3, 2, *L.shape[-2:]) and torch.equal(many[:, 0], a) and torch.equal(many[:, 1], b)
    with pytest.raises(ValueError, match="at least 1"):
        m.sample(L, 0)
    greedy = m.explain(L, temperature=0)
    assert greedy["low_res_ab"].shape == (2, 2, m.lowres, m.lowres)


# --------------------------------------------------------------------------------------
# ColorCapsNet: routing
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("iterations", [1, 3])
def test_routing_keeps_shapes_and_coupling_sums_to_one(iterations):
    torch.manual_seed(0)
    u_hat = torch.randn(5, 6, 32, 16)                      # (B, N_out, N_in, D)
    v, c = MP.dynamic_routing(u_hat, iterations)
    assert v.shape == (5, 6, 16) and c.shape == (5, 6, 32)
    torch.testing.assert_close(c.sum(1), torch.ones(5, 32))
    assert (v.norm(dim=-1) < 1).all()                      # squashed lengths
    if iterations > 1:                                     # routing moves away from uniform coupling
        assert (c - 1 / 6).abs().max() > 1e-3
    with pytest.raises(ValueError, match="at least 1"):
        MP.dynamic_routing(u_hat, 0)


def test_capsule_layer_inside_the_network(tiny):
    m = build("colorcapsnet", routings=3).eval()
    out = m(torch.rand(7, 3, 9, 9))
    assert out.shape == (7, 3, 9, 9) and ((out >= 0) & (out <= 1)).all()
    c = m.color_caps.last_coupling
    torch.testing.assert_close(c.sum(1), torch.ones(7, c.shape[-1]))


def test_colorcapsnet_tiles_nine_by_nine():
    """Each 9x9 tile is colorized from its own pixels only: changing one tile leaves the others."""
    m = build("colorcapsnet").eval()
    L = torch.rand(1, 1, 18, 27) * 80 + 10
    L2 = L.clone()
    L2[..., :9, :9] = 95.0
    d = (m.colorize(L) - m.colorize(L2)).abs().sum(1)[0]
    assert d[9:, :].max() == 0 and d[:, 9:].max() == 0 and d[:9, :9].max() > 0


# --------------------------------------------------------------------------------------
# Baig & Torresani: the best-of-K loss
# --------------------------------------------------------------------------------------

def test_best_of_k_is_the_minimum_of_the_per_head_losses(tiny):
    m = build("multi-hypothesis").train()
    b = tiny.batch(range(4))
    m.fit_statistics([b])
    losses = m.head_losses(b["L"], b["ab"])                # (K, B)
    assert losses.shape == (len(m.heads), 4)
    loss, winner = MP.best_of_k(losses)
    torch.testing.assert_close(loss, losses.min(0).values.mean())
    one, _ = MP.best_of_k(losses[:, :1])
    torch.testing.assert_close(one, losses[:, 0].min())
    # only the winning heads receive gradient
    loss.backward()
    for k, head in enumerate(m.heads):
        g = sum(p.grad.abs().sum() for p in head.parameters() if p.grad is not None)
        assert (g > 0) == bool((winner == k).any()), k
    with pytest.raises(ValueError, match=r"\(K, B\)"):
        MP.best_of_k(losses[0])


def test_hypotheses_and_wins(tiny):
    m = build("multi-hypothesis")
    b = tiny.batch(range(4))
    m.fit_statistics([b])
    m.train().training_step(b)
    assert int(m.wins.sum()) == 4
    ex = m.explain(b["L"])
    assert ex["hypotheses"].shape == (4, len(m.heads), 2, *b["L"].shape[-2:])
    torch.testing.assert_close(ex["ab"], m.colorize(b["L"]))
    torch.testing.assert_close(ex["hypotheses"][:, 1], m.colorize(b["L"], head=1))
    with pytest.raises(ValueError, match="head must be"):
        m.colorize(b["L"], head=len(m.heads))


# --------------------------------------------------------------------------------------
# Larsson: hue and chroma decoding
# --------------------------------------------------------------------------------------

def test_hue_decoding_is_circular():
    centres = torch.tensor([350.0, 10.0, 90.0, 180.0])
    p = torch.tensor([[0.5, 0.5, 0.0, 0.0]])
    hue, R = MP.hue_expectation(p, centres)
    d = torch.remainder(hue + 180, 360) - 180              # signed distance to 0 degrees
    assert abs(float(d)) < 1e-4 and abs(float(R) - torch.cos(torch.deg2rad(torch.tensor(10.0)))) < 1e-5
    # opposite hues cancel: the resultant shrinks, which the "expectation" decoding turns into gray
    _, R2 = MP.hue_expectation(torch.tensor([[0.0, 0.0, 0.5, 0.5]]), torch.tensor([350.0, 10.0, 0.0, 180.0]))
    assert float(R2) < 1e-6


def test_chroma_median_and_the_two_decodings():
    edges = torch.linspace(0, 128, 33)
    p = torch.zeros(1, 32, 1, 1)
    p[0, 10], p[0, 20] = 0.3, 0.7                          # the median falls in bin 20
    med = MP.chroma_median(p, edges)
    assert 80 <= float(med) <= 84
    m = build("larsson")
    ph = torch.zeros(1, 32, 1, 1)
    ph[0, 0], ph[0, 16] = 0.5, 0.5                          # bimodal: opposite hues
    vivid = m.decode(ph, p, "median").norm(dim=1)
    dull = m.decode(ph, p, "expectation").norm(dim=1)
    assert float(vivid) > 80 and float(dull) < 1e-3
    with pytest.raises(ValueError, match="median"):
        m.decode(ph, p, "mode")


def test_larsson_distribution_sums_to_one(tiny):
    m = build("larsson")
    d = m.distribution(tiny.batch([0])["L"][..., :13, :21])
    assert d["hue"].shape == (1, 32, 4, 6) and d["chroma"].shape == (1, 32, 4, 6)
    torch.testing.assert_close(d["hue"].sum(1), torch.ones(1, 4, 6))


# --------------------------------------------------------------------------------------
# Iizuka: the global path; Zhao: segmentation
# --------------------------------------------------------------------------------------

def test_iizuka_global_features_steer_the_colour(tiny):
    m = build("iizuka")
    b = tiny.batch(range(4))
    for _ in range(30):
        m.train().training_step(b)
    L = b["L"][:1]
    own, other = m.colorize(L), m.colorize(L, global_L=b["L"][1:2])
    off = m.colorize(L, use_global=False)
    assert (own - other).abs().max() > 1.0 and (own - off).abs().max() > 1.0     # Lab units
    torch.testing.assert_close(own, m.colorize(L, global_L=L))
    assert m.classify(b["L"]).shape == (4, 20)
    with pytest.raises(ValueError, match="global_L"):
        m.colorize(b["L"], global_L=torch.full((3, 1, 8, 8), 50.0))


def test_segmentation_target_and_mean_iou(tiny):
    b = tiny.batch(range(4))
    t = MP.segmentation_target(b)
    assert t.shape == (4, 32, 32) and set(t.unique().tolist()) == {0, 1, 2, 3, 4}
    assert MP.mean_iou(t, t, 21) == 1.0
    assert MP.mean_iou(torch.zeros_like(t), t, 21) < 1.0
    with pytest.raises(KeyError, match="mask"):
        MP.segmentation_target({"label": b["label"]})


@pytest.mark.parametrize("key", ["zhao-semantic", "zhao-pixelated"])
def test_zhao_segmentation_learns(key, tiny):
    torch.manual_seed(0)
    m = build(key)
    b = tiny.batch(range(8))
    m.fit_statistics([b])
    t = MP.segmentation_target(b)
    before = MP.mean_iou(m.segment(b["L"]), t, m.seg_classes)
    for _ in range(60):
        m.train().training_step(b)
    after = MP.mean_iou(m.segment(b["L"]), t, m.seg_classes)
    assert m.segment(b["L"][..., :17, :9]).shape == (8, 17, 9)
    assert after > before + 0.1, (before, after)


# --------------------------------------------------------------------------------------
# the survey's NCD table (data/survey_ncd_table.csv)
# --------------------------------------------------------------------------------------

def test_survey_table_is_six_methods_by_21_rows():
    t = read_survey_table()
    assert len(t) == 6 * 21
    assert set(t["method"]) == set(SURVEY_METHODS)
    assert (t.groupby("method").size() == 21).all()
    assert (t["category"] == DATASET_LEVEL).sum() == 6
    assert t.loc[t.category != DATASET_LEVEL].groupby("method")["n_images"].sum().eq(735).all()
    for key in SURVEY_METHODS.values():
        models.get_class(key)                              # every row is a registered method


def test_survey_dataset_level_is_the_unweighted_category_mean():
    t = read_survey_table()
    printed = t[t.category == DATASET_LEVEL].set_index("method")[["psnr", "ssim", "pcqi", "uiqm"]]
    mean = survey_dataset_level(t).loc[printed.index]
    tol = pd.Series({"psnr": 0.006, "ssim": 0.0006, "pcqi": 0.0006, "uiqm": 0.0006})   # half a unit of the last digit
    assert ((mean - printed).abs() <= tol).all().all(), (mean - printed)


def test_survey_table_errors_are_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match="data/"):
        read_survey_table(tmp_path / "none.csv")
    t = read_survey_table()
    t.drop(columns="uiqm").to_csv(tmp_path / "a.csv", index=False)
    with pytest.raises(ValueError, match="uiqm"):
        read_survey_table(tmp_path / "a.csv")
    t.iloc[:-3].to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(ValueError, match="rows per method"):
        read_survey_table(tmp_path / "b.csv")


def test_ours_beside_theirs_aggregated_the_survey_way():
    t = read_survey_table()
    assert category_key("Capsicum green") == category_key("CapsicumGreen") == "capsicumgreen"
    ours = pd.DataFrame({"category": ["Apple"] * 3 + ["CapsicumGreen"], "psnr": [20.0, 20.0, 20.0, 30.0],
                         "ssim": 0.5, "pcqi": 0.5, "uiqm": 1.0})
    cats = [c for c in t[t.method == "iizuka2016"].category if c != DATASET_LEVEL]
    w = survey_way(ours, cats)
    assert w.loc[DATASET_LEVEL, "psnr"] == 25.0            # unweighted: not (3 x 20 + 30) / 4
    side = beside_ours(t, {"iizuka2016": (ours, "ours: test", True), "larsson2016": (ours, "ours: other", False)})
    assert len(side) == 6 * 21
    row = side.loc[("iizuka2016", DATASET_LEVEL)]
    printed = float(t[(t.method == "iizuka2016") & (t.category == DATASET_LEVEL)].psnr.iloc[0])
    assert row["PSNR survey"] == printed and row["PSNR ours"] == 25.0
    assert row["PSNR ours - survey"] == pytest.approx(25.0 - printed)
    assert pd.isna(side.loc[("larsson2016", DATASET_LEVEL), "PSNR ours - survey"])   # not a reproduction
    assert side.loc[("colorcapsnet2019", DATASET_LEVEL), "ours"] == "not run"


def test_path_explorer_renders_each_path(tiny):
    from colorsurvey.widgets import PathExplorer

    ms = {k: build(k) for k in ("iizuka", "pixcolor", "multi-hypothesis", "larsson")}
    ex = PathExplorer(ms, tiny, index=0, zoom=1)
    own = ex.results()
    assert list(own) == ["gray", *ms, "ground truth"] and own["gray"].shape == (32, 32, 3)
    ex.seed = 1
    assert not np.array_equal(ex.results()["pixcolor"], own["pixcolor"])
    ex.global_index = -1
    assert ex.render().shape == (32, 6 * 32 + 5 * 4, 3)
    with pytest.raises(ValueError, match="at least one"):
        PathExplorer({}, tiny)


def test_pixelcnn_window_gives_the_full_network_logits():
    m = build("pixcolor", "small").eval()
    n, Q = m.lowres, m.num_bins
    x = torch.rand(2, Q, n, n)
    h = torch.randn(2, m.pixelcnn.gated[0].cond.in_channels, n, n)
    with torch.no_grad():
        full = m.pixelcnn(x, h)
        for i, j in [(0, 0), (n - 1, 0), (n // 2, n // 2), (n - 1, n - 1), (3, n - 2)]:
            torch.testing.assert_close(m.pixelcnn.logits_at(x, h, i, j), full[:, :, i, j], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("key", MP.MULTI_PATH)
def test_trains_and_colorizes_under_bf16_autocast(key, tiny):
    """The training loop runs steps under bfloat16 autocast on a GPU; the same on the CPU here."""
    m = build(key)
    b = tiny.batch(range(4))
    m.fit_statistics([b])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logs = m.train().training_step(b)
        ab = m.colorize(b["L"])
    assert all(torch.isfinite(torch.as_tensor(v)) for v in logs.values())
    assert ab.dtype == torch.float32 and torch.isfinite(ab).all()


def test_the_default_answer_mixes_the_heads_by_their_wins(tiny):
    m = build("multi-hypothesis")
    b = tiny.batch(range(4))
    m.fit_statistics([b])
    m.train().training_step(b)
    m.eval()
    K = len(m.heads)
    m.wins.zero_()
    m.wins[1] = 7                                     # one head won everything: the mixture is that head
    torch.testing.assert_close(m.colorize(b["L"]), m.colorize(b["L"], head=1), atol=1e-3, rtol=1e-3)
    m.wins.fill_(3)                                   # equal wins: equal weights, and an answer no single head gives
    torch.testing.assert_close(m.head_weights(), torch.full((K,), 1.0 / K))
    mixed = m.colorize(b["L"])
    assert all(not torch.allclose(mixed, m.colorize(b["L"], head=k), atol=1e-3) for k in range(K))
