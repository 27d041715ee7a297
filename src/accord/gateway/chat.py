"""POST /v1/chat/completions and /v1/embeddings: the hot path.

Reads `model` and `stream`, passes the rest on; the router picks the deployment and the adapter speaks to it.
"""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ..errors import BadRequest
from ..providers.base import Call
from . import auth, sse
from .body import model_of, read_json
from .disconnect import ClientGone, unless_disconnected

_JSON = "application/json"


def served_by(call: Call, model: str) -> dict[str, str]:
    return {
        "x-accord-model": call.deployment.name,
        "x-accord-deployment": call.deployment.id,
        "x-accord-attempts": str(call.attempts),
    }


async def chat_completions(request: Request) -> Response:
    auth.check(request)
    body = await read_json(request)
    model = model_of(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("`messages` must be a non-empty list of {role, content}", param="messages")
    router = request.app.state.router
    if body.get("stream"):
        chunks, call = await router.stream(model, body)
        return StreamingResponse(sse.events(chunks), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache", "x-accel-buffering": "no",
                                          **served_by(call, model)})
    try:
        data, call = await unless_disconnected(request, router.complete(model, body))
    except ClientGone:
        return Response(status_code=499)  # nobody is listening; the upstream call is cancelled
    return Response(orjson.dumps(data), media_type=_JSON, headers=served_by(call, model))


async def embeddings(request: Request) -> Response:
    auth.check(request)
    body = await read_json(request)
    model = model_of(body)
    inp = body.get("input")
    if not isinstance(inp, (str, list)) or not inp:
        raise BadRequest("`input` must be a string or a non-empty list", param="input")
    data, call = await request.app.state.router.embed(model, body)
    return Response(orjson.dumps(data), media_type=_JSON, headers=served_by(call, model))
