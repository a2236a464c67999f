"""Tests of the plain networks (survey §2.1): Deep Colorization, Colorful Colorization, (DE)²CO,
and their helpers (colorsurvey.features, colorsurvey.postprocess). CPU, no network, < 60 s."""


import numpy as np
import pytest
import torch

from colorsurvey.color import gamut_bins, soft_encode
from colorsurvey.data.base import ColorDataset
from colorsurvey.features import daisy_features, daisy_features_torch, patch_features
from colorsurvey.models import count_parameters, create
from colorsurvey.experiments.depth import depth_recognition_experiment
from colorsurvey.models import plain
from colorsurvey.models.plain import (ColorfulColorization, DeepDepthColorization, SmallClassifier,
                                      OFFICIAL_ECCV16_URL, official_eccv16_bins)
from colorsurvey.postprocess import joint_bilateral_filter

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: extra threads only stall (tests/conftest.py)

KEYS = ["deep-colorization", "colorful", "de2co"]

# Every state-dict key and shape of the official ECCV16 PyTorch weights
# (richzhang/colorization, colorization_release_v2-9b330a0b.pth), copied verbatim.
OFFICIAL_ECCV16_STATE_DICT = """
model1.0.weight (64, 1, 3, 3)
model1.0.bias (64,)
model1.2.weight (64, 64, 3, 3)
model1.2.bias (64,)
model1.4.weight (64,)
model1.4.bias (64,)
model1.4.running_mean (64,)
model1.4.running_var (64,)
model1.4.num_batches_tracked ()
model2.0.weight (128, 64, 3, 3)
model2.0.bias (128,)
model2.2.weight (128, 128, 3, 3)
model2.2.bias (128,)
model2.4.weight (128,)
model2.4.bias (128,)
model2.4.running_mean (128,)
model2.4.running_var (128,)
model2.4.num_batches_tracked ()
model3.0.weight (256, 128, 3, 3)
model3.0.bias (256,)
model3.2.weight (256, 256, 3, 3)
model3.2.bias (256,)
model3.4.weight (256, 256, 3, 3)
model3.4.bias (256,)
model3.6.weight (256,)
model3.6.bias (256,)
model3.6.running_mean (256,)
model3.6.running_var (256,)
model3.6.num_batches_tracked ()
model4.0.weight (512, 256, 3, 3)
model4.0.bias (512,)
model4.2.weight (512, 512, 3, 3)
model4.2.bias (512,)
model4.4.weight (512, 512, 3, 3)
model4.4.bias (512,)
model4.6.weight (512,)
model4.6.bias (512,)
model4.6.running_mean (512,)
model4.6.running_var (512,)
model4.6.num_batches_tracked ()
model5.0.weight (512, 512, 3, 3)
model5.0.bias (512,)
model5.2.weight (512, 512, 3, 3)
model5.2.bias (512,)
model5.4.weight (512, 512, 3, 3)
model5.4.bias (512,)
model5.6.weight (512,)
model5.6.bias (512,)
model5.6.running_mean (512,)
model5.6.running_var (512,)
model5.6.num_batches_tracked ()
model6.0.weight (512, 512, 3, 3)
model6.0.bias (512,)
model6.2.weight (512, 512, 3, 3)
model6.2.bias (512,)
model6.4.weight (512, 512, 3, 3)
model6.4.bias (512,)
model6.6.weight (512,)
model6.6.bias (512,)
model6.6.running_mean (512,)
model6.6.running_var (512,)
model6.6.num_batches_tracked ()
model7.0.weight (512, 512, 3, 3)
model7.0.bias (512,)
model7.2.weight (512, 512, 3, 3)
model7.2.bias (512,)
model7.4.weight (512, 512, 3, 3)
model7.4.bias (512,)
model7.6.weight (512,)
model7.6.bias (512,)
model7.6.running_mean (512,)
model7.6.running_var (512,)
model7.6.num_batches_tracked ()
model8.0.weight (512, 256, 4, 4)
model8.0.bias (256,)
model8.2.weight (256, 256, 3, 3)
model8.2.bias (256,)
model8.4.weight (256, 256, 3, 3)
model8.4.bias (256,)
model8.6.weight (313, 256, 1, 1)
model8.6.bias (313,)
model_out.weight (2, 313, 1, 1)
"""


