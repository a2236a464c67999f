"""The diversity explorer (notebook 05), driven headlessly: sample again changes the grid, a
seed brings its samples back, the numbers are those of the shared metrics, bad input is a
message, and divcolor's walk moves between mixture components."""

import numpy as np
import pytest

from colorsurvey import models
from colorsurvey.metrics import ab_diversity
from colorsurvey.widgets import DiversityExplorer

from .conftest import TinyColors

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def explorer():
    ms = {k: models.create(k, size="smoke", seed=0) for k in ("cao-cgan", "divcolor", "icgan")}
    return DiversityExplorer(ms, TinyColors(n=4, size=24), index=1, n=4, seed=0, zoom=1)


def test_sample_again_changes_the_grid_and_a_seed_brings_it_back(explorer):
    explorer.set_method("cao-cgan")
    explorer.set_seed(0)
    g0, s0 = explorer.render()
    assert s0["diversity"] == pytest.approx(ab_diversity(s0["ab"])) and s0["diversity"] > 0
    assert s0["best_psnr"] == pytest.approx(max(s0["psnr"]))
    assert explorer.sample_again() == "" and explorer.seed == 4
    g1, _ = explorer.render()
    assert g1.shape == g0.shape and np.abs(g1 - g0).mean() > 0
    explorer.set_seed(0)
    assert np.array_equal(explorer.render()[0], g0)


def test_a_deterministic_method_shows_zero_diversity(explorer):
    explorer.set_method("icgan")
    _, s = explorer.render()
    assert s["diversity"] == 0.0 and "walk" not in s


def test_divcolor_walk_moves_between_components(explorer):
    explorer.set_method("divcolor")
    explorer.set_walk(0.0, 0, 1)
    a = explorer.render()[1]["walk"]
    explorer.set_walk(1.0)
    b = explorer.render()[1]
    assert not np.array_equal(a.numpy(), b["walk"].numpy()) and sum(b["weights"]) == pytest.approx(1, abs=1e-5)


def test_bad_input_is_a_message(explorer):
    assert "outside" in explorer.set_target(99)
    assert "unknown method" in explorer.set_method("nope")
    assert "integer" in explorer.set_seed("x")
    assert "0..1" in explorer.set_walk(2.0)
    assert "empty" in explorer.upload(b"")
    assert "not an image" in explorer.upload(b"not a png at all")


def test_the_widget_builds(explorer):
    w = explorer.widget
    assert w.children and "diverse" in str(w.children[2]._dom_classes)
