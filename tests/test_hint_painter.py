"""The hint painter's callbacks, driven headlessly: add, move, delete, undo, reset, patch size,
colour (picker, swatch, gamut), invalid input as messages, save; and the latency benchmark."""

import json
import sys

import numpy as np
import pytest
import torch

import colorsurvey.models.user_guided  # noqa: F401  (registers the methods)
from colorsurvey import models
from colorsurvey.widgets.hint_painter import HintPainter, benchmark_latency, clamp_to_gamut, parse_color


def _image(size=32):
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    return (95 - 45 * ((xx ** 2 + yy ** 2) < 0.45).float() * (0.8 + 0.2 * yy)).view(1, 1, size, size)


@pytest.fixture
def painter(tmp_path):
    return HintPainter(models.create("hint-propagation"), _image(), zoom=4, out_dir=tmp_path)


@pytest.fixture
def net_painter(tmp_path):
    return HintPainter(models.create("realtime-ug", size="smoke", seed=0), _image(), zoom=4, out_dir=tmp_path)


def test_click_adds_a_hint_at_image_coordinates(painter):
    w = painter.widget
    assert w is not None and painter.points == []
    what = painter.handle_event({"type": "mousedown", "button": 0, "dataX": 41, "dataY": 50})
    assert what == "all" and painter.points[0]["x"] == 10 and painter.points[0]["y"] == 12
    assert painter.selected == 0 and painter.points[0]["size"] == painter.patch
    assert "added" in painter.message


def test_colour_change_in_the_picker_gives_a_new_prediction(net_painter):
    hp = net_painter
    hp.widget
    ui = hp._ui
    hp.handle_event({"type": "mousedown", "button": 0, "dataX": 64, "dataY": 64})
    hp._refresh()
    ab0 = hp.predict().clone()
    shown0 = ui["result"].value
    ui["picker"].value = "#10c020"                                 # what the browser's picker does
    assert "ab =" in hp.message
    ab1 = hp.predict()
    assert not torch.allclose(ab0, ab1)                            # the network saw the new colour
    assert ui["result"].value != shown0 or np.abs(ab1 - ab0).max() < 0.5
    a, b = hp.points[0]["a"], hp.points[0]["b"]
    assert a < -20 and b > 20                                      # green: a < 0, b > 0


def test_colour_change_changes_the_shown_picture(painter):
    painter.widget
    ui = painter._ui
    painter.handle_event({"type": "mousedown", "button": 0, "dataX": 64, "dataY": 64})
    painter._refresh()
    before = ui["result"].value
    ui["picker"].value = "#2050e0"
    assert ui["result"].value != before


def test_drag_moves_and_undo_restores(net_painter):
    hp = net_painter
    hp.widget
    hp.add(8, 8, ab=(30, 20))
    ab_before = hp.predict().clone()
    assert hp.handle_event({"type": "mousedown", "button": 0, "dataX": 8 * 4 + 2, "dataY": 8 * 4 + 2}) == "all"
    assert hp.handle_event({"type": "mousemove", "dataX": 70, "dataY": 90}) == "canvas"
    assert hp.handle_event({"type": "mousemove", "dataX": 80, "dataY": 96}) == "canvas"
    assert hp.handle_event({"type": "mouseup", "dataX": 80, "dataY": 96}) == "all"
    assert (hp.points[0]["x"], hp.points[0]["y"]) == (20, 24)
    assert not torch.allclose(hp.predict(), ab_before)
    hp.undo()                                                     # one drag = one undo step
    assert (hp.points[0]["x"], hp.points[0]["y"]) == (8, 8)
    assert torch.allclose(hp.predict(), ab_before)


def test_right_click_and_button_delete_and_reset(painter):
    painter.widget
    ui = painter._ui
    painter.add(5, 5, ab=(20, 20))
    painter.add(20, 20, ab=(-20, 30))
    assert painter.handle_event({"type": "contextmenu", "button": 2, "dataX": 22, "dataY": 22}) == "all"
    assert [(p["x"], p["y"]) for p in painter.points] == [(20, 20)]
    painter.handle_event({"type": "contextmenu", "button": 2, "dataX": 120, "dataY": 2})
    assert "right-click a hint" in painter.message and len(painter.points) == 1
    ui["delete"].click()
    assert painter.points == []
    ui["undo"].click()
    ui["undo"].click()
    assert len(painter.points) == 2
    ui["reset"].click()
    assert painter.points == [] and painter.predict().abs().max() == 0
    ui["undo"].click()
    assert len(painter.points) == 2


def test_patch_size_applies_to_the_selected_hint_and_is_clamped(painter):
    painter.widget
    painter.add(10, 10, ab=(20, 10))
    painter._ui["patch"].value = 7
    assert painter.points[0]["size"] == 7 and painter.patch == 7
    assert "clamped" in painter.set_patch(15) and painter.patch == 9
    hints, mask = painter.hint_tensors()
    assert mask.sum() == 81


def test_invalid_input_becomes_a_message_not_an_exception(painter):
    painter.widget
    assert "clamped" in painter.add(-5, 100, ab=(0, 0))
    assert (painter.points[-1]["x"], painter.points[-1]["y"]) == (0, 31)
    n = len(painter.points)
    assert "not finite" in painter.add(float("nan"), 3)
    assert "not a pair of numbers" in painter.add("left", 3)
    assert len(painter.points) == n
    assert "Error" in painter.set_color("not-a-colour")
    assert "there is no hint" in painter.move(7, 1, 1)
    assert "there is no hint" in painter.delete(5)
    assert "clamped" in painter.set_color(ab=(200.0, -200.0))
    a, b = painter.points[-1]["a"], painter.points[-1]["b"]
    L = painter.L_at(0, 31)
    assert clamp_to_gamut(L, a, b)[2] is False                  # what was kept is in gamut
    assert painter.handle_event({"type": "mousedown", "button": 0, "dataX": "x"}) in ("", "canvas", "all")
    painter._ui["picker"].value = "#ff00ff"                       # magenta is out of gamut at this L
    assert "clamped" in painter.message


