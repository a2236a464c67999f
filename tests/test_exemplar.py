"""Exemplar-based methods (survey §2.7): deep exemplar, fast deep exemplar, instance-aware;
the VGG19 feature extractor and its self-training; reference pairs."""

import math

import pytest
import torch

import colorsurvey.models.exemplar as E  # registers the methods
from colorsurvey import models
from colorsurvey.color import gray_rgb_from_L
from colorsurvey.evaluate import evaluate
from colorsurvey.models import vgg as V
from colorsurvey.references import (ReferenceBank, batch_partners, color_jitter, draw_references,
                                    self_reference, tps_grid, tps_warp)
from colorsurvey.train import load_checkpoint, train

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: extra threads only stall (tests/conftest.py)

KEYS = ("deep-exemplar", "fast-exemplar", "instance-aware")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COLORSURVEY_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def build(key, size="smoke", **kw):
    return models.create(key, size=size, seed=0, **kw)


# --------------------------------------------------------------------------------------
# registry, cards, sizes, shapes
# --------------------------------------------------------------------------------------

def test_registered_with_full_cards():
    for key, sec in zip(KEYS, ("2.7.1", "2.7.2", "2.7.3")):
        cls = models.get_class(key)
        c = cls.card
        assert c.taxonomy == "exemplar-based" and c.section == sec
        assert {"paper", "small", "smoke"} <= set(cls.sizes)
        assert c.losses and c.framework and len(c.substitutions) > 100
    assert "Deep Image Analogy" in models.get_class("deep-exemplar").card.substitutions
    assert "detector" in models.get_class("instance-aware").card.substitutions
    assert key in models.list_models("exemplar-based")


def test_paper_sizes_follow_the_published_widths():
    ia = build("instance-aware", "paper")
    assert ia.widths == E.INSTANCE_WIDTHS == (64, 128, 256, 512, 512, 512, 512, 256, 256, 128, 128, 128, 128)
    assert len(ia.full_net.layers) == len(ia.instance_net.layers) == len(ia.fusion) == 13
    de = build("deep-exemplar", "paper")
    assert de.vgg.channels == dict(zip(V.LEVELS, (64, 128, 256, 512, 512)))
    # torchvision's module names and shapes, so its ImageNet weights load by name
    sd = de.vgg.features.state_dict()
    assert sd["0.weight"].shape == (64, 3, 3, 3) and sd["28.weight"].shape == (512, 512, 3, 3)
    assert len([k for k in sd if k.endswith("weight")]) == 13          # conv1_1 .. conv5_1


@pytest.mark.parametrize("key", ["deep-exemplar", "fast-exemplar"])
def test_references_of_any_size_and_one_for_all(key):
    """A reference of another size, and one reference for the whole batch (shapes at odd sizes
    with every condition are the registry-wide contract, tests/test_contract.py)."""
    m = build(key).eval()
    L = torch.rand(2, 1, 37, 53) * 100
    for ref in (torch.rand(2, 3, 40, 24), torch.rand(1, 3, 12, 20), torch.rand(3, 12, 20)):
        ab = m.colorize(L, reference_rgb=ref)
        assert ab.shape == (2, 2, 37, 53) and torch.isfinite(ab).all()


def test_bad_reference_is_explained():
    m = build("deep-exemplar").eval()
    with pytest.raises(ValueError, match="reference_rgb"):
        m.colorize(torch.rand(1, 1, 32, 32) * 100, reference_rgb=torch.rand(1, 1, 32, 32))
    with pytest.raises(ValueError, match="references for"):
        m.colorize(torch.rand(3, 1, 32, 32) * 100, reference_rgb=torch.rand(2, 3, 32, 32))


# --------------------------------------------------------------------------------------
# the pieces the issue asks to check
# --------------------------------------------------------------------------------------

def test_correspondence_with_the_target_as_its_own_reference(tiny, cache):
    m = build("deep-exemplar").eval()
    m.prepare(tiny, progress=False)
    b = tiny.batch(range(8))
    out = m.explain(b["L"], reference_rgb=b["rgb"])
    assert (out["warped_ab"] - b["ab"]).abs().max() < 0.05            # exact, up to float rounding
    assert out["confidence"].min() > 0.99                             # every cell finds itself
    # displaced copies of itself: the warp finds the colours back (gray = no colour = |ab|)
    g = torch.Generator().manual_seed(0)
    for ref in (b["rgb"].flip(-1), tps_warp(b["rgb"], 0.08, generator=g)):
        err = (m.explain(b["L"], reference_rgb=ref)["warped_ab"] - b["ab"]).abs().mean()
        assert err < 0.25 * b["ab"].abs().mean(), float(err)


