"""What an upstream's answer becomes when it is not a good one, and the credentials a request carries: shared
by every adapter and by the HTTP layer (http.py) under them, so it sits below both."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from ..errors import AccordError, UpstreamError, for_status

if TYPE_CHECKING:
    from ..config import Deployment

CONTEXT_MARKERS = ("context length", "context_length", "maximum context", "too many tokens", "prompt is too long",
                   "context window", "input is too long", "exceeds the maximum")


def scrub(text: str, dep: Deployment) -> str:
    """Never let a deployment's secrets out (its key, header values, URL credentials), even when a provider or
    a proxy echoes them in an error."""
    for secret in sorted(dep.secrets(), key=len, reverse=True):
        if len(secret) >= 4 and secret in text:
            text = text.replace(secret, "****")
    return text


def upstream_error(dep: Deployment, status: int, raw: bytes, headers: Any = None) -> AccordError:
    """Turn an upstream HTTP error into what the client should see (the class from `errors.UPSTREAM_STATUS`)."""
    message = _message_from(raw) or f"HTTP {status}"
    message = scrub(message, dep)[:2000]
    where = f"{dep.vendor.label or dep.vendor.name} ({dep.id})"
    cls = for_status(status, any(m in message.lower() for m in CONTEXT_MARKERS))
    text = cls.said.format(where=where, status=status, message=message, model=dep.model,
                           key=dep.vendor.key_env or "api_key")
    return cls(text, upstream_status=status, retry_after=_retry_after(headers))


def _message_from(raw: bytes) -> str:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw[:500].decode("utf-8", "replace").strip()
    if isinstance(data, list) and data:
        data = data[0]
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            return str(err.get("message") or err.get("msg") or err)
        return str(err)
    return str(data)


def _retry_after(headers: Any) -> float | None:
    if not headers:
        return None
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def with_url_credentials(dep: Deployment, headers: dict) -> dict:
    """Credentials written into api_base go as HTTP Basic auth, as any client given that URL would send them;
    but never beside another Authorization header (an api_key sent as a bearer token): that request could only
    be refused, so the model answers with what to change instead."""
    if not dep.url_auth:
        return headers
    if any(k.lower() == "authorization" for k in headers):
        raise UpstreamError(f"model {dep.name} ({dep.id}): its api_base holds a user name and password and its "
                            "api_key (or headers:) also sets the Authorization header; keep one: remove "
                            "`user:password@` from api_base, or remove api_key", status=500, type="config_error",
                            code="config_error", retryable=False)
    return {**headers, "Authorization": dep.url_auth}


def need_key(dep: Deployment) -> None:
    if dep.api_key is None and dep.vendor.key_env and not dep.url_auth:
        raise UpstreamError(f"model {dep.name} ({dep.id}) has no API key: set {dep.vendor.key_env} "
                            "in the env file or give api_key in the config", retryable=False)


def bad_upstream_json(dep: Deployment, what: str = "response") -> UpstreamError:
    return UpstreamError(f"{dep.vendor.label or dep.vendor.name} ({dep.id}) sent a malformed {what}")
