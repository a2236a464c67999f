"""The survey's architecture figures traced from the modules, and the recipe table (issue 16)."""

import matplotlib
import pytest

from colorsurvey import models
from colorsurvey.figures import SURVEY_FIGURES, architecture_figure, recipe_table, trace_blocks
from colorsurvey.models.base import TAXONOMY
from colorsurvey.profiles import get_profile

matplotlib.use("Agg")
pytestmark = pytest.mark.usefixtures("one_thread")


def test_every_surveyed_class_has_its_figure_number():
    assert set(SURVEY_FIGURES) == set(TAXONOMY) - {"baseline"}
    assert sorted(SURVEY_FIGURES.values()) == list(range(2, 9))


def test_trace_follows_the_forward_pass():
    m = models.create("scribbler", size="smoke")
    blocks = trace_blocks(m, 32)
    ran = [b.name for b in blocks if b.calls]
    assert ran == ["stem", "down", "res", "up", "out"]               # ModuleLists count their members' calls
    assert next(b for b in blocks if b.name == "down").calls == len(m.down)
    assert [b.name for b in blocks if not b.calls] == ["discriminator"]  # training only
    assert next(b for b in blocks if b.name == "out").out_shape == (1, 2, 32, 32)
    assert m.training                                                   # mode restored


def test_trace_marks_frozen_and_repeated_blocks(tiny):
    m = models.create("deep-exemplar", size="smoke", references=tiny)
    vgg = next(b for b in trace_blocks(m, 32, batch=tiny.batch([0, 1])) if b.name == "vgg")
    assert vgg.calls == 2 and vgg.parameters > 0 and vgg.trainable == 0   # target and reference, frozen


def test_architecture_figure_and_recipes():
    ms = {k: models.create(k, size="smoke") for k in ("realtime-ug", "idc")}
    fig = architecture_figure(ms, "user-guided", differs="smoke widths", size=32)
    assert "Fig. 3" in fig._suptitle.get_text() and len(fig.axes) == 2
    with pytest.raises(KeyError):
        architecture_figure(ms, "baseline")
    t = recipe_table(models.list_models("exemplar-based"), get_profile("smoke"))
    assert t["survey §"].tolist() == ["2.7.1", "2.7.2", "2.7.3"]
    assert all(r.startswith("§2.7") for r in t["the survey's training recipe"])


def test_every_surveyed_method_states_the_survey_recipe():
    for c in models.cards():
        if c.taxonomy != "baseline":
            assert c.survey_recipe.startswith("§" + c.section), c.key
        else:
            assert c.section == "—" and not c.survey_recipe, c.key
