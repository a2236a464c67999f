import math

import pandas as pd
import pytest

from colorsurvey import metrics as M
from colorsurvey import models
from colorsurvey.benchmark import Benchmark
from colorsurvey.color import gray_rgb_from_L
from colorsurvey.evaluate import DATASET_ROW
from colorsurvey.profiles import get_profile

from .conftest import TinyColors

TINY = get_profile("smoke").scaled(name="tiny", steps=3, batch_size=4, eval_images=8, seeds=2)


def _bench(tmp_path, methods, **kw):
    return Benchmark(TINY, "tiny", out=tmp_path, methods=methods, device="cpu", progress=False,
                     train_set=TinyColors(16), test_set=TinyColors(8), **kw)


def test_table_shape_labels_and_baseline_numbers(tmp_path):
    b = _bench(tmp_path, ["gray", "mean-ab", "unet"])
    r = b.run(official=False)
    table = r.table(b.test_set.categories)
    assert list(table.index) == b.test_set.categories + [DATASET_ROW]
    assert set(table.columns.get_level_values("method")) == {"gray", "mean-ab", "unet"}
    assert {"PSNR", "SSIM", "PCQI", "UIQM"} <= set(table.columns.get_level_values("metric"))
    # the gray row is exactly what a direct computation gives
    direct = []
    for i in range(8):
        s = b.test_set.batch([i])
        direct.append(M.psnr(M.to_uint8(s["rgb"][0]), M.to_uint8(gray_rgb_from_L(s["L"])[0])))
    assert math.isclose(table.loc[DATASET_ROW, ("gray", "PSNR")], sum(direct) / 8, rel_tol=1e-9)
    ds = r.dataset_table()
    assert ds.loc["unet", "seeds"] == 2 and not math.isnan(ds.loc["unet", "PSNR ±"])
    assert (ds["status"] == "ok").all()
    paths = b.write(r)
    assert pd.read_csv(paths["dataset_level"], index_col=0).shape[0] == 3
    assert (tmp_path / "tables" / "per_category.tex").exists() and (tmp_path / "tables" / "compute.csv").exists()
    assert not list(tmp_path.rglob("*.tmp"))


def test_rerun_reuses_cache_without_training(tmp_path, monkeypatch):
    first = _bench(tmp_path, ["unet"]).run(official=False)
    assert first.trained == 2
    import colorsurvey.benchmark as B

    def no_training(*a, **k):
        raise AssertionError("training ran although a cached result exists")

    monkeypatch.setattr(B, "train", no_training)
    second = _bench(tmp_path, ["unet"]).run(official=False)
    assert second.trained == 0 and "unet" not in second.failures
    pd.testing.assert_frame_equal(pd.concat(first.metrics["unet"]).reset_index(drop=True),
                                  pd.concat(second.metrics["unet"]).reset_index(drop=True), check_dtype=False)


def test_failing_method_is_reported_not_fatal(tmp_path, monkeypatch):
    cls = models.get_class("unet")

    def broken(self, batch):
        raise RuntimeError("exploded on purpose")

    monkeypatch.setattr(cls, "training_step", broken)
    r = _bench(tmp_path, ["gray", "unet"]).run(official=False)
    assert "unet" in r.failures and "exploded on purpose" in r.failures["unet"]
    assert "gray" in r.metrics
    ds = r.dataset_table()
    assert ds.loc["unet", "status"].startswith("failed") and ds.loc["gray", "status"] == "ok"
    assert (tmp_path / "logs" / "unet-s0.txt").exists()


def test_official_rows_say_why_they_are_missing(tmp_path, monkeypatch):
    b = _bench(tmp_path, ["gray"])
    import colorsurvey.data.download as D

    def offline(*a, **k):
        raise D.OfflineError("no network (test)")

    monkeypatch.setattr(D, "download", offline)
    r = b.run(official=True)
    assert r.official and all(v != "ok" for v in r.official.values())
    assert all(v.startswith("not available") for v in r.official.values())


def test_unknown_method_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown methods"):
        _bench(tmp_path, ["nope"])
