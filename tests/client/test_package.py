"""`pip install mlaudit-client` works: the wheel builds from client/, installs into a
fresh virtualenv with nothing else in it (the core is the standard library only), and
imports there with its version, py.typed and User-Agent."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_wheel_installs_in_a_fresh_virtualenv_and_imports(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # pip builds in the source tree (build/, *.egg-info): from a copy, so the repository stays clean
    source = shutil.copytree(REPO / "client", tmp_path / "client",
                             ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path / "dist"),
                    str(source)], check=True, env=env, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("mlaudit_client-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "mlaudit_client/py.typed" in names and "mlaudit_client/auditor.py" in names

    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "venv")], check=True, timeout=120)
    python = tmp_path / "venv" / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", str(wheel)],
                   check=True, env=env, timeout=120)
    shown = subprocess.run(
        [python, "-c", "import importlib.metadata as m, mlaudit_client as c, mlaudit_client.integrations;"
                       "print(c.__version__, m.version('mlaudit-client'), c.USER_AGENT.split()[0], c.__file__)"],
        check=True, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
    ).stdout.split()
    version = shown[0]
    assert shown[1] == version and shown[2] == f"mlaudit-client/{version}"
    assert shown[3].startswith(str(tmp_path / "venv")), "imported from the installed wheel, not the source tree"