def test_adain_gives_the_reference_statistics():
    g = torch.Generator().manual_seed(0)
    content = torch.randn(3, 16, 9, 11, generator=g) * 4 + 2
    style = torch.randn(3, 16, 5, 7, generator=g) * torch.rand(1, 16, 1, 1, generator=g) * 3 - 1
    out = E.adain(content, style)
    assert torch.allclose(out.mean((2, 3)), style.mean((2, 3)), atol=1e-4)
    assert torch.allclose(out.std((2, 3), unbiased=False), style.std((2, 3), unbiased=False), atol=1e-3)
    # the content's spatial pattern survives (per channel an increasing affine map)
    corr = torch.nn.functional.cosine_similarity((out - out.mean((2, 3), keepdim=True)).flatten(2),
                                                 (content - content.mean((2, 3), keepdim=True)).flatten(2), dim=2)
    assert corr.min() > 0.999


def test_fusion_with_zero_instance_weights_is_the_full_network():
    m = build("instance-aware").eval()
    torch.manual_seed(1)
    for p in m.parameters():             # make the fusion modules non-trivial first
        p.data.add_(0.05 * torch.randn_like(p))
    L = torch.rand(2, 1, 40, 48) * 100
    boxes = [[[0.1, 0.1, 0.6, 0.7], [0.5, 0.4, 0.95, 0.9]], [[0.2, 0.3, 0.8, 0.8]]]
    full = m.colorize(L, fusion=False)
    fused = m.colorize(L, boxes=boxes, fusion=True)
    assert (fused - full).abs().max() > 1e-3                          # instances do change it
    for f in m.fusion:                                                # instance weights -> 0
        torch.nn.init.zeros_(f.instance[-1].weight)
        torch.nn.init.constant_(f.instance[-1].bias, -1e4)
    fused0 = m.colorize(L, boxes=boxes, fusion=True)
    assert torch.allclose(fused0, full, atol=1e-5)
    assert torch.equal(m.colorize(L, boxes=None, fusion=True), full)  # no boxes: the full network


def _train_until_halved(m, batch, max_steps=300, window=10):
    hist = []
    for i in range(max_steps):
        hist.append(float(m.training_step(batch)["loss"]))
        if len(hist) >= 2 * window and sum(hist[-window:]) / window < 0.5 * sum(hist[:window]) / window:
            break
    first, last = sum(hist[:window]) / window, sum(hist[-window:]) / window
    return first, last, len(hist)


@pytest.mark.parametrize("stage", [1, 2, 3])
def test_instance_aware_stages_learn(stage, tiny):
    m = build("instance-aware").train()
    batch = tiny.batch(range(4))
    if stage == 3:       # fusion with frozen networks: it can only blend, so it must not get worse
        m.set_stage(1)
        for _ in range(60):
            m.training_step(batch)
        m.instance_net.load_state_dict(m.full_net.state_dict())
        m.set_stage(3)
        before = {k: v.clone() for k, v in m.full_net.state_dict().items()}
        hist = [float(m.training_step(batch)["loss"]) for _ in range(30)]
        assert sum(hist[-5:]) / 5 <= 1.05 * sum(hist[:5]) / 5
        assert all(torch.equal(before[k], v) for k, v in m.full_net.state_dict().items())
        return
    m.set_stage(stage)
    first, last, n = _train_until_halved(m, batch)
    assert last < 0.5 * first, (stage, first, last, n)


def test_instance_aware_schedule_and_initialisation(tiny):
    m = build("instance-aware", stage_steps=(2, 2, 2))
    batch = tiny.batch(range(4))
    stages = []
    for i in range(7):
        stages.append(m.stage)
        m.training_step(batch)
        if i == 2:    # the first instance step started from the full network's weights
            a, b = m.instance_net.layers[0]["conv"].weight, m.full_net.layers[0]["conv"].weight
            assert (a - b).abs().max() < 0.01 < (a - build("instance-aware").instance_net.layers[0]["conv"].weight).abs().max()
    assert stages == [1, 1, 2, 2, 3, 3, 3]
    assert int(m.steps_done) == 7 and m.fusion_trained()


def test_boxes_from_batch_reads_instances_boxes_and_masks(tiny):
    b = tiny.batch(range(2))
    got = E.boxes_from_batch(b)
    assert len(got) == 2 and all(abs(x - y) < 1e-6 for r in got for x, y in zip(r[0], [0.2, 0.2, 0.8, 0.8]))
    b["instances"] = [[(0, (0.1, 0.1, 0.5, 0.5)), (3, (0.5, 0.5, 0.9, 1.0))], [(1, (0, 0, 16, 16))]]
    got = E.boxes_from_batch(b)
    assert got[0] == [[0.1, 0.1, 0.5, 0.5], [0.5, 0.5, 0.9, 1.0]] and got[1] == [[0, 0, 0.5, 0.5]]
    del b["instances"], b["box"]
    got = E.boxes_from_batch(b)                                       # from the mask
    assert len(got[0]) == 1 and 0.1 < got[0][0][0] < 0.35 and 0.65 < got[0][0][2] < 0.9


