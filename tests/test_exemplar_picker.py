"""The exemplar picker, driven headlessly (state methods and the ipywidgets callbacks)."""

import datetime
import io

import numpy as np
import pytest
from PIL import Image

import colorsurvey.models.exemplar  # noqa: F401  (registers the methods)
from colorsurvey import models
from colorsurvey.widgets.exemplar_picker import ExemplarPicker, decode_upload

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: extra threads only stall (tests/conftest.py)

NOW = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)


@pytest.fixture
def picker(tiny):
    de = models.create("deep-exemplar", size="smoke", seed=0).eval()
    fe = models.create("fast-exemplar", size="smoke", seed=0).eval()
    return ExemplarPicker({"deep-exemplar": de, "fast-exemplar": fe}, tiny, index=1, n_same=3, n_other=3)


def png(arr: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    img = Image.fromarray(arr)
    if mode:
        img = img.convert(mode)
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_gallery_holds_the_category_first_then_others(picker, tiny):
    g = picker.gallery
    assert len(g) == 6 and [x["same"] for x in g] == [True] * 3 + [False] * 3
    lab = int(tiny.labels()[1])
    assert all(int(tiny.labels()[x["index"]]) == lab and x["index"] != 1 for x in g[:3])
    assert all(int(tiny.labels()[x["index"]]) != lab for x in g[3:])
    assert g[0]["name"].startswith("Green #")


def test_picking_another_reference_changes_the_result(picker):
    pic0, s0 = picker.render()
    assert pic0.ndim == 3 and pic0.shape[2] == 3 and set(s0) >= {"psnr", "chroma_psnr", "colorfulness"}
    r0 = picker.result_rgb()
    assert picker.pick(4) == ""
    r1 = picker.result_rgb()
    assert not np.allclose(r0, r1)
    assert picker.set_method("fast-exemplar") == ""
    assert not np.allclose(picker.result_rgb(), r1)
    assert picker.compute()["confidence"] is None                     # FDE has no similarity map
    picker.render()


def test_bad_input_gets_a_message_not_an_exception(picker):
    assert "no gallery item" in picker.pick(99)
    assert "whole number" in picker.pick("x") or "by number" in picker.pick("x")
    assert "outside" in picker.set_target(10_000) and picker.index == 1
    assert "unknown method" in picker.set_method("nope")
    n = len(picker.gallery)
    assert "not an image" in picker.upload(b"this is not a picture", "notes.txt")
    assert "empty" in picker.upload(b"", "empty.png")
    assert "too small" in picker.upload(png(np.zeros((4, 4, 3), np.uint8)), "tiny.png")
    assert len(picker.gallery) == n


@pytest.mark.parametrize("mode", [None, "RGBA", "L", "P", "I;16", "CMYK"])
def test_uploads_of_any_mode_become_references(picker, mode):
    arr = np.zeros((40, 60, 3), np.uint8)
    arr[..., 0] = 220
    arr[10:30, 20:40] = (30, 200, 40)
    data = png(arr, mode) if mode != "CMYK" else None
    if mode == "CMYK":
        buf = io.BytesIO()
        Image.fromarray(arr).convert("CMYK").save(buf, format="JPEG")
        data = buf.getvalue()
    rgb, msg = decode_upload(data, 32)
    assert msg == "" and rgb.shape == (3, 32, 32) and 0 <= float(rgb.min()) <= float(rgb.max()) <= 1
    assert picker.upload(data, f"upload-{mode}.png") == ""
    assert picker.gallery[picker.selected]["name"].startswith("upload")
    picker.render()


def test_widget_callbacks(picker):
    w = picker.widget
    buttons, images, uploads, ints = [], [], [], []

    def walk(x):
        for c in getattr(x, "children", ()):
            walk(c)
        name = type(x).__name__
        {"Button": buttons, "Image": images, "FileUpload": uploads, "IntText": ints}.get(name, []).append(x)

    walk(w)
    picks = [b for b in buttons if "exemplar-pick" in b._dom_classes]
    assert len(picks) == len(picker.gallery)
    assert all(b.description == g["name"] and g["name"] in b.tooltip for b, g in zip(picks, picker.gallery))
    result = next(i for i in images if "exemplar-result" in i._dom_classes)
    message = next(x for x in _all(w) if "exemplar-message" in getattr(x, "_dom_classes", ()))
    before = result.value
    picks[4].click()
    assert picker.selected == 4 and result.value != before and message.value == ""
    assert picks[4].button_style == "primary"
    # an upload through the widget: ipywidgets 8 gives a tuple of dicts
    arr = np.full((24, 24, 3), (200, 30, 30), np.uint8)
    uploads[0].set_trait("value", ({"name": "red.png", "type": "image/png", "size": 10,
                                    "content": memoryview(png(arr)), "last_modified": NOW},))
    assert picker.gallery[picker.selected]["name"] == "upload: red.png"
    uploads[0].set_trait("value", ({"name": "bad.png", "type": "image/png", "size": 3,
                                    "content": memoryview(b"bad"), "last_modified": NOW},))
    assert "not an image" in message.value
    # a new target rebuilds the gallery and keeps the uploads
    ints[0].value = 2
    assert picker.index == 2 and any(g["index"] is None for g in picker.gallery)
    ints[0].value = 999
    assert "outside" in message.value and picker.index == 2


def _all(x):
    yield x
    for c in getattr(x, "children", ()):
        yield from _all(c)
