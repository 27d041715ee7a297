"""Exceptions shared by every layer.

Each carries what a client needs to see (an OpenAI-style status, type and code) so the gateway, the CLI and
the MCP tools report the same failure the same way. Messages never contain secrets: adapters build them from
status codes and upstream error text only, and `redact` scrubs anything that slipped through.
"""

from __future__ import annotations


class AccordError(Exception):
    status: int = 500
    type: str = "api_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
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

    def __init__(self, message: str, *, retry_after: float | None = None, **kw) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class UpstreamError(AccordError):
    """The provider failed or answered with an error. `status` is what the client gets."""

    status = 502
    type = "upstream_error"
    code = "upstream_error"

    def __init__(
        self,
        message: str,
        *,
        upstream_status: int | None = None,
        retry_after: float | None = None,
        retryable: bool = True,
        **kw,
    ) -> None:
        super().__init__(message, **kw)
        self.upstream_status = upstream_status
        self.retry_after = retry_after
        self.retryable = retryable


class UpstreamTimeout(UpstreamError):
    status = 504
    type = "timeout_error"
    code = "upstream_timeout"


class ConfigError(Exception):
    """A config problem, always said as: where (file:line), which key, what is wrong, what to write instead."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None, key: str | None = None):
        self.file, self.line, self.key, self.detail = file, line, key, message
        where = ""
        if file:
            where = f"{file}:{line}: " if line else f"{file}: "
        keypart = f"{key}: " if key else ""
        super().__init__(f"{where}{keypart}{message}")
