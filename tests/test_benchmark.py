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
    kw.setdefault("runs", tmp_path / "runs")
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
    import colorsurvey.runs as R

    def no_training(*a, **k):
        raise AssertionError("training ran although a stored run exists")

    monkeypatch.setattr(R, "train", no_training)
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


def test_shared_cache_is_reused_from_another_output_folder(tmp_path, monkeypatch):
    """`colorsurvey benchmark` and notebook 08 write tables to different folders but share a run store."""
    runs = tmp_path / "runs"
    _bench(tmp_path / "cli", ["unet"], runs=runs).run(official=False)
    import colorsurvey.runs as R

    monkeypatch.setattr(R, "train", lambda *a, **k: (_ for _ in ()).throw(AssertionError("retrained")))
    again = _bench(tmp_path / "notebook", ["unet"], runs=runs).run(official=False)
    assert again.trained == 0 and "unet" not in again.failures
    assert not (tmp_path / "notebook" / "runs").exists()


def test_a_run_of_one_data_set_is_not_reused_for_another_with_the_same_name(tmp_path):
    """The former cache keyed by the data's label returned one test set's rows for another."""
    runs = tmp_path / "runs"
    first = _bench(tmp_path, ["gray"], runs=runs).run(official=False)
    assert len(first.metrics["gray"][0]) == 8
    other = Benchmark(TINY, "tiny", out=tmp_path, methods=["gray"], device="cpu", progress=False, runs=runs,
                      train_set=TinyColors(16), test_set=TinyColors(6, size=24)).run(official=False)
    assert len(other.metrics["gray"][0]) == 6        # scored on the set it was given
    again = _bench(tmp_path, ["unet"], runs=runs).run(official=False)
    retrained = Benchmark(TINY, "tiny", out=tmp_path, methods=["unet"], device="cpu", progress=False, runs=runs,
                          train_set=TinyColors(12), test_set=TinyColors(8)).run(official=False)
    assert again.trained == 2 and retrained.trained == 2   # another training set: trained afresh


def test_verdicts_speak_only_about_what_was_run(tmp_path):
    """A benchmark of baselines only judges nothing (it used to claim a '+nan dB' gain of learned methods)."""
    b = _bench(tmp_path, ["gray", "mean-ab"])
    r = b.run(official=False)
    assert b.conclusions(r) == []
    import json

    b.write(r)
    assert json.loads((tmp_path / "tables" / "conclusions.json").read_text()) == []


def _tables(psnr: dict, params: dict, single_gain: dict, complex_gain: dict):
    ds = pd.DataFrame({"PSNR": psnr, "status": "ok"})
    compute = pd.DataFrame({"parameters": params})
    cmp = pd.DataFrame({"PSNR single gain": single_gain, "PSNR complex gain": complex_gain})
    return ds, compute, cmp


def test_survey_conclusions_follow_the_numbers():
    from colorsurvey.benchmark import survey_conclusions

    base = {"gray": 24.0, "mean-ab": 24.5}
    # bigger is better, strictly: the survey's remark (a) is contradicted
    ds, compute, cmp = _tables({**base, "a": 25.0, "b": 26.0, "c": 27.0, "d": 28.0},
                               {"gray": 0, "mean-ab": 0, "a": 1e3, "b": 1e4, "c": 1e5, "d": 1e6},
                               {"gray": 0, "a": 1.0, "b": 2.0, "c": 3.0}, {"gray": 0, "a": 0.5, "b": 1.0, "c": 4.0})
    (a, b) = survey_conclusions(ds, compute, cmp)
    assert a["verdict"] == "disagrees" and "+1.00" in a["evidence"] and "d (1.00 M" in a["evidence"]
    assert b["verdict"] == "agrees" and b["evidence"].startswith("2 of 3")
    # size unrelated to score, complex scenes no harder
    ds, compute, cmp = _tables({**base, "a": 28.0, "b": 25.0, "c": 27.0, "d": 26.0},
                               {"gray": 0, "mean-ab": 0, "a": 1e3, "b": 1e4, "c": 1e5, "d": 1e6},
                               {"a": 1.0, "b": 2.0}, {"a": 1.5, "b": 2.5})
    (a, b) = survey_conclusions(ds, compute, cmp)
    assert a["verdict"] == "agrees" and b["verdict"] == "disagrees"
    # a method with no parameters (hint propagation at 0 hints) learned nothing: not counted in (b)
    ds, compute, cmp = _tables({**base, "a": 25.0, "b": 26.0, "c": 27.0, "prop": 24.0},
                               {"gray": 0, "mean-ab": 0, "a": 1e3, "b": 1e4, "c": 1e5, "prop": 0},
                               {"a": 1.0, "prop": 0.0}, {"a": 0.5, "prop": 0.0})
    assert survey_conclusions(ds, compute, cmp)[1]["evidence"].startswith("1 of 1")
    # nothing learned colour (a smoke run): no verdict either way
    ds, compute, cmp = _tables({**base, "a": 23.0, "b": 24.1, "c": 23.5},
                               {"gray": 0, "mean-ab": 0, "a": 1e3, "b": 1e4, "c": 1e5},
                               {"a": -1.0, "b": 0.1}, {"a": -2.0, "b": 0.0})
    assert [c["verdict"] for c in survey_conclusions(ds, compute, cmp)] == ["cannot tell", "cannot tell"]
    # too few learned methods: say so
    ds, compute, _ = _tables({**base, "a": 25.0}, {"gray": 0, "mean-ab": 0, "a": 10}, {}, {})
    assert survey_conclusions(ds, compute, None)[0]["verdict"] == "cannot tell"


def test_the_survey_table_beside_ours_labels_reproductions(tmp_path):
    """The survey's NCD numbers beside ours: our re-implementation is labelled with its profile and data and never
    subtracted; the official weights on real NCD are a reproduction, with the difference."""
    from colorsurvey.benchmark import OFFICIAL_WEIGHTS, BenchmarkResult

    b = _bench(tmp_path, ["gray"])
    frame = pd.DataFrame({"category": ["Apple", "Banana"], "psnr": [20.0, 22.0], "ssim": 0.8, "pcqi": 0.9, "uiqm": 1.0})
    label = OFFICIAL_WEIGHTS["colorful"]
    r = BenchmarkResult(metrics={"iizuka": [frame], label: [frame]}, official={label: "ok"})
    side = b.survey_comparison(r)
    assert side.shape[0] == 6 * 21
    iz, eccv = side.loc[("iizuka2016", "Dataset-level")], side.loc[("zhang2016_eccv16", "Dataset-level")]
    assert "re-implementation" in iz["ours"] and "tiny" in iz["ours"] and iz["PSNR ours"] == 21.0
    assert label in eccv["ours"] and pd.isna(eccv["PSNR ours - survey"])      # official weights, but not on NCD
    b.data = "ncd"
    eccv = b.survey_comparison(r).loc[("zhang2016_eccv16", "Dataset-level")]
    assert eccv["PSNR ours - survey"] == pytest.approx(21.0 - eccv["PSNR survey"])
    assert pd.isna(b.survey_comparison(r).loc[("iizuka2016", "Dataset-level"), "PSNR ours - survey"])
