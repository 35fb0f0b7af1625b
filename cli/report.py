"""``mlaudit report``: one self-contained HTML file about the models an audit trail watches.

Everything comes from the lake through the named queries (DuckDB on the local stack, Athena
on AWS, each run itself an audit event) and the integrity routes: per model, prediction
volume and latency per hour, the data-quality violation rate by rule, the drift (PSI) of the
score per day against a baseline window, accuracy per day where labels exist (days by
occurred_at when the range and its baseline fit the monitors' 31-day read); precision,
recall and accuracy per version over the range, and the drift of the features asked for (by
occurred_at: the range's last week against the baseline, so backdated events count on the day
they happened); each model's lifecycle (training, evaluation, registration, deployment);
the lineage graph across models (datasets, jobs and runs, from the lineage_graph query);
the monitors' last state; who read the trail (the access report, people by their Cognito
email or user name where the caller may list the pool's users); the latest signed
checkpoint, its age and the verifier's result.

The file opens offline: plots are inline SVG drawn by `cli.svg`, styles are inline, and a
Content-Security-Policy forbids the page any fetch. Plots sit at fixed positions (`Layout`),
so a screenshot test knows where each should be.
"""

from __future__ import annotations

import argparse
import html
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from cli import svg
from cli.target import CommandError, Target, add_arguments

PAGE_WIDTH = 1280
PLOT_WIDTH, PLOT_HEIGHT = 600, 260
GAP = 20
LEFT = 30
HEADER_HEIGHT = 90
PANEL_HEIGHT = 190  # integrity and monitors, side by side
TABLE_HEIGHT = 250  # a model's lifecycle timeline; the access log
LINEAGE_HEIGHT = 330  # the lineage graph, across the page
LINEAGE_NODES = 30  # boxes drawn at most; the rest are counted under the graph
HOURLY_DAYS = 3  # a longer range shows volume and latency per day: 720 hourly bars are unreadable
MODEL_TITLE = 44
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
PSI_WARN, PSI_ALERT = 0.1, 0.25
QUERY_WORKERS = 4  # queries a report runs at once


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("report", help="write one self-contained HTML report of the models' health",
                                 description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("mlaudit-report.html"), help="default %(default)s")
    parser.add_argument("--from", dest="from_date", help="first day (YYYY-MM-DD; default: 6 days before --to)")
    parser.add_argument("--to", dest="to_date", help="last day (YYYY-MM-DD; default: today, UTC)")
    parser.add_argument("--model", action="append", default=[], help="only this model (repeatable)")
    parser.add_argument("--baseline-from",
                        help="first day of the drift baseline (default: each model's first day with predictions)")
    parser.add_argument("--baseline-to", help="last day of the drift baseline (default: the baseline's first day)")
    parser.add_argument("--positive-label", default="1",
                        help="the positive class, for precision and recall (default %(default)s)")
    parser.add_argument("--feature", action="append", default=[],
                        help="a numeric feature whose drift to show (repeatable; a key of the predictions' features)")
    parser.add_argument("--no-verify", action="store_true",
                        help="skip the verifier (it checks what was written since the window began)")
    add_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    target = Target.from_args(args)
    to_day = _day(args.to_date) if args.to_date else datetime.now(UTC).date()
    from_day = _day(args.from_date) if args.from_date else to_day - timedelta(days=6)
    if from_day > to_day:
        raise CommandError("--from is after --to")
    baseline_from = _day(args.baseline_from) if args.baseline_from else None
    baseline_to = _day(args.baseline_to) if args.baseline_to else baseline_from
    data = gather(target, from_day, to_day, models=args.model, baseline=(baseline_from, baseline_to),
                  verify=not args.no_verify, positive_label=args.positive_label, features=args.feature)
    path = write(data, args.out)
    print(path)
    return 0


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{text!r} is not a date (YYYY-MM-DD)") from None


# --- data ------------------------------------------------------------------------------------


@dataclass
class ModelData:
    model_id: str
    hours: list[str] = field(default_factory=list)  # the volume and latency buckets: hours, or days
    bucket: str = "hour"
    predictions: list[float] = field(default_factory=list)
    p50: list[float | None] = field(default_factory=list)
    p99: list[float | None] = field(default_factory=list)
    dq_rules: list[tuple[str, float]] = field(default_factory=list)
    days: list[str] = field(default_factory=list)
    psi: list[float | None] = field(default_factory=list)
    accuracy: list[float | None] = field(default_factory=list)
    # Over the whole range, per version: labeled, accuracy, precision, recall (the accuracy query)
    versions: list[dict[str, Any]] = field(default_factory=list)
    features: list[tuple[str, float | None]] = field(default_factory=list)  # (feature, PSI by occurred_at)
    timeline: list[dict[str, Any]] = field(default_factory=list)  # lifecycle events (model_timeline), oldest first


