import numpy as np
import pytest
import torch
from skimage import color as skcolor

from colorsurvey import color as C


@pytest.fixture(scope="module")
def cube():
    """A dense sample of the 8-bit cube: every 3rd level (86^3 = 636,056 colours) plus 255."""
    v = np.unique(np.r_[np.arange(0, 256, 3), 255]).astype(np.uint8)
    r, g, b = np.meshgrid(v, v, v, indexing="ij")
    return np.stack([r, g, b], -1).reshape(-1, 1, 3)


def test_rgb_to_lab_matches_skimage_on_8bit_cube(cube):
    ref = skcolor.rgb2lab(cube)
    t = torch.from_numpy(cube.astype(np.float32) / 255).permute(2, 0, 1)
    ours = C.rgb_to_lab(t).permute(1, 2, 0).double().numpy()
    assert np.abs(ours - ref).max() <= 1e-3


def test_lab_to_rgb_matches_skimage_and_round_trips(cube):
    lab = skcolor.rgb2lab(cube)
    ref = skcolor.lab2rgb(lab)
    ours = C.lab_to_rgb(torch.from_numpy(lab).permute(2, 0, 1).float()).permute(1, 2, 0).numpy()
    assert np.abs(ours - ref).max() <= 1e-4
    assert np.abs(ours - cube / 255.0).max() <= 1e-4


def test_batched_any_leading_dims_and_differentiable():
    x = torch.rand(2, 3, 3, 5, 7, requires_grad=True)
    lab = C.rgb_to_lab(x)
    assert lab.shape == x.shape
    lab[..., 1:, :, :].abs().sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_yuv_round_trip_and_gray_formula():
    x = torch.rand(4, 3, 8, 8)
    assert torch.allclose(C.yuv_to_rgb(C.rgb_to_yuv(x)), x, atol=1e-5)
    g = C.rgb_to_gray(x)
    expect = 0.2989 * x[:, 0] + 0.5870 * x[:, 1] + 0.1140 * x[:, 2]
    assert g.shape == (4, 1, 8, 8) and torch.allclose(g[:, 0], expect)
    # a gray pixel has zero chroma in both spaces
    gray = torch.full((1, 3, 2, 2), 0.4)
    assert C.rgb_to_yuv(gray)[:, 1:].abs().max() < 1e-6
    assert C.rgb_to_lab(gray)[:, 1:].abs().max() < 5e-3  # D65 white rounding, as in skimage


def test_wrong_layout_is_explained():
    with pytest.raises(ValueError, match="channels-first"):
        C.rgb_to_lab(torch.rand(8, 8, 3))


def test_gamut_bins_grid_10():
    bins = C.gamut_bins()
    assert 250 <= bins.shape[0] <= 270 and bins.shape[1] == 2
    assert torch.all(bins % 10 == 0)
    # the neutral axis and a saturated sRGB red's neighbourhood are reachable
    assert (bins == 0).all(dim=1).any()
    red_ab = C.rgb_to_lab(torch.tensor([1.0, 0, 0]).view(3, 1, 1))[1:].flatten()
    assert torch.cdist(red_ab[None], bins).min() < 7.1


def test_soft_encoding_sums_to_one_and_peaks_at_nearest():
    bins = C.gamut_bins()
    ab = torch.randn(2, 2, 5, 6) * 30
    enc = C.soft_encode(ab, bins, sigma=5, k=5)
    assert enc.shape == (2, bins.shape[0], 5, 6)
    assert torch.allclose(enc.sum(1), torch.ones(2, 5, 6), atol=1e-5)
    assert (enc > 0).sum(1).max() == 5
    assert torch.equal(enc.argmax(1), C.nearest_bin(ab, bins))


def test_rebalancing_normalised_and_favours_rare_colours():
    bins = C.gamut_bins()
    ab = torch.zeros(1, 2, 20, 20)
    ab[:, :, :2, :2] = 40.0  # a few saturated pixels among many gray ones
    prior = C.ab_prior([ab[:, :, :10], ab[:, :, 10:]], bins)
    assert torch.isclose(prior.sum(), torch.tensor(1.0))
    w = C.rebalance_weights(prior, bins, lam=0.5, sigma=5)
    kern = torch.exp(-torch.cdist(bins.double(), bins.double()).pow(2) / 50)
    p = kern @ prior.double()
    p = p / p.sum()
    assert abs(float((p * w.double()).sum()) - 1.0) < 1e-5
    gray_bin = int(C.nearest_bin(torch.zeros(1, 2, 1, 1), bins))
    rare_bin = int(C.nearest_bin(torch.full((1, 2, 1, 1), 40.0), bins))
    assert w[rare_bin] > w[gray_bin]


def test_annealed_mean_limits():
    bins = C.gamut_bins()
    logits = torch.randn(1, bins.shape[0], 3, 4) * 3
    logits.scatter_add_(1, logits.argmax(1, keepdim=True), torch.full((1, 1, 3, 4), 5.0))  # a clear mode
    mode = C.annealed_mean(logits, bins, T=0.0)
    assert torch.allclose(mode, bins[logits.argmax(1)].permute(0, 3, 1, 2))
    near_zero = C.annealed_mean(logits, bins, T=0.01)
    assert torch.allclose(near_zero, mode, atol=1e-2)
    mean = C.annealed_mean(logits, bins, T=1.0)
    expect = torch.einsum("bqhw,qc->bchw", torch.softmax(logits, 1), bins)
    assert torch.allclose(mean, expect, atol=1e-4)
    # lower temperature -> more saturated on average
    sat = lambda ab: ab.norm(dim=1).mean()  # noqa: E731
    assert sat(C.annealed_mean(logits, bins, 0.38)) >= sat(mean)


def test_results_are_new_writable_tensors():
    """Every public conversion returns a tensor of its own: writable in place, sharing no memory
    with its input (so changing the result never changes the caller's image)."""
    rgb = torch.rand(2, 3, 5, 4)
    lab = C.rgb_to_lab(rgb)
    bins = C.gamut_bins(grid=20.0, levels=8)
    calls = {
        "rgb_to_lab": (C.rgb_to_lab, rgb), "lab_to_rgb": (C.lab_to_rgb, lab), "rgb_to_yuv": (C.rgb_to_yuv, rgb),
        "yuv_to_rgb": (C.yuv_to_rgb, C.rgb_to_yuv(rgb)), "rgb_to_gray": (C.rgb_to_gray, rgb),
        "split_lab": (C.split_lab, rgb), "merge_lab": (lambda x: C.merge_lab(x[:, :1], x[:, 1:]), lab),
        "gray_rgb_from_L": (C.gray_rgb_from_L, lab[:, :1]), "nearest_bin": (lambda x: C.nearest_bin(x, bins), lab[:, 1:]),
        "soft_encode": (lambda x: C.soft_encode(x, bins), lab[:, 1:]),
        "annealed_mean": (lambda z: C.annealed_mean(z, bins), torch.randn(2, len(bins), 3, 3)),
        "annealed_mean T=0": (lambda z: C.annealed_mean(z, bins, T=0), torch.randn(2, len(bins), 3, 3)),
    }
    for name, (fn, x) in calls.items():
        outs = fn(x)
        for out in outs if isinstance(outs, tuple) else (outs,):
            assert out.untyped_storage().data_ptr() != x.untyped_storage().data_ptr(), name
            out.add_(0)                                               # writable in place
