"""Crypto-shredding: pseudonyms, ciphertext, the key store on moto, access and erasure."""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import UTC, datetime

import boto3
import pytest
from cryptography.exceptions import InvalidTag
from mlaudit.adapters.memory import MemorySelfAudit, MemorySubjectKeys
from mlaudit.adapters.subject_keys import INDEX_PK, WRAP_PREFIX, WRAP_VERSION, DynamoKmsKeyStore
from mlaudit.errors import DomainError
from mlaudit.events import EventIn
from mlaudit.handlers import privacy as privacy_handler
from mlaudit.http import status_of
from mlaudit.principal import Principal
from mlaudit.privacy import (
    PrivacyService,
    SealedDataError,
    SubjectProtector,
    index_ref,
    new_subject_key,
    open_sealed,
    pseudonym,
    seal,
)

from local.runtime import LambdaContext

OFFICER = Principal(kind="person", actor_id="user-po", client_id="people", roles=("privacy_officer",))
SECRET = "Ann Example, born 1970-01-02"


def key(seed: int = 1):
    return new_subject_key(bytes([seed]) * 32)


# Pure crypto


def test_pseudonym_is_stable_per_subject_and_differs_across_subjects():
    k = key()
    assert pseudonym(k, "patient-1") == pseudonym(k, "patient-1")
    assert pseudonym(k, "patient-1") != pseudonym(k, "patient-2")
    assert pseudonym(k, "patient-1").startswith("sp1.") and "patient" not in pseudonym(k, "patient-1")


def test_pseudonym_cannot_be_recomputed_without_the_key():
    # After erasure a new key (if the subject ever comes back) gives an unrelated pseudonym
    assert pseudonym(key(1), "patient-1") != pseudonym(key(2), "patient-1")


def test_ciphertext_opens_only_with_its_key_and_subject():
    k, alias = key(), pseudonym(key(), "patient-1")
    sealed = seal(k, SECRET, alias)
    assert SECRET not in sealed and sealed.startswith(f"pd1.{k.key_id}.")
    assert seal(k, SECRET, alias) != sealed  # random nonce
    assert open_sealed(k, sealed, alias) == SECRET
    with pytest.raises(SealedDataError):
        open_sealed(new_subject_key(bytes([2]) * 32, k.key_id), sealed, alias)  # same id, other key
    with pytest.raises(SealedDataError):
        open_sealed(k, sealed, pseudonym(k, "patient-2"))  # moved to another subject's row


@pytest.mark.parametrize("position", [5, 20, -1])
def test_tampered_ciphertext_does_not_open(position):
    k = key()
    sealed = seal(k, SECRET, "sp1.x")
    body = list(sealed)
    index = len(f"pd1.{k.key_id}.") + position if position >= 0 else position
    body[index] = "A" if body[index] != "A" else "B"
    with pytest.raises(SealedDataError):
        open_sealed(k, "".join(body), "sp1.x")
    with pytest.raises(SealedDataError):
        open_sealed(k, "pd1." + k.key_id + ".", "sp1.x")


def test_index_ref_is_keyed_and_hides_the_reference():
    assert index_ref(b"a" * 32, "patient-1") != index_ref(b"b" * 32, "patient-1")
    assert "patient" not in index_ref(b"a" * 32, "patient-1")


def test_protector_calls_the_store_once_per_subject_within_the_cache_window():
    keys, now = MemorySubjectKeys(), [0.0]
    protector = SubjectProtector(keys, cache_seconds=30, clock=lambda: now[0])
    event = EventIn.model_validate_json(json.dumps({
        "event_type": "prediction", "occurred_at": "2026-11-26T07:00:00Z",
        "subject_ref": "patient-1", "personal_data": {"name": "Ann"}}))
    results = [protector.protect("patient-1", event.personal_data) for _ in range(500)]
    protector.protect("patient-2", None)
    assert keys.lookups == 2
    assert len({alias for alias, _ in results}) == 1 and len({c for _, c in results}) == 500
    alias, sealed = results[0]
    assert json.loads(open_sealed(keys.keys["patient-1"], sealed, alias)) == {"name": "Ann"}
    now[0] = 31.0  # expired: the store is asked again (so erasure takes effect)
    protector.protect("patient-1", None)
    assert keys.lookups == 3


# The key store on moto


@pytest.fixture
def store(aws):
    dynamodb, kms = boto3.client("dynamodb"), boto3.client("kms")
    dynamodb.create_table(TableName="keys", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                          BillingMode="PAY_PER_REQUEST")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    return DynamoKmsKeyStore(dynamodb, kms, "keys", key_id)


