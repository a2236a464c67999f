"""Execute the notebooks with papermill and collect what they produce (the project's main job).

``run_notebooks(profile, data)`` executes every ``notebooks/NN_*.ipynb`` in order with the
parameters ``profile``, ``data`` and ``output_dir``, and writes under
``output/<profile>-<data>/``:

* ``notebooks/`` the executed notebooks, ``html/`` the same as HTML pages,
* ``artifacts/<notebook>/`` the figures and tables each notebook saved,
* ``index.html`` a page linking all of it, with each notebook's status and wall time.

An executed notebook appears under its name only when it ran to the end; a failure leaves
``<name>.FAILED.ipynb`` (with the error in it) and the run goes on with the next notebook.

One progress bar spans the whole job (:class:`JobProgress`): the notebook it is in, cells done of
all cells, and an estimate of the time left — from the previous run's per-notebook times in the
same output folder (``runs.json``) where there is one, else from the measured reference times
of a first (cold) job in that profile (:data:`REFERENCE_SECONDS`), scaled by how fast the
notebooks done so far went against theirs, else from the pace of the cells so far.
The kernel's transport chatter (jupyter_client / papermill log warnings, zmq and asyncio
deprecation warnings) is kept off the screen; a notebook's own errors still surface.

Trained methods are kept in the run store (:mod:`colorsurvey.runs`, ``output/runs/``): the
second notebook to need a run loads it, and a second job loads every run.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["NOTEBOOK_DIR", "list_notebooks", "run_notebooks", "NotebookRun", "write_index", "JobProgress"]

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"


@dataclass
class NotebookRun:
    name: str
    ok: bool
    seconds: float
    error: str = ""


def list_notebooks(directory: Path = NOTEBOOK_DIR, only: list[str] | None = None) -> list[Path]:
    """The numbered notebooks (``NN_*.ipynb``) in order; ``only`` filters by number or name."""
    if not directory.is_dir():
        raise FileNotFoundError(
            f"no notebooks folder at {directory}: run from a checkout of the colorsurvey repository "
            "(the notebooks are not part of the installed package)")
    nbs = sorted(p for p in directory.glob("*.ipynb") if re.match(r"\d\d_", p.name))
    if only:
        keep = [p for p in nbs if any(p.name.startswith(o) or p.stem == o for o in only)]
        missing = [o for o in only if not any(p.name.startswith(o) or p.stem == o for p in nbs)]
        if missing:
            raise ValueError(f"no notebook matches {missing}; available: {[p.stem for p in nbs]}")
        nbs = keep
    return nbs


def _to_html(nb_path: Path, html_path: Path) -> None:
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(nb_path, as_version=4))
    tmp = html_path.with_suffix(".tmp")
    tmp.write_text(body, encoding="utf-8")
    os.replace(tmp, html_path)


# Wall seconds of each notebook in a first job (empty run store), measured by
# ``python scripts/speed_main_job.py --profile cpu --threads 2`` on a 2-core CPU (2026-11-29,
# commit 47caa99). Only a prior for the progress bar's estimate: a job's own previous times
# replace them, and the pace of the notebooks done so far scales them.
REFERENCE_SECONDS: dict[str, dict[str, float]] = {
    "cpu": {"00_foundations": 68, "01_plain_networks": 110, "02_user_guided": 320, "03_domain_specific": 216,
            "04_text_based": 115, "05_diverse": 515, "06_multi_path": 322, "07_exemplar_based": 319,
            "08_benchmark": 234},
}


class JobProgress:
    """One tqdm bar over every code cell of every notebook of a job, with the notebook it is in
    and an estimate of the time left.

    The estimate, in seconds: for notebooks with a known duration (``expected``: name ->
    seconds, e.g. from the previous run) the rest of that duration; else, for notebooks with a
    reference duration (``reference``, e.g. :data:`REFERENCE_SECONDS` of the profile), the rest
    of that duration times the pace so far (the seconds the notebooks done took over their
    reference seconds; 1 before any is done); else the mean time per cell so far times the
    cells left."""

    def __init__(self, notebooks: list[Path], expected: dict[str, float] | None = None, enabled: bool = True,
                 reference: dict[str, float] | None = None):
        import nbformat
        from tqdm.auto import tqdm

        # the code cells that run, and the parameters cell papermill injects
        self.cells = {nb.stem: 1 + sum(c.cell_type == "code" and bool(c.source.strip())
                                       for c in nbformat.read(nb, as_version=4).cells) for nb in notebooks}
        self.expected = {k: v for k, v in (expected or {}).items() if k in self.cells and v > 0}
        self.reference = {k: v for k, v in (reference or {}).items() if k in self.cells and v > 0}
        self.done: dict[str, float] = {}
        self.current, self.cell, self.t_nb = "", 0, time.perf_counter()
        self.t0 = time.perf_counter()
        self.bar = tqdm(total=sum(self.cells.values()), unit="cell", disable=not enabled, dynamic_ncols=True,
                        bar_format="{desc} |{bar}| {n_fmt}/{total_fmt} cells [{elapsed}{postfix}]")

    def start(self, name: str) -> None:
        self.current, self.cell, self.t_nb = name, 0, time.perf_counter()
        self._show()

    def cell_done(self, **_) -> None:
        """nbclient's ``on_cell_executed`` hook (called when a code cell has run)."""
        self.cell += 1
        self._show()
        self.bar.update(1)

    def finish(self, name: str, seconds: float) -> None:
        self.done[name] = seconds
        self.bar.update(max(0, self.cells[name] - self.cell))   # a failed notebook skips its rest
        self.cell = self.cells[name]

    def seconds_left(self) -> float | None:
        now = time.perf_counter()
        cells_done = sum(self.cells[k] for k in self.done) + self.cell
        spent = now - self.t0
        per_cell = spent / cells_done if cells_done else None
        ref_done = [k for k in self.done if k in self.reference]
        pace = (sum(self.done[k] for k in ref_done) / sum(self.reference[k] for k in ref_done)) if ref_done else 1.0
        left = 0.0
        for name, n in self.cells.items():
            if name in self.done:
                continue
            elapsed = now - self.t_nb if name == self.current else 0.0
            todo = n - (self.cell if name == self.current else 0)
            if name in self.expected:
                left += max(self.expected[name] - elapsed, 0.0)
            elif name in self.reference:
                left += max(self.reference[name] * pace - elapsed, 0.0)
            elif per_cell is not None:
                left += per_cell * todo
            else:
                return None
        return left

    def _show(self) -> None:
        left = self.seconds_left()
        self.bar.set_description_str(f"{self.current} cell {self.cell}/{self.cells.get(self.current, 0)}",
                                     refresh=False)
        self.bar.set_postfix_str("about " + (f"{left / 60:.0f} min left" if left is not None and left >= 90
                                             else f"{left:.0f} s left" if left is not None else "? left"))

    def close(self) -> None:
        self.bar.close()


