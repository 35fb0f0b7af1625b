"""Tamper evidence: Merkle trees over the leaf hashes (`mlaudit.leaf`), file manifests,
the append-only log of file roots, signed checkpoints, proofs and an offline verifier.
The scheme is specified in docs/integrity.md.

Three layers; an import only runs down (primitives <- services <- verifier), and
tests/unit/test_import_cycles.py fails on one that runs up:

- `primitives`: the scheme's building blocks, with no policy of their own. `merkle`
  (RFC 9162 trees and proofs), `records` (every object's format and key), `signing`
  (signatures made with KMS or a local key, checked with a public key), `store` (the
  bucket as a protocol) and `tiles` (the log tree's nodes, read and written over a `Store`).
- `services`: what the functions run over a `Store` and a `Signer`. `log` (appending file
  roots), `sink` (the writer's manifest then log entry), `seals` (ingest's seals, made and
  checked), `witness`, `checkpoint` (the signer) and `proofs` (receipts and consistency,
  and `check_receipt` for clients).
- `verifier`: the offline verifier (`checks`, its command `mlaudit-verify`, and what only it
  needs: `spill`, `versions`). No function runs it, so the functions' asset leaves it out
  (`stacks.functions.ASSET_EXCLUDES`); `pip install .` installs it with the CLI.
"""