def test_key_store_keeps_one_key_per_subject_under_a_keyed_hash(store):
    created = store.find_or_create("patient-1")
    # A second function (cold, its own index-key cache) finds the same key
    other = DynamoKmsKeyStore(store.dynamodb, store.kms, "keys", store.kms_key_id)
    assert other.find("patient-1") == created
    assert store.find_or_create("patient-2") != created
    items = store.dynamodb.scan(TableName="keys")["Items"]
    assert {INDEX_PK, WRAP_PREFIX + WRAP_VERSION} <= {i["pk"]["S"] for i in items} and len(items) == 4
    assert not any("patient" in json.dumps(i, default=str) for i in items)
    # Only ciphertext of keys is stored
    assert not any(created.material in value["B"] for i in items for value in i.values() if "B" in value)


class CountingKms:
    """The KMS client, counting its calls by operation."""

    def __init__(self, kms):
        self.kms, self.calls = kms, Counter()

    def __getattr__(self, name):
        if name in ("decrypt", "generate_data_key"):
            self.calls[name] += 1
        return getattr(self.kms, name)


def test_subject_keys_cost_no_kms_call_once_the_wrapping_key_is_open(store):
    # Given a process that made some subjects' keys (the index and wrapping keys: one KMS call each)
    refs = [f"s-{i}" for i in range(120)]
    store.find_or_create_many(refs[:60])
    # When a cold process reads them and makes the others
    kms = CountingKms(store.kms)
    cold = DynamoKmsKeyStore(store.dynamodb, kms, "keys", store.kms_key_id)
    loaded = cold.find_or_create_many(refs)
    cold.find_or_create("s-new")
    # Then it decrypted the index and wrapping keys once each, and nothing per subject
    assert kms.calls == Counter({"decrypt": 2})
    assert all(store.find(ref) == loaded[ref] for ref in ("s-0", "s-59", "s-60", "s-119"))


def test_a_wrapped_key_opens_only_in_its_own_item(store):
    store.find_or_create("patient-1")
    store.find_or_create("patient-2")
    one, two = (store.dynamodb.get_item(TableName="keys", Key={"pk": {"S": store._pk(ref)}})["Item"]
                for ref in ("patient-1", "patient-2"))
    # Given patient-1's wrapped key copied onto patient-2's item (same key id, so only the pk differs)
    store.dynamodb.put_item(TableName="keys", Item={**two, "wrapped_key": one["wrapped_key"], "key_id": one["key_id"]})
    with pytest.raises(InvalidTag):
        DynamoKmsKeyStore(store.dynamodb, store.kms, "keys", store.kms_key_id).find("patient-2")


def test_keys_made_before_wrapping_still_open_with_kms(store):
    # Given a subject item as written before wrapping: the key as a KMS data key's ciphertext
    pk = store._pk("patient-old")
    key_id, material, encrypted = store._data_key("subject-key")
    store.dynamodb.put_item(TableName="keys", Item={"pk": {"S": pk}, "key_id": {"S": key_id},
                                                    "encrypted_key": {"B": encrypted}, "created_at": {"N": "1"}})
    # Then it opens, alone and in a batch with new subjects
    assert store.find("patient-old").material == material
    assert store.find_or_create_many(["patient-old", "patient-new"])["patient-old"].material == material
    # And erasure deletes it like any other
    assert store.destroy("patient-old", store.find("patient-old")) and store.find("patient-old") is None


def test_key_store_destroys_only_the_key_the_caller_saw(store):
    first = store.find_or_create("patient-1")
    assert store.destroy("patient-1", first) is True
    assert store.find("patient-1") is None
    assert store.destroy("patient-1", first) is False
    again = store.find_or_create("patient-1")  # the subject comes back: a new, unrelated key
    assert again.key_id != first.key_id and again.material != first.material
    assert store.destroy("patient-1", first) is False and store.find("patient-1") == again


# Subject access and erasure over fakes


class Lake:
    def __init__(self):
        self.rows = []

    def events(self, subject_pseudonym, limit):
        return [r for r in self.rows if r["subject_pseudonym"] == subject_pseudonym][: limit + 1]


@pytest.fixture
def world():
    keys, lake, audit = MemorySubjectKeys(), Lake(), MemorySelfAudit()
    protector = SubjectProtector(keys, cache_seconds=0)
    for subject in ("patient-1", "patient-2"):
        alias, sealed = protector.protect(subject, {"name": f"name of {subject}"})
        lake.rows.append({"event_id": f"ev-{subject}", "subject_pseudonym": alias, "personal_data": sealed,
                          "features": '{"a":1}', "occurred_at": datetime(2026, 11, 26, tzinfo=UTC)})
    return PrivacyService(keys, lake, audit), keys, audit


