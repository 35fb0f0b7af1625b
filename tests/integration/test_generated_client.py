"""A client generated from docs/openapi.json by openapi-python-client (a pinned dev
dependency) has a typed model for every answer, talks to the local stack, and code using
its queries and events answers type-checks with mypy --strict (and code that gets their
types wrong does not)."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from mlaudit import openapi
from mlaudit.routes import ROUTES

BIN = Path(sys.executable).parent
PACKAGE = "mlaudit_api"


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    """The generated package's parent directory (on sys.path while the module runs)."""
    root = tmp_path_factory.mktemp("generated")
    done = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(openapi.REPO_DOC), "--meta",
         "none", "--output-path", str(root / PACKAGE)],
        capture_output=True, text=True, timeout=600, cwd=root, check=False,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"},  # its ruff post-hooks
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # It drops what it cannot type (an array without items, say) with a warning: none here.
    assert "Warning" not in done.stdout + done.stderr, done.stdout + done.stderr
    sys.path.insert(0, str(root))
    yield root
    sys.path.remove(str(root))
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]


def test_every_answer_has_a_typed_model(generated):
    models = importlib.import_module(f"{PACKAGE}.models")
    for route in ROUTES:
        module = importlib.import_module(f"{PACKAGE}.api.{route.function}.{_operation_module(route)}")
        parsed = module._parse_response.__annotations__["return"]  # noqa: SLF001 - the generated parser's type
        if route.response is None:
            continue
        name = route.response["$ref"].rsplit("/", 1)[1]
        assert hasattr(models, name), name
        assert name in str(parsed), (route.path, parsed)


def _operation_module(route) -> str:
    document = openapi.document()
    operation_id = document["paths"][route.path][route.method.lower()]["operationId"]
    return operation_id.lower()


def api_client(config: dict[str, Any], token: str) -> Any:
    module = importlib.import_module(PACKAGE)
    return module.AuthenticatedClient(base_url=config["api_url"], token=token, timeout=120)


def test_the_events_answer_parses_with_its_data_quality_fields(generated, local_stack, machine_token):
    from mlaudit_api.api.ingest import ingest
    from mlaudit_api.models import AuditEventBatchV1, DataQualityCounts, DataQualityViolation, EventsAccepted

    prefix = f"gen-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC).isoformat()
    body = AuditEventBatchV1.from_dict({"events": [
        {"event_id": f"{prefix}-ok", "event_type": "model_registered", "occurred_at": now, "model_id": "churn",
         "model_version": "7"},
        {"event_id": f"{prefix}-bad", "event_type": "prediction", "occurred_at": now, "model_id": "churn",
         "model_version": "7", "prediction_id": "p1", "prediction_score": 1.5},  # out of [0, 1]: stored, flagged
    ]})
    answer = ingest.sync_detailed(client=api_client(local_stack, machine_token()), body=body)
    assert answer.status_code == 202, answer.content
    accepted = answer.parsed
    assert isinstance(accepted, EventsAccepted) and accepted.accepted == 2
    assert accepted.event_ids == [f"{prefix}-ok", f"{prefix}-bad"]
    assert isinstance(accepted.dq, DataQualityCounts) and (accepted.dq.pass_, accepted.dq.fail) == (1, 1)
    (violation,) = accepted.dq_violations
    assert isinstance(violation, DataQualityViolation)
    assert (violation.index, violation.event_id, violation.rules) == (
        1, f"{prefix}-bad", ["prediction.score_in_unit_interval"])


def test_the_queries_answers_parse(generated, local_stack, user_tokens):
    from mlaudit_api.api.queries import list_queries, query_execution, start_query
    from mlaudit_api.models import (
        NamedQuery,
        QueryCatalog,
        QueryExecution,
        QueryExecutionState,
        QueryParameter,
        QueryStarted,
        StartQueryBody,
    )

    api = api_client(local_stack, user_tokens("auditor")["id_token"])
    catalog = list_queries.sync(client=api)
    assert isinstance(catalog, QueryCatalog) and catalog.queries
    assert all(isinstance(q, NamedQuery) and all(isinstance(p, QueryParameter) for p in q.parameters)
               for q in catalog.queries)
    timeline = next(q for q in catalog.queries if q.name == "model_timeline")
    assert [(p.name, p.type_.value, p.required) for p in timeline.parameters][:2] == [
        ("from_date", "date", True), ("to_date", "date", True)]
    today = datetime.now(UTC).date().isoformat()
    started = start_query.sync(name="model_timeline", client=api, body=StartQueryBody.from_dict(
        {"parameters": {"from_date": today, "to_date": today, "model_id": "churn", "model_version": "7"}}))
    assert isinstance(started, QueryStarted) and started.query == "model_timeline"
    run = query_execution.sync(id=started.execution_id, client=api)
    assert isinstance(run, QueryExecution) and run.state == QueryExecutionState.SUCCEEDED, run
    assert [c.name for c in run.columns][:1] == ["occurred_at"] and isinstance(run.rows, list)


def fits(answer: Any, model: type) -> Any:
    """The answer's JSON is valid against its schema in the document, and parsed into the model."""
    document = openapi.document()
    schema = {"$ref": f"#/components/schemas/{model.__name__}", "components": document["components"]}
    jsonschema.Draft202012Validator(schema).validate(json.loads(answer.content))
    assert isinstance(answer.parsed, model), (answer.status_code, answer.content[:300])
    return answer.parsed


