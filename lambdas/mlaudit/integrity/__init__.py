"""Tamper evidence: leaf hashes, Merkle trees, file manifests, the append-only log of
file roots, signed checkpoints, proofs and an offline verifier.

Pure logic (merkle, leaf, manifest, records, checkpoint formats) is kept apart from
the S3/DynamoDB/KMS adapters (store, kms) so each can be tested on its own.
The scheme is specified in docs/integrity.md.
"""
