"""Request parsing: a POST /v1/events body -> events under the contract, or a domain
error naming each bad field (never its value).

A valid body takes the fast path (`ingest.decode`, msgspec, no pydantic); one it does
not accept goes to the full path (`ingest.validation`, pydantic), which lists every
problem or, where the fast path was only unsure, accepts it."""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from datetime import timedelta

from mlaudit.contract import Event
from mlaudit.env import Env
from mlaudit.errors import Invalid, TooLarge, UnsupportedMediaType
from mlaudit.ingest.decode import decode_events


@dataclass(frozen=True)
class IngestLimits:
    max_batch_events: int = 500
    max_body_bytes: int = 1_000_000
    max_message_bytes: int = 240_000
    clock_skew: timedelta = timedelta(seconds=300)
    idempotency_ttl: timedelta = timedelta(days=1)
    # A claim younger than this may still be in flight (the function's timeout).
    in_flight: timedelta = timedelta(seconds=15)

    @classmethod
    def from_env(cls, env: dict[str, str] | os._Environ[str] = os.environ) -> IngestLimits:
        return cls(
            max_batch_events=int(env[Env.MAX_BATCH_EVENTS]),
            max_body_bytes=int(env[Env.MAX_BODY_BYTES]),
            max_message_bytes=int(env[Env.MAX_MESSAGE_BYTES]),
            clock_skew=timedelta(seconds=int(env[Env.CLOCK_SKEW_SECONDS])),
            idempotency_ttl=timedelta(seconds=int(env[Env.IDEMPOTENCY_TTL_SECONDS])),
            in_flight=timedelta(seconds=int(env[Env.INGEST_TIMEOUT_SECONDS])),
        )


GZIP_MAGIC = b"\x1f\x8b"


def check_content_type(content_type: str | None) -> None:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType("unsupported_media_type", "Content-Type must be application/json.")


def decode_body(body: bytes, content_encoding: str | None, max_bytes: int) -> bytes:
    """The body as sent (no Content-Encoding, or `identity`) or gunzipped (`gzip`), at most
    `max_bytes` either way (else 413); any other encoding is 415, a body that is not the
    gzip it claims 400.

    API Gateway decodes gzip and deflate itself before the function runs and passes the
    Content-Encoding header on unchanged (mlaudit.api_gateway): a body that does not start
    with gzip's magic bytes was decoded already (no JSON text starts with them), and is
    taken as it is."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding not in ("identity", "gzip", "deflate"):
        raise UnsupportedMediaType("unsupported_media_type",
                                   "Content-Encoding must be gzip, deflate, identity or absent.")
    if len(body) > max_bytes:
        raise TooLarge("payload_too_large", f"Request body is larger than {max_bytes} bytes.")
    if encoding != "gzip" or not body.startswith(GZIP_MAGIC):
        return body
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip framing
    try:
        out = inflater.decompress(body, max_bytes + 1)
    except zlib.error:
        raise Invalid("malformed_body", "Request body is not valid gzip.") from None
    if len(out) > max_bytes:
        raise TooLarge("payload_too_large", f"Request body is larger than {max_bytes} bytes once inflated.")
    if not inflater.eof or inflater.unused_data:
        raise Invalid("malformed_body", "Request body is not one complete gzip member.")
    return out


def parse_events(body: bytes, limits: IngestLimits) -> list[Event]:
    """One event object or {"events": [...]}; a 4xx naming each bad field otherwise."""
    if len(body) > limits.max_body_bytes:
        raise TooLarge("payload_too_large", f"Request body is larger than {limits.max_body_bytes} bytes.")
    events = decode_events(body)  # the fast path: a valid body, in one pass
    if events is None:
        from mlaudit.ingest import validation  # noqa: PLC0415 - pydantic: only when the fast path refuses

        events = validation.validate(body)  # every problem listed, or the events
    if len(events) > limits.max_batch_events:
        raise TooLarge(
            "batch_too_large",
            f"A request carries at most {limits.max_batch_events} events; this one has {len(events)}.",
            [{"path": "events", "rule": "max_items", "message": f"at most {limits.max_batch_events} events"}],
        )
    return events
