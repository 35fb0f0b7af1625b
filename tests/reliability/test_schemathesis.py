"""Schemathesis over every route of the local stack (in this process) with requests the
API document does not allow (schemathesis' negative mode), and over the routes that store
with requests it allows too, as a workload and as an auditor: never a 5xx, and a request
the events or lineage routes refuse sends nothing to the queue.
(tests/integration/test_openapi_conformance.py sends every route requests the document
allows and holds the answers to the document; this one holds the stack to "4xx or stored".)"""

from __future__ import annotations

from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from mlaudit import bootstrap
from schemathesis import GenerationMode

from bench import reliability
from local import client

EXAMPLES = 4  # per operation, mode and caller
STORING = {"POST /v1/events", "POST /v1/lineage", "POST /api/v1/lineage"}


@pytest.fixture(scope="module")
def stack():
    with reliability.local_stack() as running:
        yield running


def test_every_route_answers_without_a_5xx_and_stores_nothing_it_refuses(stack):
    config = stack.config
    schema = schemathesis.openapi.from_dict(requests.get(config["api_url"] + "/v1/openapi.json", timeout=30).json())
    callers = {"workload": client.bearer(client.machine_token(config)),
               "auditor": client.bearer(client.user_tokens(config, "auditor")["id_token"])}
    ingest = bootstrap.app("ingest").service()
    queue = getattr(ingest, "_service", ingest).queue  # (under its metrics wrapper)
    sent: list[int] = []
    send = queue.send_packs
    queue.send_packs = lambda packs: (sent.append(len(packs)), send(packs))[1]
    failures: list[str] = []
    seen: dict[tuple[str, int], int] = {}

    def explore(operation: Any, mode: GenerationMode, caller: str) -> None:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def run(case: Any) -> None:
            before = len(sent)
            response = case.call(base_url=config["api_url"], headers=callers[caller], timeout=60)
            status = response.status_code
            seen[(operation.label, status)] = seen.get((operation.label, status), 0) + 1
            if status >= 500:
                failures.append(f"{caller} {mode.value} {operation.label}: {status} {response.text[:200]!r}")
            elif operation.label in STORING and status >= 300 and len(sent) != before:
                failures.append(f"{caller} {mode.value} {operation.label}: refused ({status}) but sent packs")

        try:
            run()
        except Unsatisfiable:  # nothing the document forbids to send (no parameters, no body):
            assert mode is GenerationMode.NEGATIVE, operation.label
            if operation.label not in STORING:  # then what it allows
                explore(operation, GenerationMode.POSITIVE, caller)

    try:
        for result in schema.get_all_operations():
            operation = result.ok()
            modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if operation.label in STORING else (
                GenerationMode.NEGATIVE,)
            for mode in modes:
                for caller in callers:
                    explore(operation, mode, caller)
    finally:
        queue.send_packs = send
    assert failures == [], "\n".join(failures[:20])
    labels = {label for label, _ in seen}
    assert len(labels) == len(list(schema.get_all_operations())), labels  # every route was called
    assert any(status == 202 for label, status in seen if label == "POST /v1/events"), seen  # some were stored
    assert any(400 <= status < 500 for label, status in seen if label in STORING), seen  # and some refused
