"""A deployment's health: a one-token probe and the router's live view of it.

Shared by /health (gateway), the dashboard's Models page and its test button (ui), and `accord doctor`
(setup) — so it lives beside the router, below every front-end.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone
from typing import Any

from . import providers
from .config import Deployment
from .errors import AccordError
from .providers.base import Call
from .router import DeploymentState, Router

CHECK_TIMEOUT = 20.0
log = logging.getLogger("accord.health")


async def probe(router: Router, dep: Deployment) -> dict[str, Any]:
    """Send one deployment the smallest real request and report what happened, with its live state."""
    out: dict[str, Any] = {"model": dep.name, "deployment": dep.id, "provider": dep.vendor.name,
                           "api_base": dep.api_base}
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
    out.update(deployment_state(router.state[dep.id]))
    return out


def deployment_state(st: DeploymentState) -> dict[str, Any]:
    """The router's live view of one deployment: what it has seen from real traffic."""
    now = time.monotonic()
    cooling = st.cooling(now)
    out: dict[str, Any] = {"state": "cooling_down" if cooling else "healthy", "successes": st.successes,
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
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="seconds")
