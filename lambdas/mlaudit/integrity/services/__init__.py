"""What the functions run to keep the integrity log: appending, sealing, signing, witnessing
and proving. They import `primitives` only, never the `verifier` (see `mlaudit.integrity`)."""