@dataclass
class ReportData:
    generated_at: str
    from_date: str
    to_date: str
    baseline: tuple[str, str]
    source: str
    models: list[ModelData]
    checkpoint: dict[str, Any] | None = None
    checkpoint_age_seconds: float | None = None
    verifier: dict[str, Any] | None = None  # ok, files, events, problems (kinds) or None when skipped
    monitors: list[dict[str, Any]] = field(default_factory=list)  # monitor_state rows
    access: list[dict[str, Any]] = field(default_factory=list)  # access_report rows, with "who"
    lineage: list[dict[str, Any]] = field(default_factory=list)  # lineage_graph rows: one per edge
    lineage_error: str | None = None  # why the graph could not be read


def gather(target: Target, from_day: date, to_day: date, *, models: list[str],
           baseline: tuple[date | None, date | None] = (None, None), verify: bool = True,
           positive_label: str | Mapping[str, str] = "1",
           features: Sequence[str] | Mapping[str, Sequence[str]] = ()) -> ReportData:
    """`positive_label` and `features`: one for every model, or per model id (a model not
    named gets "1" and no feature)."""
    days = [from_day + timedelta(days=i) for i in range((to_day - from_day).days + 1)]
    window = {"from_date": from_day.isoformat(), "to_date": to_day.isoformat()}
    _, volume = target.run_query("prediction_volume_latency", window)
    per_model = {m: ModelData(m, days=[d.isoformat()[5:] for d in days]) for m in _chosen(volume, models)}
    for model in per_model.values():
        _add_hours(model, volume, days if len(days) > HOURLY_DAYS else None)
    _, dq = target.run_query("dq_violation_rate", window)
    for model in per_model.values():
        model.dq_rules = _worst_rates(dq, model.model_id)
    baselines = {m: _baseline(volume, m, baseline, from_day) for m in per_model}
    label = {m: positive_label if isinstance(positive_label, str) else positive_label.get(m, "1") for m in per_model}
    # A query per model and day: run a few at once (most of each is its round trip)
    if _by_occurred_at(baselines, from_day, to_day):
        pairs = [(day, model) for day in days for model in per_model.values()]
        for (_, model), (accuracy, psi) in zip(pairs, _in_parallel(
                [partial(_day_occurred, target, day, model.model_id, baselines[model.model_id], to_day)
                 for day, model in pairs]), strict=True):
            model.accuracy.append(accuracy)
            model.psi.append(psi)
    else:
        for found in _in_parallel([partial(_day_received, target, day, per_model, baselines) for day in days]):
            for model_id, (accuracy, psi) in found.items():
                per_model[model_id].accuracy.append(accuracy)
                per_model[model_id].psi.append(psi)

    def versions(model_id: str) -> list[dict[str, Any]]:
        _, rows = target.run_query("accuracy", {**window, "positive_label": label[model_id], "model_id": model_id})
        return sorted((r for r in rows if r.get("model_id") == model_id and r.get("labeled")),
                      key=lambda r: str(r.get("model_version")))

    asked = {m: list(features) if not isinstance(features, Mapping) else list(features.get(m, ())) for m in per_model}
    for model in per_model.values():
        model.versions, model.timeline, *psi = _in_parallel([
            partial(versions, model.model_id), partial(_timeline, target, model.model_id, window),
            *(partial(_feature_psi, target, model.model_id, name, baselines[model.model_id], from_day, to_day)
              for name in asked[model.model_id])])
        model.features = list(zip(asked[model.model_id], psi, strict=True))
    data = ReportData(
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"), from_date=from_day.isoformat(),
        to_date=to_day.isoformat(),
        baseline=(baseline[0].isoformat(), baseline[1].isoformat()) if baseline[0] and baseline[1] else
        ("each model's first day", "the same day"),
        source="local stack (DuckDB)" if target.local is not None else f"AWS (Athena), {target.api_url}",
        models=list(per_model.values()),
    )
    data.checkpoint, data.checkpoint_age_seconds = _latest_checkpoint(target)
    if verify:
        data.verifier = _verify(target, from_day)
    data.monitors = _monitors(target, from_day, to_day)
    data.access = _access(target, window)
    try:
        _, data.lineage = target.run_query("lineage_graph", window)
    except CommandError as error:
        data.lineage_error = str(error)
    return data


