"""Helpers for talking to a running local stack from its config (`serve --config-out`):
tokens for workloads and people, boto3 clients for moto, and waiting for the writer.
Used by tests and the demo; they work the same in-process or against a subprocess."""

from __future__ import annotations

import socket
import time
import urllib.parse
from collections.abc import Iterable
from typing import Any

import boto3
import requests
from botocore.config import Config
from mlaudit.routes import RESOURCE_SERVER

from local.moto_server import FAKE_CREDENTIALS
from local.poller import queue_is_empty


def machine_token(config: dict[str, Any], scopes: Iterable[str] | None = None, *, timeout: float = 10) -> str:
    """A client-credentials access token for the machine client; `scopes` may be given
    with or without the ``mlaudit/`` prefix (default: every scope the client has)."""
    client = config["machine_client"]
    form = {"grant_type": "client_credentials"}
    if scopes is not None:
        form["scope"] = " ".join(s if "/" in s else f"{RESOURCE_SERVER}/{s}" for s in scopes)
    response = requests.post(
        config["token_url"], data=form, auth=(client["client_id"], client["client_secret"]), timeout=timeout
    )
    response.raise_for_status()
    return response.json()["access_token"]


def user_tokens(config: dict[str, Any], role: str) -> dict[str, str]:
    """``{"id_token", "access_token"}`` for the generated user in `role`, by password sign-in."""
    user = config["users"][role]
    result = aws_client(config, "cognito-idp").admin_initiate_auth(
        UserPoolId=config["user_pool_id"], ClientId=config["user_client_id"],
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": user["username"], "PASSWORD": user["password"]},
    )["AuthenticationResult"]
    return {"id_token": result["IdToken"], "access_token": result["AccessToken"]}


def answers(config: dict[str, Any], timeout: float = 2) -> bool:
    """True when the stack a config names is up: its AWS endpoint and its API take a
    connection (a config left by a stack that stopped names ports nobody listens on)."""
    for url in (config["aws_endpoint_url"], config["api_url"]):
        parts = urllib.parse.urlsplit(url)
        try:
            socket.create_connection((parts.hostname, parts.port or 80), timeout=timeout).close()
        except OSError:
            return False
    return True


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def aws_client(config: dict[str, Any], service: str) -> Any:
    """A client for the local stack's AWS: moto, and for Lambda's Invoke API the stack's own
    endpoint (local/invoke.py; a function's run may take minutes, as on AWS)."""
    if service == "lambda" and config.get("lambda_endpoint_url"):
        return boto3.session.Session(region_name=config["region"]).client(
            service, endpoint_url=config["lambda_endpoint_url"],
            config=Config(read_timeout=900, retries={"max_attempts": 0}),
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"])
    return boto3.session.Session(region_name=config["region"]).client(
        service, endpoint_url=config["aws_endpoint_url"],
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
    )


def wait_drained(config: dict[str, Any], timeout: float = 60, *, stable_checks: int = 2) -> bool:
    """True once the events queue holds no message (visible, in flight or delayed) on
    `stable_checks` consecutive looks: every accepted message is written or in the DLQ.
    A batch the poller holds is in flight (not visible), so it counts as not drained."""
    sqs = aws_client(config, "sqs")
    deadline = time.monotonic() + timeout
    streak = 0
    while time.monotonic() < deadline:
        streak = streak + 1 if queue_is_empty(sqs, config["queue_url"]) else 0
        if streak >= stable_checks:
            return True
        time.sleep(0.25)
    return False
