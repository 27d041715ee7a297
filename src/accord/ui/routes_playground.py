"""Consensus playground: run a panel from the browser and stream its progress as NDJSON lines: each model's
answer text as it streams in, side by side, then the synthesis and agreement; and the stored threads.

The final `result` line carries every answer again, authoritative.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from .. import metering
from ..consensus import ask
from ..consensus.callers import LocalModels
from . import auth
from .pages import render

HEARTBEAT = 5.0
STANCES = ("neutral", "for", "against")


@auth.guarded
async def page(request: Request) -> Response:
    state = request.app.state
    from ..consensus.types import MODES
    from ..store.threads import ThreadStore

    models = LocalModels(state.router)
    names = models.names()
    panel = {m.model: m.stance for m in ask.default_panel(state.cfg, models)[0]}  # ticked: what an empty run asks

    await state.store.wait()
    recent = await ThreadStore(state.store.db).recent(10)
    return render(request, "playground.html", page="playground", models=names, panel=panel, stances=STANCES,
                  modes=MODES, mode=state.cfg.consensus.mode, recent=recent)


def _line(obj: dict) -> bytes:
    return orjson.dumps(obj) + b"\n"


@auth.guarded
async def run(request: Request) -> Response:
    from ..consensus.runner import Engine
    from ..consensus.types import InputError, Member
    from ..store.threads import ThreadStore

    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        return JSONResponse({"error": "send JSON: {question, panel: [{model, stance}], mode}"}, 400)
    state = request.app.state
    await state.store.wait()
    engine = Engine(LocalModels(state.router), ThreadStore(state.store.db))
    seats = [Member(str(p.get("model", "")), str(p.get("stance") or "neutral"))
             for p in body.get("panel") or [] if isinstance(p, dict)]
    try:
        asked = await ask.consensus(state.cfg, engine, str(body.get("question") or ""), panel=seats,
                                    mode=str(body.get("mode") or "") or None, no_panel="tick at least two models")
    except InputError as e:
        return JSONResponse({"error": str(e)}, 400)
    return StreamingResponse(_stream(engine, asked), media_type="application/x-ndjson",
                             headers={"x-accel-buffering": "no"})


async def _stream(engine: Any, asked: ask.Asked) -> AsyncIterator[bytes]:
    queue: asyncio.Queue[dict] = asyncio.Queue()

    async def on_event(ev: Any) -> None:
        await queue.put({"type": "event", "kind": ev.kind, "model": ev.model or "", "detail": ev.detail,
                         "elapsed": ev.elapsed})

    async def on_delta(who: str, text: str) -> None:
        await queue.put({"type": "delta", "model": who, "text": text})

    async def go() -> None:
        try:
            with metering.tagged("ui"):
                result = await ask.run(engine, asked, on_event, on_delta=on_delta)
        except Exception as e:  # reported to the page, never a broken stream
            await queue.put({"type": "error", "error": f"{e.__class__.__name__}: {e}"})
        else:
            await queue.put({"type": "result", **_result(result, asked.labels)})

    yield _line({"type": "start", "labels": asked.labels, "mode": asked.req.mode})
    task = asyncio.create_task(go())
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), HEARTBEAT)
            except asyncio.TimeoutError:
                yield _line({"type": "tick"})
                continue
            yield _line(item)
            if item["type"] in ("result", "error"):
                break
    finally:
        if not task.done():  # the page went away: stop spending on the run
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _result(r: Any, labels: list[str]) -> dict:
    return {
        "status": r.status, "agreement": r.agreement, "chair_agreement": r.chair_agreement, "synthesis": r.synthesis, "recommendation": r.recommendation,
        "vote": r.vote, "notes": r.notes, "thread_id": r.thread_id, "wall_time": r.wall_time,
        "cost": round(r.cost, 6), "chair": r.chair.model if r.chair else None,
        "reasons": r.reasons, "chair_choice": r.chair_choice, "selected": r.selected, "clusters": r.clusters,
        "answers": [{"label": lab, "status": a.status, "content": a.content, "error": a.error,
                     "latency": a.latency} for lab, a in zip(labels, r.answers, strict=False)],
    }


@auth.guarded
async def threads(request: Request) -> Response:
    from ..store.threads import ThreadStore

    store = request.app.state.store
    await store.wait()
    return render(request, "threads.html", page="threads", threads=await ThreadStore(store.db).recent(100))


@auth.guarded
async def thread(request: Request) -> Response:
    from ..store.threads import ThreadNotFound, ThreadStore

    store = request.app.state.store
    await store.wait()
    try:
        t = await ThreadStore(store.db).get(request.path_params["thread_id"])
    except ThreadNotFound:
        return render(request, "threads.html", status=404, page="threads", threads=[], missing=True)
    return render(request, "thread.html", page="threads", t=t)