def _in_parallel(calls: list[Callable[[], Any]]) -> list[Any]:
    """Each call's result, in order, QUERY_WORKERS at a time."""
    if len(calls) <= 1:
        return [call() for call in calls]
    with ThreadPoolExecutor(QUERY_WORKERS) as pool:
        return list(pool.map(lambda call: call(), calls))


LIFECYCLE = ("training_started", "training_completed", "training_failed", "model_evaluated", "model_registered",
             "model_deployed", "model_retired", "config_changed", "lineage")
TIMELINE_ROWS, ACCESS_ROWS = 9, 9  # what fits in their boxes: the latest ones
MONITOR_ROWS = 6


def _timeline(target: Target, model_id: str, window: dict[str, str]) -> list[dict[str, Any]]:
    """The model's lifecycle events (not the monitors' reads, which the access log counts)."""
    try:
        _, rows = target.run_query("model_timeline", {**window, "model_id": model_id}, role="auditor")
    except CommandError:
        return []
    return [r for r in rows if r.get("event_type") in LIFECYCLE]


def _access(target: Target, window: dict[str, str]) -> list[dict[str, Any]]:
    """Who read or changed the trail, most active first, people by name where known."""
    try:
        _, rows = target.run_query("access_report", window, role="auditor")
    except CommandError:
        return []
    names = _people(target)
    return [{**r, "who": names.get(str(r.get("actor_id")), r.get("actor_id"))}
            for r in sorted(rows, key=lambda r: -(r.get("events") or 0))]


def _people(target: Target) -> dict[str, str]:
    """Cognito sub -> email (else user name), for the pool's users; empty when the caller may
    not list them (cognito-idp:ListUsers) or the pool is unknown. Bounded: the first 10 pages."""
    try:
        pool = target.name("user_pool_id", "UserPoolId")
        cognito, names, token = target.client("cognito-idp"), {}, None
        for _ in range(10):
            page = cognito.list_users(UserPoolId=pool, **({"PaginationToken": token} if token else {}))
            for user in page.get("Users", []):
                attributes = {a["Name"]: a["Value"] for a in user.get("Attributes", [])}
                if "sub" in attributes:
                    names[attributes["sub"]] = attributes.get("email") or user["Username"]
            token = page.get("PaginationToken")
            if not token:
                break
    except Exception:  # noqa: BLE001 - names are a courtesy: the ids stay when they cannot be read
        return {}
    return names


def _chosen(volume: list[dict[str, Any]], models: list[str]) -> list[str]:
    """The models asked for that have predictions; every model with predictions when none
    was asked for; the models asked for when none has any."""
    seen = sorted({r["model_id"] for r in volume if r.get("model_id")})
    return [m for m in seen if not models or m in models] or list(models)


def _baseline(volume: list[dict[str, Any]], model_id: str, asked: tuple[date | None, date | None],
              from_day: date) -> tuple[str, str]:
    """The drift baseline's days: as asked, else the model's first day with predictions."""
    first = min((str(r["hour"])[:10] for r in volume if r.get("model_id") == model_id), default=None)
    start = asked[0].isoformat() if asked[0] else (first or from_day.isoformat())
    return start, asked[1].isoformat() if asked[1] else start


def _add_hours(model: ModelData, volume: list[dict[str, Any]], days: list[date] | None = None) -> None:
    """Predictions and the worst p50/p99 latency per hour (over the model's versions); per
    day when `days` are given (every day of the range, the worst hour's latency)."""
    by_hour: dict[str, list[dict[str, Any]]] = {}
    width = 13 if days is None else 10  # 2026-11-05T14 or 2026-11-05
    for row in volume:
        if row.get("model_id") == model.model_id:
            by_hour.setdefault(str(row["hour"])[:width].replace(" ", "T"), []).append(row)
    if days is not None:
        model.bucket = "day"
        for day in days:
            by_hour.setdefault(day.isoformat(), [])
    for hour in sorted(by_hour):
        rows = by_hour[hour]
        model.hours.append(hour[5:].replace("T", " ") + "h" if days is None else hour[5:])
        model.predictions.append(float(sum(r["predictions"] for r in rows)))
        model.p50.append(max((r["p50_latency_ms"] for r in rows if r["p50_latency_ms"] is not None), default=None))
        model.p99.append(max((r["p99_latency_ms"] for r in rows if r["p99_latency_ms"] is not None), default=None))


