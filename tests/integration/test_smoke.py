"""`make smoke` against the local stack: the same command an operator runs after
`cdk deploy`, given the local stack's --config-out file instead of a stack name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def smoke(config_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(REPO / p) for p in ("lambdas", "client", "."))}
    return subprocess.run([sys.executable, "-m", "ops.smoke", "--config", str(config_path), "--wait", "300"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def test_smoke_passes_against_the_local_stack(local_stack) -> None:
    result = smoke(Path(local_stack["log_path"]).parent / "local-stack.json")
    assert result.returncode == 0, result.stdout + result.stderr
    steps = [line.split(":")[0] for line in result.stdout.splitlines() if line.startswith("ok ")]
    assert steps == ["ok token", "ok ingest", "ok receipt", "ok lake", "ok verify", "ok query", "ok denied"]


def test_smoke_fails_naming_the_step(local_stack, tmp_path) -> None:
    config = json.loads((Path(local_stack["log_path"]).parent / "local-stack.json").read_text())
    config["machine_client"]["client_secret"] = "not-the-secret"  # noqa: S105 - a wrong one on purpose
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(config))
    result = smoke(broken)
    assert result.returncode == 1
    assert "FAILED token endpoint answered" in result.stderr
