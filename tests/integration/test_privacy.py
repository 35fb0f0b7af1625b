"""Privacy on the local stack over real HTTP: subject access and erasure end to end,
and a scan of everything a run with personal data leaves behind (function logs, error
bodies, SQS message bodies, DynamoDB items, Parquet columns) for plaintext."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import requests
from mlaudit import pack
from mlaudit.adapters.bucket import S3Bucket
from mlaudit.integrity.primitives.signing import kms_public_key_pem, load_public_key
from mlaudit.integrity.verifier import Verifier

from local import client
from tests.integration.conftest import running_local_stack
from tests.integration.helpers import drained, lake_rows, post


def _subject(config, method, subject_ref, token):
    url = config["api_url"] + "/v1/subjects/" + quote(subject_ref, safe="")
    return requests.request(method, url, headers=client.bearer(token), timeout=60)


def _events(prefix, people, per_subject=2):
    now = datetime.now(UTC).isoformat()
    return [
        {"event_id": f"{prefix}-{n}-{i}", "event_type": "prediction", "occurred_at": now, "model_id": "churn",
         "model_version": "7", "prediction_id": f"{prefix}-p{n}-{i}", "prediction_score": 0.5, "latency_ms": 2.0,
         "subject_ref": ref, "personal_data": data}
        for n, (ref, data) in enumerate(people.items()) for i in range(per_subject)
    ]


def test_subject_access_then_erasure_end_to_end(local_stack, machine_token, user_tokens):
    prefix = f"erase-{uuid.uuid4().hex[:8]}"
    # Given two subjects whose references need percent-encoding in the path
    alice, bob = f"patient/{prefix} Ålice", f"patient/{prefix} Bob"
    people = {alice: {"name": "Alice Zylberstein", "dob": "1970-01-02"}, bob: {"name": "Bob Quagmire"}}
    assert post(local_stack, {"events": _events(prefix, people)}, machine_token(["events.write"])).status_code == 202
    drained(local_stack)
    officer = user_tokens("privacy_officer")["id_token"]

    # Before: the officer reads Alice's events with her personal data decrypted
    before = _subject(local_stack, "GET", alice, officer)
    assert before.status_code == 200, before.text
    mine = [e for e in before.json()["events"] if e["event_id"].startswith(prefix)]
    assert sorted(e["event_id"] for e in mine) == [f"{prefix}-0-0", f"{prefix}-0-1"]
    assert all(e["personal_data"] == people[alice] for e in mine)
    alias = before.json()["subject_pseudonym"]
    stored = lake_rows(local_stack, prefix)
    assert {r["subject_pseudonym"] for r in stored if r["event_id"].startswith(f"{prefix}-0-")} == {alias}

    # When she is erased
    erased = _subject(local_stack, "DELETE", alice, officer)
    assert erased.status_code == 200, erased.text
    assert erased.json()["erased"] is True and erased.json()["subject_pseudonym"] == alias

    # Then her data no longer opens, a second erasure finds nothing, Bob is untouched
    assert _subject(local_stack, "GET", alice, officer).status_code == 404
    assert _subject(local_stack, "DELETE", alice, officer).status_code == 404
    other = _subject(local_stack, "GET", bob, officer)
    assert other.status_code == 200
    assert [e["personal_data"] for e in other.json()["events"] if e["event_id"].startswith(prefix)] == [
        people[bob]] * 2

    # And the lake still holds her events (ciphertext, unchanged), plus the audited actions
    drained(local_stack)
    after = {r["event_id"]: r for r in lake_rows(local_stack, prefix)}
    assert {k: r["personal_data"] for k, r in after.items()} == {r["event_id"]: r["personal_data"] for r in stored}
    actions = [r for r in lake_rows(local_stack, "") if r["subject_pseudonym"] == alias
               and r["event_type"] in ("subject_access", "subject_erasure")]
    assert sorted(r["event_type"] for r in actions) == ["subject_access", "subject_erasure"]
    erasure = next(r for r in actions if r["event_type"] == "subject_erasure")
    assert erasure["actor_type"] == "user" and erasure["actor_roles"] == ["privacy_officer"]
    assert json.loads(erasure["details"])["key_id"] == erased.json()["key_id"]
    assert "Ålice" not in json.dumps(actions, default=str)

    # And the lake still verifies offline, with only the checkpoint public key
    kms = client.aws_client(local_stack, "kms")
    public_key = load_public_key(kms_public_key_pem(kms, local_stack["signing_key_id"]))
    report = Verifier(S3Bucket(client.aws_client(local_stack, "s3"), local_stack["bucket"]), public_key, jobs=1).run()
    assert report.ok, report.text()
    assert report.events_checked >= len(after) + len(actions)


def _plaintexts(people):
    values = set(people)
    for data in people.values():
        values.update(str(v) for v in data.values())
    return values


def _moto_state(config):
    """Every resource moto holds (SQS messages in flight included), as JSON text, followed by
    each queued pack as the writer reads it: ingest deflates the packs it sends (pack.ENCODING_ATTRIBUTE),
    so a search of the raw bodies alone would find nothing, personal data or not."""
    text = requests.get(config["aws_endpoint_url"] + "/moto-api/data.json", timeout=60).text
    packs = [pack.from_queue(m["body"], (m.get("message_attributes") or {}).get(
                 pack.ENCODING_ATTRIBUTE, {}).get("StringValue"))
             for m in json.loads(text).get("sqs", {}).get("Message", [])]
    return "\n".join([text, *packs])


def _found(text, secrets):
    """Secrets present as they are, JSON-escaped or percent-encoded."""
    return sorted(s for s in secrets if any(form in text for form in (s, json.dumps(s)[1:-1], quote(s, safe=""))))


def test_no_plaintext_personal_value_anywhere_a_run_leaves_it(tmp_path, machine_token):
    # Own stack: the writer holds batches 45 s, so the queue's messages can be read in flight
    # (on a busy machine, 8 s passed before the read)
    with running_local_stack(tmp_path, "--writer-window", "45", "--visibility-timeout", "120") as config:
        prefix = f"pii-{uuid.uuid4().hex[:8]}"
        people = {f"mrn-{prefix}-0001": {"name": "Zebulon Marchetti", "email": "zeb.marchetti@example.org",
                                         "diagnosis": "rare-condition-xyzzy"},
                  f"mrn-{prefix}-0002": {"name": "Ottilie Vanderbroek", "phone": "+49 30 5550199"}}
        secrets = _plaintexts(people)
        workload = client.machine_token(config, ["events.write"])
        officer = client.user_tokens(config, "privacy_officer")["id_token"]
        analyst = client.user_tokens(config, "analyst")["id_token"]

        accepted = post(config, {"events": _events(prefix, people, per_subject=3)}, workload)
        assert accepted.status_code == 202
        queued = _moto_state(config)
        assert f"{prefix}-0-0" in queued  # the messages were captured before the writer took them

        # Refused requests that carry personal data: their error bodies
        refusals = [
            post(config, {"events": [{**_events(prefix, people)[0], "surname": "Marchetti"}]}, workload),
            post(config, {"events": [{**_events(prefix, people)[0], "personal_data": {
                "a": _nested(20, "Zebulon Marchetti")}}]}, workload),
            post(config, {"events": [{**_events(prefix, people)[0], "subject_ref": "x" * 300}]}, workload),
            _subject(config, "GET", "Zebulon Marchetti", officer),  # unknown subject: 404
            _subject(config, "GET", next(iter(people)), analyst),  # wrong role: 403
            _subject(config, "GET", next(iter(people)), workload),  # workload: 403
        ]
        assert [r.status_code for r in refusals] == [422, 422, 422, 404, 403, 403]
        errors = "\n".join(r.text for r in refusals)

        assert client.wait_drained(config, timeout=600)
        # The officer may see it (that is subject access); nothing else may hold it
        access = _subject(config, "GET", next(iter(people)), officer)
        assert access.status_code == 200 and "Zebulon Marchetti" in _found(access.text, secrets)  # scanner works
        assert _subject(config, "DELETE", f"mrn-{prefix}-0002", officer).status_code == 200
        assert client.wait_drained(config, timeout=600)

        rows = lake_rows(config, "")
        assert sum(r["event_id"].startswith(prefix) for r in rows) == 6
        assert {r["event_type"] for r in rows} >= {"subject_access", "subject_erasure"}
        parquet = json.dumps(rows, default=str, ensure_ascii=False)
        state = _moto_state(config)
        # The stack logs unbuffered (PYTHONUNBUFFERED): what the answered requests and the drained
        # writer logged is in the file already.
        log = Path(config["log_path"]).read_text(encoding="utf-8", errors="replace")

        assert _found(queued, secrets) == []  # SQS bodies (and all else moto held then)
        assert _found(errors, secrets) == []
        assert _found(parquet, secrets) == []
        assert _found(state, secrets) == []  # DynamoDB keys and idempotency answers, S3, KMS
        assert _found(log, secrets) == []


def _nested(depth: int, leaf: str) -> dict:
    """An object nested deeper than the contract's JSON depth bound, with a value at the bottom."""
    value: object = leaf
    for level in range(depth):
        value = {f"k{level}": value}
    return value  # type: ignore[return-value]
