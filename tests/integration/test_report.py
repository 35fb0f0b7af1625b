"""`mlaudit report` on the local stack: the HTML renders in headless Chromium (Debian's
package; `make test` installs it) in a 1400 px window, every plot and panel (the lineage
graph too) shows where the layout puts it with nothing overflowing, the space around them
stays blank, alarm rows are highlighted, and the page asks the network for nothing but itself."""

from __future__ import annotations

import html
import json
import random
import re
import shutil
import struct
import subprocess
import uuid
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from cli.__main__ import main as mlaudit
from local import client
from tests.integration.conftest import LOCAL_STACK_ARGS, running_local_stack

MODELS = ("report-model-a", "report-model-b")
WINDOW = 1400  # the width the report must read well at
# An OpenLineage chain from raw data to an endpoint: (job, inputs, outputs), each a run (START, COMPLETE)
CHAIN = (("airflow/ehr.extract", ["postgres/ehr.admissions"], ["s3://lake/raw/admissions"]),
         ("dbt/analytics.features", ["s3://lake/raw/admissions"], ["s3://lake/features"]),
         ("sagemaker/train.report-model-a", ["s3://lake/features"], ["s3://models/report-model-a"]),
         ("airflow/deploy.report-model-a", ["s3://models/report-model-a"], ["sagemaker/endpoint/report-model-a"]))
BLUE = (0x1F, 0x77, 0xB4)  # cli.svg.PALETTE[0]: bars and the first line of every plot
RED = (0xD6, 0x27, 0x28)  # PALETTE[1]: the DQ bars


def _send(local_stack) -> list[dict]:
    rng = random.Random(5)  # noqa: S311 - test data
    now = datetime.now(UTC).isoformat()
    events = []
    for model in MODELS:
        for event_type in ("model_registered", "model_deployed"):  # the lifecycle panel's rows
            events.append({"event_type": event_type, "occurred_at": now, "model_id": model, "model_version": "1",
                           "resource": f"endpoint/{model}", "action": "deploy"})
        for i in range(120):
            score = rng.random() if i % 10 else 1.5  # every 10th breaks prediction.score_in_unit_interval
            events.append({"event_type": "prediction", "occurred_at": now, "model_id": model, "model_version": "1",
                           "prediction_id": f"{model}-{i}", "prediction_label": "yes" if score > 0.5 else "no",
                           "prediction_score": score, "latency_ms": rng.uniform(1, 30),
                           "features": {"x": rng.gauss(0, 1)}})
            events.append({"event_type": "ground_truth", "occurred_at": now, "model_id": model,
                           "label_for_prediction_id": f"{model}-{i}", "true_label": "yes" if i % 3 else "no"})
    # The monitors' last evaluations, as the monitors function records them: one in ALARM, one OK
    for model, code in zip(MODELS, (1, 0), strict=True):
        events.append({"event_type": "audit_access", "occurred_at": now, "model_id": model, "action": "monitor",
                       "resource": f"monitor:{model}/score-drift",
                       "metrics": {"state_code": code, "value": 0.4 if code else 0.01, "threshold": 0.25}})
    token = client.machine_token(local_stack)
    for job, inputs, outputs in CHAIN:
        run = str(uuid.uuid4())
        for kind in ("START", "COMPLETE"):
            body = {"eventType": kind, "eventTime": now, "producer": "https://example.test/report-test",
                    "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
                    "run": {"runId": run}, "job": dict(zip(("namespace", "name"), job.split("/", 1), strict=True)),
                    "inputs": [dict(zip(("namespace", "name"), d.rsplit("/", 1), strict=True)) for d in inputs],
                    "outputs": [dict(zip(("namespace", "name"), d.rsplit("/", 1), strict=True)) for d in outputs]}
            answer = requests.post(local_stack["api_url"] + "/v1/lineage", json=body, headers=client.bearer(token),
                                   timeout=60)
            assert answer.status_code == 201, answer.text
    # A person reads the trail: the analyst runs a query (an audit_access event, the access log's row)
    analyst = client.user_tokens(local_stack, "analyst")["id_token"]
    day = datetime.now(UTC).date().isoformat()
    asked = requests.post(local_stack["api_url"] + "/v1/queries/prediction_volume_latency", timeout=60,
                          headers=client.bearer(analyst), json={"parameters": {"from_date": day, "to_date": day}})
    assert asked.status_code == 202, asked.text
    for start in range(0, len(events), 400):
        answer = requests.post(local_stack["api_url"] + "/v1/events", json={"events": events[start:start + 400]},
                               headers=client.bearer(token), timeout=60)
        assert answer.status_code == 202, answer.text
    assert client.wait_drained(local_stack, 600)
    return events


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A stack of the report's own: on the session's, other tests' lineage (and the order they
    ran in) decided which of the graph's nodes its 30 boxes drew."""
    with running_local_stack(tmp_path_factory.mktemp("report-stack"), *LOCAL_STACK_ARGS) as config:
        yield config


