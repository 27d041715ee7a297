"""Errors on the Anthropic routes (/v1/messages, /v1/messages/count_tokens) leave in Anthropic's shape,
`{"type": "error", "error": {"type", "message"}}`, with Anthropic's status codes: the anthropic SDK and Claude
Code read the type to decide what to tell the user and whether to retry."""

from __future__ import annotations

import orjson

from ..errors import AccordError

PATHS = frozenset({"/messages", "/messages/count_tokens"})
# https://docs.claude.com/en/api/errors: the status each error type comes with
TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "not_found_error",
         413: "request_too_large", 429: "rate_limit_error", 500: "api_error", 504: "timeout_error",
         529: "overloaded_error"}


def is_anthropic(path: str) -> bool:
    path = path.rstrip("/")
    return (path[3:] if path.startswith("/v1/") else path) in PATHS


def status_and_type(status: int, upstream_status: int | None = None) -> tuple[int, str]:
    """Accord's status -> Anthropic's: an upstream that is overloaded stays 529; the other upstream failures
    (502, 503) are Anthropic's 500 api_error; a client error without a type of its own is invalid_request_error."""
    if upstream_status == 529:
        return 529, "overloaded_error"
    if status in TYPES:
        return status, TYPES[status]
    if status >= 500:
        return (504, "timeout_error") if status == 504 else (500, "api_error")
    return status, "invalid_request_error"


def error_body(status: int, message: str, upstream_status: int | None = None) -> tuple[int, bytes]:
    status, kind = status_and_type(status, upstream_status)
    return status, orjson.dumps({"type": "error", "error": {"type": kind, "message": message}})


def from_accord(e: AccordError) -> tuple[int, bytes]:
    return error_body(e.status, e.message, getattr(e, "upstream_status", None))


def error_event(e: AccordError) -> bytes:
    """An error after the stream began: the documented `error` event, which ends it."""
    return b"event: error\ndata: " + from_accord(e)[1] + b"\n\n"
