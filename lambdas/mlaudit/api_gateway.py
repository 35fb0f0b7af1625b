"""How API Gateway (REST, Lambda proxy) hands a request body to a function, declared once:
stacks/api.py configures the API with these values, and local/api.py does what API
Gateway does under them.

- No binary media types: no request body is binary to the API, so every body reaches
  the function as text (`isBase64Encoded` false), and each integration says so explicitly
  (`contentHandling` CONVERT_TO_TEXT). A function that returns base64 would have it sent
  to the client as text.
- Compressed requests: API Gateway decompresses a request body whose `Content-Encoding`
  is a coding it supports before the integration sees it (its documented default, no
  setting), and answers 415 when the coding is another one or the body is not what it
  claims. The function gets the decoded body, with the `Content-Encoding` header as the
  client sent it (so a handler must not inflate a body again: mlaudit.ingest.request).
  OpenLineage clients send gzip.
- Responses are never compressed (no `minimumCompressionSize`).
"""

from __future__ import annotations

BINARY_MEDIA_TYPES: tuple[str, ...] = ()
CONTENT_HANDLING = "CONVERT_TO_TEXT"
# Content codings API Gateway decodes in a request (its "supported content codings").
REQUEST_CODINGS = ("gzip", "deflate", "identity")
