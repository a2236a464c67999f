#!/usr/bin/env bash
# What the browser test (tests/test_browser_hint_painter.py) needs on a fresh Debian machine:
#   * the system's Chromium, from Debian (Playwright drives /usr/bin/chromium; it never downloads
#     a browser of its own here: `playwright install` is not run and PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD
#     is set);
#   * in the project's virtual environment: Playwright, JupyterLab and ipyevents (the hint
#     painter's mouse events) — the same as the `browser` extra of pyproject.toml.
# Idempotent: a second run only checks. Run from anywhere; CI calls it before the test command.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

if ! command -v /usr/bin/chromium >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq chromium
fi

[ -x .venv/bin/pip ] || python3 -m venv .venv
.venv/bin/pip install -q "playwright>=1.40" "jupyterlab>=4" "ipyevents>=2.0"

echo "browser test dependencies: $(/usr/bin/chromium --version 2>/dev/null | head -n1);" \
     "$(.venv/bin/python -c 'import importlib.metadata as m; print("playwright", m.version("playwright"), "jupyterlab", m.version("jupyterlab"), "ipyevents", m.version("ipyevents"))')"
