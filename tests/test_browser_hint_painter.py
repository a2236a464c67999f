"""The hint painter in a real browser: JupyterLab + headless Chromium (Playwright).

Starts JupyterLab on 127.0.0.1, opens a notebook showing the hint painter, clicks on the canvas,
picks a colour in the colour picker, and asserts that the colorized result shown in the page
changed; saves screenshots under output/browser/ and stops the servers by PID. Skipped where the
browser tools are missing, unless CI is set: then it fails.

The method is ``hint-propagation`` (normalised convolution of the hints): it answers instantly and
visibly to a new colour without training, so the test checks the widget's round trip (browser ->
kernel -> method -> picture -> browser) rather than how far an untrained network's output moves —
an untrained network changes the picture by a grey level or two. The networks are exercised by
the same callbacks headlessly in tests/test_hint_painter.py.
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
import colorsurvey.models.user_guided  # registers the user-guided methods
from colorsurvey import models
from colorsurvey.widgets.hint_painter import HintPainter

net = models.create("hint-propagation")
yy, xx = torch.meshgrid(torch.linspace(-1, 1, 64), torch.linspace(-1, 1, 64), indexing="ij")
L = (95 - 45 * ((xx ** 2 + yy ** 2) < 0.45).float() * (0.8 + 0.2 * yy)).view(1, 1, 64, 64)
hp = HintPainter(net, L, zoom=4, out_dir={out!r})
hp.widget
"""


@pytest.mark.slow
def test_click_and_pick_a_colour_changes_the_result_in_the_browser():
    require_browser()
    out = REPO / "output" / "browser"
    with notebook_in_browser("hint_painter", NOTEBOOK.format(repo=str(REPO), out=str(out / "saved"))) as (page, browser):
        canvas = wait_for_output(page, "img.hp-canvas", timeout=90)
        result = wait_for_output(page, "img.hp-result", timeout=30)
        page.wait_for_function("() => { const i = document.querySelector('img.hp-result');"
                               " return i && i.complete && i.naturalWidth > 0; }", timeout=30000)
        status = page.locator(".hp-status").first
        assert "0 hint(s)" in status.inner_text()
        before = pixels(result)
        screenshot(page, "hint_painter_before")

        # click on the object: the kernel adds a hint (the status line counts it)
        canvas.click(position={"x": 128, "y": 140})
        page.wait_for_function("() => document.querySelector('.hp-status').innerText.includes('1 hint(s)')",
                               timeout=30000)
        after_click = pixels(result)

        # pick a saturated green in the colour picker
        picker = page.locator(".hp-color input[type='color']").first
        picker.fill("#10c020")
        page.wait_for_function("() => document.querySelector('.hp-message').innerText.includes('ab =')",
                               timeout=30000)
        after = wait_changed(result, after_click)
        shot = screenshot(page, "hint_painter_after")
        assert shot.exists()
        assert np.abs(after - after_click).mean() > 0.5, "picking a colour did not change the shown result"
        assert np.abs(after - before).mean() > 0.5, "the shown result is the same as before any hint"
        errors = [c for c in browser.console if c.startswith("error") and "favicon" not in c]
        assert "Traceback" not in page.locator(".jp-OutputArea").first.inner_text(), errors