# --------------------------------------------------------------------------------------
# references
# --------------------------------------------------------------------------------------

def test_reference_bank_draws_same_and_other_categories(tiny):
    bank = ReferenceBank(tiny)
    labels = tiny.labels()
    idx = torch.arange(len(tiny))
    same = bank.pick(labels, idx, "matched", salt=0)
    other = bank.pick(labels, idx, "mismatched", salt=0)
    assert (labels[same] == labels).all() and (same != idx).all()     # another instance
    assert (labels[other] != labels).all()
    assert torch.equal(same, bank.pick(labels, idx, "matched", salt=0))          # repeatable
    assert any(not torch.equal(same, bank.pick(labels, idx, "matched", salt=s)) for s in range(1, 5))
    rgb = bank.load(same[:3], size=(20, 24))
    assert rgb.shape == (3, 3, 20, 24)
    assert bank.name(0).startswith("Red #")


def test_draw_references_in_batch_and_from_a_bank(tiny):
    b = tiny.batch([0, 4, 8, 1, 2])          # labels 0, 0, 0, 1, 2: only the reds have partners
    ref, is_self = draw_references(b, None, "matched")
    assert is_self.tolist() == [False, False, False, True, True]
    for i in range(3):
        assert any(torch.equal(ref[i], b["rgb"][j]) for j in range(3) if j != i)
    part = batch_partners(b["label"], "mismatched", index=b["index"])
    assert (b["label"][part] != b["label"]).all()
    ref, is_self = draw_references(b, ReferenceBank(tiny), "mismatched", self_fraction=0.0)
    assert not is_self.any() and ref.shape == b["rgb"].shape
    ref, is_self = draw_references(b, ReferenceBank(tiny), "self")
    assert is_self.all()


def test_self_reference_jitter_and_warp():
    g = torch.Generator().manual_seed(0)
    rgb = torch.rand(3, 3, 24, 32)
    assert torch.allclose(self_reference(rgb, jitter=0.0, warp=0.0, flip=False), rgb)
    # the TPS through unmoved control points is the identity
    t = torch.linspace(-0.75, 0.75, 4)
    pts = torch.stack(torch.meshgrid(t, t, indexing="xy"), -1).view(1, 16, 2)
    grid = tps_grid(pts, pts, 24, 32)
    same = torch.nn.functional.grid_sample(rgb[:1], grid, align_corners=False)
    assert torch.allclose(same, rgb[:1], atol=1e-4)
    warped = tps_warp(rgb, 0.1, generator=g)
    assert warped.shape == rgb.shape and (warped - rgb).abs().mean() > 0.01
    jit = color_jitter(rgb, 1.0, generator=g)
    assert jit.shape == rgb.shape and 0 <= float(jit.min()) and float(jit.max()) <= 1


def test_conditions_from_batch_and_evaluation_with_both_modes(tiny, cache):
    m = build("deep-exemplar", references=tiny).eval()
    b = tiny.batch(range(6))
    r1 = m.conditions_from_batch(b)["reference_rgb"]
    assert torch.equal(r1, m.conditions_from_batch(b)["reference_rgb"])          # repeatable
    bank = m.references
    for i in range(6):   # each reference is another instance of the same category
        j = [k for k in range(len(tiny)) if torch.equal(tiny.batch([k])["rgb"][0], r1[i])]
        assert j and all(tiny.labels()[k] == b["label"][i] and k != i for k in j)
    with m.using_references("mismatched"):
        r2 = m.conditions_from_batch(b)["reference_rgb"]
        df = evaluate(m, tiny, limit=8, progress=False, metrics=("psnr", "chroma_psnr"))
    assert m.reference_mode == "matched" and m.references is bank
    assert not torch.equal(r1, r2) and len(df) == 8 and df.psnr.notna().all()


# --------------------------------------------------------------------------------------
# the VGG
# --------------------------------------------------------------------------------------

def test_vgg_gray_matches_the_colour_module():
    L = torch.linspace(0, 100, 101).view(1, 1, 1, -1)
    assert torch.allclose(V.VGG19Features.gray(L), gray_rgb_from_L(L), atol=2e-3)


def test_self_trained_vgg_is_cached_and_learns(tiny, tmp_path):
    import time
    t = time.perf_counter()
    a = V.train_vgg19(tiny, width=0.0625, steps=60, batch_size=16, cache_dir=tmp_path, progress=False)
    first = time.perf_counter() - t
    assert a.ready and "trained here" in a.source and list(tmp_path.glob("vgg19_*.safetensors"))
    acc = float(a.source.split("accuracy ")[1].split("%")[0])
    assert acc > 50, a.source                                         # 4 categories, chance 25 %
    t = time.perf_counter()
    b = V.train_vgg19(tiny, width=0.0625, steps=60, batch_size=16, cache_dir=tmp_path, progress=False)
    assert time.perf_counter() - t < first and "cache" in b.source
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not any(p.requires_grad for p in b.parameters())