def test_every_answer_of_the_stack_fits_its_schema_and_model(generated, local_stack, machine_token, user_tokens):
    from mlaudit_api.api.config import openapi as served
    from mlaudit_api.api.config import read_config
    from mlaudit_api.api.ingest import ingest
    from mlaudit_api.api.privacy import erase_subject, subject_access
    from mlaudit_api.api.proofs import consistency, latest_checkpoint, receipt
    from mlaudit_api.models import (
        AuditEventBatchV1,
        ConsistencyProof,
        DeployedSettings,
        EventsAccepted,
        OpenApiDocument,
        Receipt,
        SignedCheckpoint,
        SubjectErased,
        SubjectEvents,
    )

    from tests.integration.helpers import drained, signed_checkpoint_covering

    prefix = f"gen-{uuid.uuid4().hex[:8]}"
    subject = f"patient/{prefix}"
    workload = api_client(local_stack, machine_token())
    sent = fits(ingest.sync_detailed(client=workload, body=AuditEventBatchV1.from_dict({"events": [
        {"event_id": f"{prefix}-1", "event_type": "prediction", "occurred_at": datetime.now(UTC).isoformat(),
         "model_id": "churn", "model_version": "7", "prediction_id": f"{prefix}-p", "prediction_score": 0.4,
         "subject_ref": subject, "personal_data": {"name": "Ada"}}]})), EventsAccepted)
    drained(local_stack)
    signed_checkpoint_covering(local_stack, machine_token(["events.read"]), 1)
    auditor = api_client(local_stack, user_tokens("auditor")["id_token"])
    fits(receipt.sync_detailed(event_id=sent.event_ids[0], client=auditor), Receipt)
    head = fits(latest_checkpoint.sync_detailed(client=auditor), SignedCheckpoint)
    size = str(head.checkpoint.tree_size)
    fits(consistency.sync_detailed(client=auditor, first="1", second=size), ConsistencyProof)
    officer = api_client(local_stack, user_tokens("privacy_officer")["id_token"])
    held = fits(subject_access.sync_detailed(subject_ref=subject, client=officer), SubjectEvents)
    assert held.count == 1
    fits(erase_subject.sync_detailed(subject_ref=subject, client=officer), SubjectErased)
    admin = api_client(local_stack, user_tokens("admin")["id_token"])
    fits(read_config.sync_detailed(client=admin), DeployedSettings)
    anyone = importlib.import_module(PACKAGE).Client(base_url=local_stack["api_url"], timeout=120)  # no token
    fits(served.sync_detailed(client=anyone), OpenApiDocument)


TYPED = """
from mlaudit_api import AuthenticatedClient
from mlaudit_api.api.ingest import ingest
from mlaudit_api.api.queries import list_queries
from mlaudit_api.models import AuditEventBatchV1, DataQualityViolation, Error, EventsAccepted, QueryCatalog


def stored(client: AuthenticatedClient, batch: AuditEventBatchV1) -> tuple[int, int, list[str]]:
    answer = ingest.sync(client=client, body=batch)
    if not isinstance(answer, EventsAccepted):
        raise RuntimeError(answer.message if isinstance(answer, Error) else "no answer")
    flagged: list[DataQualityViolation] = answer.dq_violations
    return answer.accepted, answer.dq.fail, [rule for v in flagged for rule in v.rules]


def parameters(client: AuthenticatedClient) -> dict[str, list[tuple[str, bool]]]:
    catalog = list_queries.sync(client=client)
    if not isinstance(catalog, QueryCatalog):
        return {}
    return {q.name: [(p.name, p.required) for p in q.parameters] for q in catalog.queries}
"""

MISTYPED = """
from mlaudit_api.models import EventsAccepted, QueryCatalog


def wrong(answer: EventsAccepted, catalog: QueryCatalog) -> str:
    count: str = answer.accepted
    return catalog.queries[0].parameters[0].name + count + answer.dq.pass_
"""


# Strict everywhere but in the generator's own HTTP boilerplate (client.py, the same for
# every document), whose __exit__ forwarding mypy 2.4 refuses against httpx 0.28's types.
MYPY_INI = f"""
[mypy]
strict = True
[mypy-{PACKAGE}.client]
ignore_errors = True
"""


def mypy(root: Path, code: str) -> subprocess.CompletedProcess:
    (root / "use.py").write_text(textwrap.dedent(code))
    (root / "mypy.ini").write_text(MYPY_INI)
    return subprocess.run([sys.executable, "-m", "mypy", "--config-file", "mypy.ini", "--no-incremental",
                           "use.py"], cwd=root, capture_output=True, text=True, timeout=600, check=False,
                          env={**os.environ, "MYPYPATH": str(root)})


def test_code_using_the_queries_and_events_answers_type_checks(generated):
    checked = mypy(generated, TYPED)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    refused = mypy(generated, MISTYPED)
    assert refused.returncode == 1, refused.stdout
    assert 'Incompatible types in assignment (expression has type "int", variable has type "str")' in refused.stdout
    assert 'Unsupported operand types for + ("str" and "int")' in refused.stdout
