"""The rendered NCD-like default dataset (colorsurvey.data.synthetic): determinism, splits,
every batch key, colour depending on category, multi-object scenes, argument checking.

Fast: small sizes and a handful of batches (a few seconds in all). The tests render with one
CPU thread (restored afterwards): two threads on two shared, busy cores make every parallel
op wait for a scheduler slice, which turns seconds into tens of seconds.
"""

from __future__ import annotations

import pytest
import torch

import colorsurvey.data.synthetic as synthetic
from colorsurvey.color import rgb_to_lab
from colorsurvey.data.base import ColorDataset
from colorsurvey.data.real import NCD_CATEGORIES
from colorsurvey.data.synthetic import CATEGORIES, NOUNS, VARIANTS, SyntheticNCD, render_throughput

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: extra threads only stall (tests/conftest.py)


@pytest.fixture(scope="module")
def test128():
    """One image of each category at 128 x 128 (the test split's first 20)."""
    return SyntheticNCD("test", size=128).batch(range(20))


@pytest.fixture(scope="module")
def per_category():
    """Five images of every category at 48 x 48, index i has label i % 20."""
    return SyntheticNCD("test", size=48).batch(range(100))


def test_categories_are_ncds():
    assert CATEGORIES == list(NCD_CATEGORIES)
    assert len(CATEGORIES) == 20 and len(NOUNS) == 20
    assert set(VARIANTS) == set(CATEGORIES)
    ds = SyntheticNCD()
    assert isinstance(ds, ColorDataset)
    assert ds.categories == CATEGORIES
    assert len(ds) == 2000 and len(SyntheticNCD("test")) == 200 and len(SyntheticNCD(n=7)) == 7
    assert "SyntheticNCD" in repr(ds)


def test_one_of_each_category(test128):
    assert test128["label"].tolist() == list(range(20))


@pytest.mark.parametrize("size", [37, 128])
def test_keys_shapes_dtypes_ranges(size):
    B = 5
    b = SyntheticNCD("train", size=size).batch(range(B))
    assert b["rgb"].shape == (B, 3, size, size) and b["rgb"].dtype == torch.float32
    assert b["L"].shape == (B, 1, size, size) and b["ab"].shape == (B, 2, size, size)
    for k in ("mask", "depth"):
        assert b[k].shape == (B, 1, size, size) and b[k].dtype == torch.float32, k
        assert 0.0 <= float(b[k].min()) and float(b[k].max()) <= 1.0, k
    assert 0.0 <= float(b["rgb"].min()) and float(b["rgb"].max()) <= 1.0
    assert b["label"].shape == (B,) and b["label"].dtype == torch.long
    assert b["index"].tolist() == list(range(B))
    assert b["box"].shape == (B, 4) and b["box"].dtype == torch.float32
    assert bool(((b["box"] >= 0) & (b["box"] <= 1)).all())
    assert bool((b["box"][:, 2] > b["box"][:, 0]).all() and (b["box"][:, 3] > b["box"][:, 1]).all())
    assert b["palette"].shape == (B, 5, 3) and b["palette"].dtype == torch.float32
    assert bool(((b["palette"] >= 0) & (b["palette"] <= 1)).all())
    assert isinstance(b["caption"], list) and len(b["caption"]) == B
    assert len(b["instances"]) == B and all(len(i) == 1 for i in b["instances"])
    # depth is 0 on the background and positive on the object
    assert float(b["depth"][b["mask"] < 1e-6].abs().max()) == 0.0
    assert float(b["depth"][b["mask"] > 0.99].mean()) > 0.01
    # a single sample through __getitem__
    s = SyntheticNCD("train", size=size)[3]
    assert s["rgb"].shape == (3, size, size) and isinstance(s["caption"], str)


def test_deterministic_and_seeded():
    ds = SyntheticNCD("train", size=40)
    a, b = ds.batch([3, 5, 11]), ds.batch([3, 5, 11])
    for k in ("rgb", "mask", "depth", "box", "palette", "label"):
        assert torch.equal(a[k], b[k]), k
    assert a["caption"] == b["caption"]
    # a sample does not depend on the rest of its batch
    alone = ds.batch([5])
    assert torch.allclose(alone["rgb"][0], a["rgb"][1], atol=1e-5)
    assert torch.allclose(alone["depth"][0], a["depth"][1], atol=1e-5)
    # another seed gives other images
    other = SyntheticNCD("train", size=40, seed=1).batch([3, 5, 11])
    assert all((other["rgb"][i] - a["rgb"][i]).abs().max() > 0.05 for i in range(3))
    # and another size the same scene at another resolution
    big = SyntheticNCD("train", size=80).batch([3])
    small = torch.nn.functional.interpolate(big["mask"], size=(40, 40), mode="area")
    assert (small - a["mask"][:1]).abs().mean() < 0.03


