"""The text-and-palette widget in a real browser: JupyterLab + headless Chromium (Playwright).

Starts JupyterLab on 127.0.0.1, opens a notebook that trains Text2Colors and Learning to Color
from Language on discs coloured by their caption's colour word alone (the learning test's data) and shows the widget, types a sentence that differs in its colour
word and presses Enter, and asserts that both pictures changed and that an unknown word is
listed; saves screenshots under output/browser/ (tests/jupyter_browser.py). Skipped where the
browser tools are missing, unless CI is set: then it fails.
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
from colorsurvey.widgets import TextPalette
from tests.test_text_based import LEARNING_STEPS, ColourWords

torch.set_num_threads(1)
torch.manual_seed(0)
data = ColourWords()                  # identical gray discs, red or green by the caption alone
nets = {{k: models.create(k, size="smoke", seed=0) for k in LEARNING_STEPS}}
for k, net in nets.items():
    net.fit_statistics([data.batch(range(16))])
    net.train()
    for step in range(LEARNING_STEPS[k]):
        net.training_step(data.batch([(2 * step + j) % 16 for j in range(8)]))
tp = TextPalette(nets["text2colors"], nets["color-from-language"], data, index=0, caption="a red apple", zoom=8)
tp.widget
"""


@pytest.mark.slow
def test_typing_a_sentence_changes_the_pictures_in_the_browser():
    require_browser()
    with notebook_in_browser("text_palette", NOTEBOOK.format(repo=str(REPO))) as (page, browser):
        pal = wait_for_output(page, ".text-result-palette img, img.text-result-palette", timeout=180)
        lang = wait_for_output(page, ".text-result-language img, img.text-result-language", timeout=30)
        page.wait_for_function("() => { const i = document.querySelector('img.text-result-language');"
                               " return i && i.complete && i.naturalWidth > 0; }", timeout=30000)
        before_pal, before_lang = pixels(pal), pixels(lang)
        screenshot(page, "text_palette_before")

        box = page.locator(".text-caption input").first
        box.fill("a green apple with zorblax")
        box.press("Enter")
        page.wait_for_function("() => document.querySelector('.text-unknown').innerText.includes('zorblax')",
                               timeout=30000)
        after_lang = wait_changed(lang, before_lang)
        after_pal = wait_changed(pal, before_pal, timeout=10)
        shot = screenshot(page, "text_palette_after")
        assert shot.exists()
        assert np.abs(after_pal - before_pal).mean() > 0.5, "the sentence did not change the palette's picture"
        assert np.abs(after_lang - before_lang).mean() > 0.5, "the sentence did not change color-from-language's picture"
        errors = [c for c in browser.console if c.startswith("error") and "favicon" not in c]
        assert "Traceback" not in page.locator(".jp-OutputArea").first.inner_text(), errors
