"""Where a command acts: the local stack (its ``--config`` file, written by ``mlaudit serve
--config-out``) or a deployed stack (``--stack NAME --region R``: its CloudFormation outputs,
AWS credentials from the shell, and a bearer token from ``--token`` or ``MLAUDIT_TOKEN``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BAR_WIDTH = 30
DEFAULT_CONFIG = Path(".local/stack.json")  # where `mlaudit serve` writes its config unless told
QUERY_TIMEOUT_SECONDS = 300
# A local stack's sign-in is reused this long (Cognito's tokens last an hour): each costs a
# Cognito call, and a report runs a few hundred queries of two requests each.
LOCAL_TOKEN_REUSE_SECONDS = 600


class CommandError(Exception):
    """A failure the user can act on: printed without a traceback."""


def add_arguments(parser: argparse.ArgumentParser, *, token: bool = True) -> None:
    where = parser.add_argument_group("where (one of)")
    where.add_argument("--config", type=Path, help=f"the local stack's config file (default {DEFAULT_CONFIG}, "
                                                   "which mlaudit serve writes)")
    where.add_argument("--stack", help="a deployed stack's name (its outputs name the resources)")
    where.add_argument("--region", help="the deployed stack's region")
    if token:
        where.add_argument("--token", help="bearer token for a deployed stack's API (default: $MLAUDIT_TOKEN); "
                                           "the local stack signs its users in itself")
        where.add_argument("--role", default=None, help="local stack: whose generated user to act as")


@dataclass
class Target:
    api_url: str
    local: dict[str, Any] | None = None  # the local stack's config
    outputs: dict[str, str] = field(default_factory=dict)  # a deployed stack's outputs
    region: str | None = None
    token: str | None = None
    role: str | None = None
    _signed_in: dict[str, tuple[float, str]] = field(default_factory=dict, repr=False, compare=False)
    _signing_in: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Target:
        config_path = getattr(args, "config", None)
        if config_path is None and not getattr(args, "stack", None):
            if not DEFAULT_CONFIG.is_file():
                raise CommandError(f"no local stack here ({DEFAULT_CONFIG} is missing): start one with `mlaudit serve` "
                                   "in another terminal, or name a deployment with --stack NAME --region R")
            config_path = DEFAULT_CONFIG
        token = getattr(args, "token", None) or os.environ.get("MLAUDIT_TOKEN")
        role = getattr(args, "role", None)
        if config_path is not None:
            config = _local_config(Path(config_path))
            return cls(config["api_url"], local=config, region=config["region"], token=token, role=role)
        import boto3  # noqa: PLC0415 - only for a deployed stack

        session = boto3.session.Session(region_name=args.region)
        stacks = session.client("cloudformation").describe_stacks(StackName=args.stack)["Stacks"]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
        return cls(outputs.get("ApiUrl", "").rstrip("/"), outputs=outputs, region=session.region_name, token=token,
                   role=role)

    # --- AWS ---------------------------------------------------------------------------

    def client(self, service: str) -> Any:
        import boto3  # noqa: PLC0415

        if self.local is not None:
            from local import client as local_client  # noqa: PLC0415

            return local_client.aws_client(self.local, service)
        return boto3.session.Session(region_name=self.region).client(service)

    def name(self, local_key: str, output: str) -> str:
        value = self.local.get(local_key) if self.local is not None else self.outputs.get(output)
        if not value:
            raise CommandError(f"the stack has no {output} output (deployed before this command existed?)")
        return value

    @property
    def endpoint_url(self) -> str | None:
        return self.local["aws_endpoint_url"] if self.local is not None else None

    # --- the API -----------------------------------------------------------------------

    def bearer(self, default_role: str) -> dict[str, str]:
        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        if self.local is None:
            raise CommandError("a deployed stack's API needs a token: --token or MLAUDIT_TOKEN")
        from local import client as local_client  # noqa: PLC0415

        role = self.role or default_role
        if role != "workload" and role not in self.local.get("users", {}):
            raise CommandError(f"the local stack has no user with role {role!r}")
        with self._signing_in:  # a report's queries run in threads: one sign-in per role
            signed_at, token = self._signed_in.get(role, (0.0, ""))
            if not token or time.monotonic() - signed_at > LOCAL_TOKEN_REUSE_SECONDS:
                token = (local_client.machine_token(self.local) if role == "workload" else
                         local_client.user_tokens(self.local, role)["id_token"])
                self._signed_in[role] = (time.monotonic(), token)
        return local_client.bearer(token)

    def request(self, method: str, path: str, *, role: str, **kwargs: Any) -> Any:
        import requests  # noqa: PLC0415

        headers = {**self.bearer(role), **kwargs.pop("headers", {})}
        try:
            return requests.request(method, self.api_url + path, headers=headers, timeout=60, **kwargs)
        except requests.ConnectionError:
            if self.local is not None:
                raise CommandError(f"the local stack stopped answering at {self.api_url}: start it again with "
                                   "`mlaudit serve`") from None
            raise CommandError(f"cannot reach the API at {self.api_url} (is the stack deployed?)") from None

    def run_query(self, name: str, parameters: dict[str, Any], *, role: str = "analyst",
                  timeout: float = QUERY_TIMEOUT_SECONDS) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """A named query's (columns, every row), through the API: DuckDB on the local stack,
        Athena on AWS. Each run is itself an audit event."""
        started = self.request("POST", f"/v1/queries/{name}", role=role, json={"parameters": parameters})
        if started.status_code == 403:
            how = ("--role ROLE acts as the local stack's user of that role" if self.local is not None
                   else "a token of a person in one of them (--token or MLAUDIT_TOKEN)")
            raise CommandError(f"query {name} refused (403, as {role if self.local is not None else 'your token'}): "
                               f"{answer_text(started, details=False)} Run it with {how}.")
        if started.status_code != 202:
            raise CommandError(f"query {name} refused: {started.status_code} {answer_text(started)}")
        execution = started.json()["execution_id"]
        rows: list[dict[str, Any]] = []
        columns: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        page_token = None
        while True:
            params = {"page_size": "1000", **({"page_token": page_token} if page_token else {})}
            answer = self.request("GET", f"/v1/query-executions/{execution}", role=role, params=params)
            if answer.status_code != 200:
                raise CommandError(f"query {name}: {answer.status_code} {answer_text(answer)}")
            body = answer.json()
            if body["state"] in ("FAILED", "CANCELLED"):
                raise CommandError(f"query {name} {body['state'].lower()}: {body.get('reason', '')}")
            if body["state"] != "SUCCEEDED":
                if time.monotonic() > deadline:
                    raise CommandError(f"query {name} still {body['state']} after {timeout:.0f} s")
                time.sleep(0.5)
                continue
            columns = body.get("columns", [])
            rows += body.get("rows", [])
            page_token = body.get("next_page_token")
            if not page_token:
                return columns, rows


def _serve_hint(path: Path) -> str:
    out = "" if path == DEFAULT_CONFIG else f" --config-out {path}"
    return f"start it with `mlaudit serve{out}` in another terminal and run this again"


def _local_config(path: Path) -> dict[str, Any]:
    """The config of a local stack that is running, or why not and how to start one."""
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise CommandError(f"{path}: no such file; the local stack is not running: {_serve_hint(path)}") from None
    except (ValueError, UnicodeDecodeError):
        raise CommandError(f"{path} is not a local stack config (JSON)") from None
    if not isinstance(config, dict) or not {"api_url", "aws_endpoint_url", "region"} <= set(config):
        raise CommandError(f"{path} is not a local stack config (mlaudit serve writes one)")
    from local import client as local_client  # noqa: PLC0415

    if not local_client.answers(config):
        raise CommandError(f"the local stack of {path} is not running (nothing answers at {config['api_url']}): "
                           f"{_serve_hint(path)}")
    return config


def answer_text(response: Any, *, details: bool = True) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if not details:
        return body.get("message", "")
    detail = "; ".join(f"{e.get('path', '')}: {e.get('message', e.get('rule', ''))}" for e in body.get("errors", []))
    return body.get("message", "") + (f" ({detail})" if detail else "")


def progress(done: int, total: int | None, unit: str, *, final: bool = False) -> None:
    """A one-line progress bar on stderr (stdout stays for the result)."""
    if total:
        filled = min(BAR_WIDTH, BAR_WIDTH * done // max(total, 1))
        text = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done:,}/{total:,} {unit}"
    else:
        text = f"{done:,} {unit}"
    print(f"\r{text}", end="\n" if final else "", file=sys.stderr, flush=True)


def table(columns: list[str], rows: list[list[Any]]) -> str:
    """A plain-text table: one header, aligned columns."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    line = lambda values: "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()  # noqa: E731
    return "\n".join([line(columns), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)
