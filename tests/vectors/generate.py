"""Regenerate tests/vectors/merkle.json (and leaf_v1.json) from the implementation.

Run only when the scheme changes on purpose: the committed files are the contract
outsiders check their own verifiers against. The first eight leaves are the
Certificate Transparency reference entries, so the roots for sizes 1..8 are the
published RFC 6962 ones.

    PYTHONPATH=lambdas:. python tests/vectors/generate.py
"""

from __future__ import annotations

import json
from pathlib import Path

from mlaudit.integrity.primitives import merkle

HERE = Path(__file__).parent
CT_ENTRIES = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]
SIZE = 33


def entries() -> list[bytes]:
    extra = [f"mlaudit vector entry {i}".encode() for i in range(len(CT_ENTRIES), SIZE)]
    return [bytes.fromhex(e) for e in CT_ENTRIES] + extra


def merkle_vectors() -> dict:
    data = entries()
    leaves = [merkle.leaf_hash(d) for d in data]
    inclusion = []
    for size in (1, 2, 3, 5, 7, 8, 13, 16, 17, 32, 33):
        tree = merkle.Tree(leaves[:size])
        for index in sorted({0, size // 2, size - 1}):
            inclusion.append({"index": index, "size": size, "path": [p.hex() for p in tree.inclusion_proof(index)]})
    consistency = []
    tree = merkle.Tree(leaves)
    for first, second in [
        (1, 1),
        (1, 2),
        (1, 8),
        (2, 5),
        (3, 7),
        (4, 8),
        (6, 8),
        (5, 13),
        (7, 16),
        (8, 17),
        (16, 32),
        (17, 33),
        (31, 33),
        (32, 33),
    ]:
        consistency.append(
            {
                "first": first,
                "second": second,
                "path": [p.hex() for p in tree.consistency_proof(first, second)],
            }
        )
    return {
        "description": "RFC 6962/9162 Merkle tree vectors for mlaudit (docs/integrity.md). "
        "leaf_hash = SHA-256(0x00 || data); node = SHA-256(0x01 || left || right); "
        "roots[i] is the root of the first i+1 leaves; root of the empty tree = SHA-256('').",
        "empty_root": merkle.EMPTY_ROOT.hex(),
        "leaves": [{"data": d.hex(), "leaf_hash": h.hex()} for d, h in zip(data, leaves)],
        "roots": [merkle.root(leaves[:n]).hex() for n in range(1, SIZE + 1)],
        "inclusion": inclusion,
        "consistency": consistency,
    }


def main() -> None:
    (HERE / "merkle.json").write_text(json.dumps(merkle_vectors(), indent=1) + "\n")
    try:
        from tests.vectors.leaf_vectors import leaf_vectors
    except ImportError:
        return
    (HERE / "leaf_v1.json").write_text(json.dumps(leaf_vectors(), indent=1) + "\n")


if __name__ == "__main__":
    main()
