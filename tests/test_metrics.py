"""Tests for colorsurvey.metrics.

PCQI, UIQM (with UICM/UISM/UIConM) and colorfulness are held to golden values produced by the
reference implementations (PCQI.m under Octave; FUnIE-GAN's uqim_utils.py; the published
Hasler & Süsstrunk formula) on 16 images: four scikit-image sample images, each under four
degradations. The numbers below are copied facts; the images are rebuilt here from their
recipes and checked by sha256 of the C-order uint8 bytes before comparing.
"""

from __future__ import annotations

import functools
import hashlib
import math

import numpy as np
import pytest
import skimage.color
import skimage.data
import skimage.transform
import torch

from colorsurvey import metrics as M

# key "image/degradation" -> sha256 of the rebuilt uint8 RGB image, and the reference values.
GOLDEN = {
    "astronaut/orig": dict(
        sha256="a8c429c18afa7b0fd5673e598d73a21225d94c864a71bbb3885126fdecb41071",
        pcqi=0.999999999999988, uiqm=2.4076257483438592, uicm=8.424707954254133,
        uism=5.661065230664301, uiconm=0.13938310670956972, colorfulness=72.60516481885355),
    "astronaut/gray": dict(
        sha256="adca183cf25fb9b2aee2d7be32dc119d0f72988fd54c8fc168b2a5e58d8d424f",
        pcqi=0.9999494811070854, uiqm=2.3601768295195953, uicm=0.0,
        uism=5.733130792365255, uiconm=0.1866090416284326, colorfulness=0.0),
    "astronaut/desat": dict(
        sha256="108e871f7767f999efffddbcb1fe41b661008a2106c4aea4e17ee024a99e38bb",
        pcqi=0.9700780634951796, uiqm=2.5017730976280648, uicm=4.395384039699744,
        uism=5.717648072147833, uiconm=0.19282348110739717, colorfulness=37.89661879167547),
    "astronaut/resize": dict(
        sha256="cafe5f7729175c679b4a40bb4d7e8ed67a2d95c8736bbbfe323c3a3853e5777e",
        pcqi=0.7468628541587747, uiqm=2.172437461545477, uicm=8.318026338050771,
        uism=4.617285011151614, uiconm=0.16065361089121863, colorfulness=71.94988156473761),
    "coffee/orig": dict(
        sha256="0ce2b51640b9c95f19617f03eabf40c3f0368589cc1ee1190b70966165ac184f",
        pcqi=1.0, uiqm=2.5204042053204816, uicm=4.621868523892161,
        uism=6.233721368507947, uiconm=0.1536233582710055, colorfulness=76.91791039808139),
    "coffee/gray": dict(
        sha256="bf98cdbdf5f167b17913aa9f46879dfd57da4dce6c39703990e3a17c20c180fd",
        pcqi=0.9999147499567073, uiqm=2.8309584971273987, uicm=0.0,
        uism=6.216949583593613, uiconm=0.27832441615870124, colorfulness=0.0),
    "coffee/desat": dict(
        sha256="45d67c5a68ee5fbc00fec40f543fa7d04aa2848ee085757ed12342065398382d",
        pcqi=0.956080885747271, uiqm=2.949924119856007, uicm=2.3360335123787026,
        uism=6.180652048120322, uiconm=0.2961713492565649, colorfulness=39.87111183066229),
    "coffee/resize": dict(
        sha256="f85cdcb64e93c35d6b8777253e5868f15f27ba916d88668b87444432fe97a2a6",
        pcqi=0.615888045755576, uiqm=2.2421713099478264, uicm=4.466872152042497,
        uism=4.737503567703168, uiconm=0.20060434417181275, colorfulness=75.94036306538393),
    "chelsea/orig": dict(
        sha256="416b729128bfb2c3d1eb69bf9b1734a796293abc17939267b2dc94f8a5784031",
        pcqi=1.0, uiqm=2.8693667379290706, uicm=1.8628486081175335,
        uism=6.1483084888476505, uiconm=0.2800433279510656, colorfulness=37.95735955886438),
    "chelsea/gray": dict(
        sha256="5d2a864132f732805c7702eb308224fe3b016ded9e28b7ab36c77277523b6d1b",
        pcqi=1.0, uiqm=2.765361299191106, uicm=0.0,
        uism=5.967298960327283, uiconm=0.2805968495528933, colorfulness=0.0),
    "chelsea/desat": dict(
        sha256="0cb0dcec730960ae4a6c74c632ce17a719eac3181ffbed9311c8755f69dab2a4",
        pcqi=0.9879524490424525, uiqm=2.93225684789392, uicm=0.9946501142373185,
        uism=6.04067542994669, uiconm=0.3133712584144464, colorfulness=20.003649315269463),
    "chelsea/resize": dict(
        sha256="dc0c9313f6e2c81c2883f13bb0cac8f081837eb9ffcbbadb8d51dfdd3d4e13f9",
        pcqi=0.7126522998422898, uiqm=2.6398496393687254, uicm=1.8040349162698543,
        uism=5.110685477534453, uiconm=0.3020139381909187, colorfulness=37.603228659938495),
    "rocket/orig": dict(
        sha256="3d4435cc745752b7f9724df88c6e18817de3ce7e3d2d71c55f85f7831e68f197",
        pcqi=1.0, uiqm=1.882618245457163, uicm=4.035375813326553,
        uism=2.55753820502609, uiconm=0.2834949837991636, colorfulness=38.55921646994847),
    "rocket/gray": dict(
        sha256="6563fc5b69416b71374e6ca5b04f17946c70b3ad4eaf6c88664b895397030fa2",
        pcqi=1.0000000456019478, uiqm=1.3834204939662138, uicm=0.0,
        uism=2.5621587356853577, uiconm=0.17531816052312466, colorfulness=0.0),
    "rocket/desat": dict(
        sha256="19e1e6226c997fb0f9cd0a8d87cbac4e4fea3067e59c668b7aefbd693400a439",
        pcqi=0.992514969782264, uiqm=1.8844833309579738, uicm=1.977103854390208,
        uism=2.6777447786831803, uiconm=0.29032276147988334, colorfulness=18.443336812621105),
    "rocket/resize": dict(
        sha256="28ba43808b56a7982f4823fb0895471d770a68fe3a525973251e6fc6caa664c1",
        pcqi=0.7324879102523126, uiqm=1.8668100599303905, uicm=3.686576131322167,
        uism=1.8451761724632878, uiconm=0.34066178762584864, colorfulness=36.33227887609354),
}

