"""The local stack as the real command runs it: ``python -m local serve`` in a
subprocess, driven over real HTTP. One stack per test session (per xdist worker).

Fixtures: `local_stack` (the config dict `serve` writes), `machine_token(scopes=None)`
and `user_tokens(role)` factories, and `principal_tokens`: one bearer token (or
None) per kind of caller, for walking the permission matrix. `running_local_stack(workdir, *args)` starts one
with other options, e.g. a shorter visibility timeout for a redrive test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jwt
import pytest
from mlaudit.routes import ROLES, SCOPES

from local import client
from local.oauth import moto_signing_key

REPO = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_SECONDS = 600  # a busy 2-core machine: several stacks start at once
SHUTDOWN_TIMEOUT_SECONDS = 180
# Fast enough for tests: batches close after 1 s, failed messages come back after
# 5 s and reach the DLQ on their 3rd receive; the log's head is signed every 2 s.
LOCAL_STACK_ARGS = ("--writer-window", "1", "--visibility-timeout", "5", "--max-receive-count", "3",
                    "--checkpoint-interval", "2")


@contextmanager
def running_local_stack(workdir: Path, *args: str) -> Iterator[dict[str, Any]]:
    config_path = workdir / "local-stack.json"
    log_path = workdir / "local-stack.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "lambdas"), str(REPO)]),
           "PYTHONUNBUFFERED": "1"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "local", "serve", "--config-out", str(config_path), *args],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not config_path.exists():
            if process.poll() is not None:
                pytest.fail(f"local stack exited with {process.returncode}:\n{_tail(log_path)}")
            if time.monotonic() > deadline:
                pytest.fail(f"local stack did not start in {STARTUP_TIMEOUT_SECONDS} s:\n{_tail(log_path)}")
            time.sleep(0.1)
        config = json.loads(config_path.read_text())
        config["log_path"] = str(log_path)
        yield config
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(SHUTDOWN_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                pytest.fail(f"local stack ignored SIGINT:\n{_tail(log_path)}")
        assert process.returncode == 0, f"unclean exit {process.returncode}:\n{_tail(log_path)}"


def _tail(path: Path, lines: int = 60) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with running_local_stack(tmp_path_factory.mktemp("local-stack"), *LOCAL_STACK_ARGS) as config:
        yield config


@pytest.fixture(scope="session")
def machine_token(local_stack):
    """``machine_token()`` -> a token with every scope; ``machine_token(["events.read"])``."""

    def get(scopes: list[str] | None = None) -> str:
        return client.machine_token(local_stack, scopes)

    return get


@pytest.fixture(scope="session")
def user_tokens(local_stack):
    """``user_tokens("auditor")`` -> {"id_token", "access_token"} of that role's user."""

    def get(role: str) -> dict[str, str]:
        return client.user_tokens(local_stack, role)

    return get


@pytest.fixture(scope="session")
def principal_tokens(local_stack, machine_token, user_tokens) -> dict[str, str | None]:
    """{"none", "expired", "role:<role>" (ID token), "role:<role>:access", "scope:<scope>"}
    -> bearer token. "none" and "expired" must get 401; the others 2xx or 403 by the matrix."""
    key, kid = moto_signing_key()
    past = int(time.time()) - 7200
    client_id = local_stack["machine_client"]["client_id"]
    expired = jwt.encode(
        {"sub": client_id, "client_id": client_id, "token_use": "access", "iss": local_stack["issuer"],
         "scope": " ".join(local_stack["machine_client"]["scopes"]), "iat": past, "exp": past + 3600},
        key, algorithm="RS256", headers={"kid": kid},
    )
    tokens: dict[str, str | None] = {"none": None, "expired": expired}
    for role in ROLES:
        person = user_tokens(role)
        tokens[f"role:{role}"] = person["id_token"]
        tokens[f"role:{role}:access"] = person["access_token"]
    for scope in SCOPES:
        tokens[f"scope:{scope}"] = machine_token([scope])
    return tokens