def _worst_rates(dq: list[dict[str, Any]], model_id: str) -> list[tuple[str, float]]:
    """One bar per rule: the worst dataset's violation rate."""
    rates: dict[str, float] = {}
    for row in dq:
        if row.get("model_id") == model_id and row.get("rule_id"):
            rates[row["rule_id"]] = max(float(row["violation_rate"] or 0.0), rates.get(row["rule_id"], 0.0))
    return sorted(rates.items())


def _feature_psi(target: Target, model_id: str, feature: str, baseline: tuple[str, str], from_day: date,
                 to_day: date) -> float | None:
    """PSI of one feature, the range's last week against the baseline days, by occurred_at
    (the monitors' query); None when a window is empty or the partitions span over 31 days."""
    first = min(date.fromisoformat(baseline[0]), from_day)
    if (to_day - first).days > 30:
        return None
    current = max(from_day, to_day - timedelta(days=6))
    _, rows = target.run_query("monitor_drift_psi", {
        "from_date": first.isoformat(), "to_date": to_day.isoformat(), "model_id": model_id,
        "baseline_from": f"{baseline[0]}T00:00:00.000Z",
        "baseline_to": f"{date.fromisoformat(baseline[1]) + timedelta(days=1)}T00:00:00.000Z",
        "current_from": f"{current}T00:00:00.000Z", "current_to": f"{to_day + timedelta(days=1)}T00:00:00.000Z",
        "feature": f"$.{feature}",
    })
    return next((r["psi"] for r in rows if r.get("metric") == "feature"), None)


def _by_occurred_at(baselines: dict[str, tuple[str, str]], from_day: date, to_day: date) -> bool:
    """Days by when events happened (the monitors' queries) when every partition from the
    earliest baseline to the last day fits their 31-day read; else by the day they arrived."""
    first = min([from_day, *(date.fromisoformat(b[0]) for b in baselines.values())])
    return (to_day - first).days <= 30


def _day_occurred(target: Target, day: date, model_id: str, baseline: tuple[str, str],
                  to_day: date) -> tuple[float | None, float | None]:
    """One day's accuracy and score drift of a model by occurred_at: backdated or late events
    count on the day they happened. Reads the partitions from the baseline's first day to the
    range's last."""
    window = {"from": f"{day}T00:00:00.000Z", "to": f"{day + timedelta(days=1)}T00:00:00.000Z"}
    first, last = baseline
    reads = {"from_date": min(date.fromisoformat(first), day).isoformat(), "to_date": to_day.isoformat(),
             "model_id": model_id}
    _, accuracy = target.run_query("monitor_accuracy", {**reads, "window_from": window["from"],
                                                        "window_to": window["to"]})
    labeled = next((r for r in accuracy if r.get("labeled")), None)
    _, psi = target.run_query("monitor_drift_psi", {
        **reads, "baseline_from": f"{first}T00:00:00.000Z",
        "baseline_to": f"{date.fromisoformat(last) + timedelta(days=1)}T00:00:00.000Z",
        "current_from": window["from"], "current_to": window["to"],
    })
    return (labeled["accuracy"] if labeled else None,
            next((r["psi"] for r in psi if r.get("metric") == "prediction_score"), None))


def _day_received(target: Target, day: date, per_model: dict[str, ModelData],
                  baselines: dict[str, tuple[str, str]]) -> dict[str, tuple[float | None, float | None]]:
    """One day's accuracy (over the model's versions) and score drift, for each model, by the
    day events arrived."""
    # Accuracy needs no positive class: any label will do for the query's precision and recall.
    one = {"from_date": day.isoformat(), "to_date": day.isoformat(), "positive_label": "1"}
    _, accuracy = target.run_query("accuracy", one)
    labelled: dict[str, tuple[int, float]] = {}
    for row in accuracy:
        if row.get("model_id") in per_model and row.get("labeled"):
            count, correct = labelled.get(row["model_id"], (0, 0.0))
            labelled[row["model_id"]] = (count + row["labeled"], correct + row["labeled"] * (row["accuracy"] or 0))
    found = {}
    for model in per_model.values():
        count, correct = labelled.get(model.model_id, (0, 0.0))
        _, psi = target.run_query("drift_psi", {
            "baseline_from_date": baselines[model.model_id][0], "baseline_to_date": baselines[model.model_id][1],
            "current_from_date": day.isoformat(), "current_to_date": day.isoformat(), "model_id": model.model_id,
        })
        found[model.model_id] = (correct / count if count else None,
                                 next((r["psi"] for r in psi if r.get("metric") == "prediction_score"), None))
    return found


