"""Issue #28's loaded machine: two CPU-bound processes on the 2 cores, the writer's S3 puts
and ledger writes failing half the time (half of those after taking effect), a visibility
timeout of 8 s and a writer presumed dead after 1 s. Its own module: a local stack runs
alone in the process (functions are configured process-wide)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from bench import reliability
from local.faults import Fault

# Half of the writer's S3 puts and ledger writes fail, half of those after taking effect.
HALF = tuple(Fault("writer", service, operation, 0.25, when)
             for service, operation in (("s3", "PutObject"), ("dynamodb", "PutItem"), ("dynamodb", "UpdateItem"))
             for when in ("before", "after"))


@contextmanager
def busy_cores() -> Iterator[None]:
    """Two CPU-bound processes on the (2) cores, as a loaded CI machine; killed after."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        yield
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


def test_a_busy_machine_with_half_the_writers_puts_and_ledger_writes_failing(tmp_path):
    """The finding: messages reached the DLQ, and files put but never logged were foreign
    to the verifier. Now: every event once, the DLQ empty, the verifier clean."""
    with reliability.local_stack(visibility=8, max_receive_count=5, presumed_dead=1.0) as stack, busy_cores():
        result = reliability.run(stack, clients=2, batches=3, size=25, poison=0, faults=HALF, prefix="busy",
                                 drain_timeout=900, faults_while_draining=True)
        summary = result.summary()
        assert result.faults > 20, summary  # the faults did strike
        assert (result.lost, result.duplicated, result.foreign) == ([], [], []), summary
        assert len(result.accepted) == 2 * 3 * 25 and result.refused_valid == [], summary
        assert reliability.dlq_messages(stack) == 0, summary
        assert reliability.wait_recovered(stack, timeout=300), reliability.unlogged_files(stack)
        verified = reliability.verify(stack, tmp_path)
        assert verified["ok"], verified["problems"][:10]
