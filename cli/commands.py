"""The operator commands besides ``import`` and ``report``: serve, demo, verify, compact,
query, proof and dlq. Each registers its sub-parser; ``run_*`` returns the exit code."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cli.target import DEFAULT_CONFIG, CommandError, Target, add_arguments, answer_text, progress, table


def register(commands: argparse._SubParsersAction) -> None:
    from local import serve  # noqa: PLC0415

    serve.register(commands)
    commands.choices["serve"].description = (
        "Run the whole stack on this machine (moto, Cognito, API emulator, writer, checkpoints) until Ctrl-C; "
        f"the other commands find it through its config file (default {DEFAULT_CONFIG})."
    )
    commands.choices["serve"].set_defaults(config_out=DEFAULT_CONFIG)

    demo = commands.add_parser("demo", help="start the local stack and run a sample ML workload through it",
                               description="Start the local stack, run three sample models' workload through it, check "
                                           "what was stored and proven, and write the HTML report.")
    demo.add_argument("--predictions", type=int, default=3000, help="predictions each sample model serves")
    demo.add_argument("--seed", type=int, default=11, help="seed of the synthetic data")
    demo.add_argument("--report", type=Path, default=Path("mlaudit-report.html"),
                      help="where to write the HTML report (default %(default)s)")
    demo.set_defaults(func=run_demo)

    verify = commands.add_parser("verify", help="verify the lake's integrity, with progress and a summary",
                                 description="Check every file, event, log entry and ingest seal of the lake, its "
                                             "checkpoints and the witness's history, or only what is new since a "
                                             "checkpoint you trust (--since; read-only; mlaudit.integrity.verifier).")
    add_arguments(verify, token=False)
    from mlaudit.integrity.verifier.command import date_argument  # noqa: PLC0415

    verify.add_argument("--from", dest="from_date", type=date_argument("--from"),
                        help="first event_date to check (YYYY-MM-DD)")
    verify.add_argument("--to", dest="to_date", type=date_argument("--to"),
                        help="last event_date to check (YYYY-MM-DD)")
    verify.add_argument("--since", metavar="CHECKPOINT",
                        help="only what is new since a checkpoint you trust: a checkpoint JSON file "
                             "(--save-checkpoint writes one) or a sequence number in the witness")
    verify.add_argument("--save-checkpoint", metavar="FILE", type=Path,
                        help="after a run with no problem, write the latest checkpoint here (tomorrow's --since)")
    verify.add_argument("--all-checkpoints", action="store_true",
                        help="whole lake: read every checkpoint in full, not a sample")
    verify.add_argument("--max-age-hours", type=float,
                        help="fail if the latest checkpoint is older than this (or there is none)")
    verify.add_argument("--jobs", type=int, help="worker processes for hashing (default: CPUs)")
    verify.add_argument("--json", action="store_true", help="print the full report as JSON")
    verify.set_defaults(func=run_verify)

    compact = commands.add_parser("compact", help="compact every closed day now (docs/compaction.md)",
                                  description="Merge each closed day's files, per event type, into few large "
                                              "files logged in the integrity log with the files they replace; "
                                              "queries then read a compacted day from them. What the scheduled "
                                              "compaction function does, at once, for every closed day.")
    add_arguments(compact, token=False)
    compact.add_argument("--through", type=date_argument("--through"),
                         help="also treat this day (YYYY-MM-DD) and every day before it as closed (a day you know "
                              "is complete; what still arrives for it waits for the next run)")
    compact.add_argument("--json", action="store_true", help="print the summary as JSON")
    compact.set_defaults(func=run_compact)

    query = commands.add_parser("query", help="run a named query (no NAME: list them)", add_help=False,
                                description="Run a named query through the API (DuckDB on the local stack, "
                                            "Athena on AWS) and print its rows. Each run is an audit event. "
                                            "`mlaudit query` lists the queries with their parameters and roles; "
                                            "`mlaudit query NAME --help` shows one.")
    query.add_argument("-h", "--help", action=QueryHelp, nargs=0,
                       help="show this help (after NAME: the query's parameters, columns and roles) and exit")
    query.add_argument("name", nargs="?", help="the query (omit to list the queries your role may run)")
    query.add_argument("--param", action="append", default=[], metavar="K=V", help="a parameter (repeatable)")
    query.add_argument("--format", choices=("table", "csv", "json"), default="table")
    query.add_argument("--out", type=Path, help="write the result here instead of stdout")
    add_arguments(query)
    query.set_defaults(func=run_query)

    proof = commands.add_parser("proof", help="fetch an event's receipt and check it",
                                description="Fetch an event's receipt (GET /v1/events/{id}/proof) and check it "
                                            "offline: the leaf, the file's Merkle tree, the signed log entry and "
                                            "the checkpoint signature under the stack's public keys.")
    proof.add_argument("event_id")
    proof.add_argument("--event-date", help="its event_date partition (faster)")
    proof.add_argument("--event-type", help="its event_type partition (faster)")
    proof.add_argument("--json", action="store_true", help="print the receipt too")
    add_arguments(proof)
    proof.set_defaults(func=run_proof)

    dlq = commands.add_parser("dlq", help="list the dead-letter queue's messages and why; redrive some",
                              description="List the messages the writer could never write, each with the reason "
                                          "its body fails the writer's parse (or 'parses now': a transient "
                                          "failure), and send selected ones back to the events queue.")
    dlq.add_argument("--redrive", nargs="*", metavar="MESSAGE_ID",
                     help="send these messages (all listed ones with --all) back to the events queue")
    dlq.add_argument("--all", action="store_true", help="with --redrive: every message in the DLQ")
    dlq.add_argument("--limit", type=int, default=100, help="look at this many messages at most")
    add_arguments(dlq, token=False)
    dlq.set_defaults(func=run_dlq)


# --- demo ---------------------------------------------------------------------------------


def run_demo(args: argparse.Namespace) -> int:
    try:
        from examples import demo  # noqa: PLC0415
    except ImportError as exc:
        raise CommandError(f"the demo needs the workload client: pip install ./client ({exc.name} missing)") from None
    return demo.run(args)


# --- verify -------------------------------------------------------------------------------


class CountingStore:
    """A Store that counts the event files the verifier fetches, for the progress bar."""

    def __init__(self, store: Any, total: int | None) -> None:
        self.store, self.total, self.done = store, total, 0
        self._lock = threading.Lock()
        self._shown = 0.0

    def get(self, key: str) -> bytes | None:
        data = self.store.get(key)
        if key.startswith("events/") and key.endswith(".parquet"):
            with self._lock:
                self.done += 1
                if time.monotonic() - self._shown > 0.2 or self.done == self.total:
                    self._shown = time.monotonic()
                    progress(self.done, self.total, "files")
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def lake_verifier(target: Target, store: Any = None, *, since: Any = None, **options: Any) -> Any:
    """A Verifier over the target's lake with every key and the witness (the stack's outputs,
    or the local stack's config): what `verify` and `report` run."""
    from mlaudit.adapters.bucket import S3Bucket  # noqa: PLC0415
    from mlaudit.integrity.primitives import records  # noqa: PLC0415
    from mlaudit.integrity.primitives.signing import kms_public_key_pem, load_public_key  # noqa: PLC0415
    from mlaudit.integrity.services.witness import Witness  # noqa: PLC0415
    from mlaudit.integrity.verifier import Verifier  # noqa: PLC0415

    s3, kms = target.client("s3"), target.client("kms")
    bucket = target.name("bucket", "AuditBucketName")
    log_id = records.log_id(bucket)
    lake = S3Bucket(s3, bucket)
    return Verifier(
        store or lake,
        load_public_key(kms_public_key_pem(kms, target.name("signing_key_id", "CheckpointSigningKeyArn"))),
        log_id=log_id,
        entry_key=load_public_key(kms_public_key_pem(kms, target.name("entry_key_id", "LogEntryKeyArn"))),
        seal_key_pem=kms_public_key_pem(kms, target.name("seal_key_id", "PackSealKeyArn")),
        witness=Witness(S3Bucket(s3, target.name("witness_bucket", "WitnessBucketName")), log_id),
        history=lake, since=since, **options,
    )


