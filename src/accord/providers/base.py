"""What every wire-protocol adapter provides, and the error mapping they share.

Adapters speak OpenAI's chat format to the rest of Accord: requests come in as OpenAI chat bodies (dicts,
parsed once by the gateway), responses go out as OpenAI `chat.completion` dicts or as stream chunks already
serialized to JSON bytes (so an OpenAI-compatible upstream's bytes pass through untouched).
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from ..errors import AccordError, BadRequest, UpstreamError, for_status

# A stream of JSON chunks that its consumer can close early (aclose), which closes the upstream connection
Chunks = AsyncGenerator[bytes, None]

if TYPE_CHECKING:
    from ..config import Deployment
    from .http import Pools


@dataclass
class Usage:
    """Tokens as every vendor is normalized to OpenAI's counting: `prompt_tokens` is all input, cache reads
    (`cached_tokens`) and cache writes (`cache_write_tokens`) included; `completion_tokens` includes reasoning."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    cached_tokens: int = 0
    estimated: bool = False
    cache_write_tokens: int = 0

    def cost(self, info: Any) -> float:
        """What this usage costs at a catalog entry's prices (cache reads and writes at the cache prices)."""
        return info.cost(self.prompt_tokens, self.completion_tokens, self.cached_tokens, self.cache_write_tokens)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_openai(self) -> dict:
        out: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }
        if self.reasoning_tokens:
            out["completion_tokens_details"] = {"reasoning_tokens": self.reasoning_tokens}
        if self.cached_tokens:
            out["prompt_tokens_details"] = {"cached_tokens": self.cached_tokens}
        if self.cache_write_tokens:  # LiteLLM's name for it in an OpenAI-shaped usage
            out["cache_creation_input_tokens"] = self.cache_write_tokens
        return out

    @classmethod
    def from_openai(cls, u: dict | None) -> Usage | None:
        if not isinstance(u, dict):
            return None
        details = u.get("completion_tokens_details") or {}
        pdetails = u.get("prompt_tokens_details") or {}
        # where each OpenAI-compatible vendor reports cache hits: OpenAI and DashScope in prompt_tokens_details,
        # DeepSeek as prompt_cache_hit_tokens, Moonshot as a top-level cached_tokens; all inside prompt_tokens
        cached = pdetails.get("cached_tokens") or u.get("prompt_cache_hit_tokens") or u.get("cached_tokens")
        return cls(
            prompt_tokens=_int(u.get("prompt_tokens")),
            completion_tokens=_int(u.get("completion_tokens")),
            reasoning_tokens=_int(details.get("reasoning_tokens")),
            cached_tokens=_int(cached),
            cache_write_tokens=_int(u.get("cache_creation_input_tokens")),
        )


def _int(v: Any) -> int:
    """A token count as sent; anything that is not a non-negative number counts 0 (a vendor's odd usage must
    not fail an answered call)."""
    return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 else 0


@dataclass
class Call:
    """What one upstream call learned: filled in by the adapter as it goes, read by router, logs and usage."""

    deployment: Deployment
    started: float = field(default_factory=time.perf_counter)
    first_byte: float | None = None  # perf_counter of the first streamed chunk
    usage: Usage | None = None
    chunks: int = 0
    finish_reason: str | None = None
    status: int = 200
    attempts: int = 1  # upstream attempts it took, retries and fallbacks included
    error_type: str | None = None  # why it failed (an AccordError's type), for its usage row
    stream: bool = False
    origin: Any = None  # metering.Origin: who asked (route, key, thread), captured when the attempt starts
    span: Any = None  # this attempt's trace span while it is open (accord.tracing), when tracing is on

    @property
    def ttft(self) -> float | None:
        return None if self.first_byte is None else self.first_byte - self.started


class Provider(Protocol):
    """One wire protocol. Instances are stateless; connection pools live in `Pools`."""

    async def complete(self, dep: Deployment, body: dict, call: Call, pools: Pools) -> dict: ...

    async def stream(self, dep: Deployment, body: dict, call: Call, pools: Pools) -> Chunks:
        """Connect and check the status before returning, so failures before the first byte can be retried;
        then iterate JSON payloads of `chat.completion.chunk`s."""
        ...

    async def embed(self, dep: Deployment, body: dict, call: Call, pools: Pools) -> dict: ...


# ------------------------------------------------------------------------------------------ shared helpers
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


def estimate_tokens(obj: Any) -> int:
    """Rough token count (4 characters a token) for when an upstream reports no usage."""
    if isinstance(obj, (bytes, bytearray)):
        return max(1, len(obj) // 4)
    if isinstance(obj, str):
        return max(1, len(obj) // 4)
    return max(1, len(orjson.dumps(obj)) // 4)


def require(cond: bool, message: str, param: str | None = None) -> None:
    if not cond:
        raise BadRequest(message, param=param)
