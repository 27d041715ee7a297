"""Logs: the request log, filtered by key, model, status and time, newest first with keyset pagination
(store/usage.list_usage), so the millionth row's page costs what the first does."""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from . import auth
from .pages import render

PAGE = 50
FILTERS = ("key_id", "model", "status", "start", "end")


def _time(value: str) -> datetime | None:
    """A datetime-local value (taken as UTC), or an ISO time; None when empty or unreadable."""
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


@auth.guarded
async def page(request: Request) -> Response:
    from ..store.usage import list_usage

    q = request.query_params
    f = {k: q.get(k, "").strip() for k in FILTERS}
    before = q.get("before", "")
    store = request.app.state.store
    await store.wait()
    rows, next_before = await list_usage(
        store.db, limit=PAGE, before_id=int(before) if before.isdigit() else None, key_id=f["key_id"] or None,
        model=f["model"] or None, status=f["status"] or None, start=_time(f["start"]), end=_time(f["end"]))
    keys = await store.keys.list(include_revoked=True)
    names = {k.id: k.name or k.prefix + "…" for k in keys}
    kept = {k: v for k, v in f.items() if v}
    older = f"?{urlencode({**kept, 'before': next_before})}" if next_before else None
    newest = f"?{urlencode(kept)}" if before else None
    return render(request, "logs.html", page="logs", rows=rows, f=f, keys=names, older=older, newest=newest,
                  models=request.app.state.router.names())