def trusted_checkpoint(target: Target, text: str) -> Any:
    """--since: a checkpoint file, or a sequence number of the witness's checkpoints."""
    from mlaudit.adapters.bucket import S3Bucket  # noqa: PLC0415
    from mlaudit.integrity.primitives import records  # noqa: PLC0415
    from mlaudit.integrity.services.witness import Witness  # noqa: PLC0415

    if text.isdigit():
        bucket = target.name("bucket", "AuditBucketName")
        witness = Witness(S3Bucket(target.client("s3"), target.name("witness_bucket", "WitnessBucketName")),
                          records.log_id(bucket))
        found = witness.load(int(text))
        if found is None:
            raise CommandError(f"--since {text}: the witness holds no checkpoint {text}")
        return found
    try:
        return records.SignedCheckpoint.decode(Path(text).read_bytes(), text)
    except (OSError, records.FormatError) as exc:
        raise CommandError(f"--since {text}: not a signed checkpoint file ({exc})") from None


def run_verify(args: argparse.Namespace) -> int:
    from mlaudit.adapters.bucket import S3Bucket  # noqa: PLC0415
    from mlaudit.integrity.primitives import records  # noqa: PLC0415

    if args.from_date and args.to_date and args.from_date > args.to_date:
        raise CommandError(f"--from {args.from_date} is after --to {args.to_date}")
    target = Target.from_args(args)
    since = trusted_checkpoint(target, args.since) if args.since else None
    store = S3Bucket(target.client("s3"), target.name("bucket", "AuditBucketName"))
    counting = CountingStore(store, None)
    started = time.monotonic()
    report = lake_verifier(
        target, counting, since=since, from_date=args.from_date, to_date=args.to_date, jobs=args.jobs,
        all_checkpoints=args.all_checkpoints,
        max_checkpoint_age=timedelta(hours=args.max_age_hours) if args.max_age_hours else None,
    ).run()
    progress(counting.done, None, "files", final=True)
    if report.ok and args.save_checkpoint and report.checkpoint is not None:
        data = store.get(records.checkpoint_key(report.checkpoint["seq"]))
        if data is not None:
            args.save_checkpoint.write_bytes(data)
    if args.json:
        from dataclasses import asdict  # noqa: PLC0415

        print(json.dumps({**asdict(report), "ok": report.ok}, indent=1, default=str))
        return 0 if report.ok else 1
    print(summary_table(report, time.monotonic() - started))
    return 0 if report.ok else 1


