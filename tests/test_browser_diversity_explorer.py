"""The diversity explorer in a real browser: JupyterLab + headless Chromium (Playwright).

Opens a notebook that builds Cao et al.'s GAN (smoke size) and shows the explorer, presses
"sample again" and asserts that the grid of samples shown in the page changed; saves
screenshots under output/browser/ and stops the servers by PID (tests/jupyter_browser.py).
Skipped where the browser tools are missing, unless CI is set: then it fails.
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
from colorsurvey.widgets import DiversityExplorer

torch.set_num_threads(1)
net = models.create("cao-cgan", size="smoke", seed=0)
explorer = DiversityExplorer(net, SyntheticNCD("test", size=32, n=20), index=0, n=6, zoom=3)
explorer.widget
"""


@pytest.mark.slow
def test_sample_again_changes_the_grid_in_the_browser():
    require_browser()
    with notebook_in_browser("diversity_explorer", NOTEBOOK.format(repo=str(REPO))) as (page, _browser):
        grid = wait_for_output(page, ".diverse-grid", timeout=180)
        page.wait_for_function("() => { const i = document.querySelector('.diverse-grid img, img.diverse-grid');"
                               " return i && i.complete && i.naturalWidth > 0; }", timeout=30000)
        before = pixels(grid)
        info_before = page.locator(".diverse-info").first.inner_text()
        screenshot(page, "diversity_explorer_before")
        page.locator("button.diverse-sample-again").first.click()
        after = wait_changed(grid, before)
        shot = screenshot(page, "diversity_explorer_after")
        assert shot.exists()
        assert np.abs(after - before).mean() > 0.5, "sample again did not change the samples shown"
        assert page.locator(".diverse-info").first.inner_text() != info_before   # new seeds, new numbers
        assert "Traceback" not in page.locator(".jp-OutputArea").first.inner_text()
