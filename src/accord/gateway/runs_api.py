"""/v1/consensus/runs: background consensus runs over HTTP. GET shows a run (its thread: each model's state
and partial answer while it runs, the result once done); POST .../cancel stops it; POST /v1/consensus/runs
starts one -- a consensus run, or a panel tool's (review, precommit, debug, planner) -- which is what a stdio
`accord mcp` uses to hand a background run to this long-running server. The master key only (or nobody, on an
open loopback server), as for /mcp, which starts runs too."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from .. import metering
from ..consensus import panel_tools
from ..consensus.background import request_from_dict
from ..consensus.types import InputError
from ..errors import AccordError, BadRequest, NotFound
from . import auth
from .body import read_json
from .panels import engine_for


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


async def _thread(request: Request, tid: str) -> dict:
    from ..store.threads import ThreadNotFound, ThreadStore

    await request.app.state.store.wait(timeout=10)
    try:
        t = await ThreadStore(request.app.state.store.db).get(tid)
    except ThreadNotFound:
        raise NotFound(f"no run {tid}; `accord threads` lists them", param="id") from None
    t["live"] = request.app.state.runs.running(tid)  # executed by this process right now
    return t


async def get_run(request: Request) -> Response:
    auth.check(request)
    return _json(await _thread(request, request.path_params["run_id"]))


async def cancel_run(request: Request) -> Response:
    auth.check(request)
    tid = request.path_params["run_id"]
    await _thread(request, tid)  # 404 for an unknown run
    stopped = await request.app.state.runs.cancel(tid)
    t = await _thread(request, tid)
    if not stopped and t["status"] == "running":
        raise AccordError(f"run {tid} is executed by another Accord process; cancel it there", status=409,
                          type="conflict", param="id")
    return _json({"id": tid, "cancelled": stopped, "status": t["status"]})


async def start_run(request: Request) -> Response:
    auth.check(request)
    body = await read_json(request)
    tool, tid = body.get("tool", "consensus"), body.get("thread_id")
    if not isinstance(tool, str) or (tool != "consensus" and tool not in panel_tools.TOOLS):
        raise BadRequest(f"`tool` must be one of consensus, {', '.join(panel_tools.TOOLS)}", param="tool")
    if tid is not None and not isinstance(tid, str):
        raise BadRequest("`thread_id` must be a thread id (a string)", param="thread_id")
    engine = await engine_for(request, None)
    if engine.store is None:
        raise BadRequest("background runs need the database, which is not available", param="request")
    runs = request.app.state.runs
    try:
        with metering.tagged("mcp"):  # handed over by a stdio `accord mcp`: its calls are that tool's
            if tool == "consensus":
                req = request_from_dict(body.get("request"))
                if tid:
                    await engine.store.open("consensus", req.question, thread_id=tid)
                run_id = await runs.start(engine, req, thread_id=tid, tool="consensus")
            else:
                ask = panel_tools.from_dict(tool, body.get("request"))
                ask = dataclasses.replace(ask, thread_id=tid) if tid else ask
                run_id = await runs.start_tool(engine, request.app.state.cfg, tool, ask)
    except InputError as e:
        raise BadRequest(str(e), param="request") from None
    except LookupError as e:
        raise NotFound(f"no thread {e}", param="thread_id") from None
    return _json({"id": run_id, "status": "running"})