# --- compact ------------------------------------------------------------------------------


def run_compact(args: argparse.Namespace) -> int:
    """The compaction function, with its own role, at once: the deployed one, or the local
    stack's (through its Lambda Invoke endpoint, local/invoke.py)."""
    target = Target.from_args(args)
    payload = {"every": True, **({"through": args.through} if args.through else {})}
    answer = target.client("lambda").invoke(
        FunctionName=target.name("compaction_function", "CompactionFunctionName"),
        Payload=json.dumps(payload).encode())
    done = json.loads(answer["Payload"].read() or b"{}")
    if answer.get("FunctionError"):
        raise CommandError(f"the compaction function failed: {done.get('errorMessage', done)}")
    if args.json:
        print(json.dumps(done, indent=1))
    else:
        print(table(["measure", "value"], [[name.replace("_", " "), f"{value:,}" if isinstance(value, int) else
                                            str(value)] for name, value in done.items()]))
    return 0


def summary_table(report: Any, seconds: float) -> str:
    checkpoint = report.checkpoint
    age = ""
    if checkpoint:
        try:
            signed_at = datetime.fromisoformat(str(checkpoint["time"]).replace("Z", "+00:00"))
            age = f", {(datetime.now(UTC) - signed_at).total_seconds():,.0f} s old"
        except ValueError:
            age = ""
    facts = [
        ["log entries", f"{report.log_size:,}"],
        ["files checked", f"{report.files_checked:,}"],
        ["events checked", f"{report.events_checked:,}"],
        ["latest checkpoint", f"seq {checkpoint['seq']}, tree size {checkpoint['tree_size']}{age}" if checkpoint
         else "none"],
        ["time", f"{seconds:.1f} s"],
    ]
    if report.since is not None:
        facts.insert(0, ["verified since", f"checkpoint {report.since['seq']} (tree size {report.since['tree_size']}, "
                                           f"{report.since['time']})"])
        facts.insert(2, ["log entries checked", f"{report.entries_checked:,}"])
    lines = [table(["measure", "value"], facts)]
    if report.problems:
        kinds: dict[str, list[Any]] = {}
        for problem in report.problems:
            kinds.setdefault(problem.kind, []).append(problem)
        lines += ["", table(["problem", "count", "first where", "detail"],
                            [[k, len(v), v[0].where, v[0].detail] for k, v in sorted(kinds.items())])]
    lines += [*(f"note: {n}" for n in report.notes), "",
              "OK: no problem found" if report.ok else f"FAILED: {len(report.problems)} problem(s)"]
    return "\n".join(lines)


