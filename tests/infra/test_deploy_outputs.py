"""The operator tools read the stack's outputs by name: the stack has every one."""

from __future__ import annotations

from ops.smoke import OUTPUTS
from tests.infra.synth import Synth


def test_the_stack_has_every_output_the_smoke_test_reads(synth: Synth) -> None:
    outputs = synth.template.to_json()["Outputs"]
    assert set(OUTPUTS) <= set(outputs), sorted(set(OUTPUTS) - set(outputs))
