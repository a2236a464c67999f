"""Published weights as data (colorsurvey.models.weights), the generic loader behind
``create(key, size, pretrained=True)``, and the command line's one-line errors.

No test touches the network: ``network_cut`` (conftest) makes every request fail as offline.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import torch

from colorsurvey import cli, models
from colorsurvey.data import download as dl
from colorsurvey.models import vgg as V
from colorsurvey.models import weights as W


@pytest.fixture
def empty_caches(tmp_path, monkeypatch):
    """This project's cache and torch.hub's point at empty folders."""
    monkeypatch.setenv("COLORSURVEY_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return tmp_path


def test_every_declaration_is_complete():
    ws = W.published()
    assert {w.name for w in ws} >= {"eccv16", "siggraph17", "vgg19"}
    for w in ws:
        assert w.url.startswith("https://") and w.filename == w.url.rsplit("/", 1)[1]
        m = re.search(r"-([0-9a-f]{8,})\.pth$", w.filename)       # torch-hub name: the hash prefix
        assert m and w.sha256.startswith(m.group(1)), w.name
        assert w.licence and w.source and w.title and w.parameters > 0
        assert w.bytes is None or w.bytes > w.parameters * 4      # float32 tensors at least
        if w.method is not None:
            cls = models.get_class(w.method)
            assert w.size in cls.sizes and w.label
            assert set(w.build) <= set(cls.__init__.__code__.co_varnames), w.name
            with torch.device("meta"):                            # the declared count is the model's
                net = models.create(w.method, size=w.size, **w.build)
            assert models.count_parameters(net) == w.parameters, w.name
    assert W.find("vgg19") is V.VGG19_IMAGENET
    with pytest.raises(KeyError, match="eccv16"):
        W.find("nope")


def test_benchmark_official_rows_are_the_declarations():
    from colorsurvey.benchmark import OFFICIAL_WEIGHTS

    assert OFFICIAL_WEIGHTS == {w.method: w.label for w in W.published() if w.method}
    assert set(OFFICIAL_WEIGHTS) == {"colorful", "realtime-ug"}


def test_pretrained_without_published_weights_is_a_clear_error():
    with pytest.raises(KeyError, match="'unet' has no published weights"):
        models.create("unet", size="small", pretrained=True)
    with pytest.raises(KeyError, match=r"only for size 'paper', not 'small'.*size='paper', pretrained=True"):
        models.create("colorful", size="small", pretrained=True)


def test_pretrained_offline_names_the_file_and_where_to_put_it(tmp_path, network_cut, empty_caches):
    with pytest.raises(dl.OfflineError) as ei:
        models.create("realtime-ug", size="paper", pretrained=True, progress=False)
    msg = str(ei.value)
    dest = tmp_path / "cache" / "weights" / "siggraph17-df00044c.pth"
    assert W.SIGGRAPH17.url in msg and str(dest) in msg and "by hand" in msg and "df00044c" in msg
    assert network_cut == [W.SIGGRAPH17.url]
    assert not dest.parent.exists() or list(dest.parent.iterdir()) == []


def test_pretrained_from_a_local_file_applies_the_declared_build_arguments(tmp_path):
    src = models.create("realtime-ug", size="paper", seed=3)
    path = tmp_path / "mine.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in src.state_dict().items()}}, path)
    net = models.create("realtime-ug", size="paper", pretrained=path)
    assert net.mask_cent == 0.0 and not net.training and net.size_name == "paper"
    assert all(torch.equal(v, src.state_dict()[k]) for k, v in net.state_dict().items())
    other = tmp_path / "eccv16.pth"
    torch.save({"model1.0.weight": torch.zeros(1)}, other)
    with pytest.raises(ValueError, match=r"does not hold the siggraph17 weights.*missing"):
        models.create("realtime-ug", size="paper", pretrained=other)


def test_vgg19_declaration_remaps_the_torchvision_layout(tmp_path, empty_caches):
    """A file in torchvision's layout (features.0 ... features.34 and a classifier) loads into
    VGG19Features through the declared keep/rename, without torchvision; a file under the
    declared name whose hash does not match is passed over."""
    ref = V.VGG19Features(1.0)
    sd = {f"features.{k}": v for k, v in ref.features.state_dict().items()}
    sd["features.30.weight"] = torch.zeros(512, 512, 3, 3)      # conv5_2: beyond relu5_1, dropped
    sd["classifier.0.weight"] = torch.zeros(4, 4)
    path = tmp_path / "vgg19_torchvision_layout.pth"
    torch.save(sd, path)
    vgg = V.torchvision_vgg19(path)
    assert vgg is not None and vgg.ready and "ImageNet" in vgg.describe()
    assert all(torch.equal(v, ref.features.state_dict()[k]) for k, v in vgg.features.state_dict().items())
    assert V.torchvision_vgg19() is None                       # nothing in the (empty) caches
    bad = tmp_path / "cache" / "weights" / V.VGG19_IMAGENET.filename
    bad.parent.mkdir(parents=True)
    bad.write_bytes(path.read_bytes())                          # right layout, wrong hash
    assert V.torchvision_vgg19() is None
    with pytest.raises(RuntimeError, match="colorsurvey download weights vgg19"):
        V.get_vgg19(1.0, kind="torchvision")


def test_list_marks_the_methods_with_published_weights(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    lines = {ln.split()[0]: ln for ln in out.splitlines() if ln and not ln.startswith("[")}
    assert lines["colorful"].endswith("[weights: paper]") and lines["realtime-ug"].endswith("[weights: paper]")
    assert "[weights" not in lines["unet"]
    assert cli.main(["list", "--cards", "--taxonomy", "plain"]) == 0
    assert "published weights (paper): eccv16, https://colorizers" in capsys.readouterr().out


def test_cli_errors_are_one_line_unless_debug(tmp_path, capsys, network_cut):
    dest = tmp_path / "x.bin"
    url = "https://example.invalid/x.bin"
    assert cli.main(["download", "url", url, str(dest), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("colorsurvey: error: could not download")
    assert url in err and str(dest) in err and "--debug" in err and "Traceback" not in err
    with pytest.raises(dl.OfflineError):                        # --debug: the exception, traceback and all
        cli.main(["--debug", "download", "url", url, str(dest), "--quiet"])
    with pytest.raises(SystemExit) as bad:                      # a usage error: argparse's one line, status 2
        cli.main(["list", "--taxonomy", "nope"])
    assert bad.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "invalid choice: 'nope'" in err[-1] and "'user-guided'" in err[-1] and "Traceback" not in "".join(err)


def test_cli_process_prints_one_line_and_exits_non_zero(tmp_path):
    """The real command: a damaged download gives one line on stderr and exit status 1; with
    --debug the traceback."""
    cut = tmp_path / "cut.zip"
    cut.write_bytes(b"PK\x03\x04" + b"\0" * 100)                 # a zip's start, no end
    out = tmp_path / "ncd"
    code = ("import sys, colorsurvey.data.download as d\n"
            "sys.argv[0] = 'colorsurvey'\n"
            f"d.load_sources = lambda p=None: {{'archives': {{'color': {{'view_url': 'v', 'download_url': "
            f"{cut.as_uri()!r}, 'sha256': None}}}}}}\n"
            "from colorsurvey.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    run = lambda *a: subprocess.run([sys.executable, "-c", code, *a], capture_output=True, text=True,  # noqa: E731
                                    timeout=300, env={**__import__("os").environ, "PYTHONWARNINGS": "ignore"})
    r = run("download", "ncd", "--dest", str(out), "--quiet")
    assert r.returncode == 1, r.stderr
    assert r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr
    assert "damaged or incomplete" in r.stderr and "Download it again" in r.stderr
    r = run("--debug", "download", "ncd", "--dest", str(out), "--quiet")
    assert r.returncode == 1 and "Traceback (most recent call last)" in r.stderr
