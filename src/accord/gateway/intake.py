"""What every model route (chat completions, embeddings, responses, messages) does before calling a model, in one
place: who is calling, the body (read once, its routing fields taken out), the model it names, whether it
streams; then, once the route has checked its own fields, the caller's limits.

One function each, so a new check (or a faster body read) lands on every route at once instead of drifting
between four copies.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import Request

from . import auth, panels, routing
from .body import model_of, read_json

if TYPE_CHECKING:
    from ..router import Allow, Plan, Router
    from ..store.keys import KeyInfo
    from ..store.ledger import Reservation


@dataclass(slots=True)
class Asked:
    """A model request as the route sees it after the prologue."""

    started: float  # perf_counter when the request reached the route (usage rows' latency)
    key: KeyInfo | None  # the virtual key in use (None: the master key, or an open server)
    body: dict  # without the routing fields
    plan: Plan | None  # the routing fields' plan (None: none given)
    model: str
    stream: bool
    router: Router
    allow: Allow | None  # the models the caller may use (None: every model)


async def take(request: Request) -> Asked:
    """The caller, then the body and its model: refused (401, 400, 413) before anything else is done."""
    started = time.perf_counter()
    key = await auth.caller(request)
    body, plan = routing.take(await read_json(request))
    model = model_of(body)
    return Asked(started, key, body, plan, model, bool(body.get("stream")), request.app.state.router,
                 auth.allowed(request, key))


async def admit(request: Request, a: Asked, body: dict | None = None, *, panel_fallback: bool = False
                ) -> Reservation | None:
    """A virtual key's allow-list, budget and rate limits (its budget reservation returned, for the route to
    release); without a key, the fallbacks named must be served and the model's price cap holds. `body`: what
    will be sent, when the route translated it (default: the request's). `panel_fallback`: the route falls back
    to a panel when the model fails, so a key reserves that worst case."""
    body = a.body if body is None else body
    if a.key is not None:
        amount = panels.fallback_cost(request, a.model, body, a.allow) if panel_fallback else None
        return await auth.enforce(request, a.key, a.model, body, a.allow, a.plan, amount=amount)
    routing.check_served(a.router, a.plan)
    auth.price_cap(request, None, a.model, body, a.allow, a.plan)
    return None

