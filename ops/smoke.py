"""As-deployed smoke test: proves a deployment end to end from the outside.

    python -m ops.smoke --stack mlaudit-stack --region eu-west-1 --person-token "$ID_TOKEN"
    python -m ops.smoke --config stack.json       # the local stack (`python -m local serve --config-out`)

Steps, each printed as it passes (exit 1 at the first failure, naming it):

1. token     a machine token (client credentials of the workload client)
2. ingest    a batch of uniquely named prediction events is accepted (202)
3. receipt   a receipt for one of them, once the writer stored it and a checkpoint covers it
4. lake      the receipt's Parquet file is in the audit bucket
5. verify    the receipt verifies offline with the checkpoint key's public key (and the
             writer's entry key), and its leaf record holds the values sent
6. query     a named query (prediction_volume_latency) run by a person counts the batch
7. denied    a token without the events.read scope gets 403 for the same receipt

On AWS the credentials need cloudformation:DescribeStacks, cognito-idp:DescribeUserPoolClient
(the workload client's secret), kms:GetPublicKey and s3:GetObject (HEAD) on the audit bucket.
Named queries are for people (MFA-protected sign-in): pass an analyst's, auditor's or
privacy officer's ID token with --person-token (or MLAUDIT_SMOKE_PERSON_TOKEN); the local
stack signs in its generated analyst itself.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import requests
from botocore.exceptions import BotoCoreError, ClientError
from mlaudit.integrity.proofs import check_receipt
from mlaudit.integrity.signing import kms_public_key_pem
from mlaudit.routes import RESOURCE_SERVER

QUERY = "prediction_volume_latency"
BATCH = 3
# The stack outputs the smoke test reads (tests/infra/test_deploy_outputs.py checks the stack has them).
OUTPUTS = ("ApiUrl", "TokenUrl", "UserPoolId", "WorkloadClientId", "AuditBucketName", "CheckpointSigningKeyArn",
           "LogEntryKeyArn")


class SmokeFailure(RuntimeError):
    """A step did not do what a working deployment does."""


@dataclass
class Target:
    """What the smoke test needs of a deployment, however it was found."""

    api_url: str
    token_url: str
    client_id: str
    client_secret: str
    bucket: str
    signing_key_id: str
    entry_key_id: str | None
    aws: Callable[[str], Any]  # service name -> boto3 client
    person_token: Callable[[], str]
    wait_seconds: float  # how long a receipt may take: the writer's window plus a checkpoint interval


def from_stack(stack: str, region: str, person_token: str | None, wait_seconds: float = 1200) -> Target:
    session = boto3.session.Session(region_name=region)
    (described,) = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    missing = [name for name in OUTPUTS if name not in outputs]
    if missing:
        raise SmokeFailure(f"stack {stack} has no output {', '.join(missing)}: is it an mlaudit stack?")
    client = session.client("cognito-idp").describe_user_pool_client(
        UserPoolId=outputs["UserPoolId"], ClientId=outputs["WorkloadClientId"]
    )["UserPoolClient"]

    def person() -> str:
        if not person_token:
            raise SmokeFailure(
                "named queries need a person's token: sign in as an analyst or auditor and pass its ID "
                "token with --person-token (or MLAUDIT_SMOKE_PERSON_TOKEN)"
            )
        return person_token

    return Target(
        api_url=outputs["ApiUrl"].rstrip("/"), token_url=outputs["TokenUrl"], client_id=client["ClientId"],
        client_secret=client["ClientSecret"], bucket=outputs["AuditBucketName"],
        signing_key_id=outputs["CheckpointSigningKeyArn"], entry_key_id=outputs["LogEntryKeyArn"],
        aws=session.client, person_token=person, wait_seconds=wait_seconds,
    )


def from_config(path: Path, wait_seconds: float = 180) -> Target:
    """The local stack, from the file `python -m local serve --config-out` writes."""
    from local import client as local_client  # noqa: PLC0415 - only for the local stack

    config = json.loads(path.read_text())
    machine = config["machine_client"]
    return Target(
        api_url=config["api_url"].rstrip("/"), token_url=config["token_url"], client_id=machine["client_id"],
        client_secret=machine["client_secret"], bucket=config["bucket"], signing_key_id=config["signing_key_id"],
        entry_key_id=config.get("entry_key_id"), aws=lambda service: local_client.aws_client(config, service),
        person_token=lambda: local_client.user_tokens(config, "analyst")["id_token"], wait_seconds=wait_seconds,
    )


def machine_token(target: Target, scopes: list[str]) -> str:
    answer = requests.post(
        target.token_url, auth=(target.client_id, target.client_secret), timeout=30,
        data={"grant_type": "client_credentials", "scope": " ".join(f"{RESOURCE_SERVER}/{s}" for s in scopes)},
    )
    if answer.status_code != 200:
        raise SmokeFailure(f"token endpoint answered {answer.status_code}: {answer.text[:300]}")
    return answer.json()["access_token"]


def _call(target: Target, method: str, path: str, token: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, target.api_url + path, headers={"Authorization": f"Bearer {token}"},
                            timeout=60, **kwargs)


def smoke_events(run: str, now: datetime) -> list[dict[str, Any]]:
    return [
        {"event_id": f"{run}-{i}", "event_type": "prediction", "occurred_at": now.isoformat(),
         "workload": "mlaudit-smoke", "environment": "smoke", "model_id": run, "model_version": "1",
         "prediction_id": f"{run}-p{i}", "prediction_label": "ok", "prediction_score": 0.5,
         "latency_ms": float(i + 1)}
        for i in range(BATCH)
    ]


def run(target: Target, report: Callable[[str], None] = print) -> None:
    started = datetime.now(UTC)
    run_id = f"smoke-{started:%Y%m%d%H%M%S}-{uuid.uuid4().hex[:6]}"
    dates = sorted({(started + timedelta(days=d)).strftime("%Y-%m-%d") for d in (0, 1)})

    token = machine_token(target, ["events.write", "events.read"])
    report("ok token: a machine token from the client-credentials grant")

    events = smoke_events(run_id, started)
    answer = _call(target, "POST", "/v1/events", token, json={"events": events})
    if answer.status_code != 202:
        raise SmokeFailure(f"POST /v1/events answered {answer.status_code}: {answer.text[:300]}")
    report(f"ok ingest: {BATCH} events accepted ({run_id})")

    sent = events[0]
    receipt = _wait_for_receipt(target, token, sent["event_id"], dates)
    report(f"ok receipt: {sent['event_id']} is in {receipt['object_key']}, log entry {receipt['log_index']}, "
           f"checkpoint {receipt['checkpoint']['checkpoint']['seq']}")

    head = target.aws("s3").head_object(Bucket=target.bucket, Key=receipt["object_key"])
    report(f"ok lake: s3://{target.bucket}/{receipt['object_key']} ({head['ContentLength']} bytes, "
           f"{head.get('ServerSideEncryption', 'no SSE')})")

    kms = target.aws("kms")
    public_key = kms_public_key_pem(kms, target.signing_key_id)
    entry_key = kms_public_key_pem(kms, target.entry_key_id) if target.entry_key_id else None
    problems = check_receipt(receipt, public_key, entry_public_key_pem=entry_key, sent=sent)
    if problems:
        raise SmokeFailure("the receipt does not verify: " + "; ".join(problems))
    report("ok verify: the receipt verifies with the public keys alone and holds the values sent")

    row = _run_query(target, target.person_token(), run_id, dates)
    if row.get("predictions") != BATCH:
        raise SmokeFailure(f"{QUERY} counted {row.get('predictions')} predictions of {run_id}, not {BATCH}")
    report(f"ok query: {QUERY} counts the {BATCH} events")

    narrow = machine_token(target, ["events.write"])
    event_date = receipt["object_key"].split("event_date=")[1][:10]
    denied = _call(target, "GET", f"/v1/events/{sent['event_id']}/proof", narrow,
                   params={"event_type": "prediction", "event_date": event_date})
    if denied.status_code != 403:
        raise SmokeFailure(f"a token without events.read got {denied.status_code} for a receipt, not 403")
    report("ok denied: a token without events.read gets 403")


def _wait_for_receipt(target: Target, token: str, event_id: str, dates: list[str]) -> dict[str, Any]:
    deadline = time.monotonic() + target.wait_seconds
    last = ""
    while time.monotonic() < deadline:
        for date in dates:
            answer = _call(target, "GET", f"/v1/events/{event_id}/proof", token,
                           params={"event_type": "prediction", "event_date": date})
            if answer.status_code == 200 and answer.json().get("checkpoint"):
                return answer.json()
            last = f"{answer.status_code}: {answer.text[:200]}"
        time.sleep(2)
    raise SmokeFailure(f"no checkpointed receipt for {event_id} within {target.wait_seconds:.0f} s (last: {last})")


def _run_query(target: Target, token: str, model_id: str, dates: list[str]) -> dict[str, Any]:
    parameters = {"from_date": dates[0], "to_date": dates[-1], "model_id": model_id}
    started = _call(target, "POST", f"/v1/queries/{QUERY}", token, json={"parameters": parameters})
    if started.status_code != 202:
        raise SmokeFailure(f"POST /v1/queries/{QUERY} answered {started.status_code}: {started.text[:300]}")
    execution = started.json()["execution_id"]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        answer = _call(target, "GET", f"/v1/query-executions/{execution}", token)
        if answer.status_code != 200:
            raise SmokeFailure(f"query execution {execution} answered {answer.status_code}: {answer.text[:300]}")
        state = answer.json().get("state")
        if state == "SUCCEEDED":
            rows = [r for r in answer.json().get("rows", []) if r.get("model_id") == model_id]
            if len(rows) != 1:
                raise SmokeFailure(f"{QUERY} returned {len(rows)} rows for {model_id}, not 1")
            return rows[0]
        if state in ("FAILED", "CANCELLED"):
            raise SmokeFailure(f"query execution {execution} {state}: {answer.text[:300]}")
        time.sleep(2)
    raise SmokeFailure(f"query execution {execution} did not finish within 300 s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.smoke", description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--stack", help="the deployed stack's name (e.g. mlaudit-stack)")
    where.add_argument("--config", type=Path, help="the local stack's --config-out file")
    parser.add_argument("--region", help="the stack's region (default: the profile's)")
    parser.add_argument("--person-token", default=os.environ.get("MLAUDIT_SMOKE_PERSON_TOKEN"),
                        help="an analyst's, auditor's or privacy officer's ID token (AWS only)")
    parser.add_argument("--wait", type=float, help="seconds to wait for a checkpointed receipt")
    args = parser.parse_args(argv)
    try:
        if args.config:
            target = from_config(args.config, *([args.wait] if args.wait else []))
        else:
            target = from_stack(args.stack, args.region, args.person_token, *([args.wait] if args.wait else []))
        run(target)
    except (SmokeFailure, ClientError, BotoCoreError, requests.RequestException) as failure:
        print(f"FAILED {failure}", file=sys.stderr)
        return 1
    print("smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
