"""Usage out: /spend/logs (keyset-paginated, filtered; by thread or route too) and /usage/summary (per day,
model or key; or one thread's calls)."""

from __future__ import annotations

from datetime import datetime, timezone

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ..errors import BadRequest
from . import auth


def _date(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"`{name}` must be a date or time like 2026-11-26 or 2026-11-26T12:00:00Z",
                         param=name) from None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _int(value: str | None, name: str, default: int, high: int) -> int:
    if value is None or value == "":
        return default
    if not value.isdigit() or not 1 <= int(value) <= high:
        raise BadRequest(f"`{name}` must be a whole number from 1 to {high}", param=name)
    return int(value)


async def logs(request: Request) -> Response:
    auth.admin(request)
    q = request.query_params
    store = request.app.state.store
    await store.wait()
    from ..store.usage import list_usage

    before = q.get("before")
    rows, next_before = await list_usage(
        store.db, limit=_int(q.get("limit"), "limit", 100, 1000),
        before_id=_int(before, "before", 0, 2**62) if before else None,
        key_id=q.get("key_id") or None, model=q.get("model") or None, status=q.get("status") or None,
        start=_date(q.get("start_date"), "start_date"), end=_date(q.get("end_date"), "end_date"),
        thread_id=q.get("thread_id") or None, route=q.get("route") or None,
    )
    headers = {"x-accord-next-before": str(next_before)} if next_before else None
    return Response(orjson.dumps(rows), media_type="application/json", headers=headers)


async def summary(request: Request) -> Response:
    auth.admin(request)
    q = request.query_params
    group_by = q.get("group_by", "day")
    thread_id = q.get("thread_id") or None
    if group_by not in ("day", "model", "key") and not (thread_id and group_by == "route"):
        raise BadRequest("`group_by` must be day, model or key (or route, with thread_id)", param="group_by")
    for name in ("start", "end"):
        _date(q.get(name), name)
    store = request.app.state.store
    await store.wait()
    from ..store.usage import summary as usage_summary

    data = await usage_summary(store.db, group_by=group_by, start=q.get("start") or None, end=q.get("end") or None,
                               key_id=q.get("key_id"), model=q.get("model") or None, thread_id=thread_id)
    out = {"group_by": group_by, "data": data}
    if thread_id:
        out["thread_id"] = thread_id
    return Response(orjson.dumps(out), media_type="application/json")
