"""A reusable harness for tests that need a real browser on a real JupyterLab.

* :class:`JupyterLab` starts ``jupyter lab`` on 127.0.0.1 on a free port, in a fresh temporary
  root folder with fresh config / data / runtime / IPython folders, without a token, with
  ``--allow-root`` and the application exposed to the page (``window.jupyterapp``, as JupyterLab's
  own Galata tests do), and stops it — and any kernel it started — by PID.
* :class:`Browser` launches the system's headless Chromium through Playwright
  (``executable_path=/usr/bin/chromium``: Playwright never downloads a browser here) with a fresh
  user-data folder.
* Helpers open a notebook, run all its cells, wait for an output, and save screenshots under
  ``output/browser/`` (an ignored folder).

``missing()`` says what is not installed (``scripts/ci_browser_deps.sh`` installs it all);
``require_browser()`` skips on it locally and fails on it in CI (``CI`` set).
``notebook_in_browser()`` does the whole set-up for a one-cell notebook:

    with notebook_in_browser("demo", "print('hello')") as (page, browser):
        wait_for_output(page, "text=hello")
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCREENSHOTS = REPO / "output" / "browser"
CHROMIUM = os.environ.get("COLORSURVEY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]

__all__ = ["JupyterLab", "Browser", "missing", "require_browser", "notebook_in_browser", "free_port", "open_notebook", "run_all_cells",
           "wait_for_output", "screenshot", "wait_kernel_idle", "pixels", "wait_changed", "CHROMIUM",
           "SCREENSHOTS"]


def missing() -> str | None:
    """What the browser tests lack, or None when everything is there."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (scripts/ci_browser_deps.sh installs it)"
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium; scripts/ci_browser_deps.sh)"
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        return "jupyterlab is not installed"
    return None


def require_browser() -> None:
    """Skip the calling test when the browser tools are missing — or fail it under CI, where
    ``scripts/ci_browser_deps.sh`` should have installed them."""
    import pytest

    why = missing()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"browser test cannot run in CI: {why}")
        pytest.skip(why)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (from /proc), deepest last."""
    parents: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        parents.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        for c in parents.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:   # a zombie counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


class JupyterLab:
    """A JupyterLab server for one test: fresh folders, free port, no token; stopped by PID."""

    def __init__(self, python: str = sys.executable, startup_timeout: float = 90.0):
        self.python = python
        self.startup_timeout = startup_timeout
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.tmp: Path | None = None
        self.root: Path | None = None
        self.log: Path | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> "JupyterLab":
        self.tmp = Path(tempfile.mkdtemp(prefix="colorsurvey-lab-"))
        self.root = self.tmp / "root"
        for d in ("root", "config", "data", "runtime", "ipython", "settings", "workspaces"):
            (self.tmp / d).mkdir()
        # no "get Jupyter news?" prompt over the page
        news = self.tmp / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
        news.parent.mkdir(parents=True)
        news.write_text('{"fetchNews": "false"}')
        env = {**os.environ,
               "JUPYTER_CONFIG_DIR": str(self.tmp / "config"), "JUPYTER_DATA_DIR": str(self.tmp / "data"),
               "JUPYTER_RUNTIME_DIR": str(self.tmp / "runtime"), "IPYTHONDIR": str(self.tmp / "ipython"),
               "PYTHONUNBUFFERED": "1"}
        self.port = free_port()
        self.log = self.tmp / "jupyterlab.log"
        cmd = [self.python, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
               "--port-retries=0", "--allow-root", "--ServerApp.token=", "--ServerApp.password=",
               "--ServerApp.disable_check_xsrf=True", f"--ServerApp.root_dir={self.root}",
               "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=",
               f"--LabApp.user_settings_dir={self.tmp / 'settings'}",
               f"--LabApp.workspaces_dir={self.tmp / 'workspaces'}",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url("api/status"), timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise TimeoutError(f"JupyterLab did not answer within {self.startup_timeout:.0f} s:\n{self.log_text()[-3000:]}")

    def stop(self) -> None:
        """Stop the server and every process it started (kernels), by PID; remove the folders."""
        if self.proc is not None:
            pids = _children(self.proc.pid)
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)     # the server shuts its kernels down
                try:
                    self.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
            for sig in (signal.SIGTERM, signal.SIGKILL):
                left = [p for p in pids if _alive(p)]
                for p in left:
                    try:
                        os.kill(p, sig)
                    except ProcessLookupError:
                        pass
                t = time.monotonic() + 5
                while any(_alive(p) for p in left) and time.monotonic() < t:
                    time.sleep(0.1)
            self.proc = None
        if self.tmp is not None and not os.environ.get("COLORSURVEY_KEEP_LAB"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> "JupyterLab":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- helpers -------------------------------------------------------------------------
    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace") if self.log else ""
        except OSError:
            return ""

    def write_notebook(self, name: str, cells: list[str]) -> Path:
        """A notebook of code cells in the server's root, with the python3 kernel."""
        import nbformat

        nb = nbformat.v4.new_notebook()
        nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                       "language_info": {"name": "python"}}
        nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
        path = self.root / name
        nbformat.write(nb, path)
        return path


