"""The cost table's monthly facts (ops/usage.json, counted from the template by `make cost`)
are the default stack's: an alarm, dashboard, key or machine client added since shows here."""

from __future__ import annotations

from ops import costs, workload
from stacks.api import ACCESS_LOG_FORMAT
from tests.infra.synth import Synth


def test_the_counted_template_facts_are_the_stacks(default: Synth) -> None:
    facts = costs.load()["notes"]["template"]
    machine = [p for p in default.props("AWS::Cognito::UserPoolClient")
               if "client_credentials" in (p.get("AllowedOAuthFlows") or [])]
    assert facts["alarms"] == len(default.of_type("AWS::CloudWatch::Alarm"))
    assert facts["dashboards"] == len(default.of_type("AWS::CloudWatch::Dashboard"))
    assert facts["kms_keys"] == len(default.of_type("AWS::KMS::Key"))
    assert facts["machine_app_clients"] == len(machine)
    assert facts["access_log_line_bytes"] == workload.access_log_line_bytes(ACCESS_LOG_FORMAT)
