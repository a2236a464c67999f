"""One contract for every registered method (issue 10): parametrised over ``models.list_models()``,
so a method is held to it the moment it registers.

* ``colorize`` returns ab (B, 2, H, W) float32 at the input's size, for odd sizes from 1x1 to
  200x12 and with every condition the method takes (none, ``example_conditions``, and
  ``conditions_from_batch``);
* ``colorize`` (and ``explain`` / ``distribution``) is inference: no autograd graph, the model's
  state (state dict, every module's train/eval flag, the global RNG) unchanged, in train and in
  eval mode; the result is a plain writable tensor that does not alias the model;
* bad input — L and the shared conditions, drawn by ``hypothesis`` — raises the documented
  TypeError / ValueError naming what was expected; good input works;
* the loss falls by at least half on a tiny fixed batch (adversarial methods: the
  reconstruction term, logged as ``"loss"``), with every logged value finite;
* the ``paper`` preset builds on the ``meta`` device and its parameter count (what colourises)
  matches the card's; the declared training-only parts are not used by ``colorize``.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from colorsurvey import models
from colorsurvey.models import count_parameters
from colorsurvey.models.base import INFERENCE_METHODS

from .conftest import TinyColors

pytestmark = pytest.mark.usefixtures("one_thread", "vgg_cache")

KEYS = models.list_models()
#: odd sizes, 1x1 to 200x12
SIZES = [(1, 1), (1, 7), (6, 1), (5, 3), (17, 9), (37, 53), (200, 12)]
#: hypothesis: few examples, so the module stays quick on a slow CPU
FEW = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow],
               derandomize=True)
#: the learning test trains stage 1 of a staged method throughout (the stages have their own tests)
TRAIN_OVERRIDES = {"instance-aware": {"stage_steps": (10 ** 6, 1, 1)}}


@pytest.fixture(scope="module")
def vgg_cache(tmp_path_factory):
    """Exemplar methods train and cache a small VGG: keep it out of the user's cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("COLORSURVEY_CACHE", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


def build(key: str, **kw) -> models.ColorizationModel:
    return models.create(key, size="smoke", seed=0, **kw)


def batch_at(hw: tuple[int, int], n: int = 2) -> dict:
    """n toy images (tests/conftest.py) cropped to H x W."""
    b = TinyColors(n=n, size=max(hw)).batch(range(n))
    return {k: (v[..., :hw[0], :hw[1]] if torch.is_tensor(v) and v.dim() == 4 else v) for k, v in b.items()}


def condition_sets(m, L: torch.Tensor, batch: dict) -> dict[str, dict]:
    return {"none": {}, "example_conditions": m.example_conditions(L), "conditions_from_batch": m.conditions_from_batch(batch)}


def state(m) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


def same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --------------------------------------------------------------------------------------
# shapes at odd sizes, with every condition
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("hw", SIZES, ids=lambda hw: f"{hw[0]}x{hw[1]}")
@pytest.mark.parametrize("key", KEYS)
def test_colorize_returns_ab_at_input_size(key, hw):
    m = build(key).eval()
    b = batch_at(hw)
    for name, cond in condition_sets(m, b["L"], b).items():
        try:
            ab = m.colorize(b["L"], **cond)
        except ValueError as e:          # only a method that needs a condition may refuse none
            assert name == "none" and any(c in str(e) for c in m.card.conditions), (key, name, e)
            continue
        assert isinstance(ab, torch.Tensor) and ab.shape == (2, 2, *hw) and ab.dtype == torch.float32, (name, ab.shape)
        assert torch.isfinite(ab).all() and ab.abs().max() <= 130, name


# --------------------------------------------------------------------------------------
# inference: no graph, no change of state
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("key", KEYS)
def test_colorize_is_inference(key, mode):
    m = build(key)
    b = batch_at((20, 27))
    m.fit_statistics([b])
    m.train(mode == "train")
    if mode == "train":                  # a mixed state: one child left in eval mode
        next(iter(m.children()), m).eval()
    flags = [mod.training for mod in m.modules()]
    before, rng = state(m), torch.get_rng_state()
    L = b["L"].clone().requires_grad_(True)
    cond = {k: (v.clone().requires_grad_(True) if torch.is_tensor(v) and v.is_floating_point() else v)
            for k, v in m.conditions_from_batch(b).items()}
    outs = [m.colorize(L, **cond), m.predict(b)]
    for name in INFERENCE_METHODS[1:]:   # explain, distribution: where the method has them
        if hasattr(m, name):
            out = getattr(m, name)(L, **cond)
            outs += [v for v in (out.values() if isinstance(out, dict) else [out]) if torch.is_tensor(v)]
    for out in outs:
        assert not out.requires_grad and out.grad_fn is None
    assert [mod.training for mod in m.modules()] == flags
    assert same_state(before, state(m)), "colorize changed the state dict"
    assert torch.equal(rng, torch.get_rng_state()), "colorize moved the global random generator"
    outs[0].add_(1.0)                    # a plain, writable tensor of its own
    assert same_state(before, state(m)), "writing to colorize's output changed the model"