class Browser:
    """Headless system Chromium via Playwright, with a fresh profile; ``.page`` is ready to use."""

    def __init__(self, executable: str = CHROMIUM, viewport=(1400, 1000)):
        self.executable = executable
        self.viewport = viewport
        self._pw = None
        self.context = None
        self.page = None
        self.profile: Path | None = None
        self.console: list[str] = []

    def start(self) -> "Browser":
        from playwright.sync_api import sync_playwright

        self.profile = Path(tempfile.mkdtemp(prefix="colorsurvey-chromium-"))
        self._pw = sync_playwright().start()
        self.context = self._pw.chromium.launch_persistent_context(
            str(self.profile), executable_path=self.executable, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": self.viewport[0], "height": self.viewport[1]})
        self.page = self.context.pages[0] if self.context.pages else self.context.new_page()
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        return self

    def stop(self) -> None:
        try:
            if self.context is not None:
                self.context.close()
        finally:
            if self._pw is not None:
                self._pw.stop()
            self._pw = self.context = self.page = None
            if self.profile is not None:
                shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> "Browser":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# --------------------------------------------------------------------------------------
# Page helpers
# --------------------------------------------------------------------------------------

_KERNEL_STATUS = """() => {
  const app = window.jupyterapp;
  const w = app && app.shell && app.shell.currentWidget;
  const s = w && w.sessionContext && w.sessionContext.session;
  return s && s.kernel ? s.kernel.status : null;
}"""


def open_notebook(page, lab: JupyterLab, name: str, timeout: float = 90.0) -> None:
    """Open ``name`` (relative to the server's root) in JupyterLab and wait for its kernel."""
    page.goto(lab.url(f"lab/tree/{name}"), timeout=timeout * 1000)
    page.wait_for_function("() => window.jupyterapp !== undefined", timeout=timeout * 1000)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=timeout * 1000)
    wait_kernel_idle(page, timeout)


def wait_kernel_idle(page, timeout: float = 90.0) -> None:
    page.wait_for_function(f"() => ({_KERNEL_STATUS})() === 'idle'", timeout=timeout * 1000, polling=250)


def run_all_cells(page) -> None:
    """Run every cell of the current notebook (JupyterLab's ``notebook:run-all-cells``)."""
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")


def wait_for_output(page, selector: str, timeout: float = 90.0):
    """Wait until ``selector`` is visible in the page; returns its locator. On timeout the error
    carries the notebook's error outputs, if any, so a failing cell is easy to see."""
    loc = page.locator(selector).first
    try:
        loc.wait_for(state="visible", timeout=timeout * 1000)
    except Exception as e:
        errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts()
        raise AssertionError(f"{selector!r} did not appear within {timeout:.0f} s; notebook errors: "
                             f"{errors[-3:] if errors else 'none'}") from e
    return loc


def screenshot(page, name: str, locator=None) -> Path:
    """Save a screenshot (of the page, or of ``locator``) as output/browser/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / (name if name.endswith(".png") else f"{name}.png")
    (locator or page).screenshot(path=str(path))
    return path


def pixels(locator):
    """What an element shows, as an (H, W, 3) int16 array (from a screenshot of it)."""
    import io

    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(locator.screenshot())).convert("RGB")).astype(np.int16)


def wait_changed(locator, reference, timeout: float = 30.0, threshold: float = 0.5):
    """The element's pixels once they differ from ``reference`` by more than ``threshold`` grey
    levels on average (or the last ones seen, on timeout: the caller's assertion then fails)."""
    import numpy as np

    deadline = time.monotonic() + timeout
    cur = pixels(locator)
    while time.monotonic() < deadline:
        if cur.shape != reference.shape or np.abs(cur - reference).mean() > threshold:
            return cur
        time.sleep(0.25)
        cur = pixels(locator)
    return cur


@contextlib.contextmanager
def notebook_in_browser(name: str, source: str):
    """Start JupyterLab and Chromium, write ``source`` as the one cell of ``<name>.ipynb``, open
    it and run it; yields ``(page, browser)``. An exception inside saves the screenshot
    ``<name>_failure.png`` before it propagates; both servers are stopped on the way out."""
    with JupyterLab() as lab, Browser() as browser:
        lab.write_notebook(f"{name}.ipynb", [source])
        page = browser.page
        try:
            open_notebook(page, lab, f"{name}.ipynb")
            run_all_cells(page)
            yield page, browser
        except BaseException:
            screenshot(page, f"{name}_failure")
            raise