# --- query --------------------------------------------------------------------------------


def parse_params(items: list[str]) -> dict[str, Any]:
    parameters: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise CommandError(f"--param {item!r}: write it as name=value")
        parameters[name] = value
    return parameters


QUERY_ROLES = ("auditor", "analyst", "privacy_officer")  # who may list queries (GET /v1/queries), first tried first


class QueryHelp(argparse.Action):
    """`query --help`, and after a NAME the query itself, from this version's catalog (no
    stack needed; `mlaudit query` asks the stack)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        text = parser.format_help()
        if name := getattr(namespace, "name", None):
            from mlaudit.queries.catalog import UnknownQueryError, load_catalog  # noqa: PLC0415

            try:
                text += "\n" + describe_query(load_catalog().get(name).describe(), full=True) + "\n"
            except UnknownQueryError:
                text += f"\nThere is no query {name!r} in this version's catalog: `mlaudit query` lists them.\n"
        print(text, end="")
        parser.exit()


def describe_query(query: dict[str, Any], *, full: bool = False) -> str:
    """A query as GET /v1/queries describes it (`QuerySpec.describe()`): its name and roles,
    description, and the --param each parameter takes."""
    lines = [f"{query['name']}  (roles: {', '.join(query.get('roles', [])) or 'none'})"]
    lines += textwrap.wrap(query.get("description", ""), 96, initial_indent="    ", subsequent_indent="    ")
    params = query.get("parameters", [])
    if not full:
        shown = [f"{p['name']}=<{p['type']}>" + ("" if p.get("required") else "?") for p in params]
        lines += textwrap.wrap("--param " + "  ".join(shown) + ("  (? optional)" if shown else ""), 96,
                               initial_indent="    ", subsequent_indent="            ")
        return "\n".join(lines)
    lines += ["", "parameters (--param NAME=VALUE):"]
    for p in params:
        facts = ["required" if p.get("required") else "optional"]
        facts += [f"{key} {p[key]:g}" if isinstance(p[key], float) else f"{key} {p[key]}"
                  for key in ("default", "max_length", "pattern", "minimum", "maximum") if key in p]
        lines.append(f"  {p['name']}=<{p['type']}>  {', '.join(facts)}")
        lines += textwrap.wrap(p.get("description", ""), 92, initial_indent="      ", subsequent_indent="      ")
    if columns := query.get("columns"):
        lines += ["", "columns:"] + [f"  {c['name']} ({c['type']})" + (f": {c['description']}" if c.get("description")
                                                                        else "") for c in columns]
    return "\n".join(lines)


def _roles_to_ask(target: Target) -> list[str]:
    """Whose catalog to list: the one --role (or a token) gives; on the local stack without
    --role, every role that may run queries, so that none is missing from the list."""
    if target.role or target.token or target.local is None:
        return [target.role or "auditor"]
    return [r for r in QUERY_ROLES if r in target.local.get("users", {})]


def _role_for(target: Target, name: str) -> str:
    """The local stack's user to run `name` as: --role, else a role the query allows."""
    if target.role or target.token:
        return target.role or "auditor"
    from mlaudit.queries.catalog import UnknownQueryError, load_catalog  # noqa: PLC0415

    try:
        allowed = load_catalog().get(name).roles
    except UnknownQueryError:
        return "auditor"
    return next((r for r in QUERY_ROLES if r in allowed), "auditor")


