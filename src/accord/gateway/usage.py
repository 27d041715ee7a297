"""One usage row per request, handed to the store's batch writer (no I/O on the request path)."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from starlette.requests import Request

if TYPE_CHECKING:
    from ..providers.base import Call
    from ..store.keys import KeyInfo


def record(request: Request, *, route: str, model: str, started: float, key: KeyInfo | None,
           call: Call | None = None, status: int = 200, error_type: str | None = None, stream: bool = False) -> None:
    row: dict = {
        "created_at": datetime.now(timezone.utc), "request_id": request.scope.get("accord.request_id", ""),
        "key_id": key.id if key else None, "route": route, "model": model, "status": status,
        "error_type": error_type, "stream": stream, "latency_ms": round((time.perf_counter() - started) * 1000, 2),
    }
    if call is not None:
        dep = call.deployment
        row["model"] = dep.name
        row["deployment"] = dep.id
        row["provider"] = dep.vendor.name
        u = call.usage
        if u is not None:
            row["prompt_tokens"] = u.prompt_tokens
            row["completion_tokens"] = u.completion_tokens
            row["reasoning_tokens"] = u.reasoning_tokens
            row["cost"] = dep.info.cost(u.prompt_tokens, u.completion_tokens)
        if call.first_byte is not None:
            row["ttft_ms"] = round((call.first_byte - call.started) * 1000, 2)
    state = request.app.state
    state.store.record(row)
    if key is not None and key.tpm_limit is not None and call is not None and call.usage is not None:
        task = asyncio.ensure_future(state.limits.add_tokens(key.id, call.usage.total_tokens))
        _background.add(task)
        task.add_done_callback(_background.discard)


_background: set[asyncio.Task] = set()  # fire-and-forget tasks, referenced until done
