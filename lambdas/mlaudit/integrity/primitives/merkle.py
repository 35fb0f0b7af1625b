"""RFC 6962 / RFC 9162 Merkle tree hashing, inclusion and consistency proofs.

Inputs are *leaf hashes* (already ``H(0x00 || data)``); interior nodes are
``H(0x01 || left || right)``. The tree for n leaves splits at the largest power of
two smaller than n (RFC 9162 §2.1.1). Building it bottom-up, pairing neighbours and
promoting a lone right-most node unchanged, gives exactly that tree, so one pass
over a list of levels serves roots, inclusion paths and consistency proofs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def _next_level(level: Sequence[bytes]) -> list[bytes]:
    sha = _sha256
    n = len(level)
    up = [sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, n - 1, 2)]
    if n % 2:
        up.append(level[-1])  # promoted, not re-hashed (RFC split, not Bitcoin's)
    return up


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over leaf hashes; the empty tree's root is SHA-256("")."""
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    while len(level) > 1:
        level = _next_level(level)
    return level[0]


class Tree:
    """All levels of one tree: proofs without rehashing (for files and the log)."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.levels: list[list[bytes]] = [list(leaves)]
        while len(self.levels[-1]) > 1:
            self.levels.append(_next_level(self.levels[-1]))

    @property
    def size(self) -> int:
        return len(self.levels[0])

    @property
    def root(self) -> bytes:
        return self.levels[-1][0] if self.size else EMPTY_ROOT

    def root_at(self, size: int) -> bytes:
        """MTH of the first ``size`` leaves in O(log n): fold the perfect subtrees of
        size's binary decomposition right to left (the RFC split, unrolled)."""
        if not 0 <= size <= self.size:
            raise ValueError(f"size {size} outside tree of size {self.size}")
        if size == 0:
            return EMPTY_ROOT
        nodes, start = [], 0
        for height in range(size.bit_length() - 1, -1, -1):
            if size >> height & 1:
                nodes.append(self.levels[height][start >> height])
                start += 1 << height
        result = nodes.pop()
        while nodes:
            result = node_hash(nodes.pop(), result)
        return result

    def inclusion_proof(self, index: int) -> list[bytes]:
        """The audit path of leaf ``index`` (RFC 9162 §2.1.3.1), bottom-up."""
        if not 0 <= index < self.size:
            raise ValueError(f"leaf index {index} outside tree of size {self.size}")
        path = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            index >>= 1
        return path

    def subtree(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for a range that is a node of this tree."""
        size = end - start
        height = max(size - 1, 0).bit_length()  # smallest h with 2**h >= size
        if start % (1 << height) or (size != 1 << height and end != self.size):
            raise ValueError(f"[{start}, {end}) is not a node of a tree of size {self.size}")
        return self.levels[height][start >> height]

    def consistency_proof(self, first: int, second: int | None = None) -> list[bytes]:
        """PROOF(first, D[second]) (RFC 9162 §2.1.4.1); ``second`` defaults to the size."""
        second = self.size if second is None else second
        if not 0 < first <= second <= self.size:
            raise ValueError(f"need 0 < first <= second <= {self.size}, got {first}, {second}")
        if second != self.size:
            return Tree(self.levels[0][:second]).consistency_proof(first)
        return self._subproof(first, 0, second, True)

    def _subproof(self, m: int, start: int, end: int, whole: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if whole else [self.subtree(start, end)]
        k = 1 << ((n - 1).bit_length() - 1)  # largest power of two < n
        if m <= k:
            return self._subproof(m, start, start + k, whole) + [self.subtree(start + k, end)]
        return self._subproof(m - k, start + k, end, False) + [self.subtree(start, start + k)]


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    return Tree(leaves).inclusion_proof(index)


def consistency_proof(leaves: Sequence[bytes], first: int) -> list[bytes]:
    return Tree(leaves).consistency_proof(first)


def root_from_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes | None:
    """The root the path leads to (RFC 9162 §2.1.3.2), or None if the path is malformed."""
    if not 0 <= index < size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0 or len(p) != HASH_SIZE:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes], root_hash: bytes) -> bool:
    return root_from_inclusion(index, size, leaf, path) == root_hash


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, path: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2: is the tree of size ``first`` a prefix of the one of size ``second``?"""
    if not 0 < first <= second:
        return False
    if any(len(p) != HASH_SIZE for p in path):
        return False
    if first == second:
        return not path and first_root == second_root
    path = list(path)
    if first & (first - 1) == 0:  # exact power of two: the old root is a node of the new tree
        path.insert(0, first_root)
    if not path:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root


# -- a tree known only by some of its nodes (RFC 9162 compact ranges, tiles) ----------------


class CompactRange:
    """The Merkle frontier of the first ``size`` leaves: the roots of the perfect subtrees
    of ``size``'s binary decomposition, largest first (at most log2(size) hashes). It is
    all a log needs to append leaves and give its root, so a signer's state is O(log n)
    whatever the log's length."""

    def __init__(self, size: int = 0, nodes: Sequence[bytes] = ()) -> None:
        if len(nodes) != bin(size).count("1"):
            raise ValueError(f"a compact range of {size} leaves has {bin(size).count('1')} nodes, not {len(nodes)}")
        self.size = size
        self.nodes = list(nodes)

    def copy(self) -> CompactRange:
        return CompactRange(self.size, self.nodes)

    def append(self, leaf: bytes) -> None:
        """One leaf hash more: merge the equal-sized subtrees it completes (one per trailing 1 bit)."""
        node, size = leaf, self.size
        while size & 1:
            node = _sha256(b"\x01" + self.nodes.pop() + node).digest()
            size >>= 1
        self.nodes.append(node)
        self.size += 1

    def extend(self, leaves: Sequence[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        """MTH of the first ``size`` leaves: the subtrees folded right to left (the RFC split)."""
        if not self.nodes:
            return EMPTY_ROOT
        result = self.nodes[-1]
        for node in reversed(self.nodes[:-1]):
            result = _sha256(b"\x01" + node + result).digest()
        return result

    def spans(self) -> list[tuple[int, int]]:
        """(height, index) of each node: the node covers leaves [index << height, (index + 1) << height)."""
        found, start = [], 0
        for height in range(self.size.bit_length() - 1, -1, -1):
            if self.size >> height & 1:
                found.append((height, start >> height))
                start += 1 << height
        return found


def decomposition(size: int) -> list[tuple[int, int]]:
    """The perfect subtrees (height, index) whose roots form the compact range of ``size`` leaves."""
    return CompactRange(size, [b""] * bin(size).count("1")).spans()


# node(height, index): the root of the perfect subtree over leaves [index << height, (index+1) << height).
NodeSource = Callable[[int, int], bytes]


def range_root(start: int, end: int, node: NodeSource) -> bytes:
    """MTH(D[start:end]) from perfect-subtree roots, for the ranges RFC 9162's recursion
    meets (``start`` a multiple of the largest power of two below ``end - start``)."""
    size = end - start
    if size <= 0:
        raise ValueError(f"empty range [{start}, {end})")
    if size & (size - 1) == 0 and start % size == 0:
        height = size.bit_length() - 1
        return node(height, start >> height)
    k = 1 << ((size - 1).bit_length() - 1)
    return node_hash(range_root(start, start + k, node), range_root(start + k, end, node))


def inclusion_path(index: int, size: int, node: NodeSource) -> list[bytes]:
    """PATH(index, D[0:size]) (RFC 9162 §2.1.3.1), bottom-up, from subtree roots alone."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} outside tree of size {size}")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = 1 << ((end - start - 1).bit_length() - 1)
        if index < start + k:
            path.append(range_root(start + k, end, node))
            end = start + k
        else:
            path.append(range_root(start, start + k, node))
            start += k
    path.reverse()
    return path


def consistency_path(first: int, second: int, node: NodeSource) -> list[bytes]:
    """PROOF(first, D[0:second]) (RFC 9162 §2.1.4.1) from subtree roots alone."""
    if not 0 < first <= second:
        raise ValueError(f"need 0 < first <= second, got {first}, {second}")

    def subproof(m: int, start: int, end: int, whole: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if whole else [range_root(start, end, node)]
        k = 1 << ((n - 1).bit_length() - 1)
        if m <= k:
            return subproof(m, start, start + k, whole) + [range_root(start + k, end, node)]
        return subproof(m - k, start + k, end, False) + [range_root(start, start + k, node)]

    return subproof(first, 0, second, True)
