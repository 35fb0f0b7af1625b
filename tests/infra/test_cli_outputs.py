"""`mlaudit --stack NAME` finds a deployment's resources by the stack's outputs: every output
a command reads exists."""

from __future__ import annotations

import re
from pathlib import Path

from tests.infra.synth import Synth

CLI = Path(__file__).resolve().parents[2] / "cli"


def test_every_output_the_cli_reads_exists(synth: Synth) -> None:
    read = {m for path in CLI.glob("*.py") for m in re.findall(r'\.name\("\w+", "(\w+)"\)', path.read_text())}
    assert {"AuditBucketName", "DeadLetterQueueUrl", "EventsQueueUrl", "CheckpointSigningKeyArn"} <= read
    outputs = synth.template.to_json()["Outputs"]
    assert read <= set(outputs), sorted(read - set(outputs))
