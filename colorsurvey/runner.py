"""Execute the notebooks with papermill and collect what they produce (the project's main job).

``run_notebooks(profile, data)`` executes every ``notebooks/NN_*.ipynb`` in order with the
parameters ``profile``, ``data`` and ``output_dir``, and writes under
``output/<profile>-<data>/``:

* ``notebooks/`` the executed notebooks, ``html/`` the same as HTML pages,
* ``artifacts/<notebook>/`` the figures and tables each notebook saved,
* ``index.html`` a page linking all of it, with each notebook's status and wall time.

An executed notebook appears under its name only when it ran to the end; a failure leaves
``<name>.FAILED.ipynb`` (with the error in it) and the run goes on with the next notebook.
"""

from __future__ import annotations

import html
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["NOTEBOOK_DIR", "list_notebooks", "run_notebooks", "NotebookRun", "write_index"]

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
    for k, nb in enumerate(notebooks, 1):
        print(f"[{k}/{len(notebooks)}] {nb.name} (profile {profile}, data {data})", flush=True)
        artifacts = (root / "artifacts" / nb.stem).resolve()
        artifacts.mkdir(parents=True, exist_ok=True)
        target = root / "notebooks" / nb.name
        tmp = target.with_name(nb.stem + ".running.ipynb")
        failed = target.with_name(nb.stem + ".FAILED.ipynb")
        t0 = time.perf_counter()
        try:
            pm.execute_notebook(
                str(nb), str(tmp), parameters={"profile": profile, "data": data, "output_dir": str(artifacts)},
                kernel_name="python3", progress_bar=progress, cwd=str(nb.parent),
            )
        except Exception as e:  # papermill raises PapermillExecutionError with the cell's error
            dt = time.perf_counter() - t0
            if tmp.exists():
                os.replace(tmp, failed)
            msg = str(e).strip().splitlines()
            runs.append(NotebookRun(nb.stem, False, dt, msg[-1] if msg else repr(e)))
            print(f"    FAILED after {dt:.0f} s: {runs[-1].error} (see {failed})", flush=True)
            continue
        dt = time.perf_counter() - t0
        os.replace(tmp, target)
        failed.unlink(missing_ok=True)
        if html_pages:
            _to_html(target, root / "html" / f"{nb.stem}.html")
        runs.append(NotebookRun(nb.stem, True, dt))
        print(f"    done in {dt:.0f} s", flush=True)
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
