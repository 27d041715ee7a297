"""Errors carry their own retry facts, and one table says what an upstream's HTTP status becomes."""

from __future__ import annotations

import json

import pytest

from accord.config import parse
from accord.errors import (
    UPSTREAM_STATUS,
    AccordError,
    AuthError,
    BadRequest,
    NotFound,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
    for_status,
)
from accord.providers.base import upstream_error

DEP = parse(json.dumps({"models": [{"name": "claude", "model": "anthropic/claude-sonnet-4-5",
                                    "api_key": "sk-ant-test-secret-key-123456"}]})).deployments[0]


@pytest.mark.parametrize(("status", "client_status", "type_", "code", "retryable"), [
    (400, 400, "invalid_request_error", "upstream_bad_request", False),
    (401, 502, "upstream_error", "upstream_error", True),  # another deployment may hold a good key
    (403, 502, "upstream_error", "upstream_error", True),
    (404, 502, "upstream_error", "upstream_error", True),  # another deployment may serve the model
    (408, 504, "timeout_error", "upstream_timeout", True),
    (413, 413, "invalid_request_error", "request_too_large", False),
    (422, 400, "invalid_request_error", "upstream_bad_request", False),
    (429, 429, "rate_limit_error", "rate_limit_exceeded", True),
    (500, 502, "upstream_error", "upstream_error", True),
    (503, 502, "upstream_error", "upstream_error", True),
    (504, 504, "timeout_error", "upstream_timeout", True),
])
def test_the_status_table_gives_what_the_client_sees_and_whether_to_retry(status, client_status, type_, code,
                                                                          retryable) -> None:
    e = upstream_error(DEP, status, b'{"error": {"message": "nope"}}', {"retry-after": "3"})
    assert isinstance(e, for_status(status)) and type(e) is UPSTREAM_STATUS.get(status, UpstreamError)
    assert (e.status, e.type, e.code, e.retryable) == (client_status, type_, code, retryable)
    assert e.upstream_status == status and e.retry_after == 3.0 and "nope" in e.message


@pytest.mark.parametrize("status", [400, 404, 422])
def test_a_prompt_too_long_is_the_context_error_the_router_falls_back_on(status) -> None:
    e = upstream_error(DEP, status, b'{"error": {"message": "prompt is too long: 300000 tokens"}}')
    assert (e.status, e.code, e.retryable) == (400, "context_length_exceeded", False)


def test_every_error_answers_retryable_and_retry_after_itself() -> None:
    for e in (AccordError("x"), BadRequest("x"), AuthError("x"), NotFound("x"), RateLimited("x")):
        assert e.retryable is False and e.retry_after is None
    assert UpstreamError("x").retryable is True and UpstreamTimeout("x").retryable is True
    assert RateLimited("x", retry_after=4.0).retry_after == 4.0
    assert UpstreamError("x", retryable=False).retryable is False
