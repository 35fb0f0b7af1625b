"""``mlaudit report``: one self-contained HTML file about the models an audit trail watches.

Everything comes from the lake through the named queries (DuckDB on the local stack, Athena
on AWS, each run itself an audit event) and the integrity routes: per model, prediction
volume and latency per hour, the data-quality violation rate by rule, the drift (PSI) of the
score per day against a baseline window, accuracy per day where labels exist; the monitors'
last state; the latest signed checkpoint, its age and the verifier's result.

The file opens offline: plots are inline SVG drawn by `cli.svg`, styles are inline, and a
Content-Security-Policy forbids the page any fetch. Plots sit at fixed positions (`Layout`),
so a screenshot test knows where each should be.
"""

from __future__ import annotations

import argparse
import html
import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
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
MODEL_TITLE = 44
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
PSI_WARN, PSI_ALERT = 0.1, 0.25


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
                  verify=not args.no_verify)
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
    hours: list[str] = field(default_factory=list)
    predictions: list[float] = field(default_factory=list)
    p50: list[float | None] = field(default_factory=list)
    p99: list[float | None] = field(default_factory=list)
    dq_rules: list[tuple[str, float]] = field(default_factory=list)
    days: list[str] = field(default_factory=list)
    psi: list[float | None] = field(default_factory=list)
    accuracy: list[float | None] = field(default_factory=list)


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


def gather(target: Target, from_day: date, to_day: date, *, models: list[str],
           baseline: tuple[date | None, date | None] = (None, None), verify: bool = True) -> ReportData:
    days = [from_day + timedelta(days=i) for i in range((to_day - from_day).days + 1)]
    window = {"from_date": from_day.isoformat(), "to_date": to_day.isoformat()}
    _, volume = target.run_query("prediction_volume_latency", window)
    per_model = {m: ModelData(m, days=[d.isoformat()[5:] for d in days]) for m in _chosen(volume, models)}
    for model in per_model.values():
        _add_hours(model, volume)
    _, dq = target.run_query("dq_violation_rate", window)
    for model in per_model.values():
        model.dq_rules = _worst_rates(dq, model.model_id)
    baselines = {m: _baseline(volume, m, baseline, from_day) for m in per_model}
    for day in days:
        _add_day(target, day, per_model, baselines)
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
    return data


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


def _add_hours(model: ModelData, volume: list[dict[str, Any]]) -> None:
    """Predictions and the worst p50/p99 latency per hour (over the model's versions)."""
    by_hour: dict[str, list[dict[str, Any]]] = {}
    for row in volume:
        if row.get("model_id") == model.model_id:
            by_hour.setdefault(str(row["hour"])[:13], []).append(row)
    for hour in sorted(by_hour):
        rows = by_hour[hour]
        model.hours.append(hour[5:].replace("T", " ") + "h")
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


def _add_day(target: Target, day: date, per_model: dict[str, ModelData],
             baselines: dict[str, tuple[str, str]]) -> None:
    """One day's accuracy (over the model's versions) and score drift, for each model."""
    one = {"from_date": day.isoformat(), "to_date": day.isoformat(), "positive_label": "1"}
    _, accuracy = target.run_query("accuracy", one)
    labelled: dict[str, tuple[int, float]] = {}
    for row in accuracy:
        if row.get("model_id") in per_model and row.get("labeled"):
            count, correct = labelled.get(row["model_id"], (0, 0.0))
            labelled[row["model_id"]] = (count + row["labeled"], correct + row["labeled"] * (row["accuracy"] or 0))
    for model in per_model.values():
        count, correct = labelled.get(model.model_id, (0, 0.0))
        model.accuracy.append(correct / count if count else None)
        _, psi = target.run_query("drift_psi", {
            "baseline_from_date": baselines[model.model_id][0], "baseline_to_date": baselines[model.model_id][1],
            "current_from_date": day.isoformat(), "current_to_date": day.isoformat(), "model_id": model.model_id,
        })
        model.psi.append(next((r["psi"] for r in psi if r.get("metric") == "prediction_score"), None))


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
    from mlaudit.integrity import records  # noqa: PLC0415
    from mlaudit.integrity.witness import Witness  # noqa: PLC0415

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