def run_query(args: argparse.Namespace) -> int:
    target = Target.from_args(args)
    if not args.name:
        queries: dict[str, dict[str, Any]] = {}
        for role in _roles_to_ask(target):
            answer = target.request("GET", "/v1/queries", role=role)
            if answer.status_code != 200:
                raise CommandError(f"cannot list the queries as {role}: {answer.status_code} {answer_text(answer)}")
            queries.update((q["name"], q) for q in answer.json()["queries"])
        print("\n\n".join(describe_query(queries[name]) for name in sorted(queries)))
        print(f"\n{len(queries)} queries. `mlaudit query NAME --help` shows one; dates are YYYY-MM-DD.")
        return 0
    columns, rows = target.run_query(args.name, parse_params(args.param), role=_role_for(target, args.name))
    names = [c["name"] for c in columns] or (list(rows[0]) if rows else [])
    text = render_rows(names, rows, args.format)
    if args.out:
        args.out.write_text(text)
        print(f"{len(rows):,} rows written to {args.out}", file=sys.stderr)
    else:
        print(text)
    return 0


def render_rows(names: list[str], rows: list[dict[str, Any]], form: str) -> str:
    if form == "json":
        return json.dumps(rows, indent=1, default=str)
    if form == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=names, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in row.items()})
        return buffer.getvalue().rstrip("\n")
    return table(names, [[row.get(n) for n in names] for row in rows]) + f"\n({len(rows):,} rows)"


# --- proof --------------------------------------------------------------------------------


def run_proof(args: argparse.Namespace) -> int:
    from mlaudit.integrity.primitives.signing import kms_public_key_pem  # noqa: PLC0415
    from mlaudit.integrity.services.proofs import check_receipt  # noqa: PLC0415

    target = Target.from_args(args)
    params = {k: v for k, v in (("event_date", args.event_date), ("event_type", args.event_type)) if v}
    answer = target.request("GET", f"/v1/events/{args.event_id}/proof", role="auditor", params=params)
    if answer.status_code == 404:
        raise CommandError(f"no stored event {args.event_id} (not written yet, or not yours)")
    if answer.status_code != 200:
        raise CommandError(f"the receipt was refused: {answer.status_code} {answer.text[:200]}")
    receipt = answer.json()
    kms = target.client("kms")
    problems = check_receipt(
        receipt, kms_public_key_pem(kms, target.name("signing_key_id", "CheckpointSigningKeyArn")),
        entry_public_key_pem=kms_public_key_pem(kms, target.name("entry_key_id", "LogEntryKeyArn")),
    )
    if args.json:
        print(json.dumps(receipt, indent=1))
    checkpoint = (receipt.get("checkpoint") or {}).get("checkpoint") or {}
    print(table(["", ""], [
        ["event", receipt["event_id"]],
        ["file", receipt.get("object_key", "")],
        ["leaf", f"{receipt.get('leaf_index')} of {receipt.get('file_size')}"],
        ["log entry", receipt.get("log_index")],
        ["checkpoint", f"seq {checkpoint.get('seq')}, tree size {checkpoint.get('tree_size')}, "
                       f"{checkpoint.get('time')}" if checkpoint else "none yet"],
    ]).split("\n", 2)[2])
    for problem in problems:
        print(f"problem: {problem}")
    print("OK: the event is in the signed log" if not problems else f"FAILED: {len(problems)} problem(s)")
    return 0 if not problems else 1


