"""Ingest: request body -> validated events -> leaf records and hashes -> SQS packs.

All or nothing per request: either every event is valid and enqueued (202), or
nothing is (4xx). Retries are idempotent: the request's key is the sender plus its
event ids; a completed request answers again with its first answer and enqueues
nothing, and one that failed half-way is resent with the same `received_at` and the
same pack ids, so the writer's ledger drops packs it already stored.

- `request`: the body -> events under the contract (and the limits a request must keep);
- `identity`: what the caller's token and connection decide (scopes, event ids,
  the request key, the fields the server stamps on every event);
- `records`: an event -> its leaf record (`mlaudit.leaf`), and the request's fingerprint;
- `service`: the ports (idempotency store, queue, protector) and the services that
  put it together.
"""