# --------------------------------------------------------------------------------------
# A tiny deterministic dataset (independent of the rendered set)
# --------------------------------------------------------------------------------------

class FakeProduce(ColorDataset):
    """Toy 'produce': a shaded, striped ellipse on white whose colour, shape and stripe
    frequency depend on the category, with a dome-shaped depth map."""

    categories = ["Tomato", "Lemon", "Cucumber", "Plum", "Orange"]
    name = "fake-produce"
    COLORS = torch.tensor([[0.85, 0.12, 0.10], [0.95, 0.88, 0.15], [0.20, 0.55, 0.15],
                           [0.45, 0.15, 0.50], [0.98, 0.55, 0.05]])

    def __init__(self, n=40, size=32, offset=0):
        self.n, self.size, self.offset = n, size, offset

    def __len__(self):
        return self.n

    def _load(self, indices, device):
        B, S = len(indices), self.size
        i = (indices + self.offset).float()
        labels = (indices + self.offset) % len(self.categories)
        y, x = torch.meshgrid(torch.linspace(-1, 1, S), torch.linspace(-1, 1, S), indexing="ij")
        cx = 0.15 * torch.sin(i * 12.9898).view(B, 1, 1)
        cy = 0.15 * torch.cos(i * 78.233).view(B, 1, 1)
        ax = (0.45 + 0.03 * labels.float()).view(B, 1, 1)
        ay = (0.65 - 0.03 * labels.float()).view(B, 1, 1)
        rr = ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2
        mask = (rr < 1).float()[:, None]
        stripes = 0.12 * torch.sin((2.0 + 2.0 * labels.float()).view(B, 1, 1) * 3.1416 * (x + y))
        shade = (1.0 - 0.35 * rr.clamp(0, 1) + stripes)[:, None]
        col = self.COLORS[labels].view(B, 3, 1, 1)
        rgb = (mask * col * shade + (1 - mask) * 0.97).clamp(0, 1)
        depth = mask * (1 - rr).clamp(0, 1).sqrt()[:, None]
        return {"rgb": rgb.to(device), "label": labels.to(device), "mask": mask.to(device),
                "depth": depth.to(device)}


@pytest.fixture(scope="module")
def data():
    return FakeProduce()


@pytest.fixture(scope="module")
def fixed_batch(data):
    return data.batch(range(4))          # 4 images, 32x32, 4 categories


@pytest.fixture(scope="module")
def eccv16_paper():
    torch.manual_seed(0)
    return create("colorful", size="paper")


# --------------------------------------------------------------------------------------
# Interface: registration, cards, sizes, shapes at odd sizes
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("key", KEYS)
def test_registered_with_full_card_and_sizes(key):
    m = create(key, size="smoke")
    c = m.card
    assert c.key == key and c.taxonomy == "plain" and c.section.startswith("2.1.")
    assert c.title and c.authors and c.venue and c.year and c.losses and c.framework and c.substitutions
    assert {"paper", "small", "smoke"} <= set(type(m).sizes)
    assert m.size_name == "smoke" and isinstance(m, plain.ColorizationModel)


def test_predict_uses_conditions(fixed_batch):
    m = create("de2co", size="smoke")
    assert m.predict(fixed_batch).shape == fixed_batch["ab"].shape
    with pytest.raises(ValueError, match="depth"):
        m.colorize(fixed_batch["L"])


# --------------------------------------------------------------------------------------
# Learning (every method's loss halving is in tests/test_contract.py)
# --------------------------------------------------------------------------------------

