"""POST /v1/chat/completions and /v1/embeddings: the hot path.

Reads `model` and `stream`, passes the rest on; the router picks the deployment and the adapter speaks to it.
Every request that got past auth leaves one usage row, success or not.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ..errors import AccordError, BadRequest
from ..providers.base import Call
from . import auth, sse
from .body import model_of, read_json
from .disconnect import ClientGone, unless_disconnected
from .usage import record

_JSON = "application/json"


def served_by(call: Call) -> dict[str, str]:
    return {
        "x-accord-model": call.deployment.name,
        "x-accord-deployment": call.deployment.id,
        "x-accord-attempts": str(call.attempts),
    }


async def chat_completions(request: Request) -> Response:
    started = time.perf_counter()
    key = await auth.caller(request)
    body = await read_json(request)
    model = model_of(body)
    stream = bool(body.get("stream"))
    router = request.app.state.router
    try:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise BadRequest("`messages` must be a non-empty list of {role, content}", param="messages")
        if key is not None:
            await auth.enforce(request, key, model, router.canonical(model))
        if stream:
            chunks, call = await router.stream(model, body)
            return StreamingResponse(_recorded(request, chunks, call, model, started, key), media_type="text/event-stream",
                                     headers={"cache-control": "no-cache", "x-accel-buffering": "no", **served_by(call)})
        try:
            data, call = await unless_disconnected(request, router.complete(model, body))
        except ClientGone:
            record(request, route="chat", model=model, started=started, key=key, status=499, error_type="client_gone")
            return Response(status_code=499)  # nobody is listening; the upstream call is cancelled
    except AccordError as e:
        record(request, route="chat", model=model, started=started, key=key, status=e.status, error_type=e.type,
               stream=stream)
        raise
    record(request, route="chat", model=model, started=started, key=key, call=call)
    return Response(orjson.dumps(data), media_type=_JSON, headers=served_by(call))


async def _recorded(request: Request, chunks: AsyncIterator[bytes], call: Call, model: str, started: float,
                    key) -> AsyncIterator[bytes]:
    """The SSE stream, and its usage row once it is over (finished, failed, or cut off by the client)."""
    outcome = {"status": 499, "error_type": "client_gone"}
    try:
        async for event in sse.events(chunks, outcome):
            yield event
    finally:
        record(request, route="chat", model=model, started=started, key=key, call=call, stream=True, **outcome)


async def embeddings(request: Request) -> Response:
    started = time.perf_counter()
    key = await auth.caller(request)
    body = await read_json(request)
    model = model_of(body)
    router = request.app.state.router
    try:
        inp = body.get("input")
        if not isinstance(inp, (str, list)) or not inp:
            raise BadRequest("`input` must be a string or a non-empty list", param="input")
        if key is not None:
            await auth.enforce(request, key, model, router.canonical(model))
        data, call = await router.embed(model, body)
    except AccordError as e:
        record(request, route="embeddings", model=model, started=started, key=key, status=e.status, error_type=e.type)
        raise
    record(request, route="embeddings", model=model, started=started, key=key, call=call)
    return Response(orjson.dumps(data), media_type=_JSON, headers=served_by(call))