# --- dlq ----------------------------------------------------------------------------------


def failure_reason(body: str, encoding: str | None = None) -> str:
    """Why the writer cannot write this message: its own parse, run again here (of the pack
    the body carries: ingest sends it deflated, `mlaudit.pack.queue_body`)."""
    from mlaudit.pack import from_queue, parse_pack  # noqa: PLC0415

    try:
        body = from_queue(body, encoding)
    except ValueError as exc:
        return str(exc)
    if not body or not body.isascii():
        return "body is empty or not ASCII"
    try:
        table_ = parse_pack(body.encode("ascii"))
    except Exception as exc:  # noqa: BLE001 - any parse failure is the reason
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else 'unparseable pack'}"
    return f"parses now ({table_.num_rows} events): a transient failure, redrive it"


def run_dlq(args: argparse.Namespace) -> int:
    # Checked before anything is read: a redrive the user did not ask for cannot be undone.
    if args.all and args.redrive is None:
        raise CommandError("--all goes with --redrive: `mlaudit dlq --redrive --all` sends every message back; "
                           "`mlaudit dlq` alone only lists them")
    if args.redrive == [] and not args.all:
        raise CommandError("--redrive needs the message ids to send back (or --all)")
    target = Target.from_args(args)
    sqs = target.client("sqs")
    dlq_url = target.name("dlq_url", "DeadLetterQueueUrl")
    messages: dict[str, dict[str, Any]] = {}
    while len(messages) < args.limit:
        got = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=60,
                                  WaitTimeSeconds=0, AttributeNames=["All"], MessageAttributeNames=["All"])
        batch = got.get("Messages", [])
        if not batch or all(m["MessageId"] in messages for m in batch):
            break
        messages.update({m["MessageId"]: m for m in batch})
    chosen = set(messages) if args.all else set(args.redrive or [])
    unknown = chosen - set(messages)
    try:
        if unknown:
            raise CommandError(f"not in the dead-letter queue: {', '.join(sorted(unknown))}")
        rows = []
        for message in messages.values():
            attributes = message.get("Attributes", {})
            sent = datetime.fromtimestamp(int(attributes.get("SentTimestamp", 0)) / 1000, UTC)
            rows.append([message["MessageId"], attributes.get("ApproximateReceiveCount", ""),
                         sent.strftime("%Y-%m-%d %H:%M:%S"), len(message["Body"]), failure_reason(
                message["Body"], (message.get("MessageAttributes") or {}).get("pack_encoding", {}).get("StringValue"))])
        if rows:
            print(table(["message id", "receives", "sent (UTC)", "bytes", "failure reason"], rows))
        print(f"{len(messages)} message(s) in the dead-letter queue" + (f" (looked at {args.limit} at most)"
              if len(messages) >= args.limit else ""))
        if args.redrive is not None:
            queue_url = target.name("queue_url", "EventsQueueUrl")
            for message_id in sorted(chosen):
                message = messages.pop(message_id)
                attributes = {name: {k: v for k, v in value.items() if k in ("DataType", "StringValue", "BinaryValue")}
                              for name, value in (message.get("MessageAttributes") or {}).items()}
                sqs.send_message(QueueUrl=queue_url, MessageBody=message["Body"],
                                 **({"MessageAttributes": attributes} if attributes else {}))
                sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
            print(f"redriven: {len(chosen)} message(s) sent back to the events queue")
    finally:
        for message in messages.values():  # what stays in the DLQ is visible again at once
            sqs.change_message_visibility(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"],
                                          VisibilityTimeout=0)
    return 0
