"""What every wire-protocol adapter provides, and the error mapping they share.

Adapters speak OpenAI's chat format to the rest of Accord: requests come in as OpenAI chat bodies (dicts,
parsed once by the gateway), responses go out as OpenAI `chat.completion` dicts or as stream chunks already
serialized to JSON bytes (so an OpenAI-compatible upstream's bytes pass through untouched).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Protocol

from ..errors import BadRequest
from .call import Call, Usage, estimate_tokens
from .upstream import (
    CONTEXT_MARKERS,
    bad_upstream_json,
    need_key,
    scrub,
    upstream_error,
    with_url_credentials,
)

# A stream of JSON chunks that its consumer can close early (aclose), which closes the upstream connection
Chunks = AsyncGenerator[bytes, None]

if TYPE_CHECKING:
    from ..config import Deployment
    from .http import Pools

# the upstream helpers every adapter imports from here (they live in upstream.py, below http.py too)
__all__ = ["CONTEXT_MARKERS", "Call", "Provider", "Usage", "bad_upstream_json", "estimate_tokens", "need_key",
           "require", "scrub", "upstream_error", "with_url_credentials"]




class Provider(Protocol):
    """One wire protocol. Instances are stateless; connection pools live in `Pools`."""

    async def complete(self, dep: Deployment, body: dict, call: Call, pools: Pools) -> dict: ...

    async def stream(self, dep: Deployment, body: dict, call: Call, pools: Pools) -> Chunks:
        """Connect and check the status before returning, so failures before the first byte can be retried;
        then iterate JSON payloads of `chat.completion.chunk`s."""
        ...

    async def embed(self, dep: Deployment, body: dict, call: Call, pools: Pools) -> dict: ...


def require(cond: bool, message: str, param: str | None = None) -> None:
    if not cond:
        raise BadRequest(message, param=param)
