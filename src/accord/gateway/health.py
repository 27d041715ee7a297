"""Health: liveliness and readiness for load balancers (no auth), and a per-model check (auth)."""

from __future__ import annotations

import asyncio
import logging
import time

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import AccordError
from . import auth

CHECK_TIMEOUT = 20.0
log = logging.getLogger("accord.health")


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
    results = await asyncio.gather(*(_check(router, d) for d in deps))
    healthy = [r for r in results if r["healthy"]]
    sick = [r for r in results if not r["healthy"]]
    body = {"healthy_endpoints": healthy, "unhealthy_endpoints": sick,
            "healthy_count": len(healthy), "unhealthy_count": len(sick)}
    return Response(orjson.dumps(body), media_type="application/json")


async def _check(router, dep) -> dict:
    from .. import providers
    from ..providers.base import Call

    st = router.state[dep.id]
    out = {"model": dep.name, "deployment": dep.id, "provider": dep.vendor.name, "api_base": dep.api_base}
    started = time.perf_counter()
    adapter = providers.get(dep.adapter)
    try:
        if dep.info.mode == "embedding":
            coro = adapter.embed(dep, {"input": "ping"}, Call(dep), router.pools)
        else:
            coro = adapter.complete(dep, {"messages": [{"role": "user", "content": "ping"}], "max_tokens": 1},
                                    Call(dep), router.pools)
        await asyncio.wait_for(coro, CHECK_TIMEOUT)
        out.update(healthy=True, latency_ms=round((time.perf_counter() - started) * 1000, 1))
    except AccordError as e:
        out.update(healthy=False, error=e.message)
    except asyncio.TimeoutError:
        out.update(healthy=False, error=f"no answer within {CHECK_TIMEOUT:.0f} s")
    except Exception as e:  # one broken deployment answers for itself, never for the whole report
        log.error("health check of %s failed: %s", dep.id, e.__class__.__name__,
                  exc_info=log.isEnabledFor(logging.DEBUG))
        out.update(healthy=False, error=f"the check failed unexpectedly ({e.__class__.__name__}); see the log")
    out.update(deployment_state(st))
    return out


def deployment_state(st) -> dict:
    """The router's live view of one deployment: what it has seen from real traffic."""
    now = time.monotonic()
    cooling = st.cooling(now)
    out: dict = {"state": "cooling_down" if cooling else "healthy", "successes": st.successes,
                 "failures": st.failures, "in_flight": st.in_flight}
    if cooling:
        out["cooldown_until"] = _iso(time.time() + (st.cooldown_until - now))
    if st.latency is not None:
        out["avg_latency_ms"] = round(st.latency * 1000, 1)
    if st.last_error:
        out["last_error"] = st.last_error
        if st.last_error_at:
            out["last_error_at"] = _iso(st.last_error_at)
    return out


def _iso(t: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="seconds")
