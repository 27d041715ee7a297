"""Exceptions shared by every layer.

Each carries what a client needs to see (an OpenAI-style status, type and code) so the gateway, the CLI and
the MCP tools report the same failure the same way. Messages never contain secrets: adapters build them from
status codes and upstream error text only, and `redact` scrubs anything that slipped through.
"""

from __future__ import annotations


class AccordError(Exception):
    """`retryable` and `retry_after` are the error's own retry facts (as httpx's exception classes carry theirs):
    the router reads them as attributes instead of guessing from the class or the status."""

    status: int = 500
    type: str = "api_error"
    code: str | None = None
    retryable: bool = False  # may another attempt (this deployment later, or another one) succeed?
    retry_after: float | None = None  # seconds the other side asked us to wait before trying again
    attempts: int | None = None  # upstream attempts made before the router gave up (x-accord-attempts)

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if retryable is not None:
            self.retryable = retryable
        self.retry_after = retry_after
        if status is not None:
            self.status = status
        if type is not None:
            self.type = type
        if code is not None:
            self.code = code
        self.param = param

    def to_dict(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class BadRequest(AccordError):
    status = 400
    type = "invalid_request_error"


class AuthError(AccordError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(AccordError):
    status = 403
    type = "permission_error"


class NotFound(AccordError):
    status = 404
    type = "invalid_request_error"
    code = "model_not_found"


class TooLarge(AccordError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class RateLimited(AccordError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class UpstreamError(AccordError):
    """The provider failed or answered with an error. `status` is what the client gets."""

    status = 502
    type = "upstream_error"
    code = "upstream_error"
    retryable = True  # a provider's failure: another attempt or deployment may well succeed
    said = "{where} failed (HTTP {status}): {message}"  # the message `for_status` builds

    def __init__(self, message: str, *, upstream_status: int | None = None, **kw) -> None:
        super().__init__(message, **kw)
        self.upstream_status = upstream_status


class UpstreamTimeout(UpstreamError):
    status = 504
    type = "timeout_error"
    code = "upstream_timeout"
    said = "{where} timed out (HTTP {status}): {message}"


class UpstreamRateLimited(UpstreamError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"
    said = "{where} is rate limiting: {message}"


class UpstreamKeyRefused(UpstreamError):
    """Retryable: another deployment of the model may hold a good key."""

    said = "{where} refused the provider key (HTTP {status}); check {key}: {message}"


class UpstreamModelUnknown(UpstreamError):
    """Retryable: another deployment (or a fallback) may serve the model."""

    said = "{where} does not know model `{model}`: {message}"


class UpstreamBadRequest(UpstreamError):
    """The request itself is wrong: no other attempt will help."""

    status = 400
    type = "invalid_request_error"
    code = "upstream_bad_request"
    retryable = False
    said = "{where} rejected the request: {message}"


class UpstreamContextExceeded(UpstreamBadRequest):
    """Not retryable as is, but the router falls back to a model with a longer context."""

    code = "context_length_exceeded"
    said = "{where}: {message}"


class UpstreamTooLarge(UpstreamError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"
    retryable = False
    said = "{where}: request too large: {message}"


# An upstream's HTTP error status -> the error it becomes; any status not here is a plain UpstreamError.
UPSTREAM_STATUS: dict[int, type[UpstreamError]] = {
    400: UpstreamBadRequest, 401: UpstreamKeyRefused, 403: UpstreamKeyRefused, 404: UpstreamModelUnknown,
    408: UpstreamTimeout, 413: UpstreamTooLarge, 422: UpstreamBadRequest, 429: UpstreamRateLimited,
    504: UpstreamTimeout,
}


def for_status(status: int, context_exceeded: bool = False) -> type[UpstreamError]:
    """The error class for an upstream HTTP status; `context_exceeded` (the message says the prompt was too
    long) turns a refusal (400, 404, 422) into the context error the router falls back on."""
    cls = UPSTREAM_STATUS.get(status, UpstreamError)
    if context_exceeded and issubclass(cls, (UpstreamBadRequest, UpstreamModelUnknown)):
        return UpstreamContextExceeded
    return cls


class ConfigError(Exception):
    """A config problem, always said as: where (file:line), which key, what is wrong, what to write instead."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None, key: str | None = None):
        self.file, self.line, self.key, self.detail = file, line, key, message
        where = ""
        if file:
            where = f"{file}:{line}: " if line else f"{file}: "
        keypart = f"{key}: " if key else ""
        super().__init__(f"{where}{keypart}{message}")