def test_de2co_trains_through_a_frozen_classifier(fixed_batch):
    torch.manual_seed(0)
    clf = SmallClassifier(num_classes=5, width=8)
    plain.train_classifier(clf, FakeProduce(n=4), steps=40, batch_size=4, progress=False)
    m = create("de2co", size="smoke").set_classifier(clf)
    assert m.active_loss() == "classifier"
    assert not any(k.startswith("_classifier") for k in m.state_dict())
    before = [p.clone() for p in clf.parameters()]
    first = float(m.training_step(fixed_batch)["loss"])
    for _ in range(60):
        out = m.training_step(fixed_batch)
    assert float(out["loss"]) < first
    assert all(torch.equal(a, b) for a, b in zip(before, clf.parameters()))   # frozen


def test_depth_recognition_experiment_runs(data):
    res = depth_recognition_experiment(data, FakeProduce(n=10, offset=100), steps=3, batch_size=4,
                                             size="smoke", classifier_width=4, progress=False)
    for k in ("rgb", "raw_depth", "colorized_depth"):
        assert 0.0 <= res[k] <= 1.0
    assert len(res["history"]["rgb"]) == 3 and len(res["history"]["de2co"]) == 3
    assert isinstance(res["de2co"], DeepDepthColorization)


def test_depth_experiment_is_kept_in_the_run_store(data, tmp_path, monkeypatch):
    from colorsurvey.experiments import depth as D
    from colorsurvey.runs import RunStore

    store = RunStore(tmp_path, verbose=False)
    test = FakeProduce(n=10, offset=100)
    kw = dict(steps=3, batch_size=4, size="smoke", classifier_width=4, progress=False, store=store)
    first = depth_recognition_experiment(data, test, **kw)
    assert first["loaded"] is False and len(list((tmp_path / "experiments").iterdir())) == 1
    def no_training(*a, **k):
        raise RuntimeError("trained again")

    monkeypatch.setattr(D, "train_classifier", no_training)
    again = depth_recognition_experiment(data, test, **kw)
    assert again["loaded"] is True
    assert {k: again[k] for k in ("rgb", "raw_depth", "colorized_depth")} == \
        {k: first[k] for k in ("rgb", "raw_depth", "colorized_depth")}
    d = test.batch(range(2))["depth"]
    with torch.no_grad():
        torch.testing.assert_close(again["de2co"].colorize_depth(d), first["de2co"].eval().colorize_depth(d))
    with pytest.raises(RuntimeError, match="trained again"):     # another setting is computed afresh
        depth_recognition_experiment(data, test, **{**kw, "steps": 4})
    forced = RunStore(tmp_path, retrain={"de2co"}, verbose=False)   # as COLORSURVEY_RETRAIN=de2co
    with pytest.raises(RuntimeError, match="trained again"):
        depth_recognition_experiment(data, test, **{**kw, "store": forced})


# --------------------------------------------------------------------------------------
# Features and post-processing (Deep Colorization)
# --------------------------------------------------------------------------------------

def test_patch_features_are_49_per_pixel():
    g = torch.rand(2, 1, 37, 53)
    f = patch_features(g)
    assert f.shape == (2, 49, 37, 53)
    assert torch.equal(f[:, 24], g[:, 0])                      # the centre of the 7x7 patch
    assert torch.equal(f[:, 24 + 1, :, :-1], g[:, 0, :, 1:])   # its right neighbour
    idx = torch.randint(0, 37 * 53, (2, 1, 50))                # sampled pixels only
    assert torch.equal(patch_features(g, idx=idx), f.reshape(2, 49, -1).gather(2, idx.expand(-1, 49, -1)))


def test_deep_colorization_gray_and_uv_agree_with_color_module():
    from colorsurvey.color import gray_rgb_from_L, rgb_to_yuv
    L = torch.linspace(0, 100, 501).view(1, 1, 1, -1)
    assert torch.allclose(plain.DeepColorization.gray(L), gray_rgb_from_L(L)[:, :1], atol=1e-4)
    rgb = torch.rand(2, 3, 5, 7)
    assert torch.allclose(plain.DeepColorization.uv(rgb), rgb_to_yuv(rgb)[:, 1:], atol=1e-5)


