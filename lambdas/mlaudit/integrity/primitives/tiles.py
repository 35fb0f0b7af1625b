"""The log tree's nodes in tiles: how the signer starts cold and the proof API answers,
without reading the whole log (a cache, not evidence: derivable from the log entries).

Tile ``(level, index)`` holds the hashes of the tree's nodes at height ``8 * level``,
indices ``[256 * index, 256 * index + width)``: level 0 holds the log's leaves, level 1 the
root of every 256 leaves, level 2 the root of every 65,536, and so on (the layout of
Certificate Transparency's tiled logs, C2SP tlog-tiles). A full tile (width 256) never
changes; a tree's right edge is a partial tile, named with its width, so every tile is
written once. Any node of a tree of size ``n`` is one tile read plus at most 255 hashes,
and the compact range of ``n`` leaves (the signer's whole state) and the inclusion path of
its last leaf come from the right-edge tiles alone: one tile per 8 levels.

Nothing read here is trusted: the signer checks what it reads against its signed root,
and proofs built from tiles are checked by whoever receives them.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from mlaudit.integrity.primitives import merkle
from mlaudit.integrity.primitives.records import TILES
from mlaudit.integrity.primitives.store import Store

HEIGHT = 8
WIDTH = 1 << HEIGHT
_CACHED_TILES = 64


class TileMissing(LookupError):
    """A tile the tree's size needs is absent or the wrong length."""


def tile_key(level: int, index: int, width: int) -> str:
    suffix = "" if width == WIDTH else f".p{width:03d}"
    return f"{TILES}{level}/{index:012d}{suffix}.bin"


def count_at(size: int, level: int) -> int:
    """Complete nodes at height 8 * level in a tree of ``size`` leaves."""
    return size >> (HEIGHT * level)


def width_at(size: int, level: int, index: int) -> int:
    """The width tile (level, index) has in a tree of ``size`` leaves (0: not begun)."""
    return max(0, min(WIDTH, count_at(size, level) - index * WIDTH))


def right_edge(size: int) -> list[str]:
    """The keys of the tiles holding each level's last node: what a cold start reads."""
    keys, level = [], 0
    while count_at(size, level):
        index = (count_at(size, level) - 1) // WIDTH
        keys.append(tile_key(level, index, width_at(size, level, index)))
        level += 1
    return keys


class TileReader:
    """Nodes of the tree of ``size`` leaves, from its tiles (a few recent tiles cached)."""

    def __init__(self, store: Store, size: int) -> None:
        self.store = store
        self.size = size
        self._tiles: dict[tuple[int, int], list[bytes]] = {}
        self.reads = 0

    def tile(self, level: int, index: int) -> list[bytes]:
        cached = self._tiles.get((level, index))
        if cached is not None:
            return cached
        width = width_at(self.size, level, index)
        if not width:
            raise TileMissing(f"tile {level}/{index} is beyond a tree of {self.size} leaves")
        key = tile_key(level, index, width)
        data = self.store.get(key)
        self.reads += 1
        if data is None or len(data) != width * merkle.HASH_SIZE:
            raise TileMissing(f"{key} is missing or damaged")
        hashes = [data[i:i + merkle.HASH_SIZE] for i in range(0, len(data), merkle.HASH_SIZE)]
        if len(self._tiles) >= _CACHED_TILES:
            self._tiles.pop(next(iter(self._tiles)))
        self._tiles[(level, index)] = hashes
        return hashes

    def node(self, height: int, index: int) -> bytes:
        """The root of the perfect subtree over leaves [index << height, (index + 1) << height)."""
        if (index + 1) << height > self.size:
            raise ValueError(f"node ({height}, {index}) is not complete in a tree of {self.size} leaves")
        level, rest = divmod(height, HEIGHT)
        start = index << rest
        hashes = self.tile(level, start >> HEIGHT)
        offset = start & (WIDTH - 1)
        return merkle.root(hashes[offset:offset + (1 << rest)])

    def compact_range(self) -> merkle.CompactRange:
        return merkle.CompactRange(self.size, [self.node(h, i) for h, i in merkle.decomposition(self.size)])

    def last_leaf(self) -> tuple[bytes, list[bytes]]:
        """Leaf ``size - 1`` and its inclusion path (for checking against a signed root)."""
        last = self.size - 1
        return self.node(0, last), merkle.inclusion_path(last, self.size, self.node)


def extend(store: Store, before: TileReader, leaves: Sequence[bytes]) -> list[str]:
    """Write the tiles of the tree ``before`` grew into by appending ``leaves`` (leaf hashes).
    Reads only ``before``'s right-edge partial tiles (which the caller has checked). Returns
    the keys another object already held with other bytes (damaged tiles; empty normally)."""
    written: list[tuple[str, bytes]] = []
    level, start, new = 0, before.size, list(leaves)
    while new:
        first = start // WIDTH
        done = start - first * WIDTH
        content = (before.tile(level, first)[:done] if done else []) + new
        new = []
        for offset in range(0, len(content), WIDTH):
            chunk = content[offset:offset + WIDTH]
            written.append((tile_key(level, first + offset // WIDTH, len(chunk)), b"".join(chunk)))
            if len(chunk) == WIDTH and offset + WIDTH > done:
                new.append(merkle.root(chunk))  # a node one level up, completed by this run
        level, start = level + 1, start // WIDTH

    def clash(item: tuple[str, bytes]) -> str | None:
        key, body = item
        return None if store.create(key, body) or store.get(key) == body else key

    if len(written) <= 8:  # a run's few tiles; a rebuild writes thousands, in parallel
        return [key for key in map(clash, written) if key]
    with ThreadPoolExecutor(16) as pool:
        return [key for key in pool.map(clash, written) if key]
