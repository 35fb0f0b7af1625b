"""Receipts and consistency proofs, as JSON documents a client can check offline.

A receipt chains: event row -> leaf hash -> file root (inclusion in the file's tree)
-> log entry (its bytes hash to a log leaf; the writer's signature) -> checkpoint root
(inclusion in the log's tree) -> signature. It carries the event's canonical leaf
record (every stored value, the server's included), so a client checks it alone: the
values it sent are the record's, the record hashes to the leaf, and the rest follows
with the two public keys. `check_receipt` is that check, for clients and the CLI.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from mlaudit.errors import Invalid, NotFound
from mlaudit.integrity.primitives import merkle, records, tiles
from mlaudit.integrity.primitives.signing import entry_authentic, load_public_key, verify_signature
from mlaudit.integrity.primitives.store import Store
from mlaudit.integrity.services.checkpoint import LogLeaves, SignedCheckpoint, latest_checkpoint
from mlaudit.layout import EVENTS_PREFIX, parse_partition
from mlaudit.leaf import LEAF_ENCODING_VERSION

# Where an event is: (event_id, event_date, event_type) -> candidate object keys. The
# default scans the partitions the hints allow; a deployment can plug in an index
# (for example an Athena query for "$path" WHERE event_id = ?).
Locator = Callable[[str, str | None, str | None], Iterable[str]]


class ProofService:
    def __init__(self, store: Store, *, leaves: LogLeaves | None = None, locator: Locator | None = None) -> None:
        self.store = store
        self.locator = locator or self._scan
        self.leaves = leaves or LogLeaves(store)
        self._reader: tiles.TileReader | None = None  # the log tree's tiles at the last size asked
        self._tree: merkle.Tree | None = None  # only for a lake without tiles (from before them)

    def nodes(self, size: int) -> merkle.NodeSource:
        """The log tree of ``size`` leaves (a signed checkpoint's), node by node: a tile read
        each (a few per proof, cached), or, for a lake without tiles, the tree from the log."""
        if self._reader is None or self._reader.size != size:
            self._reader = tiles.TileReader(self.store, size)

        def node(height: int, index: int) -> bytes:
            try:
                assert self._reader is not None
                return self._reader.node(height, index)
            except tiles.TileMissing:
                if self._tree is None or self._tree.size != size:
                    self._tree = merkle.Tree(self.leaves.upto(size))
                return self._tree.subtree(index << height, (index + 1) << height)

        return node

    # -- checkpoints ------------------------------------------------------------------------

    def latest(self) -> dict[str, Any]:
        checkpoint = latest_checkpoint(self.store)
        if checkpoint is None:
            raise NotFound("not_found", "no checkpoint has been signed yet")
        return checkpoint.to_json()

    def consistency(self, first: int, second: int) -> dict[str, Any]:
        checkpoint = latest_checkpoint(self.store)
        limit = checkpoint.body["tree_size"] if checkpoint else 0
        if not 0 < first <= second <= limit:
            raise Invalid("invalid_request", f"need 0 < first <= second <= {limit} (the latest checkpoint's size)")
        node = self.nodes(limit)  # every node of a smaller tree is a node of this one
        return {
            "first": first,
            "second": second,
            "first_root": merkle.range_root(0, first, node).hex(),
            "second_root": merkle.range_root(0, second, node).hex(),
            "path": [p.hex() for p in merkle.consistency_path(first, second, node)],
        }

    # -- receipts ---------------------------------------------------------------------------

    def locate(
        self, event_id: str, *, event_date: str | None = None, event_type: str | None = None
    ) -> tuple[str, Any, int]:
        """Find the file and row of an event: read the event_id column of the files the
        locator names (by default, those in the partitions the hints allow)."""
        from mlaudit.parquet import read_parquet_bytes  # noqa: PLC0415 - pyarrow: not for check_receipt's users

        for key in self.locator(event_id, event_date, event_type):
            data = self.store.get(key) if records.is_event_object(key) else None
            if data is None:
                continue
            table = read_parquet_bytes(data)
            ids = table.column("event_id").to_pylist()
            if event_id in ids:
                return key, table, ids.index(event_id)
        raise NotFound("not_found", f"event {event_id} not found")

    def _scan(self, event_id: str, event_date: str | None, event_type: str | None) -> Iterator[str]:
        prefix = EVENTS_PREFIX
        if event_date:
            prefix += f"event_date={event_date}/"
            if event_type:
                prefix += f"event_type={event_type}/"
        for key in self.store.list(prefix):
            if records.is_event_object(key) and (not event_type or parse_partition(key)[1] == event_type):
                yield key

    def receipt(
        self,
        event_id: str,
        *,
        event_date: str | None = None,
        event_type: str | None = None,
        client_id: str | None = None,
    ) -> dict[str, Any]:
        """``client_id``: only an event sent by this client (a workload reading its own)."""
        key, table, row = self.locate(event_id, event_date=event_date, event_type=event_type)
        if client_id is not None and table.column("client_id")[row].as_py() != client_id:
            raise NotFound("not_found", f"event {event_id} not found")  # same answer: existence is not revealed
        from mlaudit.leaf import table_canonical_leaves  # noqa: PLC0415 - pyarrow: not for check_receipt's users

        file_leaves = [bytes.fromhex(h) for h in table.column("leaf_hash").to_pylist()]
        file_tree = merkle.Tree(file_leaves)
        leaf_record = table_canonical_leaves(table.slice(row, 1), parse_partition(key)[1])[0]
        manifest = self.store.get(records.manifest_key(key))
        index = self._log_index(key)
        entry = self.store.get(records.log_key(index)) if index is not None else None
        receipt: dict[str, Any] = {
            "event_id": event_id,
            "object_key": key,
            "leaf_encoding": LEAF_ENCODING_VERSION,
            "leaf_index": row,
            "leaf_hash": file_leaves[row].hex(),
            # The stored values, as hashed (docs/integrity.md section 1): what the client sent
            # plus what the server added (received_at, actor, client, pseudonym, ciphertext, DQ).
            "leaf_record": leaf_record.decode("ascii"),
            "file_size": len(file_leaves),
            "file_root": file_tree.root.hex(),
            "file_path": [p.hex() for p in file_tree.inclusion_proof(row)],
            "manifest": manifest.decode("ascii") if manifest else None,
            "log_index": index,
            "log_entry": entry.decode("ascii") if entry else None,
            "checkpoint": None,
            "log_path": None,
        }
        checkpoint = latest_checkpoint(self.store)
        if checkpoint and index is not None and index < checkpoint.body["tree_size"]:
            size = checkpoint.body["tree_size"]
            receipt["checkpoint"] = checkpoint.to_json()
            receipt["log_path"] = [p.hex() for p in merkle.inclusion_path(index, size, self.nodes(size))]
        return receipt

    def _log_index(self, key: str) -> int | None:
        pointer = self.store.get(records.log_by_file_key(key))
        return int(records.decode(pointer, "log-by-file")["index"]) if pointer else None


def check_receipt(
    receipt: dict[str, Any],
    public_key_pem: bytes,
    row_leaf_hash: bytes | None = None,
    *,
    entry_public_key_pem: bytes | None = None,
    sent: dict[str, Any] | None = None,
) -> list[str]:
    """Problems with a receipt (empty when it proves the event is in the signed log).
    ``row_leaf_hash``: the leaf recomputed from the stored row, if the caller has it.
    ``entry_public_key_pem``: the writer's entry key; the log entry's signature is checked.
    ``sent``: the event as the client sent it; each value must be the leaf record's."""
    problems: list[str] = []
    leaf = bytes.fromhex(receipt["leaf_hash"])
    if row_leaf_hash is not None and row_leaf_hash != leaf:
        problems.append("the event's values do not hash to the receipt's leaf")
    record_text = receipt.get("leaf_record")
    if record_text is not None:
        if merkle.leaf_hash(record_text.encode("ascii")) != leaf:
            problems.append("the leaf record does not hash to the receipt's leaf")
        record = records.decode(record_text.encode("ascii"), "leaf record")
        if record.get("event_id") != receipt["event_id"]:
            problems.append("the leaf record is another event's")
        if sent is not None:
            problems += [f"{name}: the stored value is not the one sent" for name in sent_values_differ(record, sent)]
    elif sent is not None:
        problems.append("the receipt carries no leaf record to compare the sent values with")
    file_root = bytes.fromhex(receipt["file_root"])
    path = [bytes.fromhex(p) for p in receipt["file_path"]]
    if not merkle.verify_inclusion(receipt["leaf_index"], receipt["file_size"], leaf, path, file_root):
        problems.append("the leaf is not in the file's Merkle tree")
    if receipt.get("log_entry") is None or receipt.get("checkpoint") is None:
        problems.append("not yet covered by a signed checkpoint")
        return problems
    entry_bytes = receipt["log_entry"].encode("ascii")
    entry = records.decode(entry_bytes, "log entry")
    if entry["merkle_root"] != receipt["file_root"] or entry["object_key"] != receipt["object_key"]:
        problems.append("the log entry is for another file or root")
    if entry["record_count"] != receipt["file_size"]:
        problems.append("the log entry's record count is not the file's size")
    if entry["index"] != receipt["log_index"]:
        problems.append("the log entry's index differs from the receipt's")
    if entry_public_key_pem is not None and not entry_authentic(load_public_key(entry_public_key_pem), entry):
        problems.append("the log entry is not signed with the writer's entry key")
    manifest = receipt.get("manifest")
    if manifest is not None and hashlib.sha256(manifest.encode("ascii")).hexdigest() != entry["manifest_sha256"]:
        problems.append("the manifest does not match the log entry")
    signed = SignedCheckpoint(receipt["checkpoint"]["checkpoint"], base64.b64decode(receipt["checkpoint"]["signature"]))
    if not verify_signature(load_public_key(public_key_pem), signed.message, signed.signature):
        problems.append("the checkpoint signature is not valid for this public key")
    log_path = [bytes.fromhex(p) for p in receipt["log_path"] or []]
    if not merkle.verify_inclusion(
        entry["index"],
        signed.body["tree_size"],
        records.entry_leaf(entry_bytes),
        log_path,
        bytes.fromhex(signed.body["root"]),
    ):
        problems.append("the log entry is not in the signed checkpoint's tree")
    return problems


# Sent values the leaf record holds in another form (docs/integrity.md section 1).
_TIMESTAMPS = ("occurred_at",)
_JSON_TEXT = ("features", "explanation", "metrics", "details")


def sent_values_differ(record: dict[str, Any], sent: dict[str, Any]) -> list[str]:
    """Names of the sent fields whose value is not the record's. Fields the record does
    not hold as sent are skipped: subject_ref (stored as a pseudonym) and personal_data
    (stored as ciphertext)."""
    from datetime import datetime  # noqa: PLC0415

    from mlaudit.codec import canonical_json, format_timestamp  # noqa: PLC0415

    differ = []
    for name, value in sent.items():
        if name in ("subject_ref", "personal_data") or name not in record:
            continue
        stored = record[name]
        if name in _TIMESTAMPS and isinstance(value, str):
            value = format_timestamp(datetime.fromisoformat(value.replace("Z", "+00:00")))
        elif name in _JSON_TEXT and value is not None:
            value = canonical_json(value)
        elif isinstance(stored, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if value != stored:
            differ.append(name)
    return differ


def check_consistency(proof: dict[str, Any], older: dict[str, Any], newer: dict[str, Any]) -> bool:
    """Does ``proof`` show checkpoint ``older`` (body) is a prefix of ``newer`` (body)?"""
    return merkle.verify_consistency(
        older["tree_size"],
        newer["tree_size"],
        bytes.fromhex(older["root"]),
        bytes.fromhex(newer["root"]),
        [bytes.fromhex(p) for p in proof["path"]],
    )