def test_access_decrypts_and_is_audited_under_the_pseudonym(world):
    service, keys, audit = world
    answer = service.access(OFFICER, "patient-1")
    (event,) = answer["events"]
    assert event["personal_data"] == {"name": "name of patient-1"} and event["features"] == {"a": 1}
    assert event["occurred_at"] == "2026-11-26T00:00:00.000Z"
    (principal, recorded, alias) = audit.events[0]
    assert principal == OFFICER and recorded["event_type"] == "subject_access"
    assert alias == answer["subject_pseudonym"] and "patient" not in json.dumps(recorded)


def test_erasure_destroys_the_key_and_leaves_other_subjects(world):
    service, keys, audit = world
    before = service.access(OFFICER, "patient-1")["subject_pseudonym"]
    summary = service.erase(OFFICER, "patient-1")
    assert summary["erased"] is True and summary["subject_pseudonym"] == before
    _, erasure, alias = audit.events[-1]
    assert erasure["event_type"] == "subject_erasure" and alias == before
    assert "patient" not in json.dumps(erasure)
    with pytest.raises(DomainError) as gone:
        service.access(OFFICER, "patient-1")
    assert status_of(gone.value) == 404 and "patient" not in gone.value.message
    with pytest.raises(DomainError):
        service.erase(OFFICER, "patient-1")
    _, refused, none = audit.events[-1]  # refusals are audited too, with no pseudonym
    assert refused["details"] == {"outcome": "not_found"} and none is None
    assert service.access(OFFICER, "patient-2")["events"][0]["personal_data"] == {"name": "name of patient-2"}


# The handler: decoding, errors, logs


def _request(method, raw_ref, roles="privacy_officer"):
    return {
        "httpMethod": method, "resource": "/v1/subjects/{subject_ref}",
        "pathParameters": {"subject_ref": raw_ref},
        "requestContext": {"authorizer": {"principal_kind": "person", "actor_id": "user-po",
                                          "client_id": "people", "roles": roles, "scopes": ""}},
    }


def test_handler_decodes_the_path_once_and_never_logs_the_subject(world, capsys):
    service, keys, _ = world
    keys.keys["a/b c%"] = new_subject_key(os.urandom(32))
    privacy_handler.APP.configure(service=service)
    try:
        ok = privacy_handler.handler(_request("GET", "a%2Fb%20c%25"), LambdaContext("privacy", 30))
        assert ok["statusCode"] == 200 and json.loads(ok["body"])["count"] == 0
        missing = privacy_handler.handler(_request("GET", "Jane%20Doe"), LambdaContext("privacy", 30))
        bad = privacy_handler.handler(_request("GET", "%FF"), LambdaContext("privacy", 30))
        too_long = privacy_handler.handler(_request("DELETE", "x" * 257), LambdaContext("privacy", 30))
    finally:
        privacy_handler.APP.reset()
    assert missing["statusCode"] == 404 and bad["statusCode"] == 400 and too_long["statusCode"] == 400
    assert "Jane" not in missing["body"] + capsys.readouterr().out


def test_a_batch_about_many_subjects_is_loaded_in_one_go(store):
    # Given some subjects already known and others new, as in a batch of predictions
    known = {ref: store.find_or_create(ref) for ref in ("s-0", "s-1")}
    refs = [f"s-{i}" for i in range(150)]  # more than one BatchGetItem call
    loaded = store.find_or_create_many(refs + ["s-3"])
    assert list(loaded) == refs
    assert all(loaded[ref] == key for ref, key in known.items())
    assert all(store.find(ref) == loaded[ref] for ref in ("s-3", "s-149"))
    # The protector warms its cache with it, then protects without the store
    protector = SubjectProtector(store)
    protector.prepare(refs)
    protector.store = None  # any further store call would fail
    assert protector.protect("s-7", None)[0] == pseudonym(loaded["s-7"], "s-7")


def test_erasure_that_cannot_be_audited_still_says_the_key_is_gone(world):
    service, keys, audit = world

    def broken(principal, events, subject_pseudonym):
        raise RuntimeError("queue down")

    audit.record = broken
    with pytest.raises(DomainError) as caught:
        service.erase(OFFICER, "patient-1")
    assert (status_of(caught.value), caught.value.code) == (500, "erasure_not_recorded")
    assert [e["rule"] for e in caught.value.errors] == ["audit_pending"] * 2
    assert "patient-1" not in keys.keys and "patient" not in json.dumps(caught.value.errors)