def _latest_checkpoint(target: Target) -> tuple[dict[str, Any] | None, float | None]:
    """The latest signed checkpoint and its age in seconds (None when there is none yet)."""
    latest = target.request("GET", "/v1/checkpoints/latest", role="auditor")
    if latest.status_code != 200:
        return None, None
    body = latest.json()
    checkpoint = body.get("checkpoint", body)
    try:
        signed = datetime.fromisoformat(str(checkpoint.get("time", "")).replace("Z", "+00:00"))
    except ValueError:
        return checkpoint, None
    return checkpoint, (datetime.now(UTC) - signed).total_seconds()


def _verify(target: Target, from_day: date) -> dict[str, Any]:
    """The incremental verify: everything written since the witness's last checkpoint before
    the window began (its whole history of checkpoints since, every new entry, file, event
    and seal), in time proportional to the window, not to the lake."""
    from mlaudit.adapters.bucket import S3Bucket  # noqa: PLC0415
    from mlaudit.integrity.primitives import records  # noqa: PLC0415
    from mlaudit.integrity.services.witness import Witness  # noqa: PLC0415

    from cli.commands import lake_verifier  # noqa: PLC0415

    witness = Witness(S3Bucket(target.client("s3"), target.name("witness_bucket", "WitnessBucketName")),
                      records.log_id(target.name("bucket", "AuditBucketName")))
    since = checkpoint_before(witness, f"{from_day.isoformat()}T00:00:00.000Z")
    report = lake_verifier(target, since=since).run()
    return {"ok": report.ok, "files": report.files_checked, "events": report.events_checked,
            "log_size": report.log_size, "problems": sorted({p.kind for p in report.problems}),
            "since": since.body["seq"] if since is not None else None}


def checkpoint_before(witness: Any, time: str) -> Any:
    """The witness's last checkpoint signed before ``time`` (checkpoint 0 if none is; None
    for an empty witness): a binary search over sequence numbers, O(log n) reads."""
    latest = witness.latest_seq()
    if latest is None:
        return None
    low, high = 0, latest  # checkpoint `low` is the answer unless a later one is before `time`
    while low < high:
        middle = (low + high + 1) // 2
        found = witness.load(middle)
        if found is not None and found.body.get("time", "") < time:
            low = middle
        else:
            high = middle - 1
    return witness.load(low)


def _monitors(target: Target, from_day: date, to_day: date) -> list[dict[str, Any]]:
    """Each monitor's latest evaluation (the monitor_state query), when the stack has monitors."""
    try:
        _, rows = target.run_query("monitor_state", {"from_date": from_day.isoformat(), "to_date": to_day.isoformat()})
    except CommandError:
        return []
    return rows


# --- rendering -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Box:
    name: str  # e.g. "readmission-risk/volume"
    left: int
    top: int
    width: int
    height: int


@dataclass
class Layout:
    boxes: list[Box] = field(default_factory=list)
    height: int = 0


PLOTS = ("volume", "latency", "dq", "psi", "accuracy")
PANELS = ("quality",)  # per model, after its plots: ground truth and feature drift (a table)


def layout(data: ReportData) -> Layout:
    result = Layout()
    top = HEADER_HEIGHT
    result.boxes.append(Box("integrity", LEFT, top, PLOT_WIDTH, PANEL_HEIGHT))
    result.boxes.append(Box("monitors", LEFT + PLOT_WIDTH + GAP, top, PLOT_WIDTH, PANEL_HEIGHT))
    top += PANEL_HEIGHT + GAP
    result.boxes.append(Box("lineage", LEFT, top, 2 * PLOT_WIDTH + GAP, LINEAGE_HEIGHT))
    top += LINEAGE_HEIGHT + GAP
    if not data.models:
        top += MODEL_TITLE  # the line that says so
    for model in data.models:
        top += MODEL_TITLE
        for i, plot in enumerate(PLOTS + PANELS):
            row, column = divmod(i, 2)
            result.boxes.append(Box(f"{model.model_id}/{plot}", LEFT + column * (PLOT_WIDTH + GAP),
                                    top + row * (PLOT_HEIGHT + GAP), PLOT_WIDTH, PLOT_HEIGHT))
        top += 3 * (PLOT_HEIGHT + GAP)
        result.boxes.append(Box(f"{model.model_id}/timeline", LEFT, top, 2 * PLOT_WIDTH + GAP, TABLE_HEIGHT))
        top += TABLE_HEIGHT + GAP
    result.boxes.append(Box("access", LEFT, top, 2 * PLOT_WIDTH + GAP, TABLE_HEIGHT))
    top += TABLE_HEIGHT
    result.height = top + GAP
    return result


