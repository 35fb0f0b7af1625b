"""Offline verifier: ``mlaudit-verify --bucket B --public-key key.pem
--entry-public-key entry.pem --seal-public-key seal.pem --witness-bucket W``.

Needs read access to the bucket (and its version listing), the witness bucket (and its
versions), the checkpoint public key, the writer's entry public key and ingest's seal
public key (PEM/DER files, or KMS GetPublicKey with --kms-key-id / --entry-kms-key-id /
--seal-kms-key-id). Verifies a whole lake or an event_date range, what is new since a
checkpoint the auditor trusts (--since), one event's receipt (--event-id) or consistency
between two checkpoints (--consistency A B). Prints every problem as
``[kind] where: detail`` and exits 1 if there is any (a range holding nothing to verify
is one), 2 on a usage error. The checks: `checks`; ``python -m mlaudit.integrity.verifier`` runs
the same command where the console script is not installed.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from mlaudit.integrity.primitives.records import SignedCheckpoint
from mlaudit.integrity.primitives.signing import verify_signature
from mlaudit.integrity.primitives.store import Store
from mlaudit.integrity.verifier.checks import Problem, Report, Verifier, parse_date
from mlaudit.layout import parse_partition

__all__ = ["Problem", "Report", "Verifier", "main"]


# -- command line -----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlaudit-verify", description="Verify an mlaudit lake offline."
    )
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--endpoint-url", help="S3/KMS endpoint (the local stack's moto server)")
    parser.add_argument("--region")
    key = parser.add_mutually_exclusive_group(required=True)
    key.add_argument("--public-key", help="checkpoint public key, PEM or DER file")
    key.add_argument("--kms-key-id", help="fetch the public key with KMS GetPublicKey")
    entry = parser.add_mutually_exclusive_group()
    entry.add_argument("--entry-public-key", help="the writer's log-entry public key, PEM or DER file")
    entry.add_argument("--entry-kms-key-id", help="fetch the entry public key with KMS GetPublicKey")
    seal = parser.add_mutually_exclusive_group()
    seal.add_argument("--seal-public-key", help="ingest's seal public key, PEM or DER file: every stored event "
                      "must carry a seal made with a key it certified")
    seal.add_argument("--seal-kms-key-id", help="fetch the seal public key with KMS GetPublicKey")
    parser.add_argument(
        "--witness-bucket",
        help="the witness bucket: its checkpoints of this log are trusted (an emptied, rolled back, "
        "restarted or copied lake fails)",
    )
    parser.add_argument("--log-id", help="the log's id (default: mlaudit/<bucket>)")
    parser.add_argument("--from", dest="from_date", type=date_argument("--from"),
                        help="first event_date to check (YYYY-MM-DD)")
    parser.add_argument("--to", dest="to_date", type=date_argument("--to"),
                        help="last event_date to check (YYYY-MM-DD)")
    parser.add_argument(
        "--since", metavar="CHECKPOINT",
        help="verify only what came after a checkpoint you trust: a signed checkpoint JSON file (one you kept, "
        "or --save-checkpoint's), or a sequence number of a checkpoint in the witness (needs --witness-bucket)",
    )
    parser.add_argument("--save-checkpoint", metavar="FILE",
                        help="after a run with no problem, write the latest checkpoint here (the next --since)")
    parser.add_argument("--all-checkpoints", action="store_true",
                        help="whole lake: read every checkpoint in full, not a sample (each is listed anyway)")
    parser.add_argument("--event-id", help="check one event's receipt instead of the lake")
    parser.add_argument("--event-date", help="with --event-id: its event_date partition (faster)")
    parser.add_argument("--event-type", help="with --event-id: its event_type partition (faster)")
    parser.add_argument(
        "--consistency",
        nargs=2,
        type=int,
        metavar=("A", "B"),
        help="prove checkpoint A's log is a prefix of checkpoint B's (sequence numbers)",
    )
    parser.add_argument(
        "--trusted-checkpoint",
        help="a signed checkpoint seen earlier (JSON file): fail if the lake no longer holds it",
    )
    parser.add_argument(
        "--max-age-hours",
        type=float,
        help="fail if the latest checkpoint is older than this (or there is none); "
        "a few times the checkpoint interval",
    )
    parser.add_argument("--jobs", type=int, help="worker processes for hashing (default: CPUs)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def date_argument(option: str) -> Any:
    """argparse type: a YYYY-MM-DD date, or a usage error naming the option."""

    def parse(text: str) -> str:
        try:
            return parse_date(text, option) or ""
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def main(
    argv: list[str] | None = None, store: Store | None = None, witness_store: Store | None = None,
    history: Any = None,
) -> int:
    """``store``, ``witness_store``, ``history``: instead of S3 (tests)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.from_date and args.to_date and args.from_date > args.to_date:
        parser.error(f"--from {args.from_date} is after --to {args.to_date}")
    import boto3

    from mlaudit.adapters.bucket import S3Bucket
    from mlaudit.integrity.primitives import records
    from mlaudit.integrity.primitives.signing import load_public_key
    from mlaudit.integrity.services.witness import Witness
    from mlaudit.integrity.verifier.versions import S3History

    session = boto3.session.Session(region_name=args.region)
    if store is None:
        s3 = session.client("s3", endpoint_url=args.endpoint_url)
        store, history = S3Bucket(s3, args.bucket), S3History(s3, args.bucket)
        if args.witness_bucket:
            witness_store = S3Bucket(s3, args.witness_bucket)
    kms = lambda: session.client("kms", endpoint_url=args.endpoint_url)  # noqa: E731
    pem = _key(args.public_key, args.kms_key_id, kms)
    public_key = load_public_key(pem)
    entry_pem = _key(args.entry_public_key, args.entry_kms_key_id, kms)
    entry_key = load_public_key(entry_pem) if entry_pem else None
    seal_pem = _key(args.seal_public_key, args.seal_kms_key_id, kms)
    log_id = args.log_id or records.log_id(args.bucket)
    witness = Witness(witness_store, log_id) if witness_store is not None else None

    if args.event_id:
        return _print(*_event(store, pem, args, entry_pem), as_json=args.json)
    if args.consistency:
        return _print(*_consistency(store, public_key, *args.consistency), as_json=args.json)
    trusted = None
    if args.trusted_checkpoint:
        with open(args.trusted_checkpoint, "rb") as handle:
            trusted = SignedCheckpoint(**_signed_fields(json.loads(handle.read())))
    since = None
    if args.since:
        since = _since(args.since, witness)
        if since is None:
            parser.error(f"--since {args.since}: no such checkpoint (a file, or a sequence number in the witness)")
    report = Verifier(
        store,
        public_key,
        from_date=args.from_date,
        to_date=args.to_date,
        trusted_checkpoint=trusted,
        max_checkpoint_age=timedelta(hours=args.max_age_hours) if args.max_age_hours else None,
        jobs=args.jobs,
        log_id=log_id,
        entry_key=entry_key,
        witness=witness,
        history=history,
        seal_key_pem=seal_pem,
        since=since,
        all_checkpoints=args.all_checkpoints,
    ).run()
    if args.json:
        print(json.dumps({**asdict(report), "ok": report.ok}, indent=1))
    else:
        print(report.text())
    if report.ok and args.save_checkpoint and report.checkpoint is not None:
        _save(store, report.checkpoint["seq"], args.save_checkpoint)
    return 0 if report.ok else 1


