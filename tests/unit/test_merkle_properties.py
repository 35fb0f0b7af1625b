"""Property tests: proofs verify for every tree shape and fail after any bit flip."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st
from mlaudit.integrity.primitives import merkle


def leaves(n: int) -> list[bytes]:
    return [hashlib.sha256(b"\x00" + i.to_bytes(4, "big")).digest() for i in range(n)]


def flip(value: bytes, bit: int) -> bytes:
    bit %= len(value) * 8
    out = bytearray(value)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@st.composite
def inclusion_cases(draw):
    size = draw(st.integers(1, 300))
    return size, draw(st.integers(0, size - 1))


@st.composite
def consistency_cases(draw):
    second = draw(st.integers(1, 300))
    return draw(st.integers(1, second)), second


@settings(max_examples=300, deadline=None)
@given(inclusion_cases(), st.integers(0, 10_000), st.data())
def test_inclusion_proofs_verify_and_any_bit_flip_breaks_them(case, bit, data):
    size, index = case
    tree = merkle.Tree(leaves(size))
    leaf, path, root = tree.levels[0][index], tree.inclusion_proof(index), tree.root
    # Given a correct proof, it verifies
    assert merkle.verify_inclusion(index, size, leaf, path, root)
    # When one bit flips in the leaf, the root or one path element, it no longer does
    assert not merkle.verify_inclusion(index, size, flip(leaf, bit), path, root)
    assert not merkle.verify_inclusion(index, size, leaf, path, flip(root, bit))
    if path:
        i = data.draw(st.integers(0, len(path) - 1))
        bad = path[:i] + [flip(path[i], bit)] + path[i + 1 :]
        assert not merkle.verify_inclusion(index, size, leaf, bad, root)
        # a shortened path is no proof either
        assert not merkle.verify_inclusion(index, size, leaf, path[:-1], root)
    # and an extra element is rejected
    assert not merkle.verify_inclusion(index, size, leaf, path + [root], root)


@settings(max_examples=300, deadline=None)
@given(consistency_cases(), st.integers(0, 10_000), st.data())
def test_consistency_proofs_verify_and_any_bit_flip_breaks_them(case, bit, data):
    first, second = case
    all_leaves = leaves(second)
    tree = merkle.Tree(all_leaves)
    old, new = merkle.root(all_leaves[:first]), tree.root
    path = tree.consistency_proof(first)
    assert merkle.verify_consistency(first, second, old, new, path)
    assert not merkle.verify_consistency(first, second, flip(old, bit), new, path)
    assert not merkle.verify_consistency(first, second, old, flip(new, bit), path)
    if path:
        i = data.draw(st.integers(0, len(path) - 1))
        bad = path[:i] + [flip(path[i], bit)] + path[i + 1 :]
        assert not merkle.verify_consistency(first, second, old, new, bad)
        assert not merkle.verify_consistency(first, second, old, new, path[:-1])
    assert not merkle.verify_consistency(first, second, old, new, path + [new])


@settings(max_examples=100, deadline=None)
@given(consistency_cases())
def test_a_rewritten_history_is_not_consistent(case):
    # Given a log of size `second` whose entry 0 was swapped after `first` was signed
    first, second = case
    honest = leaves(second)
    forged = [hashlib.sha256(b"forged").digest()] + honest[1:]
    tree = merkle.Tree(forged)
    proof = tree.consistency_proof(first)
    assert not merkle.verify_consistency(first, second, merkle.root(honest[:first]), tree.root, proof)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 300))
def test_tree_root_equals_recursive_definition(size):
    def mth(d):
        if len(d) == 1:
            return d[0]
        k = 1 << ((len(d) - 1).bit_length() - 1)
        return merkle.node_hash(mth(d[:k]), mth(d[k:]))

    assert merkle.root(leaves(size)) == mth(leaves(size))


@settings(max_examples=100, deadline=None)
@given(consistency_cases())
def test_prefix_roots_from_the_full_tree_equal_roots_of_the_prefix(case):
    size, total = case
    all_leaves = leaves(total)
    assert merkle.Tree(all_leaves).root_at(size) == merkle.root(all_leaves[:size])
