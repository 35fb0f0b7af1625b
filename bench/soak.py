"""The soak: the reliability suite's load with faults, for longer (`make soak`).

    python -m bench.soak [--minutes 10] [--clients 6] [--size 50] [--out docs/benchmarks-soak.json]

Runs the local stack in this process, concurrent clients that retry and re-form their
batches, faults on S3, SQS, KMS and DynamoDB calls of ingest and the writer (before and
after they take effect, bench/reliability.FAULTS) and poison messages; then drains without
faults, reads the whole lake back, waits for the writer's recovery sweep to log every file
and runs the verifier. Then it takes its own poison off the DLQ (each message checked to be
one it sent), and the DLQ must be empty: no message whose events were stored, no copy.
Prints the figures (and writes them with --out); exits 1 unless 0 lost, 0 duplicated,
nothing foreign, no valid request refused, every poison message in the DLQ and the DLQ
then empty, every file logged and the verifier clean.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

from bench import reliability


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--size", type=int, default=50, help="events per request")
    parser.add_argument("--poison", type=int, default=12)
    parser.add_argument("--visibility", type=int, default=30, help="queue visibility timeout, seconds")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    # A loaded local stack writes a batch in seconds: the visibility timeout stays well above it.
    with reliability.local_stack(visibility=args.visibility, presumed_dead=args.visibility / 4) as stack:
        result = reliability.run(stack, clients=args.clients, batches=0, size=args.size,
                                 seconds=args.minutes * 60, poison=args.poison, drain_timeout=600)
        recovered = reliability.wait_recovered(stack, timeout=600)
        with tempfile.TemporaryDirectory() as workdir:
            verified = reliability.verify(stack, Path(workdir))
        poison_taken, dlq_others = reliability.take_poison(stack)
        dlq_at_end = reliability.dlq_held(stack)
        figures = {**result.summary(), "minutes_under_load": args.minutes, "clients": args.clients,
                   "events_per_request": args.size, "dlq_beyond_poison": result.poison_in_dlq - args.poison,
                   "poison_taken_off_the_dlq": poison_taken, "dlq_others": dlq_others[:20], "dlq_at_end": dlq_at_end,
                   "unlogged_files": len(reliability.unlogged_files(stack)), "verifier_ok": verified["ok"],
                   "verifier_problems": verified["problems"][:20],
                   "faults_by_call": {":".join(k): v for k, v in sorted(stack.faults.struck.items())}}
    text = json.dumps(figures, indent=2, sort_keys=True)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    ok = not (result.lost or result.duplicated or result.foreign or result.refused_valid) and (
        result.poison_in_dlq == args.poison and poison_taken == args.poison and dlq_at_end == 0
        and recovered and verified["ok"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
