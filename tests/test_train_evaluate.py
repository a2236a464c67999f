import math

import pandas as pd
import pytest
import torch

from colorsurvey import metrics as M
from colorsurvey import models
from colorsurvey.evaluate import (DATASET_ROW, count_gflops, evaluate, per_category_table,
                                  write_table)
from colorsurvey.train import load_checkpoint, train


def test_train_is_repeatable_on_cpu(tiny):
    r1 = train(models.create("unet", size="smoke", seed=0), tiny, steps=6, batch_size=4, seed=3, log_every=2, progress=False)
    r2 = train(models.create("unet", size="smoke", seed=0), tiny, steps=6, batch_size=4, seed=3, log_every=2, progress=False)
    assert r1.steps == [2, 4, 6]
    assert r1.history["loss"] == r2.history["loss"]
    r3 = train(models.create("unet", size="smoke", seed=0), tiny, steps=6, batch_size=4, seed=4, log_every=2, progress=False)
    assert r3.history["loss"] != r1.history["loss"]
    assert r1.images == 24 and r1.images_per_second > 0


def test_train_needs_a_budget(tiny):
    with pytest.raises(ValueError, match="budget"):
        train(models.create("gray"), tiny, steps=None, seconds=None)


def test_time_budget_stops(tiny):
    r = train(models.create("unet", size="smoke"), tiny, steps=None, seconds=0.5, batch_size=2, progress=False)
    assert r.step >= 1 and r.seconds < 5


def test_checkpoint_resume_equals_uninterrupted(tiny, tmp_path):
    full = models.create("unet", size="smoke", seed=0)
    train(full, tiny, steps=8, batch_size=4, seed=1, progress=False)
    part = models.create("unet", size="smoke", seed=0)
    ck = tmp_path / "ck"
    real_step, calls = part.training_step, []

    def interrupted(batch):  # the run is killed during its 6th step
        calls.append(1)
        if len(calls) == 6:
            raise KeyboardInterrupt
        return real_step(batch)

    part.training_step = interrupted
    with pytest.raises(KeyboardInterrupt):
        train(part, tiny, steps=8, batch_size=4, seed=1, progress=False, checkpoint=ck, checkpoint_every=4)
    assert (ck / "model.safetensors").exists() and (ck / "state.pt").exists()
    assert not list(ck.glob("*.tmp"))
    resumed = models.create("unet", size="smoke")
    r = train(resumed, tiny, steps=8, batch_size=4, seed=1, progress=False, checkpoint=ck)
    assert r.step == 8
    for (k, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-5), k
    fresh = models.create("unet", size="smoke")
    load_checkpoint(fresh, ck)
    L = tiny.batch([0])["L"]
    assert torch.allclose(fresh.eval().colorize(L), resumed.eval().colorize(L), atol=1e-5)


def test_checkpoint_of_another_method_is_refused(tiny, tmp_path):
    train(models.create("unet", size="smoke"), tiny, steps=2, batch_size=2, progress=False, checkpoint=tmp_path)
    with pytest.raises(Exception):
        load_checkpoint(models.create("mean-ab"), tmp_path)


def test_nan_loss_is_reported(tiny):
    m = models.create("unet", size="smoke")
    m.training_step = lambda batch: {"loss": torch.tensor(float("nan"))}
    with pytest.raises(FloatingPointError, match="NaN"):
        train(m, tiny, steps=4, batch_size=2, log_every=2, progress=False)


def test_gray_baseline_metrics_match_direct_computation(tiny):
    df = evaluate(models.create("gray"), tiny, batch_size=5, progress=False)
    assert len(df) == len(tiny) and set(df.category) == set(tiny.categories)
    b = tiny.batch([3])
    gt = M.to_uint8(b["rgb"][0])
    from colorsurvey.color import gray_rgb_from_L
    out = M.to_uint8(gray_rgb_from_L(b["L"])[0])
    row = df[df["index"] == 3].iloc[0]
    assert math.isclose(row.psnr, M.psnr(gt, out), rel_tol=1e-9)
    assert math.isclose(row.ssim, M.ssim(gt, out), rel_tol=1e-9)
    assert math.isclose(row.pcqi, M.pcqi(gt, out), rel_tol=1e-9)
    # the object-masked scores use the batch's mask: the disc, not the white around it
    assert math.isclose(row.psnr_obj, M.masked_psnr(gt, out, b["mask"][0]), rel_tol=1e-9)
    assert math.isclose(row.ssim_obj, M.masked_ssim(gt, out, b["mask"][0]), rel_tol=1e-9)
    assert row.psnr_obj < row.psnr       # doing nothing is right on the background only
    assert row.colorfulness < 1.0  # gray output has (almost) no colour


def test_per_category_table_shape_labels_and_files(tiny, tmp_path):
    mean = models.create("mean-ab")
    mean.fit_statistics([tiny.batch(range(16))])
    results = {"gray": evaluate(models.create("gray"), tiny, progress=False),
               "mean-ab": evaluate(mean, tiny, progress=False)}
    table = per_category_table(results, tiny.categories)
    assert list(table.index) == tiny.categories + [DATASET_ROW]
    assert set(table.columns.get_level_values("method")) == {"gray", "mean-ab"}
    assert {"PSNR", "SSIM", "PSNR obj", "SSIM obj", "PCQI", "UIQM", "ab-PSNR", "AuC", "Colorfulness"} <= set(table.columns.get_level_values("metric"))
    assert math.isclose(table.loc[DATASET_ROW, ("gray", "PSNR")], results["gray"].psnr.mean())
    paths = write_table(table, tmp_path, "t", caption="test")
    assert pd.read_csv(paths["csv"], header=[0, 1], index_col=0).shape == table.shape
    assert "<b>" in paths["html"].read_text() and "\\textbf" in paths["tex"].read_text()
    assert not list(tmp_path.glob("*.tmp"))


def test_gflops_counts_convolutions():
    m = models.create("unet", size="smoke")
    g64, g128 = count_gflops(m, 64), count_gflops(m, 128)
    assert g64 > 0 and math.isclose(g128 / g64, 4.0, rel_tol=0.05)
