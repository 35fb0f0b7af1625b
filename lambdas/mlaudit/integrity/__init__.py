"""Tamper evidence: Merkle trees over the leaf hashes (`mlaudit.leaf`), file manifests,
the append-only log of file roots, signed checkpoints, proofs and an offline verifier.

Pure logic (merkle, records) is kept apart from what reads and writes the bucket
(sink, log, checkpoint, proofs, verifier, over a `store.Store`) and from the KMS
signer (signing), so each can be tested on its own. The scheme is specified in
docs/integrity.md.
"""
