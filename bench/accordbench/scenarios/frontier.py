"""Scenario 7: the throughput frontier, requests/s at a p99 ceiling (10 ms, 50 ms), by worker count."""

from __future__ import annotations

import asyncio
from typing import Any

from .. import loadgen, wrk
from .common import CHAT, HOST, Gateway, chat_body

CEILINGS_MS = (10.0, 50.0)


def ladder(gw: Gateway, concurrencies: tuple[int, ...], seconds: float, use_wrk: bool,
           warm_s: float = 4.0) -> dict[str, Any]:
    """Concurrency doubled until p99 passes the highest ceiling; the best requests/s under each ceiling."""
    body = chat_body(gw.model("m"))
    # warm-up: every worker up and its pools filled (the health check answers from the first worker ready)
    asyncio.run(loadgen.load(HOST, gw.port, CHAT, body, gw.key, 8, warm_s, headers=gw.hdrs("m")))
    runs: list[dict[str, Any]] = []
    for c in concurrencies:
        if use_wrk:
            r = wrk.run(f"http://{HOST}:{gw.port}{CHAT}", body, gw.key, c, seconds, headers=gw.hdrs("m"))
        else:
            r = asyncio.run(loadgen.load(HOST, gw.port, CHAT, body, gw.key, c, seconds, headers=gw.hdrs("m")))
        errors = sum(r.errors.values()) if r.errors else 0
        runs.append({"c": c, "rps": round(r.rps, 1), "p50_ms": round(r.p50_ms, 3), "p99_ms": round(r.p99_ms, 3),
                     "errors": errors})
        if r.p99_ms > max(CEILINGS_MS) or r.ok == 0:
            break
    best: dict[str, Any] = {}
    for ceiling in CEILINGS_MS:
        ok = [x for x in runs if x["p99_ms"] <= ceiling and not x["errors"]]
        top = max(ok, key=lambda x: x["rps"], default=None)
        best[f"{ceiling:g}"] = {"rps": top["rps"], "c": top["c"]} if top else None
    return {"runs": runs, "frontier": best}