@contextlib.contextmanager
def _quiet_kernel_transport():
    """Keep the kernel machinery's warnings off the screen: papermill's and jupyter_client's
    loggers below ERROR, and the deprecation/runtime warnings of zmq, asyncio and jupyter
    paths. Errors of the notebooks themselves still surface (as PapermillExecutionError)."""
    import logging
    import warnings

    loggers = [logging.getLogger(n) for n in ("papermill", "jupyter_client", "traitlets", "nbclient")]
    levels = [lg.level for lg in loggers]
    env = os.environ.get("JUPYTER_PLATFORM_DIRS")
    os.environ["JUPYTER_PLATFORM_DIRS"] = "1"      # silences jupyter_core's path-migration warning
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            for mod in ("zmq", "jupyter_client", "jupyter_core", "nbclient", "papermill", "asyncio", "tornado"):
                warnings.filterwarnings("ignore", module=mod)
            warnings.filterwarnings("ignore", message=".*(event loop|Proactor|zmq|jupyter).*")
            yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)
        if env is None:
            os.environ.pop("JUPYTER_PLATFORM_DIRS", None)
        else:
            os.environ["JUPYTER_PLATFORM_DIRS"] = env


def _previous_times(root: Path) -> dict[str, float]:
    """Per-notebook seconds of the last job in ``root`` (its ``runs.json``), for the estimate."""
    try:
        return {r["name"]: float(r["seconds"]) for r in json.loads((root / "runs.json").read_text()) if r.get("ok")}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def run_notebooks(profile: str, data: str = "synthetic", out: str | os.PathLike = "output",
                  only: list[str] | None = None, progress: bool = True, html_pages: bool = True,
                  directory: Path = NOTEBOOK_DIR) -> list[NotebookRun]:
    """Execute the notebooks (see module docstring). Returns one :class:`NotebookRun` each."""
    import papermill as pm

    from .profiles import get_profile

    get_profile(profile)  # validate early, with the list of profiles in the error
    tag = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(data).name if os.path.sep in data else data)
    root = Path(out) / f"{profile}-{tag}"
    (root / "notebooks").mkdir(parents=True, exist_ok=True)
    (root / "html").mkdir(exist_ok=True)
    runs: list[NotebookRun] = []
    notebooks = list_notebooks(Path(directory), only=only)
    bar = JobProgress(notebooks, _previous_times(root), enabled=progress, reference=REFERENCE_SECONDS.get(profile))
    with _quiet_kernel_transport():
        for k, nb in enumerate(notebooks, 1):
            bar.bar.write(f"[{k}/{len(notebooks)}] {nb.name} (profile {profile}, data {data})")
            artifacts = (root / "artifacts" / nb.stem).resolve()
            artifacts.mkdir(parents=True, exist_ok=True)
            target = root / "notebooks" / nb.name
            tmp = target.with_name(nb.stem + ".running.ipynb")
            failed = target.with_name(nb.stem + ".FAILED.ipynb")
            bar.start(nb.stem)
            t0 = time.perf_counter()
            try:
                pm.execute_notebook(
                    str(nb), str(tmp), parameters={"profile": profile, "data": data, "output_dir": str(artifacts)},
                    kernel_name="python3", progress_bar=False, cwd=str(nb.parent), on_cell_executed=bar.cell_done,
                    # the kernel's own start-up chatter (e.g. ipykernel's TCP transport warning)
                    # stays off the screen; a cell's errors still reach the notebook and this job
                    extra_arguments=["--IPKernelApp.log_level=ERROR"],
                )
            except Exception as e:  # papermill raises PapermillExecutionError with the cell's error
                dt = time.perf_counter() - t0
                bar.finish(nb.stem, dt)
                if tmp.exists():
                    os.replace(tmp, failed)
                msg = str(e).strip().splitlines()
                runs.append(NotebookRun(nb.stem, False, dt, msg[-1] if msg else repr(e)))
                bar.bar.write(f"    FAILED after {dt:.0f} s: {runs[-1].error} (see {failed})")
                continue
            dt = time.perf_counter() - t0
            bar.finish(nb.stem, dt)
            os.replace(tmp, target)
            failed.unlink(missing_ok=True)
            if html_pages:
                _to_html(target, root / "html" / f"{nb.stem}.html")
            runs.append(NotebookRun(nb.stem, True, dt))
            bar.bar.write(f"    done in {dt:.0f} s")
    bar.close()
    write_index(root, runs, profile, data)
    print(f"index: {(root / 'index.html').resolve()}", flush=True)
    return runs


