import json

import nbformat
import numpy as np
import pytest

from colorsurvey import models
from colorsurvey.runner import list_notebooks, run_notebooks
from colorsurvey.widgets import ChannelExplorer


def _notebook(path, code):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("profile = None\ndata = None\noutput_dir = None")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(code)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_run_notebooks_collects_outputs_and_survives_a_failure(tmp_path):
    nbdir = tmp_path / "nbs"
    nbdir.mkdir()
    _notebook(nbdir / "00_ok.ipynb",
              "import pathlib, matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
              "plt.plot([1, 2]); plt.savefig(pathlib.Path(output_dir) / 'fig.png')\n"
              "(pathlib.Path(output_dir) / 't.csv').write_text(f'{profile},{data}')")
    _notebook(nbdir / "01_bad.ipynb", "raise RuntimeError('deliberate failure')")
    (nbdir / "scratch.ipynb").write_text("not a numbered notebook")
    runs = run_notebooks("smoke", "synthetic", out=tmp_path / "out", directory=nbdir, progress=False)
    assert [(r.name, r.ok) for r in runs] == [("00_ok", True), ("01_bad", False)]
    assert "deliberate failure" in runs[1].error
    root = tmp_path / "out" / "smoke-synthetic"
    assert (root / "notebooks" / "00_ok.ipynb").exists() and (root / "html" / "00_ok.html").exists()
    assert (root / "notebooks" / "01_bad.FAILED.ipynb").exists()
    assert not (root / "notebooks" / "01_bad.ipynb").exists()
    assert not list(root.rglob("*.running.ipynb"))
    assert (root / "artifacts" / "00_ok" / "t.csv").read_text() == "smoke,synthetic"
    index = (root / "index.html").read_text()
    assert "artifacts/00_ok/fig.png" in index and "failed" in index
    assert json.loads((root / "runs.json").read_text())[1]["ok"] is False


def test_list_notebooks_filters_and_explains(tmp_path):
    assert [p.stem[:2] for p in list_notebooks()][:1] == ["00"]
    with pytest.raises(ValueError, match="no notebook matches"):
        list_notebooks(only=["99"])
    with pytest.raises(FileNotFoundError, match="notebooks"):
        list_notebooks(tmp_path / "missing")


def test_channel_explorer_headless(tiny):
    ex = ChannelExplorer(tiny, index=1, zoom=1)
    pic, s = ex.render()
    assert pic.shape[0] == tiny.size and pic.shape[2] == 3 and pic.shape[1] > 5 * tiny.size
    assert np.isinf(s["psnr"]) or s["psnr"] > 40  # chroma x1 reproduces the image
    assert ex.set(chroma=0.0) == ""
    _, s0 = ex.render()
    assert s0["colorfulness"] < 1 and s0["psnr"] < s["psnr"]
    assert "outside" in ex.set(index=999) and ex.index == 1
    assert "unknown colour space" in ex.set(space="HSV") and ex.space == "Lab"
    assert "chroma" in ex.set(chroma=-1)
    ex.set(space="YUV")
    w = ex.widget  # builds the ipywidgets tree without a front end
    assert w.children


def test_temperature_explorer_headless(tiny):
    from colorsurvey.widgets import TemperatureExplorer

    net = models.create("colorful", size="smoke", seed=0)
    ex = TemperatureExplorer(net, tiny.batch(range(2)), zoom=1)
    for T in (0.0, 0.38, 1.0):
        assert ex.set(T=T) == ""
        pic, s = ex.render()
        assert pic.shape[2] == 3 and np.isfinite(s["colorfulness"])
    assert "T must" in ex.set(T=2.0) and ex.T == 1.0
    assert ex.widget.children


def test_progress_estimate_uses_previous_then_reference_times_then_pace(tmp_path):
    """Time left: a notebook's previous duration where known, else its reference duration
    scaled by the pace of the notebooks done (twice as slow so far: twice the reference)."""
    import nbformat

    from colorsurvey.runner import JobProgress

    paths = []
    for name in ("a", "b", "c"):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
        paths.append(tmp_path / f"{name}.ipynb")
        nbformat.write(nb, paths[-1])
    bar = JobProgress(paths, expected={"c": 30.0}, reference={"a": 10.0, "b": 100.0}, enabled=False)
    bar.start("a")
    assert bar.seconds_left() == pytest.approx(140.0, abs=1.0)     # 10 + 100 + 30, nothing done yet
    bar.finish("a", 20.0)                                          # twice its reference
    bar.start("b")
    assert bar.seconds_left() == pytest.approx(230.0, abs=1.0)     # 2 x 100 + 30
    none = JobProgress(paths, enabled=False)
    none.start("a")
    assert none.seconds_left() is None                             # no times and no cell done: unknown