def _plot(model: ModelData, plot: str) -> str:
    w, h = PLOT_WIDTH, PLOT_HEIGHT
    if plot == "volume":
        return svg.bar_chart(w, h, f"Predictions per {model.bucket}",
                             list(zip(model.hours, model.predictions, strict=True)), y_label="predictions")
    if plot == "latency":
        title = ("Prediction latency per hour (ms)" if model.bucket == "hour" else
                 "Prediction latency per day, its worst hour (ms)")
        return svg.line_chart(w, h, title, model.hours, {"p50": model.p50, "p99": model.p99}, y_label="ms")
    if plot == "dq":
        if not model.dq_rules:
            return svg.empty(w, h, "Data-quality violation rate by rule", "no rule broken in this range")
        return svg.bar_chart(w, h, "Data-quality violation rate by rule", model.dq_rules, y_label="share of events",
                             color=svg.PALETTE[1])
    if plot == "psi":
        return svg.line_chart(w, h, "Score drift (PSI) per day against the baseline", model.days,
                              {"prediction_score": model.psi}, y_label="PSI",
                              thresholds={"watch": PSI_WARN, "alert": PSI_ALERT})
    if not any(v is not None for v in model.accuracy):
        return svg.empty(w, h, "Accuracy per day (ground truth)", "no labels in this range")
    return svg.line_chart(w, h, "Accuracy per day (ground truth)", model.days, {"accuracy": model.accuracy},
                          y_label="accuracy")


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _lineage_plot(data: ReportData, box: Box) -> str:
    """The lineage graph across models: each edge of lineage_graph, runs of a job as the job."""
    title = "Lineage: datasets, jobs and runs (left to right, from the sources)"
    if data.lineage_error:
        return svg.empty(box.width, box.height, title, data.lineage_error[:160])
    edges = [((str(r["src_type"]), str(r["src_id"])), (str(r["dst_type"]), str(r["dst_id"]))) for r in data.lineage
             if r.get("src_id") is not None and r.get("dst_id") is not None]
    return svg.lineage_graph(box.width, box.height, title, edges, max_nodes=LINEAGE_NODES,
                             note="every edge: mlaudit query lineage_graph")


def _integrity_panel(data: ReportData) -> str:
    rows = []
    if data.checkpoint:
        age = data.checkpoint_age_seconds
        rows += [("latest checkpoint", f"seq {data.checkpoint.get('seq')}, tree size "
                                       f"{data.checkpoint.get('tree_size')}"),
                 ("signed at", data.checkpoint.get("time", "")),
                 ("age", f"{age:,.0f} s" if age is not None else "unknown")]
    else:
        rows.append(("latest checkpoint", "none signed yet"))
    verifier = data.verifier
    if verifier is None:
        rows.append(("verifier", "not run (--no-verify)"))
    else:
        verdict = "OK: nothing altered, removed or added" if verifier["ok"] else (
            "FAILED: " + ", ".join(verifier["problems"]))
        since = verifier.get("since")
        rows += [("verifier", verdict),
                 ("checked", (f"since checkpoint {since}: " if since is not None else "")
                  + f"{verifier['files']:,} files, {verifier['events']:,} events; the log holds "
                  f"{verifier['log_size']:,} entries")]
    state = "ok" if verifier is None or verifier["ok"] else "bad"
    body = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in rows)
    return f'<h2>Integrity</h2><table class="facts {state}">{body}</table>'


