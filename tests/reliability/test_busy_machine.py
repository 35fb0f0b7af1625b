"""Issue #28's loaded machine: the writer's S3 puts and ledger writes failing half the time
(half of those after taking effect), a writer presumed dead after 1 s. The finding ran
with two CPU-bound processes on the 2 cores; the suite runs under that load (the lead's
`make test`), so the test adds none of its own. Its own module: a local stack runs alone
in the process (functions are configured process-wide).

No outcome here depends on how fast the machine is: the visibility timeout (120 s) is
longer than any batch takes on a loaded machine, so a message comes back only when its
writer failed it, never because its batch was slow; the waits are deadlines on
conditions, generous ones."""

from __future__ import annotations

from bench import reliability
from local.faults import Fault

# Half of the writer's S3 puts and ledger writes fail, half of those after taking effect.
HALF = tuple(Fault("writer", service, operation, 0.25, when)
             for service, operation in (("s3", "PutObject"), ("dynamodb", "PutItem"), ("dynamodb", "UpdateItem"))
             for when in ("before", "after"))


def test_a_busy_machine_with_half_the_writers_puts_and_ledger_writes_failing(tmp_path):
    """The finding: messages reached the DLQ, and files put but never logged were foreign
    to the verifier. Now: every event once, the DLQ empty, the verifier clean."""
    with reliability.local_stack(visibility=120, max_receive_count=5, presumed_dead=1.0) as stack:
        result = reliability.run(stack, clients=2, batches=4, size=25, poison=0, faults=HALF, prefix="busy",
                                 drain_timeout=900, faults_while_draining=True)
        summary = result.summary()
        # The faults did strike, before and after taking effect (how often depends on the calls made).
        assert result.faults >= 10, summary
        assert {when for (*_, when) in stack.faults.struck} == {"before", "after"}, stack.faults.struck
        assert (result.lost, result.duplicated, result.foreign) == ([], [], []), summary
        assert len(result.accepted) == 2 * 4 * 25 and result.refused_valid == [], summary
        assert reliability.dlq_messages(stack) == 0, summary
        assert reliability.wait_recovered(stack, timeout=300), reliability.unlogged_files(stack)
        verified = reliability.verify(stack, tmp_path)
        assert verified["ok"], verified["problems"][:10]
