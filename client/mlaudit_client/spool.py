"""Where emitted events wait to be sent: an append-only file spool, or memory.

Disk layout (one directory, `spool_dir`):

    lane-<created>-<pid>-<random>/   one per running Auditor, flock'ed by it while it lives
        lock                         the flock
        seg-000000000001.log         events, one JSON line each; an empty line seals a batch region
        acked                        "<segment> <offset>": everything before it was sent or rejected

Exactly once on replay rests on the batch boundaries being on disk before the first
send: the worker writes the empty line (the seal) before it reads a region, and a
region is cut into requests greedily (at most 500 events and 1 MB each), which depends
on the bytes only. A replay from `acked` therefore resends byte-identical requests,
which the server answers from its idempotency record without storing anything twice.

A lane nobody holds (its process exited or was killed) is adopted by the next Auditor
that starts on the same directory: sent first, in order, then deleted.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SEAL = b"\n"  # an empty line
BODY_HEAD, BODY_TAIL = b'{"events":[', b"]}"


@dataclass
class Batch:
    """One request: its event lines, and where the spool resumes once it is sent."""

    lines: list[bytes]
    resume: tuple[int, int] = (0, 0)  # (segment, offset) after the batch, seals included
    nbytes: int = 0  # spool bytes it frees
    refused: list[tuple[dict[str, Any], str]] = field(default_factory=list)  # memory mode: failed encoding
    at: tuple[str, int] | None = None  # (lane id, position): where it starts, the same on a replay

    def body(self) -> bytes:
        return BODY_HEAD + b",".join(self.lines) + BODY_TAIL


def greedy_batch(data: bytes, start: int, max_events: int, max_body: int) -> tuple[list[bytes], int]:
    """Lines from `data[start:]` up to a seal or a limit; returns them and where the next
    batch starts (past the seal when one ended the batch). Only the bytes decide."""
    lines: list[bytes] = []
    size = len(BODY_HEAD) + len(BODY_TAIL)
    i = start
    while True:
        j = data.find(b"\n", i)
        if j < 0:
            return lines, i  # the rest is not a whole line (the chunk ends)
        if j == i:  # a seal
            i = j + 1
            if lines:
                return lines, i
            continue
        line = data[i:j]
        if lines and (len(lines) == max_events or size + len(line) + 1 > max_body):
            return lines, i
        lines.append(line)
        size += len(line) + 1
        i = j + 1


class Lane:
    """One directory of segments, held with an exclusive flock while used."""

    def __init__(self, path: Path, lock_fd: int) -> None:
        self.path = path
        self.lock_fd = lock_fd

    @classmethod
    def create(cls, root: Path) -> Lane:
        path = root / f"lane-{time.time_ns():020d}-{os.getpid()}-{os.urandom(4).hex()}"
        path.mkdir(mode=0o700)
        lane = cls._lock(path)
        assert lane is not None, "a new lane is ours"
        return lane

    @classmethod
    def adopt_free(cls, root: Path) -> list[Lane]:
        """Every lane no live process holds, oldest first."""
        lanes = []
        for path in sorted(root.glob("lane-*")):
            lane = cls._lock(path)
            if lane is not None:
                lanes.append(lane)
        return lanes

    @classmethod
    def _lock(cls, path: Path) -> Lane | None:
        try:
            fd = os.open(path / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return None  # removed meanwhile by the process that drained it
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None
        return cls(path, fd)

    def segments(self) -> list[int]:
        return sorted(int(p.name[4:-4]) for p in self.path.glob("seg-*.log"))

    def segment_path(self, number: int) -> Path:
        return self.path / f"seg-{number:012d}.log"

    def read_acked(self) -> tuple[int, int]:
        try:
            segment, offset = (self.path / "acked").read_text().split()
            return int(segment), int(offset)
        except (OSError, ValueError):
            segments = self.segments()
            return (segments[0] if segments else 1), 0

    def write_acked(self, position: tuple[int, int]) -> None:
        tmp = self.path / "acked.tmp"
        tmp.write_text(f"{position[0]} {position[1]}\n")
        os.replace(tmp, self.path / "acked")

    def seal_leftovers(self) -> None:
        """After a crash: drop a torn last line (its emit never returned) and seal what is left."""
        for number in self.segments():
            path = self.segment_path(number)
            with path.open("r+b") as f:
                data = f.read()
                if data and not data.endswith(b"\n"):
                    data = data[: data.rfind(b"\n") + 1]
                    f.truncate(len(data))
                if data and not data.endswith(b"\n\n") and data != b"\n":
                    f.seek(len(data))
                    f.write(SEAL)

    def remove(self) -> None:
        for path in self.path.iterdir():
            with contextlib.suppress(OSError):
                path.unlink()
        with contextlib.suppress(OSError):
            self.path.rmdir()
        self.release()

    def release(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.lock_fd)


class LaneReader:
    """Reads sealed regions of a lane as batches, from its `acked` position on."""

    def __init__(self, lane: Lane, max_events: int, max_body: int, max_line: int) -> None:
        self.lane = lane
        self.max_events = max_events
        self.max_body = max_body
        self.chunk = max_body + max_line + 2
        self.position = lane.read_acked()

    def next_batch(self, limit: tuple[int, int] | None) -> Batch | None:
        """The next batch before `limit` (None: the whole lane is sealed)."""
        while True:
            segment, offset = self.position
            if limit is not None and self.position >= limit:
                return None
            path = self.lane.segment_path(segment)
            try:
                with path.open("rb") as f:
                    f.seek(offset)
                    end = limit[1] if limit is not None and segment == limit[0] else None
                    data = f.read(self.chunk if end is None else min(self.chunk, end - offset))
            except FileNotFoundError:
                data = b""
            if not data:  # this segment is finished: on to the next one, if any
                later = [n for n in self.lane.segments() if n > segment]
                if not later:
                    return None
                self._advance((later[0], 0))
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                continue
            lines, used = greedy_batch(data, 0, self.max_events, self.max_body)
            if not lines:
                if used == 0:
                    return None  # not a whole line yet (cannot happen below a seal)
                self._advance((segment, offset + used))  # only seals
                continue
            # Its position: where its reading began (segment, offset), as one increasing number.
            return Batch(lines, (segment, offset + used), used, at=(self.lane.path.name, segment << 32 | offset))

    def ack(self, batch: Batch) -> None:
        self._advance(batch.resume)

    def _advance(self, position: tuple[int, int]) -> None:
        self.position = position
        self.lane.write_acked(position)

    def count_events(self) -> int:
        """Unsent events in the lane (for stats, when a lane is adopted)."""
        count = 0
        segment, offset = self.position
        for number in self.lane.segments():
            if number < segment:
                continue
            data = self.lane.segment_path(number).read_bytes()[offset if number == segment else 0:]
            count += data.count(b"\n") - data.count(b"\n\n") - data.startswith(b"\n")
        return count


class DiskSpool:
    """The caller's side appends; the worker seals and reads. `append` and `seal` run
    under the Auditor's lock; the reading side is the worker's alone."""

    def __init__(self, root: Path, *, fsync: bool, max_events: int, max_body: int, max_line: int,
                 segment_bytes: int = 16 << 20) -> None:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.root = root
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        self.limits = (max_events, max_body, max_line)
        self.orphans = [LaneReader(lane, *self.limits) for lane in Lane.adopt_free(root)]
        for reader in self.orphans:
            reader.lane.seal_leftovers()
        self.lane = Lane.create(root)
        self.reader = LaneReader(self.lane, *self.limits)
        self._segment = 1
        self._fd = self._open_segment(1)
        self._size = 0
        self.sealed_at = (1, 0)  # what the worker may read up to
        self.unsent_bytes = 0

    def _open_segment(self, number: int) -> int:
        fd = os.open(self.lane.segment_path(number), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        if self.fsync:
            _fsync_dir(self.lane.path)
        return fd

    def append(self, line: bytes) -> None:
        os.write(self._fd, line)  # unbuffered: in the OS's hands when emit returns
        self._size += len(line)
        self.unsent_bytes += len(line)

    def seal(self) -> None:
        """Close the region emitted so far (the worker then reads it)."""
        if self._size > self.sealed_at[1]:
            os.write(self._fd, SEAL)
            self._size += 1
            self.sealed_at = (self._segment, self._size)
        if self._size >= self.segment_bytes:
            if self.fsync:
                os.fsync(self._fd)  # once per segment (16 MB) under the lock; `sync` does the rest
            os.close(self._fd)
            self._segment += 1
            self._fd = self._open_segment(self._segment)
            self._size = 0
            self.sealed_at = (self._segment, 0)

    def sync(self) -> None:
        """durability="fsync": the worker syncs what it sealed, outside the Auditor's lock
        (only the worker seals and rotates, so the descriptor is still this segment's)."""
        if self.fsync:
            os.fsync(self._fd)

    def next_batch(self) -> tuple[LaneReader, Batch] | None:
        """Adopted lanes first (they are older), then this process's own."""
        while self.orphans:
            reader = self.orphans[0]
            batch = reader.next_batch(None)
            if batch is not None:
                return reader, batch
            reader.lane.remove()
            self.orphans.pop(0)
        batch = self.reader.next_batch(self.sealed_at)
        return (self.reader, batch) if batch is not None else None

    def ack(self, reader: LaneReader, batch: Batch) -> None:
        reader.ack(batch)

    def freed(self, reader: LaneReader, batch: Batch) -> None:
        """Under the Auditor's lock, after `ack`: room for new events (adopted lanes do not count)."""
        if reader is self.reader:
            self.unsent_bytes -= batch.nbytes

    def close(self) -> bool:
        """Release the lane; remove it when everything in it was sent. True when it was."""
        os.close(self._fd)
        empty = self.reader.next_batch(None) is None and not self.orphans
        for reader in self.orphans:
            reader.lane.release()
        if empty:
            self.lane.remove()
        else:
            self.lane.release()
        return empty

    def forget_after_fork(self) -> None:
        """In a forked child: the lane and its lock stay the parent's (closing our copies
        of the descriptors keeps the parent's flock)."""
        for fd in (self._fd, self.lane.lock_fd, *(r.lane.lock_fd for r in self.orphans)):
            with contextlib.suppress(OSError):
                os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class MemorySpool:
    """Events as dicts in memory (durability="memory"): encoded by the worker, lost on a crash."""

    def __init__(self, encode: Callable[[dict[str, Any]], bytes | str], max_events: int, max_body: int) -> None:
        self.encode = encode
        self.max_events = max_events
        self.max_body = max_body
        self.open: list[dict[str, Any]] = []
        self.sealed: deque[list[dict[str, Any]]] = deque()
        self.ready: deque[Batch] = deque()
        self.unsent = 0  # events held
        self._new_lane()

    def _new_lane(self) -> None:
        self.lane = f"mem-{time.time_ns():020d}-{os.getpid()}-{os.urandom(4).hex()}"
        self.batches = 0  # the position of the next batch in the lane

    def append(self, event: dict[str, Any]) -> None:
        self.open.append(event)
        self.unsent += 1

    def seal(self) -> None:
        if self.open:
            self.sealed.append(self.open)
            self.open = []

    def sync(self) -> None:
        pass  # nothing on disk

    def next_batch(self) -> tuple[None, Batch] | None:
        if not self.ready and self.sealed:
            self._prepare(self.sealed.popleft())
        return (None, self.ready[0]) if self.ready else None

    def _prepare(self, events: list[dict[str, Any]]) -> None:
        refused: list[tuple[dict[str, Any], str]] = []
        data = bytearray()
        for event in events:
            line = self.encode(event)
            if isinstance(line, str):
                refused.append((event, line))
            else:
                data += line
        data += SEAL
        whole, start = bytes(data), 0
        while True:
            lines, start = greedy_batch(whole, start, self.max_events, self.max_body)
            if not lines and not refused:
                return
            self.ready.append(Batch(lines, nbytes=len(lines), refused=refused, at=(self.lane, self.batches)))
            self.batches += 1
            refused = []
            if not lines:
                return

    def ack(self, reader: None, batch: Batch) -> None:
        self.ready.popleft()

    def freed(self, reader: None, batch: Batch) -> None:
        self.unsent -= len(batch.lines) + len(batch.refused)

    def close(self) -> bool:
        return not (self.open or self.sealed or self.ready)

    def forget_after_fork(self) -> None:
        self.open, self.sealed, self.ready, self.unsent = [], deque(), deque(), 0
        # A lane of its own: the parent goes on at the same positions in its lane, and the
        # server refuses other events at a position it stored (409 idempotency_conflict).
        self._new_lane()