def _since(text: str, witness: Any) -> SignedCheckpoint | None:
    """A checkpoint file, or checkpoint N as the witness holds it (its history is checked by the run)."""
    if text.isdigit():
        return witness.load(int(text)) if witness is not None else None
    try:
        with open(text, "rb") as handle:
            return SignedCheckpoint(**_signed_fields(json.loads(handle.read())))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _save(store: Store, seq: int, path: str) -> None:
    """The checkpoint a clean run ended at, as the bucket holds it (canonical JSON)."""
    from mlaudit.integrity.primitives import records

    data = store.get(records.checkpoint_key(seq))
    if data is not None:
        with open(path, "wb") as handle:
            handle.write(data)


def _key(path: str | None, kms_key_id: str | None, kms: Any) -> bytes | None:
    from mlaudit.integrity.primitives.signing import kms_public_key_pem

    if path:
        with open(path, "rb") as handle:
            return handle.read()
    return kms_public_key_pem(kms(), kms_key_id) if kms_key_id else None


def _signed_fields(document: dict[str, Any]) -> dict[str, Any]:
    import base64

    return {"body": document["checkpoint"], "signature": base64.b64decode(document["signature"])}


def _event(
    store: Store, pem: bytes, args: argparse.Namespace, entry_pem: bytes | None,
) -> tuple[list[str], dict[str, Any]]:
    from mlaudit.errors import NotFound
    from mlaudit.integrity.services.proofs import ProofService, check_receipt
    from mlaudit.leaf import table_leaf_hashes

    service = ProofService(store)
    try:
        key, table, row = service.locate(args.event_id, event_date=args.event_date, event_type=args.event_type)
        receipt = service.receipt(args.event_id, event_date=parse_partition(key)[0], event_type=parse_partition(key)[1])
    except NotFound as exc:
        return [str(exc)], {}
    recomputed = table_leaf_hashes(table.slice(row, 1), parse_partition(key)[1])[0]
    problems = check_receipt(receipt, pem, recomputed, entry_public_key_pem=entry_pem)
    return [f"event {args.event_id} in {key}: {p}" for p in problems], receipt


def _consistency(store: Store, public_key: Any, first: int, second: int) -> tuple[list[str], dict[str, Any]]:
    from mlaudit.errors import Invalid, NotFound
    from mlaudit.integrity.services.checkpoint import load_checkpoint
    from mlaudit.integrity.services.proofs import ProofService, check_consistency

    checkpoints = [load_checkpoint(store, seq) for seq in (first, second)]
    problems = [f"checkpoint {s} is missing" for s, c in zip((first, second), checkpoints, strict=True) if c is None]
    problems += [
        f"checkpoint {s}: the signature does not verify"
        for s, c in zip((first, second), checkpoints, strict=True)
        if c is not None and not verify_signature(public_key, c.message, c.signature)
    ]
    if problems:
        return problems, {}
    older, newer = checkpoints[0].body, checkpoints[1].body
    if older["tree_size"] == 0:
        return [], {
            "first": 0,
            "second": newer["tree_size"],
            "path": [],
        }  # the empty log is everyone's prefix
    try:
        proof = ProofService(store).consistency(older["tree_size"], newer["tree_size"])
    except (Invalid, NotFound, LookupError) as exc:
        return [f"no consistency proof: {exc}"], {}
    if not check_consistency(proof, older, newer):
        problems.append(
            f"checkpoint {first} (size {older['tree_size']}) is not a prefix of "
            f"checkpoint {second} (size {newer['tree_size']}): the log was rewritten"
        )
    return problems, proof


def _print(problems: list[str], detail: dict[str, Any], *, as_json: bool) -> int:
    if as_json:
        print(json.dumps({"ok": not problems, "problems": problems, "proof": detail}, indent=1))
    else:
        print("\n".join(problems) if problems else "OK: proof verified")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
