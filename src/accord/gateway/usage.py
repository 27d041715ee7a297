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

from .. import metering, metrics

if TYPE_CHECKING:
    from ..providers.base import Call
    from ..store.keys import KeyInfo


@contextlib.contextmanager
def origin(request: Request, route: str, key: KeyInfo | None) -> Iterator[metering.Origin]:
    """The model calls this request makes are recorded under its route, key and request id (and the request
    is counted under them in the metrics, with the model that served it)."""
    request.scope["accord.metrics"] = metrics.request_labels(route, key.id if key else None,
                                                             (key.name or key.prefix) if key else None)
    with metering.tagged(route, key_id=key.id if key else None,
                         request_id=request.scope.get("accord.request_id", "")) as o:
        yield o


def refused(request: Request, o: metering.Origin, *, model: str, started: float, status: int,
            error_type: str | None, stream: bool = False) -> None:
    """A request that failed: one row, unless its upstream attempts were recorded already."""
    labels = request.scope.get("accord.metrics")
    if labels is not None:
        labels[2] = model  # the name asked for: counted only if it is a served one
    if o.calls:
        return
    request.app.state.store.record(metering.row(o, model=model, status=status, error_type=error_type, stream=stream,
                                                latency_ms=round((time.perf_counter() - started) * 1000, 2)))


def count_tokens(request: Request, key: KeyInfo | None, call: Call) -> None:
    """The request was served by `call` (a stream: it is over): counted under its model and deployment. A key
    with a tpm limit: its tokens go to the shared limiter (in the background)."""
    labels = request.scope.get("accord.metrics")
    if labels is not None:
        labels[2], labels[3] = call.deployment.name, call.deployment.id
        labels[4] = call.status if call.stream else 0  # how a stream ended: its HTTP status was 200 from the start
    if key is None or key.tpm_limit is None or call.usage is None:
        return
    task = asyncio.ensure_future(request.app.state.limits.add_tokens(key.id, call.usage.total_tokens))
    _background.add(task)
    task.add_done_callback(_background.discard)


_background: set[asyncio.Task] = set()  # fire-and-forget tasks, referenced until done
