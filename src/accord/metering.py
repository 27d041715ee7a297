"""Who asked for a model call, and the usage row every upstream call leaves, whichever front-end made it.

The gateway, the MCP tools, the CLI and the dashboard playground all call models through a Router, and the
Router tells its listeners of every attempt that ends (answered, failed, cancelled, or a stream at its end). One
`Recorder` listening there turns each into a usage row, so no front-end builds rows for calls that reached the
router and none can forget to. The caller's context (route, virtual key, thread, request id) travels in a
context variable the front-end sets (`tagged`); the Router captures it on the Call when the attempt starts,
because a stream ends later, in another task.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import budgets

if TYPE_CHECKING:
    from .providers.base import Call


@dataclass(slots=True)
class Origin:
    """Who a model call is made for. `calls` counts the attempts recorded for it, so a front-end knows whether
    a failed request reached an upstream (and has its rows) or was refused before (and needs one)."""

    route: str  # chat | embeddings (the HTTP API), mcp, cli, ui
    key_id: str | None = None
    thread_id: str | None = None
    request_id: str = ""
    calls: int = 0


current: ContextVar[Origin | None] = ContextVar("accord_origin", default=None)


class tagged:  # lower case: called as a function is, like contextlib.suppress
    """Model calls made inside (`with`) are recorded under this origin: the current one with `route` and
    `fields` changed (e.g. the thread a tool has just opened), or a new one. A class rather than a
    generator-based context manager: every gateway request enters one (~1 µs less)."""

    __slots__ = ("_token", "origin")

    def __init__(self, route: str | None = None, **fields: Any) -> None:
        base = current.get()
        if base is None:
            self.origin = Origin(route or "internal", **fields)
        else:
            self.origin = dataclasses.replace(base, calls=0, **({"route": route} if route else {}), **fields)

    def __enter__(self) -> Origin:
        self._token = current.set(self.origin)
        return self.origin

    def __exit__(self, *exc: object) -> None:
        current.reset(self._token)



def row(origin: Origin | None, *, call: Call | None = None, model: str = "", status: int = 200,
        error_type: str | None = None, latency_ms: float = 0.0, stream: bool = False) -> dict[str, Any]:
    """The one place a usage row is built (from a finished Call, or for a request refused before any call)."""
    r: dict[str, Any] = {
        "created_at": budgets.now(), "request_id": origin.request_id if origin else "",
        "key_id": origin.key_id if origin else None, "route": origin.route if origin else "internal",
        "thread_id": origin.thread_id if origin else None, "model": model, "status": status,
        "error_type": error_type, "stream": stream, "latency_ms": latency_ms, "deployment": None, "provider": None,
        "prompt_tokens": 0, "completion_tokens": 0, "reasoning_tokens": 0, "cached_tokens": 0,
        "cache_write_tokens": 0, "cost": 0.0, "ttft_ms": None,  # every column: the writer reads them in one call
    }
    if call is not None:
        dep = call.deployment
        r["model"] = dep.name
        r["deployment"] = dep.id
        r["provider"] = dep.vendor.name
        u = call.usage
        if u is not None:
            r["prompt_tokens"] = u.prompt_tokens
            r["completion_tokens"] = u.completion_tokens
            r["reasoning_tokens"] = u.reasoning_tokens
            r["cached_tokens"] = u.cached_tokens
            r["cache_write_tokens"] = u.cache_write_tokens
            r["cost"] = u.cost(dep.info)
        if call.first_byte is not None:
            r["ttft_ms"] = round((call.first_byte - call.started) * 1000, 2)
    return r


class Recorder:
    """A Router listener: one usage row per upstream attempt, handed to `sink` (a batch writer's O(1) add)."""

    def __init__(self, sink: Callable[[dict[str, Any]], None]) -> None:
        self.sink = sink

    def __call__(self, call: Call) -> None:
        origin: Origin | None = call.origin
        if origin is not None:
            origin.calls += 1
        self.sink(row(origin, call=call, status=call.status, error_type=call.error_type, stream=call.stream,
                      latency_ms=round((time.perf_counter() - call.started) * 1000, 2)))


def attach(router: Any, sink: Callable[[dict[str, Any]], None]) -> Recorder:
    """Record every call `router` makes into `sink`."""
    rec = Recorder(sink)
    router.listeners.append(rec)
    return rec
