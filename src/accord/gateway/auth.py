"""Who is calling. The master key, compared in constant time; virtual keys plug in here later."""

from __future__ import annotations

import hmac

from starlette.requests import Request

from ..errors import AuthError


def presented_key(request: Request) -> str | None:
    h = request.headers
    auth = h.get("authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return auth.strip() or None
    return h.get("x-api-key") or h.get("api-key") or None


def check(request: Request) -> None:
    """Raise AuthError unless the request carries the master key (no key set: loopback-only, open)."""
    master: str | None = request.app.state.master_key
    if master is None:
        return
    key = presented_key(request)
    if key is None:
        raise AuthError("no API key: send `Authorization: Bearer <key>` (or `x-api-key`)", code="missing_api_key")
    if not hmac.compare_digest(key.encode(), master.encode()):
        raise AuthError("invalid API key")