def test_new_hint_takes_the_current_prediction_there(net_painter):
    cur = net_painter.predict()
    net_painter.add(16, 16)
    p = net_painter.points[0]
    a, b, _ = clamp_to_gamut(net_painter.L_at(16, 16), float(cur[0, 0, 16, 16]), float(cur[0, 1, 16, 16]))
    assert (p["a"], p["b"]) == pytest.approx((a, b), abs=1e-4)


def test_suggested_swatches_and_gamut_pick(net_painter):
    hp = net_painter
    hp.widget
    hp.handle_event({"type": "mousedown", "button": 0, "dataX": 64, "dataY": 64})
    hp._refresh()
    sw = hp._ui["swatches"].children
    assert 1 <= len(sw) <= 6 and len(hp._last_suggestions) == len(sw)
    a, b, _ = hp._last_suggestions[-1]
    sw[-1].click()
    assert (hp.points[0]["a"], hp.points[0]["b"]) == pytest.approx(clamp_to_gamut(hp.L_at(16, 16), a, b)[:2])
    # the gamut image: its pixel -> ab mapping, and a click there sets the colour
    g = hp.gamut_image()
    assert g.shape == (121, 121, 3)
    assert hp.gamut_to_ab(60, 60) == pytest.approx((0.0, 0.0))
    assert hp.gamut_to_ab(0, 0) == pytest.approx((-110.0, 110.0))
    gamut_events = hp._ui["events"][2]
    gamut_events._dom_handlers({"type": "click", "dataX": 40, "dataY": 40})   # as ipyevents delivers it
    assert hp.points[0]["a"] < 0 and hp.points[0]["b"] > 0


def test_canvas_events_through_the_ipyevents_handlers(painter):
    painter.widget
    ev, move, _ = painter._ui["events"]
    before = painter._ui["result"].value
    ev._dom_handlers({"type": "mousedown", "button": 0, "dataX": 60, "dataY": 60})
    assert len(painter.points) == 1 and "1 hint(s)" in painter._ui["status"].value
    painter._ui["picker"].value = "#3060ff"
    assert painter._ui["result"].value != before
    ev._dom_handlers({"type": "mousedown", "button": 0, "dataX": 60, "dataY": 60})
    move._dom_handlers({"type": "mousemove", "dataX": 100, "dataY": 20})
    ev._dom_handlers({"type": "mouseup", "dataX": 100, "dataY": 20})
    assert (painter.points[0]["x"], painter.points[0]["y"]) == (25, 5)
    ev._dom_handlers({"type": "contextmenu", "button": 2, "dataX": 100, "dataY": 20})
    assert painter.points == [] and "0 hint(s)" in painter._ui["status"].value


def test_save_writes_the_result_and_the_hints(painter, tmp_path):
    painter.add(16, 16, ab=(40, 30))
    paths = painter.save()
    assert paths["result"].exists() and paths["result"].stat().st_size > 100
    rec = json.loads(paths["hints"].read_text())
    assert rec["method"] == "hint-propagation" and rec["image_size"] == [32, 32]
    assert rec["hints"][0]["x"] == 16 and rec["hints"][0]["rgb"].startswith("#")


def test_without_ipyevents_the_xy_fields_add_hints(painter, monkeypatch):
    monkeypatch.setitem(sys.modules, "ipyevents", None)
    painter.widget
    ui = painter._ui
    assert "ipyevents is not installed" in painter.message
    assert len(ui["manual"].children) == 3
    ui["x"].value, ui["y"].value = 3, 4
    ui["add"].click()
    assert (painter.points[0]["x"], painter.points[0]["y"]) == (3, 4)


def test_work_size_runs_the_network_smaller():
    hp = HintPainter(models.create("realtime-ug", size="smoke", seed=0), _image(64), zoom=1, work_size=32)
    hp.add(40, 20, ab=(30, 30), size=4)
    hints, mask = hp.hint_tensors(32, 32)
    assert mask.sum() == 4 and mask[0, 0, 10, 20] == 1
    assert hp.predict().shape == (1, 2, 64, 64)


def test_parse_color():
    assert parse_color("#ff0000") == (1.0, 0.0, 0.0)
    assert parse_color("white") == (1.0, 1.0, 1.0)
    assert parse_color((0, 128, 255)) == pytest.approx((0, 128 / 255, 1.0))
    with pytest.raises(ValueError):
        parse_color("nope")


def test_latency_benchmark_prints(capsys):
    """A benchmark, not a timed test: prints one update's latency at 256 x 256 with the brief-size
    network, at full size and with the network at 128 px."""
    net = models.create("realtime-ug", size="small", seed=0)
    r = benchmark_latency(net, 256, repeats=2)
    r2 = benchmark_latency(net, 256, repeats=2, work_size=128)
    out = capsys.readouterr().out
    assert "hint painter update at 256x256" in out and r["update_ms"] > 0 and r2["work_size"] == 128
    with capsys.disabled():
        print(f"\n{out.strip()}")
