"""A pack travels the queue deflated (mlaudit.pack.queue_body): the writer gets the pack's
own bytes back, so its id and seal hold; a body sent as it is (before, or by capture) still
reads; one that does not decode fails alone."""

from __future__ import annotations

import pytest
from mlaudit.handlers.writer import to_message
from mlaudit.pack import DEFLATE, ENCODING_ATTRIBUTE, PACK_ID_ATTRIBUTE, from_queue, pack_id_of, queue_body

BODY = ('{"common":{"model_id":"m","sender":"s"},"format":2,"key":"k"}\n'
        + "".join(f'{{"event_id":"e-{i:06d}","leaf_hash":"{i:064x}"}}\n' for i in range(200)))


def record(body: str, encoding: str | None) -> dict:
    attributes = {PACK_ID_ATTRIBUTE: {"stringValue": pack_id_of(BODY)}}
    if encoding:
        attributes[ENCODING_ATTRIBUTE] = {"stringValue": encoding}
    return {"messageId": "m-1", "body": body, "messageAttributes": attributes}


def test_a_deflated_pack_is_its_own_bytes_again_and_much_smaller():
    sent = queue_body(BODY)
    assert sent.isascii() and len(sent) < len(BODY) / 3
    message = to_message(record(sent, DEFLATE))
    assert message.body == BODY and message.pack_id == pack_id_of(message.body)


def test_a_body_sent_as_it_is_still_reads():
    assert to_message(record(BODY, None)).body == BODY


@pytest.mark.parametrize(("body", "encoding"), [("not base64 at all!", DEFLATE), (queue_body(BODY), "brotli"),
                                                ("aGVsbG8=", DEFLATE)])
def test_a_body_that_does_not_decode_fails_alone(body, encoding):
    with pytest.raises(ValueError):
        from_queue(body, encoding)
    message = to_message(record(body, encoding))
    assert message.body == "" and message.pack_id != pack_id_of(message.body)  # writer.bound_to_content fails it
