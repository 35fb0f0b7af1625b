"""``python -m cli import FILE``: drop a JSON Lines or Parquet file in the landing bucket,
follow the import with a progress bar, and print its report.

    python -m cli import events.jsonl --stack mlaudit-stack --region eu-west-1
    python -m cli import events.jsonl --config stack.json     # the local stack (default .local/stack.json)

Exit code 0 when every line was stored (or was already, by an earlier import or the API),
1 when some lines were rejected (the report lists each with its reasons), 2 on an error.
The command waits for the report of the version it uploaded: an earlier import under the
same --name has left its own report there.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from mlaudit.imports.readers import format_of

from cli.masked import own_names, unmask
from cli.target import CommandError, Target, add_arguments

REPORTS_PREFIX, IMPORTS_PREFIX = "reports/", "imports/"
BAR_WIDTH = 30


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("import", help="import a JSON Lines or Parquet file of audit events",
                                 description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="a .jsonl/.ndjson/.json (one event per line) or .parquet file")
    add_arguments(parser, token=False)  # --config (default .local/stack.json) or --stack (LandingBucketName)
    parser.add_argument("--name", help="the object name under imports/ (default: the file's name)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for the report")
    parser.add_argument("--report", type=Path, help="also write the full report (JSON) here")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.file.is_file():
        raise CommandError(f"{args.file} is not a file")
    key = IMPORTS_PREFIX + (args.name or args.file.name)
    if format_of(key) is None:  # the import function's own test of the name, before anything is sent
        raise CommandError(f"{key.removeprefix(IMPORTS_PREFIX)}: not a file type the import reads; name it "
                           ".jsonl, .ndjson or .json (JSON Lines) or .parquet")
    s3, bucket = _landing(args)
    return wait_and_report(args, s3, bucket)


# One PUT (which answers with the version it made) takes up to 5 GB: more than an import
# function reads in its 15 minutes.
MAX_UPLOAD_BYTES = 5 * 1024**3


def wait_and_report(args: argparse.Namespace, s3: Any, bucket: str) -> int:
    """Upload the file, wait for the report of the version uploaded (an earlier import under
    the same name left its own report there), print it; the exit status."""
    key = IMPORTS_PREFIX + (args.name or args.file.name)
    total = count_lines(args.file)
    if args.file.stat().st_size > MAX_UPLOAD_BYTES:
        raise CommandError(f"{args.file} is larger than 5 GB: split it into files an import can read")
    with args.file.open("rb") as body:
        version = s3.put_object(Bucket=bucket, Key=key, Body=body, ChecksumAlgorithm="SHA256").get("VersionId")
    print(f"uploaded {args.file} to s3://{bucket}/{key}", file=sys.stderr)
    report = wait_for_report(s3, bucket, key, version, total, args.timeout)
    if args.report:
        args.report.write_text(json.dumps(report, indent=2))
    print(unmask(summary(report), own_names(args.file, report)))
    return 0 if report.get("state") in ("imported", "already_imported") and not report.get("rejected") else 1


def _landing(args: argparse.Namespace) -> tuple[Any, str]:
    target = Target.from_args(args)
    return target.client("s3"), target.name("landing_bucket", "LandingBucketName")


def count_lines(path: Path) -> int | None:
    """Lines (rows) the import will read, for the progress bar; None if unknown."""
    if path.suffix.lower() == ".parquet":
        try:
            import pyarrow.parquet as pq  # noqa: PLC0415

            return pq.ParquetFile(path).metadata.num_rows
        except ImportError:
            return None
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


def wait_for_report(
    s3: Any, bucket: str, key: str, version: str | None, total: int | None, timeout: float,
) -> dict[str, Any]:
    """The report of this version of the file (`version_id`; any report if the bucket
    keeps no versions), once written; its progress meanwhile."""
    name = key.removeprefix(IMPORTS_PREFIX)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        report = _read(s3, bucket, f"{REPORTS_PREFIX}{name}.json")
        if report is not None and _ours(report, version):
            _bar(report.get("lines", 0), total, done=True)
            return report
        progress = _read(s3, bucket, f"{REPORTS_PREFIX}{name}.progress") or {}
        _bar(progress.get("lines", 0) if _ours(progress, version) else 0, total)
        time.sleep(0.5)
    raise CommandError(f"no report for {key} after {timeout:.0f} s (is the import function running?)")


def _ours(document: dict[str, Any], version: str | None) -> bool:
    return version in (None, "null") or document.get("version_id") == version


def _read(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    try:
        return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        return None


def _bar(lines: int, total: int | None, done: bool = False) -> None:
    if total:
        filled = min(BAR_WIDTH, BAR_WIDTH * lines // total)
        text = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {lines:,}/{total:,} lines"
    else:
        text = f"{lines:,} lines"
    print(f"\r{text}", end="\n" if done else "", file=sys.stderr, flush=True)


def summary(report: dict[str, Any]) -> str:
    if report.get("state") == "refused":
        return f"refused: {report.get('error')}"
    lines = [f"{report['state']}: {report['lines']:,} lines, {report['accepted']:,} accepted, "
             f"{report['rejected']:,} rejected, {report.get('already_stored', 0):,} already stored "
             f"(dq pass {report['dq']['pass']:,}, warn {report['dq']['warn']:,}, fail {report['dq']['fail']:,})"]
    for rejection in report.get("rejections", [])[:20]:
        reasons = "; ".join(f"{e['path']}: {e['rule']}" for e in rejection["errors"])
        lines.append(f"  line {rejection['line']}: {reasons}")
    if report.get("rejected", 0) > 20:
        lines.append(f"  ... {report['rejected'] - 20:,} more in the full report (--report FILE)")
    return "\n".join(lines)
