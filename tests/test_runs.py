"""The run store: train once, reuse everywhere; invalidated by code, profile, size, overrides and data."""

import json
import os

import pandas as pd
import pytest
import torch

from colorsurvey import models
from colorsurvey import runs as R
from colorsurvey.evaluate import evaluate, evaluation_sample, per_category_table, write_table
from colorsurvey.profiles import get_profile

from .conftest import TinyColors

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = get_profile("smoke").scaled(name="tiny", steps=3, batch_size=4, eval_images=8)


def _fit(store, key="unet", train_set=None, profile=TINY, **kw):
    return store.fit(key, train_set if train_set is not None else TinyColors(16), profile=profile, device="cpu",
                     progress=False, **kw)


@pytest.fixture
def no_training(monkeypatch):
    def forbid(*a, **k):
        raise AssertionError("trained although the store holds this run")
    return lambda: monkeypatch.setattr(R, "train", forbid)


def test_second_fit_loads_the_same_weights_and_history(tmp_path, no_training, capsys):
    store = R.RunStore(tmp_path)
    first = _fit(store)
    assert first.trained and (first.path / "model.safetensors").exists() and (first.path / "run.json").exists()
    no_training()
    second = _fit(R.RunStore(tmp_path))
    assert not second.trained and second.path == first.path
    assert f"found a trained run at {first.path}, loading" in capsys.readouterr().out
    for (n, a), (_, b) in zip(first.model.state_dict().items(), second.model.state_dict().items()):
        assert torch.equal(a, b), n
    assert second.result.history == first.result.history and second.result.step == 3
    spec = json.loads((first.path / "run.json").read_text())["spec"]
    assert spec["method"] == "unet" and spec["steps"] == 3 and spec["data"]["class"].endswith("TinyColors")


@pytest.mark.parametrize("change", ["profile", "size", "override", "data", "seed", "code"])
def test_what_invalidates_a_run(tmp_path, monkeypatch, change):
    store = R.RunStore(tmp_path, verbose=False)
    first = _fit(store)
    kw = {}
    if change == "profile":
        kw["profile"] = TINY.scaled(steps=4)
    elif change == "size":
        kw["size"] = "small"
    elif change == "override":
        kw["depth"] = 2
    elif change == "data":
        kw["train_set"] = TinyColors(17)   # same class and name, other contents
    elif change == "seed":
        kw["seed"] = 1
    else:   # the method's source changed: another fingerprint
        monkeypatch.setattr(R, "code_fingerprint", lambda cls: "edited")
    second = _fit(store, **kw)
    assert second.trained and second.path != first.path


def test_code_fingerprint_covers_the_method_and_the_training_loop():
    from colorsurvey.models.plain import DeepColorization

    fp = R.code_fingerprint(DeepColorization)
    assert fp == R.code_fingerprint(DeepColorization) and fp != R.code_fingerprint(models.get_class("unet"))


def test_identity_tells_apart_sets_with_the_same_name():
    from colorsurvey.data import SyntheticNCD

    a, b = SyntheticNCD("test", size=32, n=40), SyntheticNCD("test", size=32, n=40, seed=1)
    assert a.name == b.name and a.identity() != b.identity()
    assert a.identity() == SyntheticNCD("test", size=32, n=40).identity()
    assert TinyColors(8).identity() != TinyColors(8, size=24).identity()


def test_folder_identity_is_its_file_list_and_sizes(tmp_path):
    from PIL import Image

    from colorsurvey.data import ImageFolder

    for cat, col in (("Red", (200, 30, 30)), ("Blue", (30, 30, 200))):
        (tmp_path / cat).mkdir()
        for i in range(3):
            Image.new("RGB", (40, 40), col).save(tmp_path / cat / f"{i}.png")
    ident = ImageFolder(tmp_path, size=32).identity()
    assert ident == ImageFolder(tmp_path, size=32).identity()
    Image.new("RGB", (48, 40), (30, 200, 30)).save(tmp_path / "Blue" / "2.png")   # replaced: other size
    assert ImageFolder(tmp_path, size=32).identity() != ident


def test_forced_retrain_by_argument_and_environment(tmp_path, monkeypatch):
    first = _fit(R.RunStore(tmp_path, verbose=False))
    again = _fit(R.RunStore(tmp_path, retrain=True, verbose=False))
    assert again.trained and again.path == first.path
    monkeypatch.setenv(R.RETRAIN_ENV, "colorful,unet")
    store = R.RunStore(tmp_path, verbose=False)
    assert _fit(store).trained
    assert not _fit(store).trained          # once per store object, then reused
    monkeypatch.setenv(R.RETRAIN_ENV, "colorful")
    assert not _fit(R.RunStore(tmp_path, verbose=False)).trained
    monkeypatch.setenv(R.RUNS_ENV, str(tmp_path / "elsewhere"))
    assert R.RunStore().root == tmp_path / "elsewhere"


