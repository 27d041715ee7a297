"""Who is calling: the master key (compared in constant time), a virtual key, or nobody on an open loopback.

Shared by every HTTP front-end (the gateway's routes, /mcp): they read the same `Authorization` header against
the same master key and store, set on the app's state by the composition root (accord.app). Each front-end
shapes the refusal (an AccordError) into its own reply.
"""

from __future__ import annotations

import hmac
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from starlette.requests import Request

from .errors import AuthError, PermissionDenied

if TYPE_CHECKING:
    from .store.keys import KeyInfo

VIRTUAL_PREFIX = "sk-acc-"
HOW_TO_TURN_ON = ("set a master key (settings.master_key in accord.yaml, or ACCORD_MASTER_KEY in the environment "
                  "or env file), restart `accord serve`, and send it as `Authorization: Bearer <master key>`")
NO_KEY = "no API key: send `Authorization: Bearer <key>` (or `x-api-key`)"


def presented_key(request: Request) -> str | None:
    """The key a client sent, in whichever header its SDK uses (OpenAI's bearer, Anthropic's, Azure's)."""
    h = request.headers
    auth = h.get("authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return auth.strip() or None
    return h.get("x-api-key") or h.get("api-key") or None


def is_master(master: str | None, key: str) -> bool:
    """Constant time, so how long a wrong key takes says nothing about how much of it was right."""
    return master is not None and hmac.compare_digest(key.encode(), master.encode())


def admin(request: Request, off: str) -> None:
    """Admin routes and /mcp: the master key only; without one configured, refused with `off` + how to turn
    them on (an open loopback server must not hand out keys or run tools for whoever can reach it)."""
    if request.app.state.master_key is None:
        raise PermissionDenied(off + HOW_TO_TURN_ON, code="master_key_required")
    check(request)


def check(request: Request) -> None:
    """The master key, or nothing at all when none is set (loopback only): /health."""
    master: str | None = request.app.state.master_key
    if master is None:
        return
    key = presented_key(request)
    if key is None:
        raise AuthError(NO_KEY, code="missing_api_key")
    if not is_master(master, key):
        if key.startswith(VIRTUAL_PREFIX):
            raise PermissionDenied("this route needs the master key; virtual keys cannot use it",
                                   code="admin_only")
        raise AuthError("invalid API key")


async def caller(request: Request) -> KeyInfo | None:
    """Model routes: returns the virtual key in use (None for the master key or an open server)."""
    key = presented_key(request)
    master: str | None = request.app.state.master_key
    if key is None:
        if master is None:
            return None
        raise AuthError(NO_KEY, code="missing_api_key")
    if is_master(master, key):
        return None
    if not key.startswith(VIRTUAL_PREFIX):
        if master is None:
            return None  # no auth configured: SDKs insist on sending some key
        raise AuthError("invalid API key")
    info = await request.app.state.store.key(key)
    if info is None:
        raise AuthError("invalid API key")
    if info.revoked_at is not None:
        raise AuthError(f"key `{info.name or info.prefix}` was revoked", code="key_revoked")
    if info.expires_at is not None and info.expires_at <= datetime.now(timezone.utc):
        raise AuthError(f"key `{info.name or info.prefix}` expired at {info.expires_at.isoformat(timespec='seconds')}",
                        code="key_expired")
    return info