def test_training_can_still_differentiate_through_colorize():
    """``_colorize`` is ``colorize`` without the wrapper (what a training step uses)."""
    m = build("unet").train()
    L = batch_at((16, 16))["L"]
    out = m._colorize(L)
    assert out.requires_grad and m.training
    out.sum().backward()
    assert any(p.grad is not None for p in m.parameters())


# --------------------------------------------------------------------------------------
# inputs: checked, with the expected form and the fix in the message
# --------------------------------------------------------------------------------------

EXPECTED = r"\(B, 1, H, W\)"
DIMS = st.integers(1, 12)


@st.composite
def bad_L(draw):
    """(tensor or object, error type, regex the message must match)."""
    B, H, W = draw(st.integers(1, 2)), draw(DIMS), draw(DIMS)
    lo = draw(st.floats(2, 50))

    def good(*shape):                                # values in [lo, 100]
        return torch.rand(*shape) * (100 - lo) + lo

    kind = draw(st.sampled_from(["no batch", "2-d", "rgb", "channels", "integer", "bool", "nan", "inf",
                                 "above 100", "below 0", "0..1", "numpy"]))
    if kind == "no batch":
        return good(1, H, W), ValueError, r"L\[None\]"
    if kind == "2-d":
        return good(H, W), ValueError, r"L\[None, None\]"
    if kind == "rgb":
        return torch.rand(B, 3, H, W) * draw(st.sampled_from([1.0, 255.0])), ValueError, "RGB.*rgb_to_lab"
    if kind == "channels":
        return good(B, draw(st.sampled_from([2, 4])), H, W), ValueError, EXPECTED
    if kind == "integer":
        dt = draw(st.sampled_from([torch.uint8, torch.int32, torch.int64]))
        return good(B, 1, H, W).to(dt), TypeError, "float tensor.*rgb_to_lab"
    if kind == "bool":
        return torch.ones(B, 1, H, W, dtype=torch.bool), TypeError, "float tensor"
    if kind in ("nan", "inf"):
        x = good(B, 1, H, W)
        x.view(-1)[draw(st.integers(0, x.numel() - 1))] = float(kind)
        return x, ValueError, "NaN or infinite"
    if kind in ("above 100", "below 0"):
        x = good(B, 1, H, W)
        beyond = draw(st.floats(0.05, 300))
        x.view(-1)[draw(st.integers(0, x.numel() - 1))] = 100 + beyond if kind == "above 100" else -beyond
        return x, ValueError, "0..100.*rgb_to_lab"
    if kind == "0..1":
        x = torch.rand(B, 1, H, W) * draw(st.floats(0.01, 1.0))
        x.view(-1)[0] = 0.5                      # not all black
        return x, ValueError, "Multiply by 100"
    import numpy as np
    return np.full((B, 1, H, W), 50.0, np.float32), TypeError, "torch.from_numpy"


@pytest.mark.parametrize("key", KEYS)
def test_bad_L_is_explained(key):
    m = build(key)

    @FEW
    @given(bad_L())
    def check(case):
        x, err, fix = case
        with pytest.raises(err, match=EXPECTED) as e:
            m.colorize(x, **(m.example_conditions(x) if torch.is_tensor(x) and x.dim() == 4 else {}))
        assert e.match(fix)

    check()


@st.composite
def good_L(draw):
    B, H, W = draw(st.integers(1, 2)), draw(st.integers(1, 24)), draw(st.integers(1, 24))
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    if draw(st.booleans()) and draw(st.booleans()):
        return torch.zeros(B, 1, H, W, dtype=dtype)              # black: allowed
    lo = draw(st.floats(0, 99))
    hi = draw(st.floats(max(lo, 1.01), 100))
    x = (torch.rand(B, 1, H, W, dtype=torch.float64) * (hi - lo) + lo).to(dtype)
    x.view(-1)[0] = hi                                           # brighter than L = 1 somewhere
    return x


@pytest.mark.parametrize("key", KEYS)
def test_good_L_works(key):
    m = build(key).eval()

    @FEW
    @given(good_L())
    def check(L):
        ab = m.colorize(L, **m.example_conditions(L))
        assert ab.shape == (L.shape[0], 2, *L.shape[-2:]) and ab.dtype == torch.float32
        assert torch.isfinite(ab).all()

    check()


