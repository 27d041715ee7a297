"""Every error leaves in OpenAI's shape (Anthropic's on the Anthropic routes), with the right status; never a
traceback."""

from __future__ import annotations

import logging

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ..errors import AccordError
from . import anthropic_shape

log = logging.getLogger("accord.gateway")

_HTTP_TYPES = {404: "not_found_error", 405: "invalid_request_error"}


def error_response(status: int, message: str, type: str, code: str | None = None, param: str | None = None,
                   headers: dict | None = None, *, anthropic: bool = False, upstream_status: int | None = None
                   ) -> Response:
    if anthropic:
        status, raw = anthropic_shape.error_body(status, message, upstream_status)
        return Response(raw, status_code=status, media_type="application/json", headers=headers)
    body = {"error": {"message": message, "type": type, "param": param, "code": code}}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def from_accord(e: AccordError, anthropic: bool = False) -> Response:
    headers: dict[str, str] = {}
    ra = e.retry_after
    if e.status == 429 and ra is not None:
        headers["retry-after"] = str(int(ra + 0.999))
    if e.status == 401:
        headers["www-authenticate"] = "Bearer"
    if e.attempts is not None:  # the router gave up: how many upstream attempts it made, as a success says
        headers["x-accord-attempts"] = str(e.attempts)
    return error_response(e.status, e.message, e.type, e.code, e.param, headers or None, anthropic=anthropic,
                          upstream_status=getattr(e, "upstream_status", None))


async def on_accord_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AccordError)
    return from_accord(exc, anthropic_shape.is_anthropic(request.url.path))


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        msg = f"no route {request.method} {request.url.path}; see GET /v1/models and POST /v1/chat/completions"
    elif exc.status_code == 405:
        msg = f"{request.method} is not allowed on {request.url.path}"
    else:
        msg = str(exc.detail)
    return error_response(exc.status_code, msg, _HTTP_TYPES.get(exc.status_code, "invalid_request_error"),
                          headers=getattr(exc, "headers", None), anthropic=anthropic_shape.is_anthropic(request.url.path))


async def on_unexpected(request: Request, exc: Exception) -> Response:
    log.error("internal error on %s %s: %s", request.method, request.url.path, exc.__class__.__name__,
              exc_info=log.isEnabledFor(logging.DEBUG))
    return error_response(500, "internal error in Accord; the server log has the details", "api_error",
                          "internal_error", anthropic=anthropic_shape.is_anthropic(request.url.path))


HANDLERS = {AccordError: on_accord_error, HTTPException: on_http_error, Exception: on_unexpected}
