"""Preflight against moto configured like a fresh account (Lambda concurrency quota 10):
the concurrency finding when a setting reserves concurrency, a pass with the defaults,
name collisions with another deployment, and a clear refusal of an unsupported region."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from ops.preflight import Preflight, main
from tests.ops.conftest import FRESH_ACCOUNT_QUOTA

REGION = "eu-west-1"
REPO = Path(__file__).resolve().parents[2]


def preflight(capsys, *context: str, region: str = REGION) -> tuple[int, str]:
    argv = ["--region", region, *[arg for pair in context for arg in ("-c", pair)]]
    code = main(argv, session=boto3.session.Session(region_name=region))
    return code, capsys.readouterr().out


def bootstrapped(region: str = REGION) -> None:
    boto3.client("ssm", region_name=region).put_parameter(
        Name="/cdk-bootstrap/hnb659fds/version", Value="27", Type="String")


def test_the_defaults_pass_in_a_fresh_account(fresh_account, capsys) -> None:
    bootstrapped()
    code, out = preflight(capsys)
    assert code == 0, out
    assert "FAIL" not in out.split("\n\n")[0]
    assert f"the account's Lambda concurrency quota is {FRESH_ACCOUNT_QUOTA}" in out  # a warning, not a failure
    assert "0 FAIL" in out and "nothing stops a deploy" in out


@pytest.mark.parametrize(("setting", "needs"), [
    ("writer_reserved_concurrency=5", 5),
    ("ingest_provisioned_min=1", 10),  # auto scaling may take ingest_provisioned_max (10)
])
def test_reserved_or_provisioned_concurrency_fails_in_a_fresh_account(fresh_account, capsys, setting, needs) -> None:
    bootstrapped()
    code, out = preflight(capsys, setting)
    assert code == 1
    (line,) = [line for line in out.splitlines() if line.startswith("FAIL lambda concurrency")]
    assert f"would reserve {needs} of the account's concurrency" in line
    assert "below its minimum value" in line
    assert f"request a Lambda concurrency quota of at least {100 + needs}" in out


def test_a_raised_quota_takes_the_reservation(fresh_account, capsys, monkeypatch) -> None:
    monkeypatch.setenv("MOTO_LAMBDA_CONCURRENCY_QUOTA", "1000")
    bootstrapped()
    code, out = preflight(capsys, "writer_reserved_concurrency=5", "ingest_provisioned_min=2")
    assert code == 0, out
    assert "OK   lambda concurrency: quota 1000, 1000 unreserved; the settings reserve 15" in out


def test_reservations_already_in_the_account_count(fresh_account, capsys, monkeypatch) -> None:
    """The quota is the account's: another team's reserved concurrency leaves less."""
    monkeypatch.setenv("MOTO_LAMBDA_CONCURRENCY_QUOTA", "110")
    bootstrapped()
    iam = boto3.client("iam", region_name=REGION)
    role = iam.create_role(RoleName="other", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam = boto3.client("lambda", region_name=REGION)
    lam.create_function(FunctionName="other", Runtime="python3.12", Role=role, Handler="x.handler",
                        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18})
    lam.put_function_concurrency(FunctionName="other", ReservedConcurrentExecutions=8)
    assert preflight(capsys, "writer_reserved_concurrency=2")[0] == 0
    code, out = preflight(capsys, "writer_reserved_concurrency=3")
    assert code == 1 and "102 of the quota (110) are unreserved now" in out


def test_a_prefix_in_use_elsewhere_is_a_collision(fresh_account, capsys) -> None:
    bootstrapped()
    key = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["KeyId"]
    boto3.client("kms", region_name=REGION).create_alias(AliasName="alias/mlaudit", TargetKeyId=key)
    boto3.client("glue", region_name=REGION).create_database(DatabaseInput={"Name": "mlaudit"})
    code, out = preflight(capsys)
    assert code == 1
    (line,) = [line for line in out.splitlines() if line.startswith("FAIL names")]
    assert "KMS alias alias/mlaudit" in line and "Glue database mlaudit" in line
    assert "-c name_prefix=" in out
    # Another prefix is free.
    code, out = preflight(capsys, "name_prefix=team-b")
    assert code == 0, out


def test_an_existing_logging_role_is_reported(fresh_account, capsys) -> None:
    bootstrapped()
    boto3.client("apigateway", region_name=REGION).update_account(patchOperations=[
        {"op": "replace", "path": "/cloudwatchRoleArn", "value": "arn:aws:iam::123456789012:role/apigw"}])
    code, out = preflight(capsys)
    assert code == 0
    assert "WARN api gateway logging role: the region already has API Gateway's CloudWatch role" in out


def test_not_bootstrapped_says_how(fresh_account, capsys) -> None:
    code, out = preflight(capsys)
    assert code == 0
    assert "npx aws-cdk@2 bootstrap aws://123456789012/eu-west-1" in out


def test_an_unsupported_region_fails_first(fresh_account, capsys) -> None:
    code, out = preflight(capsys, region="af-south-1")
    assert code == 1
    assert out.startswith("FAIL region: af-south-1 is not a supported region")


def test_quicksight_is_checked_only_when_on(fresh_account, capsys) -> None:
    """moto 5.2 lacks DescribeAccountSubscription: the check says it could not tell, and a
    check that could not run fails the preflight unless --allow-unchecked."""
    bootstrapped()
    assert "quicksight" not in preflight(capsys)[1]
    arn = "arn:aws:quicksight:eu-west-1:123456789012:group/default/auditors"
    code, out = preflight(capsys, f"quicksight_principal_arn={arn}")
    assert code == 1 and "UNCHECKED quicksight: could not check" in out
    assert "some checks could not run" in out and "--allow-unchecked" in out
    code = main(["--region", REGION, "-c", f"quicksight_principal_arn={arn}", "--allow-unchecked"],
                session=boto3.session.Session(region_name=REGION))
    assert code == 0 and "1 UNCHECKED" in capsys.readouterr().out


def test_a_writer_wider_than_the_unreserved_concurrency_fails(fresh_account, capsys) -> None:
    bootstrapped()
    code, out = preflight(capsys, "writer_max_concurrency=20")
    assert code == 1
    (line,) = [line for line in out.splitlines() if line.startswith("FAIL writer throttling")]
    assert "writer_max_concurrency=20 is more than the 10 executions the account leaves unreserved" in line
    assert "-c writer_max_concurrency=" in out
    # The default (5) shares a fresh account's 10: a warning with how long a throttle may last.
    code, out = preflight(capsys)
    (line,) = [line for line in out.splitlines() if line.startswith("WARN writer throttling")]
    assert "only after 2.5 h of continuous throttling" in line


def test_against_a_moto_server_a_reservation_cannot_be_checked_and_fails_saying_what_to_do(tmp_path) -> None:
    """`make preflight` pointed at a moto server (no lambda:GetAccountSettings there): the
    concurrency checks cannot run, so the preflight fails and says how to check by hand."""
    import os
    import subprocess
    import sys

    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        env = {**os.environ, "AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "testing",
               "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
               "PYTHONPATH": os.pathsep.join(str(REPO / p) for p in ("lambdas", "client", "."))}
        command = [sys.executable, "-m", "ops.preflight", "--region", REGION, "-c", "writer_reserved_concurrency=5"]
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, check=False)
        assert result.returncode == 1, result.stdout + result.stderr
        (line,) = [line for line in result.stdout.splitlines() if line.startswith("UNCHECKED lambda concurrency")]
        assert "could not check" in line
        assert "aws lambda get-account-settings" in result.stdout and "at least 105" in result.stdout
        assert "--allow-unchecked" in result.stdout
        allowed = subprocess.run([*command, "--allow-unchecked"], capture_output=True, text=True, env=env,
                                 timeout=300, check=False)
        assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    finally:
        server.stop()


def test_every_finding_but_ok_says_what_to_do(fresh_account) -> None:
    from mlaudit.settings import Settings

    findings = Preflight(Settings(writer_reserved_concurrency=5, object_lock_mode="COMPLIANCE"),
                         boto3.session.Session(region_name=REGION)).run()
    assert {f.level for f in findings} >= {"FAIL", "WARN", "OK"}
    assert all(f.action for f in findings if f.level != "OK")
