"""`make smoke` against the local stack: the same command an operator runs after
`cdk deploy`, given the local stack's --config-out file instead of a stack name. It drives
every route and every function (ops/smoke.py checks it covers ROUTES and FUNCTIONS)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ops.smoke import STEPS
from tests.integration.conftest import LOCAL_STACK_ARGS, running_local_stack

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def smoke_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    # Monitors evaluated every few seconds: the monitor step waits for an evaluation since it began.
    with running_local_stack(tmp_path_factory.mktemp("smoke"), *LOCAL_STACK_ARGS, "--monitor-interval", "5") as config:
        yield config


def smoke(config_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(REPO / p) for p in ("lambdas", "client", "."))}
    return subprocess.run([sys.executable, "-m", "ops.smoke", "--config", str(config_path), "--wait", "300"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900)


def test_smoke_passes_against_the_local_stack_driving_every_route_and_function(smoke_stack) -> None:
    result = smoke(Path(smoke_stack["log_path"]).parent / "local-stack.json")
    assert result.returncode == 0, result.stdout + result.stderr
    steps = [line.split(":")[0] for line in result.stdout.splitlines() if line.startswith("ok ")]
    assert steps == [f"ok {step.name}" for step in STEPS]
    assert "ok import: " in result.stdout and "ok alarm: alarm mlaudit-DeadLetterQueueNotEmpty (ALARM)" in result.stdout


def test_smoke_fails_naming_the_step(smoke_stack, tmp_path) -> None:
    config = json.loads((Path(smoke_stack["log_path"]).parent / "local-stack.json").read_text())
    config["machine_client"]["client_secret"] = "not-the-secret"  # noqa: S105 - a wrong one on purpose
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(config))
    result = smoke(broken)
    assert result.returncode == 1
    assert "FAILED token endpoint answered" in result.stderr