def test_daisy_gives_32_values_per_pixel_and_torch_port_matches_skimage():
    rng = np.random.default_rng(0)
    g = rng.random((37, 53))
    g[:18] *= 0.3
    ref = daisy_features(g, radius=4)
    assert ref.shape == (37, 53, 32)
    assert np.allclose(ref.sum(-1), 1.0, atol=1e-5)            # L1-normalised descriptors
    t = daisy_features_torch(torch.tensor(g, dtype=torch.float32)[None, None], radius=4)
    assert t.shape == (1, 32, 37, 53)
    assert np.abs(t[0].permute(1, 2, 0).numpy() - ref).max() < 1e-5


def test_joint_bilateral_filter_constant_noise_and_edges():
    g = torch.rand(2, 1, 37, 53)
    c = torch.full((2, 2, 37, 53), 0.3)
    assert torch.equal(joint_bilateral_filter(c, g, 3, 2.0, 0.1), c)     # constant stays constant
    torch.manual_seed(0)
    guide = torch.zeros(1, 1, 32, 32)
    guide[..., 16:] = 1.0                                                # a vertical step edge
    clean = guide.repeat(1, 2, 1, 1) * 0.5
    noisy = clean + 0.1 * torch.randn_like(clean)
    out = joint_bilateral_filter(noisy, guide, radius=3, sigma_space=2.0, sigma_range=0.1)
    assert (out - clean).abs().mean() < 0.3 * (noisy - clean).abs().mean()   # noise smoothed
    assert out[..., :, 15].mean() < 0.05 and out[..., :, 16].mean() > 0.45   # edge kept sharp


@pytest.mark.parametrize("guide_channels", [1, 3])
def test_joint_bilateral_filter_agrees_with_kornia(guide_channels):
    """Our loop is kept for teaching (the formula in its docstring, a constant stays exactly
    constant, any size); kornia.filters.joint_bilateral_blur computes the same filter. Both
    weigh by a Gaussian in space times a Gaussian of the guide's Euclidean difference
    (kornia's "l2"), reflect-pad, and normalise by the weight sum; they differ only in the
    order of the float64 sums and in kornia's normalised space kernel, so they agree to
    rounding: atol 1e-10 on values of order 1."""
    import kornia

    g = torch.Generator().manual_seed(0)
    src = torch.rand(2, 2, 29, 41, generator=g, dtype=torch.float64)
    guide = torch.rand(2, guide_channels, 29, 41, generator=g, dtype=torch.float64)
    for radius, s_space, s_range in ((1, 1.0, 0.05), (3, 2.0, 0.1), (4, 3.0, 0.5)):
        ours = joint_bilateral_filter(src, guide, radius, s_space, s_range)
        ref = kornia.filters.joint_bilateral_blur(src, guide, 2 * radius + 1, s_range, (s_space, s_space),
                                                  border_type="reflect", color_distance_type="l2")
        assert (ours - ref).abs().max() < 1e-10, (radius, (ours - ref).abs().max())
        assert (ours - src).abs().max() > 1e-3                           # the filter did something


def test_deep_colorization_postprocess_and_known_label(fixed_batch):
    torch.manual_seed(0)
    m = create("deep-colorization", size="smoke").eval()
    L = fixed_batch["L"]
    a = m.colorize(L, postprocess=False)
    b = m.colorize(L, postprocess=True)
    c = m.colorize(L, label=fixed_batch["label"])
    assert a.shape == b.shape == c.shape == fixed_batch["ab"].shape
    assert not torch.equal(a, b)


# --------------------------------------------------------------------------------------
# Colorful Colorization: official layout, bins, decoding, weights
# --------------------------------------------------------------------------------------

def test_eccv16_paper_matches_official_names_and_shapes(eccv16_paper):
    expected = [ln.split(" ", 1) for ln in OFFICIAL_ECCV16_STATE_DICT.strip().splitlines()]
    got = [(k, str(tuple(v.shape))) for k, v in eccv16_paper.state_dict().items()]
    assert [tuple(e) for e in expected] == got
    assert count_parameters(eccv16_paper) == 32_236_011
    assert eccv16_paper.num_bins == 313
    assert torch.equal(eccv16_paper.bins, official_eccv16_bins())


