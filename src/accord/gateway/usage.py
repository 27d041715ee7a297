"""The gateway's part in usage: the calls that reach the router are recorded by the shared recorder
(accord.metering); the gateway records only requests refused before any upstream call (bad body, key
limits, unknown model), and counts a key's tokens for its tpm limit. No I/O on the request path."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Protocol

from starlette.requests import Request

from .. import metering, metrics
from ..providers.base import Call

if TYPE_CHECKING:
    from ..providers.base import Usage
    from ..store.keys import KeyInfo


def origin(request: Request, route: str, key: KeyInfo | None) -> metering.tagged:
    """The model calls this request makes are recorded under its route, key and request id (and the request
    is counted under them in the metrics, with the model that served it): `with origin(...) as o`."""
    request.scope["accord.metrics"] = metrics.request_labels(route, key.id if key else None,
                                                             (key.name or key.prefix) if key else None)
    return metering.tagged(route, key_id=key.id if key else None,
                           request_id=request.scope.get("accord.request_id", ""))


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


class PanelRun(Protocol):
    """A panel run as gateway/panels.PanelCall is (panels imports this module, so not the other way)."""

    name: str
    usage: Usage | None


def count_tokens(request: Request, key: KeyInfo | None, call: Call | PanelRun) -> None:
    """The request was served by `call` (a stream: it is over): counted under its model and deployment; a key
    with a tpm limit: its tokens go to the limiter (without waiting for Redis)."""
    labels = request.scope.get("accord.metrics")
    if labels is not None:
        if isinstance(call, Call):
            labels[2], labels[3] = call.deployment.name, call.deployment.id
            labels[4] = call.status if call.stream else 0  # a stream's status: how it ended
        else:  # a panel, counted under its name
            labels[2], labels[3], labels[4] = call.name, "panel", 0
    if call.usage is not None:
        count(request, key, call.usage.total_tokens)


def count(request: Request, key: KeyInfo | None, tokens: int) -> None:
    """`tokens` spent by `key`, for its tpm limit (a panel's total, or one call's)."""
    if key is not None and key.tpm_limit is not None:
        request.app.state.limits.count_tokens(key.id, tokens)