def _quality_panel(model: ModelData) -> str:
    """Precision, recall and accuracy per version over the range; the features' drift."""
    head = "<tr><th>version</th><th>labels</th><th>accuracy</th><th>precision</th><th>recall</th></tr>"
    rows = "".join(
        f"<tr><td>{_esc(v.get('model_version'))}</td><td>{_esc(v.get('labeled'))}</td>"
        f"<td>{_esc(_num(v.get('accuracy')))}</td><td>{_esc(_num(v.get('precision')))}</td>"
        f"<td>{_esc(_num(v.get('recall')))}</td></tr>" for v in model.versions)
    truth = (f'<table class="grid">{head}{rows}</table>' if model.versions else
             '<p class="muted">No ground-truth label in this range.</p>')
    drift = "".join(
        f'<tr class="{"alarm" if psi is not None and psi > PSI_ALERT else "ok"}"><td>{_esc(name)}</td>'
        f"<td>{_esc(_num(psi))}</td></tr>" for name, psi in model.features)
    features = (f'<table class="grid"><tr><th>feature</th><th>PSI, last week vs baseline</th></tr>{drift}</table>'
                if model.features else '<p class="muted">No feature asked for (--feature NAME).</p>')
    return f"<h2>Ground truth over the range</h2>{truth}<h2>Feature drift</h2>{features}"


def _timeline_panel(model: ModelData) -> str:
    if not model.timeline:
        return '<h2>Lifecycle</h2><p class="muted">No training, evaluation or deployment in this range.</p>'
    shown = model.timeline[-TIMELINE_ROWS:]
    earlier = len(model.timeline) - len(shown)
    head = "<tr><th>occurred</th><th>event</th><th>version</th><th>by</th><th>run, dataset or resource</th></tr>"
    rows = "".join(
        f"<tr><td>{_esc(str(e.get('occurred_at', ''))[:16])}</td><td>{_esc(e.get('event_type'))}</td>"
        f"<td>{_esc(e.get('model_version') or '')}</td><td>{_esc(e.get('actor_type') or '')}</td>"
        f"<td>{_esc(e.get('run_id') or e.get('dataset_id') or e.get('resource') or '')}</td></tr>" for e in shown)
    more = f' <span class="muted">({earlier} earlier not shown)</span>' if earlier else ""
    return f'<h2>Lifecycle{more}</h2><table class="grid">{head}{rows}</table>'


def _access_panel(data: ReportData) -> str:
    if not data.access:
        return '<h2>Access log</h2><p class="muted">No read or change of the trail in this range.</p>'
    shown = data.access[:ACCESS_ROWS]
    head = "<tr><th>who</th><th>as</th><th>event</th><th>action</th><th>resource</th><th>times</th><th>last</th></tr>"
    rows = "".join(
        f"<tr><td>{_esc(a.get('who'))}</td><td>{_esc(a.get('actor_type') or '')}</td>"
        f"<td>{_esc(a.get('event_type'))}</td><td>{_esc(a.get('action') or '')}</td>"
        f"<td>{_esc(a.get('resource') or '')}</td><td>{_esc(a.get('events'))}</td>"
        f"<td>{_esc(str(a.get('last_at', ''))[:16])}</td></tr>" for a in shown)
    more = (f' <span class="muted">(the {ACCESS_ROWS} busiest of {len(data.access)}: mlaudit query access_report)'
            "</span>" if len(data.access) > ACCESS_ROWS else "")
    return f'<h2>Access log{more}</h2><table class="grid">{head}{rows}</table>'


def _monitors_panel(data: ReportData) -> str:
    if not data.monitors:
        return "<h2>Monitors</h2><p class=\"muted\">No monitor evaluated in this range.</p>"
    head = "<tr><th>monitor (model/name)</th><th>state</th><th>value</th><th>threshold</th><th>at</th></tr>"
    ranked = sorted(data.monitors, key=lambda m: (m.get("state") != "ALARM", str(m.get("model_id")),
                                                  str(m.get("monitor"))))
    shown = ranked[:MONITOR_ROWS]  # what fits in the panel: alarms first
    rows = "".join(
        # The state as a class, lower case like the style's tr.alarm and tr.ok (class names match by case)
        f'<tr class="{_esc(str(m.get("state", "")).lower())}"><td>{_esc(m.get("monitor", ""))}</td>'
        f'<td>{_esc(m.get("state", ""))}</td>'
        f'<td>{_esc(_num(m.get("value")))}</td>'
        f'<td>{_esc(_num(m.get("threshold")))}</td><td>{_esc(str(m.get("evaluated_at", ""))[:16])}</td></tr>'
        for m in shown
    )
    more = (f' <span class="muted">({len(ranked) - len(shown)} more: mlaudit query monitor_state)</span>'
            if len(ranked) > len(shown) else "")
    return f'<h2>Monitors{more}</h2><table class="grid nowrap">{head}{rows}</table>'