def test_torchvision_weights_are_optional():
    try:
        import torchvision  # noqa: F401
        has = V.torchvision_vgg19() is not None
    except Exception:
        has = False
    if not has:
        assert V.torchvision_vgg19() is None
        with pytest.raises(RuntimeError, match="not available"):
            V.get_vgg19(1.0, kind="torchvision")
        assert not V.get_vgg19(1.0, kind="auto").ready                # no data: random, untrained
    m = build("deep-exemplar", "paper")
    assert m.vgg.describe()


def test_checkpoint_round_trip_includes_the_vgg(tiny, tmp_path, cache):
    m = build("fast-exemplar", references=tiny)
    r = train(m, tiny, steps=3, batch_size=4, progress=False, checkpoint=tmp_path / "ck")
    assert m.vgg.ready and r.step == 3
    fresh = build("fast-exemplar")
    load_checkpoint(fresh, tmp_path / "ck")
    assert fresh.vgg.ready
    L, ref = tiny.batch([0])["L"], tiny.batch([4])["rgb"]
    assert torch.allclose(fresh.eval().colorize(L, reference_rgb=ref), m.eval().colorize(L, reference_rgb=ref), atol=1e-5)
    ia = build("instance-aware", stage_steps=(1, 1, 1))
    train(ia, tiny, steps=4, batch_size=4, progress=False, checkpoint=tmp_path / "ia")
    ia2 = build("instance-aware", stage_steps=(1, 1, 1))
    load_checkpoint(ia2, tmp_path / "ia")
    assert int(ia2.steps_done) == 4 and ia2.stage == 3


def test_trained_exemplar_follows_the_reference(tiny, cache):
    """After brief training on self-references, a red reference gives a redder result
    than a blue one for the same gray disc: the reference, not the gray, sets the colour."""
    m = build("deep-exemplar", self_fraction=1.0).train()
    m.fit_statistics([tiny.batch(range(16))])
    for step in range(80):
        m.training_step(tiny.random_batch(8, step=step))
    m.eval()
    target = tiny.batch([3])                  # a yellow disc
    red, blue = tiny.batch([0])["rgb"], tiny.batch([2])["rgb"]
    ab_red = m.colorize(target["L"], reference_rgb=red)
    ab_blue = m.colorize(target["L"], reference_rgb=blue)
    obj = target["mask"][0, 0] > 0.5
    a_red, b_blue = ab_red[0, 0][obj].mean(), ab_blue[0, 1][obj].mean()
    assert a_red > ab_blue[0, 0][obj].mean() + 10 and b_blue < ab_red[0, 1][obj].mean() - 10, (a_red, b_blue)
    assert not math.isnan(float(a_red))


def test_evaluation_without_a_bank_never_hands_over_the_answer(tiny):
    b = tiny.batch([0, 4, 1])                  # sample 2 (a green disc) has no partner in the batch
    ref, is_self = draw_references(b, None, "matched", fallback="gray")
    assert not is_self.any()
    assert torch.allclose(ref[2], gray_rgb_from_L(b["L"][2:3])[0], atol=1e-5)
    m = build("deep-exemplar").eval()
    r = m.conditions_from_batch(b)["reference_rgb"]
    assert torch.equal(r[0], b["rgb"][1]) and torch.equal(r[1], b["rgb"][0])
    assert torch.allclose(r[2], ref[2])


def test_real_image_folder_references_are_other_files_of_the_same_folder(tmp_path):
    import numpy as np
    from PIL import Image

    from colorsurvey.data.real import ImageFolder

    colours = {"Red": (200, 30, 30), "Green": (30, 180, 40)}
    for cat, c in colours.items():
        (tmp_path / cat).mkdir()
        for k in range(3):
            a = np.full((24, 24, 3), 250, np.uint8)
            a[4 + k:18, 5:19] = c
            Image.fromarray(a).save(tmp_path / cat / f"{k}.png")
    ds = ImageFolder(tmp_path, size=24, progress=False)
    bank = ReferenceBank(ds)
    pick = bank.pick(ds.labels(), torch.arange(len(ds)), "matched")
    for i, j in enumerate(pick.tolist()):
        assert j != i and ds.files[j].parent == ds.files[i].parent
    m = build("deep-exemplar", references=ds).eval()
    b = ds.batch(range(len(ds)))
    refs = m.conditions_from_batch(b)["reference_rgb"]
    assert refs.shape == b["rgb"].shape
    assert E.boxes_from_batch(b)[0]                                   # boxes from the white background