def test_a_half_written_run_is_never_read(tmp_path, monkeypatch):
    store = R.RunStore(tmp_path, verbose=False)
    real_save = R.save_checkpoint

    def crash(*a, **k):
        real_save(*a, **k)
        raise KeyboardInterrupt("interrupted while writing")

    monkeypatch.setattr(R, "save_checkpoint", crash)
    with pytest.raises(KeyboardInterrupt):
        _fit(store)
    spec = store.spec("unet", TinyColors(16), profile=TINY, size="smoke", seed=0, steps=3, batch_size=4)
    assert store.find(spec) is None and not store.path(spec).exists()
    assert list(tmp_path.glob("*.partial"))          # what was written stays aside, under another name
    monkeypatch.setattr(R, "save_checkpoint", real_save)
    run = _fit(store)
    assert run.trained and store.find(spec) == run.path and not list(tmp_path.glob("*.partial"))
    assert not list(tmp_path.rglob("*.tmp"))


def test_scores_are_stored_per_evaluation_setting(tmp_path, monkeypatch):
    store = R.RunStore(tmp_path, verbose=False)
    run = _fit(store)
    test = TinyColors(8)
    a = store.scores(run, test, progress=False)
    calls = []
    import colorsurvey.evaluate as E

    real = E.evaluate
    monkeypatch.setattr(E, "evaluate", lambda *x, **k: calls.append(k) or real(*x, **k))
    pd.testing.assert_frame_equal(store.scores(run, test, progress=False), a)
    assert calls == []                                   # same setting: read back
    assert len(store.scores(run, test, limit=4, progress=False)) == 4    # another setting: evaluated
    assert len(store.scores(run, TinyColors(6), progress=False)) == 6    # another test set: evaluated
    assert len(calls) == 2
    # who asks is recorded, not part of the setting; hints mean nothing to a method without user input
    pd.testing.assert_frame_equal(store.scores(run, test, hints=0, label="benchmark", progress=False), a)
    assert len(calls) == 2
    meta = json.loads(next((run.path / "metrics").glob("*.json")).read_text())
    assert "labels" in meta


def test_scores_keep_hint_settings_apart_for_user_guided_methods(tmp_path, monkeypatch):
    store = R.RunStore(tmp_path, verbose=False)
    data = TinyColors(16)
    run = _fit(store, "realtime-ug", data)
    calls = []
    import colorsurvey.evaluate as E

    real = E.evaluate
    monkeypatch.setattr(E, "evaluate", lambda *x, **k: calls.append(k) or real(*x, **k))
    test = TinyColors(4)
    store.scores(run, test, progress=False)
    store.scores(run, test, hints=0, progress=False)
    store.scores(run, test, hints=0, label="benchmark", progress=False)
    assert len(calls) == 2          # the default simulated user and no hints: two settings


def test_stratified_sample_has_every_category():
    test = TinyColors(40)                       # labels i % 4: a first-n cut would also be balanced here,
    idx, note = evaluation_sample(test, 6)      # so check on a set sorted by category
    assert len(idx) == 6 and note.startswith("6 of 40")

    class Sorted(TinyColors):
        def labels(self):
            return torch.arange(self.n) * len(self.categories) // self.n

        def _load(self, indices, device):
            return super()._load(indices * len(self.categories) // self.n, device)   # label = category

    s = Sorted(40)
    idx, note = evaluation_sample(s, 8)
    labels = s.labels()[idx]
    assert sorted(set(labels.tolist())) == [0, 1, 2, 3] and "4 of 4 categories" in note
    assert evaluation_sample(s, 8)[0] == idx                       # deterministic
    assert evaluation_sample(s, None)[1] == "all 40 test images"
    df = evaluate(models.create("gray"), s, limit=8, progress=False, metrics=("psnr",))
    assert set(df.category) == set(s.categories) and df.attrs["evaluated"] == note
    table = per_category_table({"gray": df}, s.categories)
    assert list(table.index[:-1]) == s.categories


def test_table_caption_says_which_images(tmp_path):
    df = evaluate(models.create("gray"), TinyColors(8), limit=4, progress=False, metrics=("psnr",))
    paths = write_table(per_category_table({"gray": df}), tmp_path, "t", caption="Baselines")
    assert "4 of 8 test images" in paths["html"].read_text() and "4 of 8 test images" in paths["tex"].read_text()


def test_deep_colorization_takes_the_number_of_categories_from_the_data(tmp_path):
    class Many(TinyColors):
        categories = [f"c{i}" for i in range(23)]
        COLORS = torch.rand(23, 3, generator=torch.Generator().manual_seed(0))

    store = R.RunStore(tmp_path, verbose=False)
    run = _fit(store, "deep-colorization", train_set=Many(46, size=24))
    assert run.model.num_classes == 23
    df = store.scores(run, Many(46, size=24), progress=False)
    assert len(df) == 46 and df.category.nunique() == 23
    assert os.path.exists(run.path / "model.safetensors")