@pytest.fixture(scope="module")
def report(local_stack, tmp_path_factory) -> tuple[Path, dict, list[dict]]:
    sent = _send(local_stack)
    folder = tmp_path_factory.mktemp("report")
    config = folder / "stack.json"
    config.write_text(json.dumps(local_stack))
    today = datetime.now(UTC).date().isoformat()
    out = folder / "report.html"
    assert mlaudit(["report", "--config", str(config), "--from", today, "--to", today, "--out", str(out),
                    "--positive-label", "yes", "--feature", "x",
                    *(a for m in MODELS for a in ("--model", m))]) == 0
    text = out.read_text()
    layout = json.loads(re.search(r'<script type="application/json" id="layout">(.*?)</script>', text).group(1))
    return out, layout, sent


def test_the_html_is_self_contained(report):
    path, _, _ = report
    text = path.read_text()
    assert '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:;' in text
    assert not re.search(r"https?:", text, re.I), "a URL in the report"
    # Nothing points anywhere but into the page (the lineage graph's names, s3://..., are text)
    assert not re.search(r"""(src|href|action)\s*=\s*(?!["']?(data:|#))|url\((?!#)""", text, re.I), "a reference"
    assert not re.search(r"<(img|iframe|object|embed|link(?![^>]*href=\"data:))[\s>]", text), "an external element"
    assert not re.search(r"<script(?![^>]*type=\"application/json\")", text), "a script"
    for model in MODELS:
        for plot in ("volume", "latency", "dq", "psi", "accuracy"):
            assert f'data-plot="{model}/{plot}"' in text


def _chromium(page: Path, height: int, workdir: Path) -> tuple[Path, list[str]]:
    """Screenshot a page (file://) and list the URLs the page asked for: Chromium's net log
    names each request's initiator, "not an origin" for the browser's own (time, sign-in)."""
    chromium = shutil.which("chromium")
    assert chromium, "chromium is missing: `make test` installs Debian's package (apt-get install chromium)"
    workdir.mkdir(parents=True, exist_ok=True)
    shot, netlog = workdir / "shot.png", workdir / "netlog.json"
    subprocess.run([
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--force-device-scale-factor=1", "--hide-scrollbars", f"--user-data-dir={workdir / 'profile'}",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # nothing leaves the machine, whatever is asked
        f"--log-net-log={netlog}", f"--screenshot={shot}", f"--window-size={WINDOW},{height}", page.as_uri(),
    ], check=True, capture_output=True, timeout=120)
    document, _ = json.JSONDecoder().raw_decode(netlog.read_text())  # the log may lack its closing lines
    kinds = {number: name for name, number in document["constants"]["logEventTypes"].items()}
    asked = [event["params"]["url"] for event in document["events"]
             if kinds.get(event["type"]) == "URL_REQUEST_START_JOB" and "url" in event.get("params", {})
             and event["params"].get("initiator") != "not an origin"]
    return shot, asked


