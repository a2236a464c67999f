"""The exemplar picker in a real browser: JupyterLab + headless Chromium (Playwright).

Starts JupyterLab on 127.0.0.1, opens a notebook that trains Deep Exemplar for a few steps and
shows the picker, clicks one reference in the gallery and then one of another category, and
asserts that the colorized result shown in the page changed each time; saves screenshots
under output/browser/ and stops the servers by PID (tests/jupyter_browser.py). Skipped where
the browser tools are missing, unless CI is set: then it fails.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))   # the harness beside this file
from jupyter_browser import (REPO, notebook_in_browser, pixels, require_browser, screenshot,  # noqa: E402
                             wait_changed, wait_for_output)

NOTEBOOK = """
import sys, torch
sys.path.insert(0, {repo!r})
from colorsurvey import models
from colorsurvey.data import SyntheticNCD
from colorsurvey.train import train
from colorsurvey.widgets import ExemplarPicker

torch.set_num_threads(1)
pool = SyntheticNCD("train", size=48, n=200)
net = models.create("deep-exemplar", size="smoke", seed=0, references=pool)
train(net, pool, steps=40, batch_size=8, progress=False)
picker = ExemplarPicker(net, SyntheticNCD("test", size=48, n=60), index=0, n_same=3, n_other=2, zoom=3)
print("gallery:", [g["name"] for g in picker.gallery])
picker.widget
"""


@pytest.mark.slow
def test_picking_a_reference_changes_the_result_in_the_browser():
    require_browser()
    with notebook_in_browser("exemplar_picker", NOTEBOOK.format(repo=str(REPO))) as (page, _browser):
        result = wait_for_output(page, ".exemplar-result", timeout=180)
        strip = page.locator(".exemplar-strip").first
        page.wait_for_function("() => { const i = document.querySelector('.exemplar-result img, img.exemplar-result');"
                               " return i && i.complete && i.naturalWidth > 0; }", timeout=30000)
        first_result, first_strip = pixels(result), pixels(strip)
        screenshot(page, "exemplar_picker_before")

        # a reference of another category (the last gallery button): other colours
        buttons = page.locator("button.exemplar-pick")
        assert buttons.count() >= 3
        buttons.nth(buttons.count() - 1).click()
        after_strip = wait_changed(strip, first_strip)
        after_result = wait_changed(result, first_result, timeout=10)
        shot = screenshot(page, "exemplar_picker_after")
        assert shot.exists()
        assert np.abs(after_strip - first_strip).mean() > 0.5, "picking a reference did not change the shown colours"
        assert np.abs(after_result - first_result).mean() > 0.5, "picking a reference did not change the result"
        assert "Traceback" not in page.locator(".jp-OutputArea").first.inner_text()
