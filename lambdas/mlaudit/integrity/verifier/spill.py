"""Sets larger than memory, for the verifier: every file key and every event of a lake.

Records (a 16-byte hash, a one-byte tag, a short payload) go to one of 256 files on disk
by the hash's first byte; afterwards each file is read back alone and grouped by hash. So
"is this key logged twice", "is this listed object in the log" and "is this event stored
twice" cost memory for 1/256 of the records, however large the lake.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections import Counter, defaultdict
from collections.abc import Iterator

BUCKETS = 256
_FLUSH_BYTES = 1 << 16
_HEADER = struct.Struct(">16scH")


def digest16(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:16]


class Spill:
    def __init__(self, directory: str, name: str) -> None:
        self.paths = [os.path.join(directory, f"{name}-{i:03d}.bin") for i in range(BUCKETS)]
        self._buffers: list[bytearray] = [bytearray() for _ in range(BUCKETS)]
        self.count = 0

    def add(self, digest: bytes, tag: bytes, payload: bytes = b"") -> None:
        buffer = self._buffers[digest[0]]
        buffer += _HEADER.pack(digest, tag, len(payload))
        buffer += payload
        self.count += 1
        if len(buffer) >= _FLUSH_BYTES:
            self._flush(digest[0])

    def add_packed(self, chunks: dict[int, bytes], count: int) -> None:
        """Records already packed (`pack_records`), by bucket: a file's events at once."""
        for bucket, chunk in chunks.items():
            self._buffers[bucket] += chunk
            if len(self._buffers[bucket]) >= _FLUSH_BYTES:
                self._flush(bucket)
        self.count += count

    def _flush(self, bucket: int) -> None:
        with open(self.paths[bucket], "ab") as handle:
            handle.write(self._buffers[bucket])
        self._buffers[bucket] = bytearray()

    def groups(self, record_size: int = 0) -> Iterator[dict[bytes, list[tuple[bytes, bytes]]]]:
        """Bucket by bucket: hash -> its (tag, payload) records, in the order added. With
        ``record_size`` (records all that long), only hashes added more than once: the
        common case, no repeat, costs a set of the bucket's hashes."""
        for bucket in range(BUCKETS):
            if self._buffers[bucket]:
                self._flush(bucket)
            if not os.path.exists(self.paths[bucket]):
                continue
            with open(self.paths[bucket], "rb") as handle:
                data = handle.read()
            os.remove(self.paths[bucket])
            repeated: set[bytes] | None = None
            if record_size:
                digests = [data[o:o + 16] for o in range(0, len(data), record_size)]
                if len(set(digests)) == len(digests):
                    continue
                repeated = {d for d, n in Counter(digests).items() if n > 1}
            found: dict[bytes, list[tuple[bytes, bytes]]] = defaultdict(list)
            offset = 0
            while offset < len(data):
                digest, tag, length = _HEADER.unpack_from(data, offset)
                offset += _HEADER.size
                if repeated is None or digest in repeated:
                    found[digest].append((tag, data[offset:offset + length]))
                offset += length
            yield found


def pack_records(digests: list[bytes], tag: bytes, payloads: list[bytes]) -> dict[int, bytes]:
    """Records packed as `Spill.add` packs them, grouped by bucket (a worker's half of adding)."""
    chunks: dict[int, bytearray] = defaultdict(bytearray)
    for digest, payload in zip(digests, payloads, strict=True):
        chunk = chunks[digest[0]]
        chunk += _HEADER.pack(digest, tag, len(payload))
        chunk += payload
    return {bucket: bytes(chunk) for bucket, chunk in chunks.items()}


def record_size(payload_size: int) -> int:
    return _HEADER.size + payload_size
