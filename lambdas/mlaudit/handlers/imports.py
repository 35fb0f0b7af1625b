"""A file dropped under imports/ in the landing bucket (EventBridge "Object Created"):
import it through the same contract, rules, queue and writer as the API (logic in
mlaudit.imports), and write its report beside it under reports/.

While it runs, reports/<key>.progress holds the lines read so far (the CLI shows it);
the finished report is reports/<key>.json. A file is identified by the
SHA-256 of its content, so dropping the same content again, under any name, stores
nothing twice (the report says "already_imported"); each line's event id derives from
that identity and the line number.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from mlaudit import bootstrap
from mlaudit.imports import ImportSource, format_of

if TYPE_CHECKING:
    from mlaudit.bootstrap import FunctionApp
    from mlaudit.imports.landed import ImportService


logger = Logger(service="mlaudit-imports")

APP: FunctionApp[ImportService] = bootstrap.app("imports")
IMPORTS_PREFIX, REPORTS_PREFIX = "imports/", "reports/"
PROGRESS_EVERY_SECONDS = 2.0


def report_key(key: str) -> str:
    return REPORTS_PREFIX + key.removeprefix(IMPORTS_PREFIX) + ".json"


def progress_key(key: str) -> str:
    return REPORTS_PREFIX + key.removeprefix(IMPORTS_PREFIX) + ".progress"


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    detail = event.get("detail") or {}
    bucket, obj = (detail.get("bucket") or {}).get("name"), detail.get("object") or {}
    key, version = obj.get("key", ""), obj.get("version-id")
    service = APP.service()
    if bucket != service.bucket or not key.startswith(IMPORTS_PREFIX):
        # The rule matches only this bucket's imports/; anything else is a wiring fault.
        raise ValueError("event for another bucket or prefix")
    fmt = format_of(key)
    if fmt is None:
        body = {"state": "refused", "name": key, "error": "the file name must end in .jsonl, .ndjson, "
                ".json or .parquet"}
        service.landing.put(report_key(key), json.dumps(body).encode())
        return body
    last = [0.0]

    def progress(lines: int) -> None:
        if time.monotonic() - last[0] >= PROGRESS_EVERY_SECONDS:
            last[0] = time.monotonic()
            service.landing.put(progress_key(key), json.dumps({"lines": lines}).encode())

    with service.landing.open(key, version) as (stream, sha256):
        source = ImportSource(file_id=f"sha256:{sha256}", name=key, format=fmt)
        report = service.importer.run(stream, source, service.principal, progress=progress)
    body = report.body()
    service.landing.put(report_key(key), json.dumps(body, separators=(",", ":")).encode())
    logger.info("file imported", extra={"state": report.state, "lines": report.lines,
                                        "accepted": report.accepted, "rejected": report.rejected})
    return report.summary()