def test_train_and_test_are_disjoint():
    tr = SyntheticNCD("train", size=32).batch(range(40))["rgb"].flatten(1)
    te = SyntheticNCD("test", size=32).batch(range(40))["rgb"].flatten(1)
    d = torch.cdist(tr, te) / tr.shape[1] ** 0.5        # RMS difference of every pair
    assert float(d.min()) > 0.01
    seeds_tr = {synthetic._sample_seed(0, 0, i) for i in range(2000)}
    seeds_te = {synthetic._sample_seed(0, 1, i) for i in range(200)}
    assert not seeds_tr & seeds_te and len(seeds_tr) == 2000


def test_background_white_and_object_coloured(test128):
    rgb, m = test128["rgb"], test128["mask"]
    # camera blur and JPEG-like ringing reach a pixel or two past the object's coverage
    grown = torch.nn.functional.max_pool2d(m, 5, 1, 2)
    bg = (grown < 0.01).expand_as(rgb)
    vals = rgb[bg]
    assert float(vals.mean()) > 0.93 and float(vals.quantile(0.25)) > 0.93 and float(vals.min()) > 0.75
    near = torch.nn.functional.max_pool2d(m, (41, 1), 1, (20, 0))
    near = torch.nn.functional.max_pool2d(near, (1, 41), 1, (0, 20))
    far = (near < 0.01).expand_as(rgb)                      # beyond the contact shadow
    assert float(rgb[far].min()) >= 0.94 - 1e-6 and float(rgb[far].max()) <= 1.0
    mx = rgb.amax(1, keepdim=True)
    sat = (mx - rgb.amin(1, keepdim=True)) / mx.clamp_min(1e-3)       # HSV saturation
    for i in range(20):
        obj, back = sat[i][m[i] > 0.5], sat[i][m[i] < 0.01]
        assert float(obj.mean()) > float(back.mean()) + 0.2, CATEGORIES[i]
        assert float((m[i] > 0.5).float().mean()) > 0.02, CATEGORIES[i]


def test_mask_box_consistent(per_category):
    m, box = per_category["mask"][:, 0] > 0.5, per_category["box"]
    S = m.shape[-1]
    for i in range(m.shape[0]):
        ys, xs = torch.nonzero(m[i], as_tuple=True)
        x0, y0, x1, y1 = (box[i] * S).tolist()
        assert x0 <= float(xs.min()) + 1 and y0 <= float(ys.min()) + 1
        assert x1 >= float(xs.max()) + 1 - 1 and y1 >= float(ys.max()) + 1 - 1
        assert abs(x0 - float(xs.min())) <= 1 and abs(x1 - float(xs.max()) - 1) <= 1


def test_labels_balanced_on_test_split():
    ds = SyntheticNCD("test", size=32)
    labels = ds.labels()
    assert torch.bincount(labels, minlength=20).tolist() == [10] * 20
    assert torch.equal(ds.batch(range(40))["label"], labels[:40])


def test_colour_depends_on_category(per_category):
    lab = rgb_to_lab(per_category["rgb"])
    m = (per_category["mask"] > 0.5).float()
    ab = (lab[:, 1:] * m).sum((2, 3)) / m.sum((2, 3))         # mean a, b over each object
    mean = torch.stack([ab[per_category["label"] == c].mean(0) for c in range(20)])
    a, b = mean[:, 0], mean[:, 1]
    banana, brinjal, broccoli = (CATEGORIES.index(c) for c in ("Banana", "Brinjal", "Broccoli"))
    tomato, lemon = CATEGORIES.index("Tomato"), CATEGORIES.index("Lemon")
    assert b[banana] > 25 and b[lemon] > 35                 # yellow
    assert a[brinjal] > 5 and b[brinjal] < 0                 # purple
    assert a[broccoli] < -5 and a[CATEGORIES.index("Cucumber")] < -5     # green
    assert a[tomato] > 30                                     # red
    # categories differ in colour, not just in shape: the 20 mean ab are spread out
    assert float(torch.pdist(mean).median()) > 15


def test_captions(per_category):
    caps, labels = per_category["caption"], per_category["label"].tolist()
    for c, y in zip(caps, labels):
        assert c and c == c.lower() and NOUNS[y] in c, (c, y)
        assert c.split()[0] in ("a", "an")
        assert not (c.startswith("a ") and c[2] in "aeiou"), c
    caps20 = SyntheticNCD("test", size=32).batch(range(20))["caption"]
    capsicums = [c for c, y in zip(caps, labels) if y == CATEGORIES.index("CapsicumGreen")]
    assert any("green" in c for c in capsicums)                 # mostly green; red and yellow ones too
    assert "lady finger" in caps20[10]


def test_palette(per_category):
    pal = per_category["palette"]
    assert pal.shape == (100, 5, 3)
    assert bool((pal[:, 4] > 0.9).all())                     # background white last
    assert bool((pal[:, 1] <= pal[:, 0] + 1e-6).all())        # shade darker than the body