def write_index(root: Path, runs: list[NotebookRun], profile: str, data: str) -> Path:
    """``index.html`` linking executed notebooks, their HTML pages, figures and tables."""
    esc = html.escape
    parts = [
        "<!doctype html><meta charset='utf-8'><title>colorsurvey run</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
        "img{max-width:320px;margin:4px;border:1px solid #ddd}td,th{padding:2px 10px}</style>",
        f"<h1>colorsurvey — profile <code>{esc(profile)}</code>, data <code>{esc(data)}</code></h1>",
        "<table><tr><th>notebook</th><th>status</th><th>time</th><th></th></tr>",
    ]
    for r in runs:
        status = "ok" if r.ok else f"<b style='color:#b00'>failed</b>: {esc(r.error)}"
        nb_link = f"notebooks/{r.name}.ipynb" if r.ok else f"notebooks/{r.name}.FAILED.ipynb"
        html_link = f"<a href='html/{r.name}.html'>html</a>" if r.ok and (root / "html" / f"{r.name}.html").exists() else ""
        parts.append(f"<tr><td><a href='{nb_link}'>{esc(r.name)}</a></td><td>{status}</td>"
                     f"<td>{r.seconds:.0f} s</td><td>{html_link}</td></tr>")
    parts.append("</table>")
    for r in runs:
        art = root / "artifacts" / r.name
        files = sorted(p for p in art.rglob("*") if p.is_file()) if art.exists() else []
        if not files:
            continue
        parts.append(f"<h2>{esc(r.name)}</h2>")
        tables = [p for p in files if p.suffix in (".csv", ".html", ".tex", ".json")]
        if tables:
            parts.append("<p>tables: " + " · ".join(
                f"<a href='{esc(str(p.relative_to(root)))}'>{esc(p.name)}</a>" for p in tables) + "</p>")
        for p in files:
            if p.suffix == ".png":
                rel = esc(str(p.relative_to(root)))
                parts.append(f"<a href='{rel}'><img src='{rel}' title='{esc(p.name)}'></a>")
    (root / "runs.json").write_text(json.dumps([r.__dict__ for r in runs], indent=1))
    path = root / "index.html"
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(parts), encoding="utf-8")
    os.replace(tmp, path)
    return path