def read_png(path: Path) -> tuple[int, int, list[bytearray]]:
    """(width, height, rows of RGB bytes) of an 8-bit, non-interlaced RGB or RGBA PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, header
    channels = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        rows.append(line)
        previous = line
    rgb = [bytearray(b for x in range(width) for b in row[x * channels:x * channels + 3]) for row in rows]
    return width, height, rgb


def _region(pixels, box) -> tuple[float, set[tuple[int, int, int]]]:
    """The share of non-white pixels in a box, and the colors it holds."""
    inked, colors, total = 0, set(), 0
    for y in range(box["top"], box["top"] + box["height"], 2):
        row = pixels[y]
        for x in range(box["left"], box["left"] + box["width"], 2):
            color = tuple(row[3 * x:3 * x + 3])
            total += 1
            if min(color) < 235:
                inked += 1
                colors.add(color)
    return inked / total, colors


def _near(colors, wanted, tolerance=12) -> bool:
    return any(all(abs(a - b) <= tolerance for a, b in zip(c, wanted, strict=True)) for c in colors)


def test_every_plot_renders_where_it_belongs_and_nothing_is_fetched(report, tmp_path):
    path, layout, _ = report
    shot, asked = _chromium(path, layout["height"], tmp_path / "report")
    assert asked == []  # no script, image, font, style or favicon fetch
    width, height, pixels = read_png(shot)
    assert (width, height) == (WINDOW, layout["height"])
    boxes = {b["name"]: b for b in layout["boxes"]}
    for model in MODELS:
        for plot in ("volume", "latency", "dq", "psi", "accuracy", "quality", "timeline"):
            share, colors = _region(pixels, boxes[f"{model}/{plot}"])
            assert share > 0.01, (model, plot, share)  # axes, grid and data: not a blank box
        # The data itself, in its series' colors
        assert _near(_region(pixels, boxes[f"{model}/volume"])[1], BLUE), model
        assert _near(_region(pixels, boxes[f"{model}/dq"])[1], RED), model
        assert _region(pixels, boxes[f"{model}/volume"])[0] > 0.05, model  # the bar fills part of the box
    assert _region(pixels, boxes["access"])[0] > 0.01  # the access log's table is drawn
    share, colors = _region(pixels, boxes["lineage"])  # the graph: dataset boxes (blue) and job boxes (orange)
    assert share > 0.01 and _near(colors, (0xDB, 0xE9, 0xF6), 4) and _near(colors, (0xFD, 0xE9, 0xD4), 4), share
    for panel in ("integrity", "monitors"):
        assert _region(pixels, boxes[panel])[0] > 0.002, panel  # their text on a light panel
    # Where the layout puts nothing (the gutter between each model's last plot and its panel), the page is blank
    for model in MODELS:
        last = boxes[f"{model}/accuracy"]
        empty = {"left": last["left"] + last["width"] + 4, "top": last["top"], "width": 12,
                 "height": last["height"]}
        assert _region(pixels, empty)[0] == 0.0, model


def test_the_report_says_what_the_lake_holds(report):
    text = report[0].read_text()
    assert "OK: nothing altered, removed or added" in text  # the verifier's result
    assert "latest checkpoint" in text and "seq " in text
    # A DQ bar for the rule the test data breaks, with its rate (12 of its 243 events: 240 predictions
    # and labels, a registration, a deployment and a monitor evaluation) in the bar's title
    assert "prediction.score_in_unit_interval: 0.0494<" in text


def test_the_request_check_would_see_a_fetch(report, tmp_path):
    # The control: the same page without its CSP and with one remote image is caught
    text = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", report[0].read_text())
    page = tmp_path / "leaky.html"
    page.write_text(text.replace("<title>", '<img src="https://cdn.example.test/pixel.png"><title>'))
    _, asked = _chromium(page, 400, tmp_path / "leaky")
    assert set(asked) == {"https://cdn.example.test/pixel.png"}  # (Chromium may retry the failed lookup)


def test_precision_recall_and_feature_drift_per_model(report):
    """The quality panel: precision, recall and accuracy from the labels sent, per version,
    and the feature's PSI (one day against itself: 0)."""
    from cli.report import _num  # noqa: PLC0415 - the report's own number format

    path, layout, sent = report
    text = path.read_text()
    for model in MODELS:
        assert any(b["name"] == f"{model}/quality" for b in layout["boxes"])
        label = {e["prediction_id"]: e["prediction_label"] for e in sent
                 if e["event_type"] == "prediction" and e["model_id"] == model}
        truth = {e["label_for_prediction_id"]: e["true_label"] for e in sent
                 if e["event_type"] == "ground_truth" and e["model_id"] == model}
        tp = sum(label[p] == "yes" and t == "yes" for p, t in truth.items())
        fp = sum(label[p] == "yes" and t == "no" for p, t in truth.items())
        fn = sum(label[p] == "no" and t == "yes" for p, t in truth.items())
        accuracy = sum(label[p] == t for p, t in truth.items()) / len(truth)
        panel = re.search(rf'data-panel="{model}/quality".*?</section>', text, re.S).group(0)
        assert (f"<tr><td>1</td><td>{len(truth)}</td><td>{_num(accuracy)}</td><td>{_num(tp / (tp + fp))}</td>"
                f"<td>{_num(tp / (tp + fn))}</td></tr>") in panel
        assert abs(float(re.search(r"<td>x</td><td>([^<]+)</td>", panel).group(1))) < 1e-6, panel


def test_lifecycle_and_access_log_name_people(report, local_stack):
    """Each model's lifecycle events in its timeline; the access log names the analyst who
    ran a query by her Cognito user name, not her sub."""
    path, layout, _ = report
    text = path.read_text()
    for model in MODELS:
        panel = re.search(rf'data-panel="{model}/timeline".*?</section>', text, re.S).group(0)
        assert "<td>model_registered</td>" in panel and "<td>model_deployed</td>" in panel, panel
        assert f"<td>endpoint/{model}</td>" in panel
    access = re.search(r'id="access".*?</section>', text, re.S).group(0)
    sub = next(a["Value"] for a in client.aws_client(local_stack, "cognito-idp").admin_get_user(
        UserPoolId=local_stack["user_pool_id"], Username="analyst")["UserAttributes"] if a["Name"] == "sub")
    assert "<tr><td>analyst</td><td>user</td><td>audit_access</td>" in access, access
    assert sub not in access
    assert {"access", *(f"{m}/timeline" for m in MODELS)} <= {b["name"] for b in layout["boxes"]}


