"""Health: liveliness and readiness for load balancers (no auth), and a per-model check (auth)."""

from __future__ import annotations

import asyncio

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..health import probe
from . import auth


async def liveliness(request: Request) -> Response:
    return JSONResponse("I'm alive!")


async def readiness(request: Request) -> Response:
    state = request.app.state
    store = state.store
    return JSONResponse({
        # service and config_id let `accord serve`/`doctor` tell which config's Accord holds a port
        "status": "healthy", "service": "accord", "config_id": state.cfg.identity,
        "models": len(state.router.groups), "version": state.version,
        "db": "connected" if store.ready.is_set() else ("unavailable: " + store.error if store.error else "opening"),
        "limits": state.limits.backend,
    })


async def health(request: Request) -> Response:
    """Send each deployment the smallest real request, in parallel, and report its live state."""
    auth.check(request)
    router = request.app.state.router
    deps = [d for group in router.groups.values() for d in group]
    results = await asyncio.gather(*(probe(router, d) for d in deps))
    healthy = [r for r in results if r["healthy"]]
    sick = [r for r in results if not r["healthy"]]
    body = {"healthy_endpoints": healthy, "unhealthy_endpoints": sick,
            "healthy_count": len(healthy), "unhealthy_count": len(sick)}
    return Response(orjson.dumps(body), media_type="application/json")