def test_official_bins_are_in_gamut_grid():
    b = official_eccv16_bins()
    assert b.shape == (313, 2) and len(torch.unique(b, dim=0)) == 313
    assert torch.equal(b % 10, torch.zeros_like(b))
    g = gamut_bins()
    assert g.shape[1] == 2 and 250 <= g.shape[0] <= 313


def test_annealed_mean_limits_and_official_decoding():
    torch.manual_seed(0)
    m = create("colorful", size="smoke").eval()
    bins = m.bins
    z = torch.randn(2, bins.shape[0], 5, 6) * 3
    mode = m.decode(z, T=0)                                              # T -> 0: the mode's centre
    assert torch.allclose(mode, bins[z.argmax(1)].permute(0, 3, 1, 2))
    near = m.decode(z * 50, T=0.01)
    assert torch.allclose(near, mode, atol=1e-3)
    # T = 1 is the official model's decoding: model_out(softmax(z)) * 110
    assert torch.allclose(m.decode(z, T=1.0), m.model_out(torch.softmax(z, 1)) * 110, atol=1e-4)
    # soft-encoding then decoding at T -> 0 gives back the nearest bin of the colour
    ab = (bins[torch.randint(0, len(bins), (12,))] + torch.rand(12, 2) * 6 - 3).T.reshape(1, 2, 3, 4)
    logits = torch.log(soft_encode(ab, bins) + 1e-12)
    dec = m.decode(logits, T=1e-5)
    d = torch.cdist(ab.permute(0, 2, 3, 1).reshape(-1, 2), bins).argmin(1)
    assert torch.allclose(dec.permute(0, 2, 3, 1).reshape(-1, 2), bins[d])


def test_distribution_and_rebalancing(fixed_batch):
    m = create("colorful", size="smoke").eval()
    keys = list(m.state_dict())
    m.fit_statistics([fixed_batch])
    assert list(m.state_dict()) == keys                                   # buffers not persistent
    w, p = m.class_weights, m.prior
    assert torch.isfinite(w).all() and (w > 0).all() and w.std() > 0
    assert abs(float(p.sum()) - 1) < 1e-5
    assert w[p.argmax()] < w.mean()                                       # common colours weigh less
    dist = m.distribution(fixed_batch["L"][..., :30, :31])
    assert dist.shape == (4, m.num_bins, 30, 31)
    assert torch.allclose(dist.sum(1), torch.ones(4, 30, 31), atol=1e-4)


def test_load_official_state_dict_from_a_local_file(tmp_path, eccv16_paper):
    path = tmp_path / "eccv16_random_weights.pth"
    torch.save(eccv16_paper.state_dict(), path)
    m = plain.load_official_state_dict(path)
    assert isinstance(m, ColorfulColorization) and m.temperature == 1.0 and not m.training
    sd = m.state_dict()
    for k, v in eccv16_paper.state_dict().items():
        assert torch.equal(sd[k], v), k
    assert torch.allclose(m.bins, eccv16_paper.model_out.weight[:, :, 0, 0].T * 110)
    assert m.colorize(torch.rand(1, 1, 16, 24) * 100).shape == (1, 2, 16, 24)


def test_from_official_offline_explains_what_to_download(tmp_path, network_cut):
    import colorsurvey.data.download as dl

    with pytest.raises(dl.OfflineError) as e:
        ColorfulColorization.from_official(cache_dir=tmp_path, progress=False)
    msg = str(e.value)
    assert OFFICIAL_ECCV16_URL in msg
    assert str(tmp_path / "colorization_release_v2-9b330a0b.pth") in msg
    assert "without download" in msg
    assert network_cut == [OFFICIAL_ECCV16_URL]
    assert list(tmp_path.iterdir()) == []                                 # nothing half-written


def test_from_official_uses_a_cached_file_and_checks_its_hash(tmp_path, network_cut):
    (tmp_path / "colorization_release_v2-9b330a0b.pth").write_bytes(b"not the weights")
    with pytest.raises(RuntimeError, match="9b330a0b"):
        ColorfulColorization.from_official(cache_dir=tmp_path, progress=False)
    assert network_cut == []                                              # no download attempted
