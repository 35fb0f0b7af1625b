"""`pip install .` gives the `mlaudit` command: the wheel builds from the project's files,
holds the CLI, the local stack and the functions' package with their SQL and rules, names
the console scripts (`mlaudit`, `mlaudit-verify`), and pins its dependencies as requirements*.txt do."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_wheel_has_the_command_and_its_packages(tmp_path):
    source = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist")
    for name in ("cli", "local", "examples"):
        shutil.copytree(REPO / name, source / name, ignore=ignore)
    shutil.copytree(REPO / "lambdas" / "mlaudit", source / "lambdas" / "mlaudit", ignore=ignore)
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(REPO / name, source / name)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path / "dist"),
                    str(source)], check=True, env=env, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("mlaudit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in ("cli/__main__.py", "cli/report.py", "local/stack.py", "examples/demo.py",
                     "examples/demo_monitors.json", "mlaudit/handlers/ingest.py", "mlaudit/rules/dq_rules.json",
                     "mlaudit/queries/sql/drift_psi.sql", "mlaudit/queries/fragments/psi.sql",
                     "mlaudit/queries/service.py", "mlaudit/integrity/verifier/checks.py",
                     "mlaudit/integrity/verifier/__main__.py"):
        assert expected in names, expected
    assert not any(n.startswith(("stacks/", "tests/", "mlaudit_client/")) for n in names)
    (entry_points,) = [n for n in names if n.endswith("entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert re.search(r"^mlaudit = cli\.__main__:main$", text, re.M), text
    # The offline verifier, which the functions' asset leaves out (tests/infra/test_functions.py)
    assert re.search(r"^mlaudit-verify = mlaudit\.integrity\.verifier\.command:main$", text, re.M), text


def test_the_verifier_command_runs_as_its_console_script_would():
    """`mlaudit-verify` is `mlaudit.integrity.verifier.command:main`; `python -m
    mlaudit.integrity.verifier` is the same command (this venv's console scripts are main's)."""
    done = subprocess.run([sys.executable, "-m", "mlaudit.integrity.verifier", "--help"], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHONPATH": f"{REPO / 'lambdas'}:{REPO}"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: mlaudit-verify "), done.stdout


def test_dependencies_are_pinned_as_the_requirements_files():
    pins = {}
    for name in ("requirements.txt", "requirements-dev.txt"):
        for line in (REPO / name).read_text().splitlines():
            if "==" in line and not line.startswith("#"):
                package, version = line.split("==")
                pins[re.sub(r"\[.*\]", "", package).lower()] = version.strip()
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    for requirement in declared:
        package, version = requirement.split("==")
        assert pins[re.sub(r"\[.*\]", "", package).lower()] == version, requirement
