"""POST /v1/chat/completions and /v1/embeddings: the hot path.

Reads `model` and `stream`, passes the rest on; the router picks the deployment and the adapter speaks to it.
Every upstream attempt leaves a usage row (recorded by the router's recorder, tagged with this request's
origin); a request refused before reaching an upstream leaves one row of its own. A key's budget reservation is
released when the request is over, after its cost is recorded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import TYPE_CHECKING

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ..errors import AccordError, BadRequest
from ..providers.base import Call
from . import auth, intake, panels, sse
from .disconnect import ClientGone, unless_disconnected
from .usage import count_tokens, origin, refused

if TYPE_CHECKING:
    from ..store.keys import KeyInfo
    from ..store.ledger import Reservation

_JSON = "application/json"


def served_by(call: Call) -> dict[str, str]:
    return {
        "x-accord-model": call.deployment.name,
        "x-accord-deployment": call.deployment.id,
        "x-accord-attempts": str(call.attempts),
    }


async def chat_completions(request: Request) -> Response:
    a = await intake.take(request)
    started, key, body, plan, model, stream, router, allow = (a.started, a.key, a.body, a.plan, a.model, a.stream,
                                                              a.router, a.allow)
    res = None  # the key's budget reservation, released when the request is over
    with origin(request, "chat", key) as o:
        try:
            try:
                messages = body.get("messages")
                if not isinstance(messages, list) or not messages:
                    raise BadRequest("`messages` must be a non-empty list of {role, content}", param="messages")
                panel = panels.find(request, model)
                if panel is not None:  # a panel asked as a model: its own checks, reservation and rows
                    return await panels.chat(request, panel, body, key, allow, started=started)
                res = await intake.admit(request, a, panel_fallback=True)
                if stream:
                    # the first token may be minutes away (a long prompt, a thinking model): a hang-up before it
                    # cancels the upstream as one after it does
                    chunks, call = await unless_disconnected(request, router.stream(model, body, allow, plan))
                    response = sse.ClosingStream(
                        chunks, partial(_stream_over, request, key, call, res), payloads=True,
                        media_type="text/event-stream",
                        headers={"cache-control": "no-cache", "x-accel-buffering": "no", **served_by(call)})
                    res = None  # released by the response, once the stream is over
                    return response
                data, call = await unless_disconnected(request, router.complete(model, body, allow, plan))
            except ClientGone:
                refused(request, o, model=model, started=started, status=499, error_type="client_gone", stream=stream)
                return Response(status_code=499)  # nobody is listening; the upstream call is cancelled
            except AccordError as e:
                panel = panels.fallback(request, model, e, key, allow)
                if panel is not None:  # the model and its model fallbacks failed: a panel is next in line
                    await auth.budget_release(request, res)
                    res = None
                    return await panels.chat(request, panel, body, key, allow, started=started, charged=True)
                refused(request, o, model=model, started=started, status=e.status, error_type=e.type, stream=stream)
                raise
            count_tokens(request, key, call)
            return Response(orjson.dumps(data), media_type=_JSON, headers=served_by(call))
        finally:
            await auth.budget_release(request, res)


async def _stream_over(request: Request, key: KeyInfo | None, call: Call, res: Reservation | None) -> None:
    """A stream is over, however it ended, and the router's stream closed by the response (its usage row is
    recorded): the key's tokens are counted and its budget reservation released. Run by the response rather
    than from a generator wrapped around the stream: one layer less held by each open stream."""
    try:
        count_tokens(request, key, call)
    finally:
        await auth.budget_release(request, res)


async def counted(request: Request, chunks: AsyncIterator[bytes], call: Call, key,
                  events: Callable[[AsyncIterator[bytes]], AsyncIterator[bytes]] = sse.events
                  ) -> AsyncIterator[bytes]:
    """The SSE stream (framed by `events`); once it is over, the key's tokens are counted (its usage row is the
    router's)."""
    try:
        async for event in events(chunks):
            yield event
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]  # ends the router's stream: its row is recorded now
        count_tokens(request, key, call)


async def embeddings(request: Request) -> Response:
    a = await intake.take(request)
    started, key, body, plan, model, router, allow = a.started, a.key, a.body, a.plan, a.model, a.router, a.allow
    res = None
    with origin(request, "embeddings", key) as o:
        try:
            try:
                inp = body.get("input")
                if not isinstance(inp, (str, list)) or not inp:
                    raise BadRequest("`input` must be a string or a non-empty list", param="input")
                res = await intake.admit(request, a)
                data, call = await router.embed(model, body, allow, plan)
            except AccordError as e:
                refused(request, o, model=model, started=started, status=e.status, error_type=e.type)
                raise
            count_tokens(request, key, call)
            return Response(orjson.dumps(data), media_type=_JSON, headers=served_by(call))
        finally:
            await auth.budget_release(request, res)