IMAGES = ("astronaut", "coffee", "chelsea", "rocket")
DEGRADATIONS = ("orig", "gray", "desat", "resize")
JPEG_IMAGES = {"rocket"}  # decoded pixels depend on the JPEG decoder


# --- the recipes the golden images were made with ----------------------------------------------

def _gray(img):
    """BT.601 integer luma, round half up, replicated (not skimage's BT.709 rgb2gray)."""
    i = img.astype(np.int64)
    y = (299 * i[..., 0] + 587 * i[..., 1] + 114 * i[..., 2] + 500) // 1000
    return np.repeat(y.astype(np.uint8)[..., None], 3, axis=-1)


def _desat(img):
    lab = skimage.color.rgb2lab(img)
    lab[..., 1:] *= 0.5
    return np.round(np.clip(skimage.color.lab2rgb(lab), 0, 1) * 255).astype(np.uint8)


def _resize(img):
    h, w = img.shape[:2]
    kw = dict(order=1, anti_aliasing=False, preserve_range=True)
    small = skimage.transform.resize(img.astype(np.float64), (h // 2, w // 2), **kw)
    up = skimage.transform.resize(small, (h, w), **kw)
    return np.round(np.clip(up, 0, 255)).astype(np.uint8)


RECIPES = {"orig": lambda x: x, "gray": _gray, "desat": _desat, "resize": _resize}


def _sha(img):
    return hashlib.sha256(np.ascontiguousarray(img).tobytes()).hexdigest()


@functools.lru_cache(maxsize=None)
def _rebuilt(image):
    """{degradation: (uint8 image, sha matches golden)} for one source image, built once."""
    orig = getattr(skimage.data, image)()
    out = {}
    for deg, make in RECIPES.items():
        img = make(orig)
        out[deg] = (img, _sha(img) == GOLDEN[f"{image}/{deg}"]["sha256"])
    return out


@pytest.fixture(scope="module")
def rebuilt():
    return _rebuilt


# --- golden values --------------------------------------------------------------------------

@pytest.mark.parametrize("image", [i for i in IMAGES if i not in JPEG_IMAGES])
def test_png_sources_rebuild_bit_exactly(rebuilt, image):
    assert rebuilt(image)["orig"][1], f"skimage.data.{image}() no longer matches the golden pixels"


@pytest.mark.parametrize("degradation", DEGRADATIONS)
@pytest.mark.parametrize("image", IMAGES)
def test_golden_values(rebuilt, image, degradation):
    imgs = rebuilt(image)
    if image in JPEG_IMAGES and not imgs["orig"][1]:
        pytest.skip(f"skimage.data.{image}() is a JPEG and this JPEG decoder returns different "
                    "pixels from the one the golden values were made with (sha256 differs)")
    orig, _ = imgs["orig"]
    img, sha_ok = imgs[degradation]
    # Bit-identical input: hold to 1e-6. Otherwise (e.g. a 1-LSB difference at a rounding tie
    # in the resize recipe on another platform) to 1e-3, which such a difference stays within.
    rel = 1e-6 if sha_ok else 1e-3
    want = GOLDEN[f"{image}/{degradation}"]
    r = M.uiqm(img)
    got = dict(pcqi=M.pcqi(orig, img), uiqm=r.uiqm, uicm=r.uicm, uism=r.uism, uiconm=r.uiconm,
               colorfulness=M.colorfulness(img))
    for name, value in got.items():
        assert value == pytest.approx(want[name], rel=rel, abs=1e-9), name
    assert M.uiqm_score(img) == r.uiqm


# --- PSNR, SSIM, chroma PSNR, AuC -------------------------------------------------------------

@pytest.fixture(scope="module")
def small():
    return np.random.default_rng(0).integers(2, 250, size=(32, 40, 3), dtype=np.uint8)


def test_psnr(small):
    assert M.psnr(small, small) == math.inf
    assert M.psnr(small, small + 1) == pytest.approx(20 * math.log10(255), rel=1e-12)  # 48.13 dB
    assert M.psnr(small, small + 1) == pytest.approx(48.1308036, abs=1e-6)
    test = small.copy()
    test[::2] += 2                              # half the rows off by 2 -> MSE = 2
    assert M.psnr(small, test) == pytest.approx(10 * math.log10(255 ** 2 / 2), rel=1e-12)


def test_ssim(small):
    assert M.ssim(small, small) == 1.0
    assert 0 < M.ssim(small, np.flipud(small).copy()) < 0.5


def test_chroma_psnr():
    ab = np.random.default_rng(1).uniform(-80, 80, size=(16, 16, 2))
    assert M.AB_RANGE == 220.0
    assert M.chroma_psnr(ab, ab) == math.inf
    assert M.chroma_psnr(ab, ab + 22.0) == pytest.approx(20.0, rel=1e-12)  # 220^2 / 22^2 = 100
    as_tensor = torch.from_numpy(ab + 22.0).permute(2, 0, 1)               # (2, H, W)
    assert M.chroma_psnr(ab, as_tensor) == pytest.approx(20.0, rel=1e-12)


def test_auc():
    ab = np.random.default_rng(2).integers(-80, 80, size=(2, 12, 12)).astype(np.float64)
    assert M.auc(ab, ab) == 1.0
    shifted = ab.copy()
    shifted[0] += 200.0
    assert M.auc(ab, shifted) == 0.0
    shifted[0] -= 125.0                          # error 75: counts for t = 75..150
    assert M.auc(ab, shifted) == pytest.approx(76 / 151)
    assert M.auc(torch.from_numpy(ab), torch.from_numpy(ab)) == 1.0


# --- no-reference metrics on gray / flat images ----------------------------------------------

def test_gray_image_has_no_colour(small):
    gray = np.repeat(small[..., :1], 3, axis=-1)
    assert M.colorfulness(gray) == 0.0
    assert M.uiqm(gray).uicm == 0.0


def test_uiqm_flat_image_is_finite():
    flat = np.full((20, 20, 3), 128, np.uint8)
    assert M.uiqm(flat) == (0.0, 0.0, 0.0, 0.0)


# --- conversion and validation ----------------------------------------------------------------

def test_to_uint8():
    x = torch.tensor([0.0, 0.4 / 255, 0.6 / 255, 1.0, 1.5, -0.2]).reshape(1, 2, 3)
    chw = x.expand(3, 2, 3)
    want = np.array([[0, 0, 1], [255, 255, 0]], np.uint8)  # rounded, clipped to [0, 1]
    out = M.to_uint8(chw)
    assert out.dtype == np.uint8 and out.shape == (2, 3, 3)
    np.testing.assert_array_equal(out[..., 1], want)
    np.testing.assert_array_equal(M.to_uint8(chw.permute(1, 2, 0)), out)
    np.testing.assert_array_equal(M.to_uint8(chw.permute(1, 2, 0).numpy()), out)
    np.testing.assert_array_equal(M.to_uint8(out), out)
    with pytest.raises(ValueError, match="NaN"):
        M.to_uint8(torch.full((3, 4, 4), float("nan")))


def test_validation(small):
    with pytest.raises(ValueError, match="to_uint8"):
        M.psnr(small.astype(np.float32) / 255, small)
    with pytest.raises(ValueError, match="to_uint8"):
        M.ssim(torch.from_numpy(small), small)
    with pytest.raises(ValueError, match="to_uint8"):
        M.colorfulness(small[..., 0])
    with pytest.raises(ValueError, match="size mismatch"):
        M.psnr(small, small[:-1])
    with pytest.raises(ValueError, match="11x11"):
        M.pcqi(small[:10], small[:10])
    with pytest.raises(ValueError, match="7x7"):
        M.ssim(small[:6], small[:6])
    with pytest.raises(ValueError, match="size mismatch"):
        M.chroma_psnr(np.zeros((2, 8, 8)), np.zeros((8, 9, 2)))
    with pytest.raises(ValueError, match="ab"):
        M.auc(np.zeros((3, 8, 8)), np.zeros((3, 8, 8)))


def test_evaluate_pair(small):
    res = M.evaluate_pair(small, small)
    assert set(res) == set(M.METRICS)
    assert res["psnr"] == math.inf and res["ssim"] == 1.0 and res["auc"] == 1.0
    assert res["chroma_psnr"] == math.inf
    assert res["pcqi"] == pytest.approx(1.0, abs=1e-9)
    ab = skimage.color.rgb2lab(small)[..., 1:]
    res = M.evaluate_pair(small, small, ab_ref=ab, ab_test=ab + 22.0)
    assert res["chroma_psnr"] == pytest.approx(20.0)
    assert all(isinstance(M.METRICS[k][1], bool) for k in M.METRICS)


def test_array_results_are_new_writable_arrays():
    """What a user gets back is theirs: writable, and never a view of the input (an image read
    from a file is often a read-only buffer)."""
    img = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    img.setflags(write=False)
    t = torch.from_numpy(img.copy())
    for arg in (img, t, t.permute(2, 0, 1)):
        out = M.to_uint8(arg)
        assert out.flags.writeable and not np.shares_memory(out, img)
        if torch.is_tensor(arg):
            assert not np.shares_memory(out, arg.numpy())
    luma = M.pcqi_luma(img)
    assert luma.flags.writeable and luma.shape == (4, 5)

# --------------------------------------------------------------------------------------------
# object-masked PSNR / SSIM (issue 16: whole-image scores are dominated by NCD's white background)

def test_masked_metrics_equal_whole_image_for_a_full_mask(small):
    rng = np.random.default_rng(1)
    test = np.clip(small.astype(int) + rng.integers(-30, 30, small.shape), 0, 255).astype(np.uint8)
    full = np.ones(small.shape[:2], bool)
    assert M.masked_psnr(small, test, full) == pytest.approx(M.psnr(small, test), rel=1e-12)
    assert M.masked_ssim(small, test, full) == pytest.approx(M.ssim(small, test), rel=1e-12)
    # the data's layouts: float coverage (1, H, W) as a tensor
    cover = torch.ones(1, *small.shape[:2])
    assert M.masked_ssim(small, test, cover) == pytest.approx(M.ssim(small, test), rel=1e-12)


def test_masked_metrics_ignore_the_background(small):
    mask = np.zeros(small.shape[:2], bool)
    mask[10:22, 12:30] = True
    rng = np.random.default_rng(2)
    test = np.clip(small.astype(int) + rng.integers(-20, 20, small.shape), 0, 255).astype(np.uint8)
    other = test.copy()
    far = np.ones_like(mask)
    far[7:25, 9:33] = False                # more than 3 px (the SSIM window's radius) from the object
    other[far] = 255 - other[far]          # wreck the background far from the object
    other[~mask & ~far] = 0                # and the ring next to it (only PSNR is blind to this)
    assert M.psnr(small, other) < M.psnr(small, test) - 3
    assert M.masked_psnr(small, other, mask) == M.masked_psnr(small, test, mask)
    # the PSNR over the object equals PSNR of the object's pixels alone
    d = small[mask].astype(float) - test[mask].astype(float)
    assert M.masked_psnr(small, test, mask) == pytest.approx(10 * math.log10(255 ** 2 / np.mean(d * d)))
    far_only = test.copy()
    far_only[far] = 255 - far_only[far]
    assert M.ssim(small, far_only) < M.ssim(small, test) - 0.05
    assert M.masked_ssim(small, far_only, mask) == pytest.approx(M.masked_ssim(small, test, mask), abs=1e-12)
    # a perfect object on a wrong background is perfect on the object
    perfect = small.copy()
    perfect[~mask] = 0
    assert M.masked_psnr(small, perfect, mask) == math.inf and M.psnr(small, perfect) < 20


def test_masked_metrics_reject_bad_masks(small):
    with pytest.raises(ValueError, match="selects no pixel"):
        M.masked_psnr(small, small, np.zeros(small.shape[:2]))
    with pytest.raises(ValueError, match="does not fit"):
        M.masked_ssim(small, small, np.ones((5, 5)))
    border = np.zeros(small.shape[:2], bool)
    border[0, :] = True
    with pytest.raises(ValueError, match="border"):
        M.masked_ssim(small, small, border)


def test_evaluate_pair_object_mask_from_white_background():
    img = np.full((40, 40, 3), 250, np.uint8)
    img[12:28, 12:28] = (200, 40, 30)                   # a red square on white
    gray = np.repeat(img.mean(-1, keepdims=True), 3, -1).astype(np.uint8)
    gray[img.min(-1) >= 240] = 250                      # background stays white
    r = M.evaluate_pair(img, gray)
    assert r["psnr_obj"] < r["psnr"] - 5                # the object alone shows the missing colour
    obj = M.object_mask_or_background(img)
    assert obj[20, 20] and not obj[2, 2]
    assert M.object_mask_or_background(img, np.zeros((40, 40))).all()   # empty: the whole image