def layout(data: ReportData) -> Layout:
    result = Layout()
    top = HEADER_HEIGHT
    result.boxes.append(Box("integrity", LEFT, top, PLOT_WIDTH, PANEL_HEIGHT))
    result.boxes.append(Box("monitors", LEFT + PLOT_WIDTH + GAP, top, PLOT_WIDTH, PANEL_HEIGHT))
    top += PANEL_HEIGHT + GAP
    for model in data.models:
        top += MODEL_TITLE
        for i, plot in enumerate(PLOTS):
            row, column = divmod(i, 2)
            result.boxes.append(Box(f"{model.model_id}/{plot}", LEFT + column * (PLOT_WIDTH + GAP),
                                    top + row * (PLOT_HEIGHT + GAP), PLOT_WIDTH, PLOT_HEIGHT))
        top += 3 * (PLOT_HEIGHT + GAP)
    result.height = top + GAP
    return result


def _plot(model: ModelData, plot: str) -> str:
    w, h = PLOT_WIDTH, PLOT_HEIGHT
    if plot == "volume":
        return svg.bar_chart(w, h, "Predictions per hour", list(zip(model.hours, model.predictions, strict=True)),
                             y_label="predictions")
    if plot == "latency":
        return svg.line_chart(w, h, "Prediction latency per hour (ms)", model.hours,
                              {"p50": model.p50, "p99": model.p99}, y_label="ms")
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


def _monitors_panel(data: ReportData) -> str:
    if not data.monitors:
        return "<h2>Monitors</h2><p class=\"muted\">No monitor evaluated in this range.</p>"
    head = "<tr><th>monitor</th><th>model</th><th>state</th><th>value</th><th>threshold</th><th>at</th></tr>"
    rows = "".join(
        f'<tr class="{_esc(m.get("state", ""))}"><td>{_esc(m.get("monitor", ""))}</td><td>{_esc(m.get("model_id", ""))}'
        f'</td><td>{_esc(m.get("state", ""))}</td><td>{_esc(_num(m.get("value")))}</td>'
        f'<td>{_esc(_num(m.get("threshold")))}</td><td>{_esc(str(m.get("evaluated_at", ""))[:19])}</td></tr>'
        for m in data.monitors
    )
    return f'<h2>Monitors</h2><table class="grid">{head}{rows}</table>'


def _num(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) else ("" if value is None else str(value))


STYLE = """
body { margin: 0; font-family: sans-serif; color: #333; background: #fff; }
.page { position: relative; width: %(width)dpx; height: %(height)dpx; }
.box { position: absolute; overflow: hidden; }
header { position: absolute; left: 30px; top: 10px; width: 1220px; height: 70px; }
h1 { font-size: 22px; margin: 0 0 6px 0; }
h2 { font-size: 15px; margin: 0 0 6px 0; }
.model { position: absolute; left: 30px; font-size: 18px; font-weight: bold; }
.muted { color: #777; font-size: 12px; }
table { border-collapse: collapse; font-size: 12px; width: 100%%; }
th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid #eee; }
.facts.ok { border-left: 6px solid #2ca02c; }
.facts.bad { border-left: 6px solid #d62728; }
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
        if box.name in ("integrity", "monitors"):
            panel = _integrity_panel(data) if box.name == "integrity" else _monitors_panel(data)
            parts.append(f'<section class="box panel" id="{box.name}" style="{style}">{panel}</section>')
        else:
            model_id, plot = box.name.rsplit("/", 1)
            if plot == PLOTS[0]:
                parts.append(f'<div class="model" style="top:{box.top - MODEL_TITLE + 8}px">model '
                             f'{_esc(model_id)}</div>')
            parts.append(f'<figure class="box" data-plot="{_esc(box.name)}" style="margin:0;{style}">'
                         f"{_plot(models[model_id], plot)}</figure>")
    if not data.models:
        parts.append(f'<p class="model" style="top:{HEADER_HEIGHT + PANEL_HEIGHT + GAP}px">No prediction in this '
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