def _num(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) else ("" if value is None else str(value))


STYLE = """
body { margin: 0; font-family: sans-serif; color: #333; background: #fff; }
.page { position: relative; width: %(width)dpx; height: %(height)dpx; }
.box { position: absolute; overflow: hidden; }
.box > svg { display: block; }  /* not inline: no line box's descent under the picture */
header { position: absolute; left: 30px; top: 10px; width: 1220px; height: 70px; }
h1 { font-size: 22px; margin: 0 0 6px 0; }
h2 { font-size: 15px; margin: 0 0 6px 0; }
.model { position: absolute; left: 30px; font-size: 18px; font-weight: bold; }
.muted { color: #777; font-size: 12px; }
table { border-collapse: collapse; font-size: 12px; width: 100%%; }
th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid #eee; }
.facts.ok { border-left: 6px solid #2ca02c; }
.facts.bad { border-left: 6px solid #d62728; }
.nowrap td { white-space: nowrap; }
tr.alarm td { background: #fde0e0; }
tr.ok td { background: #e6f4e6; }
.panel { background: #f7f7f7; padding: 8px; box-sizing: border-box; }
"""


def render(data: ReportData) -> tuple[str, Layout]:
    plan = layout(data)
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<link rel="icon" href="data:,">',
        "<title>mlaudit report</title>",
        f"<style>{STYLE % {'width': PAGE_WIDTH, 'height': plan.height}}</style>",
        "</head><body>",
        f'<div class="page" data-height="{plan.height}">',
        f"<header><h1>mlaudit: models under audit</h1><div class=\"muted\">{_esc(data.from_date)} to "
        f"{_esc(data.to_date)} &middot; drift baseline {_esc(data.baseline[0])} to {_esc(data.baseline[1])} &middot; "
        f"source: {_esc(data.source)} &middot; generated {_esc(data.generated_at)}</div></header>",
    ]
    models = {m.model_id: m for m in data.models}
    for box in plan.boxes:
        style = f"left:{box.left}px;top:{box.top}px;width:{box.width}px;height:{box.height}px"
        if box.name in ("integrity", "monitors", "access"):
            draw = {"integrity": _integrity_panel, "monitors": _monitors_panel, "access": _access_panel}[box.name]
            panel = draw(data)
            parts.append(f'<section class="box panel" id="{box.name}" style="{style}">{panel}</section>')
        elif box.name == "lineage":
            parts.append(f'<figure class="box" id="lineage" data-plot="lineage" style="margin:0;{style}">'
                         f"{_lineage_plot(data, box)}</figure>")
        else:
            model_id, plot = box.name.rsplit("/", 1)
            if plot in (*PANELS, "timeline"):
                panel = _quality_panel if plot in PANELS else _timeline_panel
                parts.append(f'<section class="box panel" data-panel="{_esc(box.name)}" style="{style}">'
                             f"{panel(models[model_id])}</section>")
                continue
            if plot == PLOTS[0]:
                parts.append(f'<div class="model" style="top:{box.top - MODEL_TITLE + 8}px">model '
                             f'{_esc(model_id)}</div>')
            parts.append(f'<figure class="box" data-plot="{_esc(box.name)}" style="margin:0;{style}">'
                         f"{_plot(models[model_id], plot)}</figure>")
    if not data.models:
        below = HEADER_HEIGHT + PANEL_HEIGHT + LINEAGE_HEIGHT + 2 * GAP
        parts.append(f'<p class="model" style="top:{below}px">No prediction in this '
                     "range.</p>")
    parts.append(f'<script type="application/json" id="layout">{_layout_json(plan)}</script>')
    parts.append("</div></body></html>")
    return "\n".join(parts) + "\n", plan


def _layout_json(plan: Layout) -> str:
    # For tests and tools: where each plot is (a data block: the CSP runs no script).
    document = {"height": plan.height, "boxes": [b.__dict__ for b in plan.boxes]}
    return json.dumps(document).replace("<", "\\u003c")


def write(data: ReportData, out: Path) -> Path:
    text, _ = render(data)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out.resolve()


if __name__ == "__main__":  # pragma: no cover - use `mlaudit report`
    sys.exit("use: mlaudit report --help")
