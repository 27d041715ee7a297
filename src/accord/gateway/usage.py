"""The gateway's part in usage: the calls that reach the router are recorded by the shared recorder
(accord.metering); the gateway records only requests refused before any upstream call (bad body, key
limits, unknown model), and counts a key's tokens for its tpm limit. No I/O on the request path."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from starlette.requests import Request

from .. import metering

if TYPE_CHECKING:
    from ..providers.base import Call
    from ..store.keys import KeyInfo


@contextlib.contextmanager
def origin(request: Request, route: str, key: KeyInfo | None) -> Iterator[metering.Origin]:
    """The model calls this request makes are recorded under its route, key and request id."""
    with metering.tagged(route, key_id=key.id if key else None,
                         request_id=request.scope.get("accord.request_id", "")) as o:
        yield o


def refused(request: Request, o: metering.Origin, *, model: str, started: float, status: int,
            error_type: str | None, stream: bool = False) -> None:
    """A request that failed: one row, unless its upstream attempts were recorded already."""
    if o.calls:
        return
    request.app.state.store.record(metering.row(o, model=model, status=status, error_type=error_type, stream=stream,
                                                latency_ms=round((time.perf_counter() - started) * 1000, 2)))


def count_tokens(request: Request, key: KeyInfo | None, call: Call) -> None:
    """A key with a tpm limit: its tokens go to the shared limiter (in the background)."""
    if call.usage is not None:
        count(request, key, call.usage.total_tokens)


def count(request: Request, key: KeyInfo | None, tokens: int) -> None:
    """`tokens` spent by `key`, for its tpm limit (a panel's total, or one call's)."""
    if key is None or key.tpm_limit is None:
        return
    task = asyncio.ensure_future(request.app.state.limits.add_tokens(key.id, tokens))
    _background.add(task)
    task.add_done_callback(_background.discard)


_background: set[asyncio.Task] = set()  # fire-and-forget tasks, referenced until done
