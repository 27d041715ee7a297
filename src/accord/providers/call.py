"""What one upstream call learned (Call) and its token usage (Usage): the records every adapter fills in and
router, logs and metering read. Apart from base.py so the transport (http.py) can name them without a cycle."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from ..config import Deployment


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
    # The prompt's tokens as estimated from the request sent upstream (base.estimate_tokens of its bytes), set
    # by http.post when a stream is sent: what its usage says if it ends without the upstream's count (cut off, or a server
    # that sends none). An integer, so an open stream does not hold the request (100k tokens: ~0.5 MB) for it.
    prompt_estimate: int = 1

    @property
    def ttft(self) -> float | None:
        return None if self.first_byte is None else self.first_byte - self.started


def estimate_tokens(obj: Any) -> int:
    """Rough token count (4 characters a token) for when an upstream reports no usage."""
    if isinstance(obj, (bytes, bytearray)):
        return max(1, len(obj) // 4)
    if isinstance(obj, str):
        return max(1, len(obj) // 4)
    return max(1, len(orjson.dumps(obj)) // 4)
