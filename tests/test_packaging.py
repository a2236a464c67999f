"""The set-up stays honest: environment.yml matches pyproject.toml, CI runs the README's command."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _norm(req: str) -> str:
    return re.sub(r"\s+", "", req).lower()


def test_environment_yml_matches_pyproject():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_norm(r) for r in meta["dependencies"]}
    for extra in meta["optional-dependencies"].values():
        wanted |= {_norm(r) for r in extra}
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, l in enumerate(lines) if l.strip() == "- pip:")
    conda_pip = {_norm(l.strip()[2:]) for l in lines[start + 1:] if l.strip().startswith("- ")}
    assert conda_pip == wanted
    assert "torch==2.13.0" in wanted
    assert not any(r.startswith("torchvision") for r in wanted)


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, flags=re.S)
    commands = [l.strip() for b in blocks for l in b.splitlines() if l.strip() and not l.startswith("#")]
    test_cmd = [c for c in commands if c.endswith("pytest")]
    assert len(test_cmd) == 1, commands
    ci = [l.strip() for l in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_cmd[0] in ci


def test_cli_lists_methods():
    out = subprocess.run([sys.executable, "-m", "colorsurvey.cli", "list"], capture_output=True, text=True, check=True)
    assert "unet" in out.stdout and "gray" in out.stdout
    cards = subprocess.run([sys.executable, "-m", "colorsurvey.cli", "list", "--cards"],
                           capture_output=True, text=True, check=True)
    assert "survey §" in cards.stdout and "sizes:" in cards.stdout


def test_notebooks_are_stored_clean():
    import json

    nbs = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert nbs, "no notebooks found"
    for nb in nbs:
        cells = json.loads(nb.read_text())["cells"]
        for c in cells:
            if c["cell_type"] == "code":
                assert not c.get("outputs") and c.get("execution_count") is None, f"{nb.name} has outputs"
        params = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(params) == 1, f"{nb.name} needs exactly one cell tagged 'parameters' for papermill"