def _corruptions(name: str, v: torch.Tensor):
    """(corrupted value, error type, regex) for a tensor condition ``name``."""
    out = []
    if v.is_floating_point() and v.numel():
        nan = v.clone().contiguous()
        nan.view(-1)[0] = float("nan")
        out.append((nan, ValueError, f"{name}.*NaN"))
    if name == "reference_rgb":
        out += [((v * 255).round().to(torch.uint8), TypeError, r"reference_rgb.*/ 255"),
                (v * 255, ValueError, r"reference_rgb.*[Dd]ivide by 255"),
                (v[:, :1], ValueError, r"reference_rgb.*\(B, 3, H, W\)"),
                (v.permute(0, 2, 3, 1), ValueError, r"reference_rgb.*\(B, 3, H, W\)")]
    if name == "hints":
        out += [(v[..., 1:, :], ValueError, "hints.*L's size"), (v[:, :1], ValueError, r"hints.*\(B, 2, H, W\)"),
                (v.long(), TypeError, "hints.*float")]
    if name == "mask":
        out += [(v * 3 + 1, ValueError, r"mask.*\[0, 1\]"), (v.bool(), TypeError, "mask.*float")]
    if name == "depth":
        out += [((v * 255).to(torch.uint8), TypeError, "depth.*float"), (v[:, 0], ValueError, r"depth.*\(B, 1, H, W\)")]
    return out


@pytest.mark.parametrize("key", KEYS)
def test_bad_conditions_are_explained(key):
    """Each tensor condition the method takes, spoilt in the ways the checks know: one clear error
    naming the input. Exemplar methods: a uint8 reference (as image readers return it) must say
    to divide by 255, not turn white silently."""
    m = build(key).eval()
    b = batch_at((20, 24))
    base = {**m.example_conditions(b["L"]), **m.conditions_from_batch(b)}
    cases = [(n, *c) for n, v in base.items() if torch.is_tensor(v) for c in _corruptions(n, v)]
    if not cases:                                   # nothing to spoil: conditions are optional here
        assert all(not torch.is_tensor(v) for v in base.values())
        return

    @FEW
    @given(st.sampled_from(cases))
    def check(case):
        name, bad, err, msg = case
        with pytest.raises(err, match=msg):
            m.colorize(b["L"], **{**base, name: bad})

    check()
    if "reference_rgb" in base:
        u8 = (base["reference_rgb"] * 255).round().to(torch.uint8)
        with pytest.raises(TypeError, match="255"):
            m.colorize(b["L"], **{**base, "reference_rgb": u8})


# --------------------------------------------------------------------------------------
# learning: the loss halves on a tiny fixed batch
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("key", KEYS)
def test_loss_halves_on_a_tiny_fixed_batch(key, max_steps=300, window=5):
    torch.manual_seed(0)
    m = build(key, **TRAIN_OVERRIDES.get(key, {}))
    data = TinyColors(n=16, size=16)
    batch = data.batch(range(4))
    m.fit_statistics([data.batch(range(16))])
    m.train()
    if not any(p.requires_grad for p in m.parameters()):      # nothing to learn: no loss to log
        logs = m.training_step(batch)
        assert "loss" not in logs, (key, logs)
        return
    hist = []
    for _ in range(max_steps):
        logs = m.training_step(batch)
        for k, v in logs.items():
            assert isinstance(v, float) or (v.dim() == 0 and not v.requires_grad), k
            assert math.isfinite(float(v)), (key, k, len(hist))       # nothing turns non-finite
        hist.append(float(logs["loss"]))
        if len(hist) >= 2 * window and sum(hist[-window:]) < 0.5 * sum(hist[:window]):
            break
    first, last = sum(hist[:window]) / window, sum(hist[-window:]) / window
    assert last < 0.5 * first, (key, first, last, len(hist))


# --------------------------------------------------------------------------------------
# the paper preset and the parameter count
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("key", KEYS)
def test_paper_builds_on_meta_and_matches_the_card(key):
    card = models.get_class(key).card
    assert card.parameters is not None and card.parameters_source, "the card states no paper-size parameter count"
    with torch.device("meta"):
        m = models.create(key, size="paper")
    n = count_parameters(m, part="inference")
    assert all(p.is_meta for p in m.parameters())
    assert abs(n - card.parameters) <= 0.01 * card.parameters, (n, card.parameters)
    assert n + count_parameters(m, part="training_only") == count_parameters(m)


@pytest.mark.parametrize("key", KEYS)
def test_training_only_parts_are_not_used_to_colorize(key):
    m = build(key).eval()
    used = []
    for name in type(m).training_only:
        getattr(m, name).register_forward_pre_hook(lambda mod, args, name=name: used.append(name))
    b = batch_at((24, 24))
    m.colorize(b["L"], **m.conditions_from_batch(b))
    assert used == []
    if type(m).training_only:            # and the training step does use them
        m.fit_statistics([b])
        m.train().training_step(b)
        assert set(used) >= {n for n in type(m).training_only if count_parameters(getattr(m, n))}


def test_count_parameters_parts():
    m = build("scribbler")
    assert count_parameters(m, part="training_only") == count_parameters(m.discriminator) > 0
    assert sum(p.numel() for p in models.inference_parameters(m)) == count_parameters(m, part="inference")
    with pytest.raises(ValueError, match="part must be one of"):
        count_parameters(m, part="discriminator")


def test_architecture_summary_marks_training_only_blocks():
    from colorsurvey.notebook import describe

    m = build("lineart")
    d = describe(m, size=32)
    assert set(d.index[d["training only"] == "yes"]) == set(type(m).training_only)
    assert d.loc["total", "training only"] == f"{count_parameters(m, part='training_only'):,}"