def test_multi_object_scenes():
    ds = SyntheticNCD("test", size=96, n=20, objects=(2, 4))
    b = ds.batch(range(20))
    counts = [len(x) for x in b["instances"]]
    assert min(counts) >= 2 and max(counts) <= 4 and len(set(counts)) > 1
    for i, inst in enumerate(b["instances"]):
        labels = [lab for lab, _ in inst]
        assert b["label"][i].item() == labels[0]
        assert torch.allclose(b["box"][i], torch.tensor(inst[0][1]))
        assert all(0 <= lab < 20 for lab in labels)
        assert " and " in b["caption"][i]
        for lab, box in inst:
            x0, y0, x1, y1 = box
            assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
    # every object is visible, and the label (the largest object) is usually the slot-0 category i % 20
    area = [(x[0][1][2] - x[0][1][0]) * (x[0][1][3] - x[0][1][1]) for x in b["instances"]]
    assert all(a > 0 for a in area)
    assert sum(int(y) == i % 20 for i, y in enumerate(b["label"])) >= 12
    three = SyntheticNCD("train", size=48, n=4, objects=3).batch(range(4))
    assert [len(x) for x in three["instances"]] == [3] * 4
    cover = three["mask"].mean((1, 2, 3))
    single = SyntheticNCD("train", size=48, n=4).batch(range(4))["mask"].mean((1, 2, 3))
    assert float(cover.mean()) > 0 and float(single.mean()) > 0


def test_single_objects_fill_the_frame_as_photos_do():
    """NCD and Fruits-360 photos show one fruit filling the frame (produce_calib: the object
    covers 72 % of the frame at the median and always reaches the border). Every category's
    rendered box spans 84-100 % of the frame's side at the median (this holds the measured
    _TIGHT table to the shapes it was measured on), round fruit cover much of the frame, and
    objects may touch the border but do not overflow it: the frame's corners show background.
    Scenes with several objects keep their smaller layout, also inside a range such as (1, 3)."""
    ds = SyntheticNCD("train", size=64, n=400)
    b = ds.batch(range(400))
    side = torch.maximum(b["box"][:, 2] - b["box"][:, 0], b["box"][:, 3] - b["box"][:, 1])
    labels = torch.as_tensor(b["label"])
    for k, name in enumerate(CATEGORIES):
        med = float(side[labels == k].median())
        assert 0.84 <= med <= 0.99, (name, med)
    cover = b["mask"].mean((1, 2, 3))
    for name in ("Apple", "Orange", "Tomato", "Plum"):
        c = float(cover[labels == CATEGORIES.index(name)].median())
        assert 0.4 < c < 0.9, (name, c)
    corners = b["mask"][..., [0, 0, -1, -1], [0, -1, 0, -1]]
    assert float((corners.amax((1, 2)) > 0.5).float().mean()) < 0.1
    mixed = SyntheticNCD("train", size=64, n=60, objects=(1, 3)).batch(range(60))
    n_obj = torch.tensor([len(x) for x in mixed["instances"]])
    cover = mixed["mask"].mean((1, 2, 3))
    assert (n_obj == 1).any() and (n_obj > 1).any()
    assert float(cover[n_obj == 1].median()) > 1.5 * float(cover[n_obj == 3].median() / 3)


def test_window_rendering_matches_full_frame(monkeypatch):
    """Objects are drawn inside a window from per-category extents; the full frame must agree.

    Camera effects are left out here: their JPEG-like quantisation turns float-rounding
    differences at a bin edge into a whole quantisation step."""
    monkeypatch.setattr(synthetic._camera, "apply", lambda rgb, params: rgb)
    idx = list(range(0, 200, 1))
    for objects in (1, (2, 4)):
        ds = SyntheticNCD("train", size=40, objects=objects)
        fast = ds.batch(idx if objects == 1 else idx[:40])
        monkeypatch.setattr(synthetic, "_CROP", False)
        full = ds.batch(idx if objects == 1 else idx[:40])
        monkeypatch.setattr(synthetic, "_CROP", True)
        for k in ("rgb", "mask", "depth"):
            err = (fast[k] - full[k]).abs().flatten(1).amax(1)
            bad = [CATEGORIES[int(y)] for y in fast["label"][err > 1e-4]]
            assert not bad, (k, objects, bad)


@pytest.mark.parametrize("kw, words", [
    ({"split": "val"}, "split"),
    ({"size": 8}, ">= 16"),
    ({"size": 32.5}, "size"),
    ({"objects": 9}, "objects"),
    ({"objects": 0}, "objects"),
    ({"objects": (3, 2)}, "objects"),
    ({"n": 0}, "positive"),
])
def test_bad_arguments(kw, words):
    with pytest.raises(ValueError, match=words):
        SyntheticNCD(**kw)


def test_index_out_of_range():
    with pytest.raises(IndexError):
        SyntheticNCD("test", size=32).batch([200])


def test_render_throughput_reports():
    r = render_throughput(size=32, batch=4, seconds=0.05, device="cpu")
    assert r["device"] == "cpu" and r["size"] == 32 and r["batch"] == 4
    assert r["images_per_s"] > 0 and r["batch_images_per_s"] > 0 and r["images"] >= 4


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_same_images_on_cuda():
    ds = SyntheticNCD("test", size=64)
    cpu, gpu = ds.batch(range(20)), ds.batch(range(20), device="cuda")
    assert gpu["rgb"].is_cuda
    assert (cpu["rgb"] - gpu["rgb"].cpu()).abs().mean() < 1e-3
    assert torch.equal(cpu["label"], gpu["label"].cpu())
