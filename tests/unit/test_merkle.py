"""Merkle code against published RFC 6962 values and the committed vectors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlaudit.integrity.primitives import merkle

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "merkle.json").read_text())
CT_ROOTS = [  # certificate-transparency / transparency-dev reference tree heads, sizes 1..8
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
LEAVES = [bytes.fromhex(leaf["leaf_hash"]) for leaf in VECTORS["leaves"]]
h = bytes.fromhex


def test_leaf_hashes_match_the_vectors():
    for leaf in VECTORS["leaves"]:
        assert merkle.leaf_hash(h(leaf["data"])).hex() == leaf["leaf_hash"]


def test_roots_match_the_published_rfc6962_tree_heads():
    # Given the CT reference entries, the roots are the ones every CT log agrees on
    assert merkle.root([]).hex() == VECTORS["empty_root"] == merkle.EMPTY_ROOT.hex()
    assert [merkle.root(LEAVES[:n]).hex() for n in range(1, 9)] == CT_ROOTS
    assert VECTORS["roots"][:8] == CT_ROOTS


def test_roots_match_the_vectors_for_every_size():
    for n, want in enumerate(VECTORS["roots"], start=1):
        assert merkle.root(LEAVES[:n]).hex() == want
        assert merkle.Tree(LEAVES[:n]).root.hex() == want


def test_published_ct_proofs():
    tree = merkle.Tree(LEAVES[:8])
    assert [p.hex() for p in tree.inclusion_proof(5)] == [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]
    assert [p.hex() for p in tree.consistency_proof(6)] == [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]


@pytest.mark.parametrize("case", VECTORS["inclusion"], ids=lambda c: f"{c['index']}of{c['size']}")
def test_inclusion_vectors(case):
    index, size, path = case["index"], case["size"], [h(p) for p in case["path"]]
    assert merkle.Tree(LEAVES[:size]).inclusion_proof(index) == path
    assert merkle.verify_inclusion(index, size, LEAVES[index], path, h(VECTORS["roots"][size - 1]))


@pytest.mark.parametrize("case", VECTORS["consistency"], ids=lambda c: f"{c['first']}to{c['second']}")
def test_consistency_vectors(case):
    first, second, path = case["first"], case["second"], [h(p) for p in case["path"]]
    assert merkle.Tree(LEAVES[:second]).consistency_proof(first) == path
    assert merkle.verify_consistency(
        first, second, h(VECTORS["roots"][first - 1]), h(VECTORS["roots"][second - 1]), path
    )


def test_bad_arguments_are_rejected_not_guessed():
    tree = merkle.Tree(LEAVES[:5])
    with pytest.raises(ValueError):
        tree.inclusion_proof(5)
    with pytest.raises(ValueError):
        tree.consistency_proof(0)
    with pytest.raises(ValueError):
        tree.consistency_proof(6)
    assert not merkle.verify_inclusion(5, 5, LEAVES[0], [], tree.root)
    assert not merkle.verify_consistency(0, 5, merkle.EMPTY_ROOT, tree.root, [])
    assert not merkle.verify_consistency(6, 5, tree.root, tree.root, [])

