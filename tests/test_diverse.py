"""The diverse class (survey §2.5, issue 13): seeds, the KL term, the mixture density head, the
memory update rule and triplet loss, the critics' penalty, each paper preset's count against
the reference, and the sample columns of the shared evaluation. Shapes at odd sizes, inference
and learning are the registry-wide contract's (tests/test_contract.py)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from colorsurvey import models
from colorsurvey.color import nearest_bin
from colorsurvey.evaluate import SAMPLE_METRICS, evaluate, per_category_table
from colorsurvey.metrics import ab_diversity
from colorsurvey.models import count_parameters
from colorsurvey.models import adversarial as A
from colorsurvey.models.diverse import (DIVERSE, CaoCGAN, MixtureDensity, color_distance, gaussian_kl)

from .conftest import TinyColors

pytestmark = pytest.mark.usefixtures("one_thread")

STOCHASTIC = ("cao-cgan", "divcolor", "memopainter")


def build(key: str) -> models.ColorizationModel:
    m = models.create(key, size="smoke", seed=0)
    if key == "memopainter":          # a memory with distinct colours, as training leaves it
        g = torch.Generator().manual_seed(1)
        m.values.copy_(torch.softmax(4 * torch.randn(m.values.shape, generator=g), 1))
    return m.eval()


def L_at(h=19, w=23, n=2):
    return TinyColors(n=n, size=max(h, w)).batch(range(n))["L"][..., :h, :w]


def test_the_six_keys_are_registered_in_the_class():
    assert set(models.list_models("diverse")) == set(DIVERSE)
    assert {k for k in DIVERSE if models.get_class(k).stochastic} == set(STOCHASTIC)


# --------------------------------------------------------------------------------------
# seeds: same seed, same samples; another seed, another sample
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("key", STOCHASTIC)
def test_same_seed_same_samples_other_seed_other_samples(key):
    m = build(key)
    L = L_at()
    a, b = m.sample(L, 3, seed=5), m.sample(L, 3, seed=5)
    assert a.shape == (2, 3, 2, 19, 23) and torch.equal(a, b)
    assert torch.equal(m.colorize(L, seed=7), m.colorize(L, seed=7))
    assert not torch.equal(m.colorize(L, seed=7), m.colorize(L, seed=8))
    eight = m.sample(L, 8, seed=0)
    assert all(ab_diversity(eight[i]) > 0 for i in range(2))


@pytest.mark.parametrize("key", sorted(set(DIVERSE) - set(STOCHASTIC)))
def test_deterministic_methods_repeat_one_colouring(key):
    m = build(key)
    L = L_at()
    s = m.sample(L, 4, seed=3)
    assert torch.equal(s[:, 0], s[:, 3]) and torch.equal(s[:, 0], m.colorize(L))
    assert ab_diversity(s[0]) == 0.0


def test_bad_seed_and_sample_count_are_explained():
    m = build("cao-cgan")
    with pytest.raises(ValueError, match="seed"):
        m.colorize(L_at(), seed=1.5)
    with pytest.raises(ValueError, match="at least 1"):
        m.sample(L_at(), 0)


# --------------------------------------------------------------------------------------
# VAE and mixture density: KL >= 0, mixture weights sum to 1
# --------------------------------------------------------------------------------------

@settings(max_examples=30, deadline=None, derandomize=True)
@given(st.integers(1, 4), st.integers(1, 16), st.floats(-5, 5), st.floats(0.01, 10))
def test_kl_term_is_nonnegative_and_zero_only_at_the_prior(B, D, shift, scale):
    g = torch.Generator().manual_seed(B * 100 + D)
    mu = shift + scale * torch.randn(B, D, generator=g)
    logvar = scale * torch.randn(B, D, generator=g)
    assert gaussian_kl(mu, logvar) >= 0
    assert gaussian_kl(torch.zeros(B, D), torch.zeros(B, D)) == 0


def test_kl_matches_torch_distributions():
    mu, logvar = torch.randn(3, 5), torch.randn(3, 5)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros(3, 5), torch.ones(3, 5))
    ref = torch.distributions.kl_divergence(q, p).sum(1).mean()
    assert gaussian_kl(mu, logvar).item() == pytest.approx(ref.item(), rel=1e-5)


def test_mdn_weights_sum_to_one_and_the_loss_picks_the_best_component():
    m = build("divcolor")
    d = m.distribution(L_at(33, 17, n=3))
    assert d["weights"].shape == (3, 8) and d["means"].shape == (3, 8, m.hidden)
    assert torch.allclose(d["weights"].sum(1), torch.ones(3), atol=1e-6) and (d["weights"] >= 0).all()
    head = MixtureDensity(4, 2, n_mix=3, hidden=8, sigma=0.1)
    w = torch.tensor([[0.2, 0.3, 0.5]])
    means = torch.tensor([[[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]]])
    loss = head.best_component_loss(w, means, torch.tensor([[1.0, 1.0]]))
    assert loss.item() == pytest.approx(-torch.log(torch.tensor(0.3)).item(), rel=1e-6)   # the exact component


def test_divcolor_decodes_a_given_code_and_rejects_a_wrong_one():
    m = build("divcolor")
    L = L_at()
    z = m.distribution(L)["means"][:, 2]
    assert m.colorize(L, z=z).shape == (2, 2, 19, 23)
    with pytest.raises(ValueError, match="z"):
        m.colorize(L, z=torch.zeros(2, m.hidden + 1))


def test_divcolor_specificity_weights_follow_the_prior_or_stay_uniform():
    """With specificity the L2 weights are the inverse colour prior (rare colours weigh more);
    the small and smoke presets keep them uniform (a plain L2)."""
    gray_ab = torch.zeros(4, 2, 16, 16)
    red_ab = gray_ab.clone()
    red_ab[:, 0, :2, :2] = 60.0                          # a few saturated red pixels
    batches = [{"ab": torch.cat([gray_ab, red_ab])}]
    on = models.create("divcolor", size="smoke", seed=0, specificity=True)
    on.fit_statistics(batches)
    bins = on.bins
    w = lambda m, ab: float(m.bin_weights[nearest_bin(torch.tensor([ab]).view(1, 2, 1, 1), bins).item()])  # noqa: E731
    assert w(on, [60.0, 0.0]) > 2 * w(on, [0.0, 0.0])
    off = models.create("divcolor", size="smoke", seed=0)
    assert off.specificity is False and models.create("divcolor", size="small", seed=0).specificity is False
    off.fit_statistics(batches)
    assert torch.equal(off.bin_weights, torch.ones_like(off.bin_weights))


# --------------------------------------------------------------------------------------
# MemoPainter's memory: the threshold update and the threshold triplet loss
# --------------------------------------------------------------------------------------

def _toy_memory():
    m = models.create("memopainter", size="smoke", seed=0)
    M, D = m.keys.shape
    Q = m.values.shape[1]
    m.keys.copy_(torch.eye(M, D) if M <= D else torch.nn.functional.normalize(torch.randn(M, D), dim=1))
    m.values.zero_()
    m.values[:, 0] = 1.0                        # every slot: all mass on colour bin 0
    m.ages.copy_(torch.arange(M, dtype=torch.float32))   # slot M-1 is the oldest
    return m, M, D, Q


def test_memory_update_close_colour_moves_the_key_and_resets_its_age():
    m, M, D, Q = _toy_memory()
    q = torch.nn.functional.normalize(torch.eye(D)[3] + 0.2 * torch.eye(D)[4], dim=0)   # nearest: slot 3
    v = torch.zeros(Q)
    v[0] = 1.0                                  # the same colour as slot 3
    before = m.keys.clone()
    assert m.update_memory(q[None], v[None]) == ["updated"]
    expected = torch.nn.functional.normalize(before[3] + q, dim=0)
    assert torch.allclose(m.keys[3], expected) and m.ages[3] == 0
    assert m.ages[0] == 1 and m.ages[M - 1] == M        # every other slot aged by one
    assert torch.equal(m.keys[:3], before[:3])


def test_memory_update_far_colour_replaces_the_oldest_slot():
    m, M, D, Q = _toy_memory()
    q = torch.eye(D)[3]
    v = torch.zeros(Q)
    v[-1] = 1.0                                 # a colour far from every slot's
    assert color_distance(v, m.values[3]) > m.color_threshold
    assert m.update_memory(q[None], v[None]) == ["replaced"]
    assert torch.equal(m.keys[M - 1], q) and torch.equal(m.values[M - 1], v) and m.ages[M - 1] == 0
    assert m.ages[3] == 4                       # the nearest slot was not touched, only aged


def test_triplet_loss_prefers_the_slot_of_the_same_colour():
    m, M, D, Q = _toy_memory()
    m.values[1].zero_()
    m.values[1, -1] = 1.0                       # slot 1 holds another colour
    v = torch.zeros(1, Q)
    v[0, 0] = 1.0                               # the query's colour: that of slot 0
    near_pos = torch.nn.functional.normalize(torch.eye(D)[0] + 0.1 * torch.eye(D)[1], dim=0)[None]
    near_neg = torch.nn.functional.normalize(torch.eye(D)[1] + 0.1 * torch.eye(D)[0], dim=0)[None]
    assert m.triplet_loss(near_pos, v) == 0                  # positive closer by more than the margin
    assert m.triplet_loss(near_neg, v) > m.margin            # negative closer: penalised


def test_memopainter_retrieves_another_slot_with_another_seed():
    m = build("memopainter")
    L = L_at()
    v0, v1 = m.retrieve(L, None), m.retrieve(L, 1)
    assert v0.shape == (2, m.values.shape[1]) and not torch.equal(m.retrieve(L, 1), m.retrieve(L, 2))
    assert torch.allclose(v1.sum(1), torch.ones(2), atol=1e-5)
    assert torch.equal(m.colorize(L, value=v0), m.colorize(L))


# --------------------------------------------------------------------------------------
# adversarial: the toolkit's penalty on the critics' inputs; the shared convention
# --------------------------------------------------------------------------------------

def test_wgan_gp_is_zero_for_a_unit_lipschitz_linear_critic_on_a_critic_input():
    x_real, x_fake = torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8)   # (gray, ab) pairs as the critics see them
    w = torch.randn(3 * 8 * 8)
    w = w / w.norm()
    assert A.gradient_penalty(lambda x: x.flatten(1) @ w, x_real, x_fake).item() == pytest.approx(0.0, abs=1e-10)


@pytest.mark.parametrize("key", ["cao-cgan", "tandem", "icgan", "chromagan", "memopainter"])
def test_adversarial_methods_follow_the_toolkit_convention(key):
    m = models.create(key, size="smoke", seed=0)
    assert {"generator", "discriminator"} <= set(m.optimizers) and m.n_critic >= 1
    d_params = {id(p) for p in m.discriminator_module.parameters()}
    others = {id(p) for name, o in m.optimizers.items() if name != "discriminator"
              for g in o.param_groups for p in g["params"]}
    assert not d_params & others
    logs = m.train().training_step(TinyColors(n=4, size=32).batch(range(4)))
    assert {"loss", "g_adv", "d_loss"} <= set(logs)
    if m.gan_kind == "wgan":
        assert "gp" in logs
    assert all(torch.isfinite(torch.as_tensor(v)) for v in logs.values())


# --------------------------------------------------------------------------------------
# paper presets against the reference counts (architectures_2.3-2.6.md, code-derived)
# --------------------------------------------------------------------------------------

def _paper(key, **kw):
    with torch.device("meta"):
        return models.create(key, size="paper", **kw)


def within(n: int, ref: int) -> bool:
    return abs(n - ref) <= 0.01 * ref


def test_cao_cgan_generator_count():
    assert within(count_parameters(_paper("cao-cgan"), part="inference"), 895_350)
    with torch.device("meta"):
        code = CaoCGAN(**{**CaoCGAN.sizes["paper"], "noise_layers": 1})   # the official code's generator
    assert count_parameters(code, part="inference") == 895_350


def test_tandem_network_count():
    m = _paper("tandem")             # each of the two U-Nets vs the author's one (4 in, 3 out)
    for net in (m.color_net, m.shading_net):
        assert within(count_parameters(net), 26_032_771)


def test_icgan_generator_count():
    assert count_parameters(_paper("icgan"), part="inference") == 42_023_811


def test_divcolor_vae_and_mdn_counts():
    m = _paper("divcolor")
    vae = sum(count_parameters(getattr(m, n)) for n in ("cond_encoder", "encoder", "dec_in", "dec", "dec_out"))
    assert within(vae, 46_085_958)
    assert within(count_parameters(m.mdn_convs) + count_parameters(m.mdn), 117_851_336)


def test_chromagan_generator_count():
    m = _paper("chromagan")
    assert within(count_parameters(m, part="inference"), 171_166_090)
    assert within(count_parameters(m.class_head), 123_642_856)
    assert within(count_parameters(m.critic), 2_764_737)


def test_memopainter_generator_count():
    m = _paper("memopainter")       # the unofficial re-implementation's count (313 bins there, 261 here)
    assert within(count_parameters(m.generator) + count_parameters(m.style_mlp), 251_801_474)
    assert within(count_parameters(m.generator), 54_405_506)


# --------------------------------------------------------------------------------------
# the shared evaluation: best-of-N and diversity columns for methods that sample
# --------------------------------------------------------------------------------------

def test_evaluate_adds_the_sample_columns_for_diverse_methods_only():
    data = TinyColors(n=4, size=16)
    div = evaluate(build("cao-cgan"), data, progress=False, samples=3)
    assert set(SAMPLE_METRICS) <= set(div.columns) and div.attrs["samples"] == 3
    assert (div["best_psnr"] >= div["psnr"] - 1e-9).all()       # sample 0 is the single prediction (seed 0)
    assert (div["diversity"] > 0).all()
    det = evaluate(build("icgan"), data, progress=False)           # declares N = 8 itself
    assert det.attrs["samples"] == 8 and (det["diversity"] == 0).all()
    assert torch.allclose(torch.tensor(det["best_psnr"].values), torch.tensor(det["psnr"].values))
    base = evaluate(models.create("unet", size="smoke", seed=0), data, progress=False)
    assert not set(SAMPLE_METRICS) & set(base.columns)
    with pytest.raises(ValueError, match="samples=0"):
        evaluate(models.create("unet", size="smoke", seed=0), data, progress=False, samples=2)
    table = per_category_table({"cao-cgan": div, "unet": base})
    assert ("cao-cgan", "PSNR best-of-N") in table.columns and ("unet", "PSNR best-of-N") not in table.columns


def test_ab_diversity_known_value():
    a = torch.zeros(3, 2, 4, 4)
    a[1, 0] = 3.0
    a[2, 1] = 4.0                   # pairwise distances 3, 4, 5
    assert ab_diversity(a) == pytest.approx(4.0)
    assert ab_diversity(a[:1]) == 0.0
    with pytest.raises(ValueError, match=r"\(N, 2, H, W\)"):
        ab_diversity(a[0])