MEASURE = """<script>
const out = {scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth, boxes: {}};
for (const el of document.querySelectorAll(".page > .box")) {
  const r = el.getBoundingClientRect();
  out.boxes[el.id || el.dataset.plot || el.dataset.panel] = {width: r.width, height: r.height, right: r.right,
    scrollWidth: el.scrollWidth, clientWidth: el.clientWidth, scrollHeight: el.scrollHeight,
    clientHeight: el.clientHeight, marks: el.querySelectorAll("svg rect, svg path, svg circle, td, p").length};
}
const background = (selector) =>
  [...document.querySelectorAll(selector)].map((e) => getComputedStyle(e).backgroundColor);
out.alarm = background("#monitors tr.alarm td");
out.ok = background("#monitors tr.ok td");
out.header = background("#monitors tr th");
const pre = document.createElement("pre");
pre.id = "measured";
pre.textContent = JSON.stringify(out);
document.body.appendChild(pre);
</script>"""


def _measure(page: Path, height: int, workdir: Path) -> dict:
    """What Chromium lays out in a WINDOW px wide window: the page with a measuring script
    (and without the CSP that would stop it), its DOM dumped once the script ran."""
    workdir.mkdir(parents=True, exist_ok=True)
    text = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page.read_text())
    measured = workdir / "measured.html"
    measured.write_text(text.replace("</body>", MEASURE + "</body>"))
    dumped = subprocess.run([
        shutil.which("chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--host-resolver-rules=MAP * ~NOTFOUND",
        "--force-device-scale-factor=1", "--hide-scrollbars", f"--user-data-dir={workdir / 'profile'}",
        f"--window-size={WINDOW},{height}", "--virtual-time-budget=3000", "--dump-dom", measured.as_uri(),
    ], check=True, capture_output=True, text=True, timeout=120).stdout
    return json.loads(html.unescape(re.search(r'<pre id="measured">(.*?)</pre>', dumped, re.S).group(1)))


def test_readable_at_1400_px_every_section_drawn_nothing_overflows(report, tmp_path):
    path, layout, _ = report
    measured = _measure(path, layout["height"], tmp_path / "measure")
    assert measured["innerWidth"] == WINDOW
    assert measured["scrollWidth"] <= WINDOW, measured["scrollWidth"]  # no horizontal scrolling
    names = {b["name"] for b in layout["boxes"]}
    assert {"integrity", "monitors", "lineage", "access"} <= names
    assert set(measured["boxes"]) == names  # every section the layout places is on the page
    for name, box in measured["boxes"].items():
        assert box["width"] > 0 and box["height"] > 0, (name, box)
        assert box["right"] <= WINDOW, (name, box)
        assert box["scrollWidth"] <= box["clientWidth"], (name, box)  # its content fits its width (not clipped)
        assert box["scrollHeight"] <= box["clientHeight"], (name, box)  # and its height
        assert box["marks"] > 0, (name, box)  # something drawn in it: shapes, cells or a message


def test_alarm_rows_are_highlighted(report, tmp_path):
    path, layout, _ = report
    text = path.read_text()
    assert f'<tr class="alarm"><td>{MODELS[0]}/score-drift</td>' in text
    assert f'<tr class="ok"><td>{MODELS[1]}/score-drift</td>' in text
    measured = _measure(path, layout["height"], tmp_path / "measure")
    alarm, ok, header = set(measured["alarm"]), set(measured["ok"]), set(measured["header"])
    assert len(alarm) == 1 and len(ok) == 1, measured
    assert alarm != ok and alarm.isdisjoint(header) and alarm != {"rgba(0, 0, 0, 0)"}, measured
    red, green, blue = (int(v) for v in re.findall(r"\d+", alarm.pop())[:3])
    assert red > green and red > blue  # a red tint


def test_the_lineage_graph_draws_the_chain_from_raw_data_to_the_endpoint(report):
    text = report[0].read_text()
    figure = re.search(r'<figure class="box" id="lineage".*?</figure>', text, re.S).group(0)
    for job, inputs, outputs in CHAIN:
        assert f"<title>job {job}</title>" in figure  # each run folded into its job
        for dataset in inputs + outputs:
            assert f"<title>dataset {dataset}</title>" in figure
    x = {name: float(left) for name, left in
         re.findall(r'<title>(?:job|dataset|run) ([^<]+)</title><rect x="([0-9.]+)"', figure)}
    chain = [CHAIN[0][1][0], *(step for job, _, outputs in CHAIN for step in (job, outputs[0]))]
    assert [x[name] for name in chain] == sorted(x[name] for name in chain)  # raw data on the left, the endpoint last
    assert "<script" not in figure
