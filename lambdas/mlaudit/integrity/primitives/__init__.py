"""The integrity scheme's building blocks: formats, hashes, signatures and the bucket as a
protocol. They import nothing from `services` or `verifier` (see `mlaudit.integrity`)."""
