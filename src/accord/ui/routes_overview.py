"""Overview: requests, error rate, latency p50/p95, tokens and spend over a window, by model and by key.

Figures come from the newest rows of the window (at most CAP, one indexed range query); a busier window falls
back to the daily rollup for its totals and tables, and says so.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from . import auth
from .pages import render

CAP = 50_000
# name -> (span, bucket, label format)
WINDOWS = {"1h": (timedelta(hours=1), timedelta(minutes=5), "%H:%M"),
           "24h": (timedelta(hours=24), timedelta(hours=1), "%H:00"),
           "7d": (timedelta(days=7), timedelta(hours=6), "%a %Hh"),
           "30d": (timedelta(days=30), timedelta(days=1), "%b %d")}


@dataclass
class Acc:
    requests: int = 0
    errors: int = 0
    tokens: int = 0
    cost: float = 0.0
    prompt: int = 0
    cached: int = 0  # of prompt: read from the provider's cache
    latencies: list[float] = field(default_factory=list)

    def add(self, status: int, latency: float, tokens: int, cost: float, prompt: int, cached: int) -> None:
        self.requests += 1
        self.errors += status >= 400
        self.tokens += tokens
        self.cost += cost or 0.0
        self.prompt += prompt
        self.cached += cached
        self.latencies.append(latency or 0.0)

    def view(self) -> dict[str, Any]:
        lat = sorted(self.latencies)
        return {"requests": self.requests, "errors": self.errors, "tokens": self.tokens, "cost": self.cost,
                "error_rate": self.errors / self.requests if self.requests else 0.0,
                "p50": pct(lat, 0.5), "p95": pct(lat, 0.95), "cached": self.cached,
                "cache_hit_rate": self.cached / self.prompt if self.prompt else None}


def pct(ordered: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an ordered list."""
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def crunch(rows: list[tuple], start: datetime, step: timedelta, n: int) -> dict[str, Any]:
    total, buckets = Acc(), [Acc() for _ in range(n)]
    by_model: dict[str, Acc] = defaultdict(Acc)
    by_key: dict[str, Acc] = defaultdict(Acc)
    for created, key_id, model, status, latency, pt, ct, cost, cached in rows:
        args = (status, latency, (pt or 0) + (ct or 0), cost, pt or 0, cached or 0)
        i = min(n - 1, max(0, int((_aware(created) - start) / step)))
        for acc in (total, buckets[i], by_model[model or "?"], by_key[key_id or ""]):
            acc.add(*args)
    return {"total": total.view(), "buckets": [b.view() for b in buckets],
            "by_model": {k: v.view() for k, v in by_model.items()}, "by_key": {k: v.view() for k, v in by_key.items()}}


def _from_rollup(rows: list[dict]) -> dict[str, Any]:
    req = sum(r["requests"] for r in rows)
    err = sum(r["errors"] for r in rows)
    return {"requests": req, "errors": err, "error_rate": err / req if req else 0.0, "cost": sum(r["cost"] for r in rows),
            "tokens": sum(r["prompt_tokens"] + r["completion_tokens"] for r in rows), "p50": None, "p95": None,
            "cached": (cached := sum(r["cached_tokens"] for r in rows)),
            "cache_hit_rate": cached / prompt if (prompt := sum(r["prompt_tokens"] for r in rows)) else None}


async def data(state: Any, window: str) -> dict[str, Any]:
    from ..store.usage import recent_points, summary

    span, step, label = WINDOWS[window]
    store = state.store
    await store.wait()
    now = datetime.now(timezone.utc)
    n = int(span / step)
    start = now - step * n
    rows = await recent_points(store.db, since=start, limit=CAP + 1)
    capped = len(rows) > CAP
    out = crunch(rows[:CAP], start, step, n)
    out["labels"] = [(start + step * i).strftime(label) for i in range(n)]
    out["capped"] = capped
    if capped:  # totals and tables from the rollup (whole days), percentiles from the newest CAP rows
        day = start.strftime("%Y-%m-%d")
        p50, p95 = out["total"]["p50"], out["total"]["p95"]
        out["total"] = {**_from_rollup(await summary(store.db, group_by="day", start=day)), "p50": p50, "p95": p95}
        for group in ("model", "key"):
            out[f"by_{group}"] = {r[group]: _from_rollup([r]) for r in await summary(store.db, group_by=group, start=day)}
    keys = {k.id: k.name or k.prefix + "…" for k in await store.keys.list(include_revoked=True)}
    out["by_key"] = {keys.get(k, k) if k else "(master key / open)": v for k, v in out["by_key"].items()}
    return out


@auth.guarded
async def overview(request: Request) -> Response:
    window = request.query_params.get("window", "24h")
    window = window if window in WINDOWS else "24h"
    d = await data(request.app.state, window)
    b = d["buckets"]
    return render(request, "overview.html", page="overview", window=window, windows=list(WINDOWS), d=d,
                  series={"requests": [x["requests"] for x in b], "errors": [x["errors"] for x in b],
                          "p50": [x["p50"] for x in b], "p95": [x["p95"] for x in b],
                          "tokens": [x["tokens"] for x in b], "cost": [x["cost"] for x in b]})
