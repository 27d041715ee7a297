"""POST /v1/responses (and GET /v1/responses/{id}): OpenAI's Responses API, for Codex CLI and Responses-only clients.

Bridged to chat completions through the router (providers/translate_responses*.py), so keys, allow-lists,
budgets, rate limits, fallbacks and usage rows are exactly those of /v1/chat/completions. Answers are kept for
`previous_response_id` (unless `store: false`) for settings.responses_retention_days, per key.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ..errors import AccordError, BadRequest, NotFound
from ..providers.base import Call
from ..providers.translate_responses import input_messages, to_chat
from ..providers.translate_responses_output import from_chat, new_id
from ..providers.translate_responses_stream import StreamBridge
from . import auth, intake, panels, sse
from .chat import served_by
from .disconnect import ClientGone, unless_disconnected
from .usage import count_tokens, origin, refused

log = logging.getLogger("accord.gateway")
_JSON = "application/json"
ROUTE = "responses"


async def create_response(request: Request) -> Response:
    a = await intake.take(request)
    started, key, body, plan, model, stream, router, allow = (a.started, a.key, a.body, a.plan, a.model, a.stream,
                                                              a.router, a.allow)
    res = None  # the key's budget reservation, released when the request is over
    with origin(request, ROUTE, key) as o:
        try:
            try:
                history = await _history(request, body, key)
                chat, conversation, bridge = to_chat(body, history)
                panel = panels.find(request, model)
                if panel is not None:  # a panel asked as a model: its answer translated as a model's
                    return await _panel(request, panel, body, chat, key, allow, started, conversation, bridge)
                res = await intake.admit(request, a, chat)
                rid = new_id("resp")
                if stream:
                    chunks, call = await unless_disconnected(request, router.stream(model, chat, allow, plan))
                    events = _streamed(request, chunks, call, StreamBridge(body, rid, bridge), key, conversation)
                    response = sse.ClosingStream(events, partial(auth.budget_release, request, res),
                                                 media_type="text/event-stream",
                                                 headers={"cache-control": "no-cache", "x-accel-buffering": "no",
                                                          **served_by(call)})
                    res = None  # released by the response, once the stream is over
                    return response
                data, call = await unless_disconnected(request, router.complete(model, chat, allow, plan))
            except ClientGone:  # before the answer, or a stream's first token: the upstream call is cancelled
                refused(request, o, model=model, started=started, status=499, error_type="client_gone", stream=stream)
                return Response(status_code=499)
            except AccordError as e:
                refused(request, o, model=model, started=started, status=e.status, error_type=e.type, stream=stream)
                raise
            count_tokens(request, key, call)
            out = from_chat(data, body, rid, bridge, call.usage)
            await _keep(request, body, key, out, conversation)
            return Response(orjson.dumps(out), media_type=_JSON, headers=served_by(call))
        finally:
            await auth.budget_release(request, res)


async def _panel(request: Request, name: str, body: dict, chat: dict, key: Any, allow: Any, started: float,
                 conversation: list[dict], bridge: Any) -> Response:
    call = await panels.open_panel(request, name, chat, key, allow, started=started)
    rid = new_id("resp")
    if chat.get("stream"):
        events = _streamed(request, call.chunks(), call, StreamBridge(body, rid, bridge), key,  # type: ignore[arg-type]
                           conversation)
        return sse.ClosingStream(events, call.close, media_type="text/event-stream",
                                 headers={"cache-control": "no-cache", "x-accel-buffering": "no",
                                          "x-accord-model": name})
    try:
        data = await unless_disconnected(request, call.complete())
    except ClientGone:
        return Response(status_code=499)
    finally:
        await call.close()
    count_tokens(request, key, call)
    out = {**from_chat(data, body, rid, bridge, call.usage), "accord": data["accord"]}
    await _keep(request, body, key, out, conversation)
    return Response(orjson.dumps(out), media_type=_JSON, headers={"x-accord-model": name})


async def get_response(request: Request) -> Response:
    """A stored response object, for the key that made it."""
    key = await auth.caller(request)
    row = await _stored(request, request.path_params["response_id"], key)
    if row is None:
        raise NotFound(f"no response `{request.path_params['response_id']}`: it was never stored (store: false), "
                       "has expired, or belongs to another key", code="response_not_found")
    return Response(orjson.dumps(row.response), media_type=_JSON)


async def _stored(request: Request, rid: str, key: Any) -> Any:
    store = request.app.state.store
    await store.wait()  # a clear 503 when the database is away
    return await store.responses.get(rid, key.id if key is not None else None)


async def _history(request: Request, body: dict, key: Any) -> list[dict] | None:
    """The conversation `previous_response_id` continues (chat messages, without its instructions)."""
    prev = body.get("previous_response_id")
    if prev is None:
        return None
    if not isinstance(prev, str) or not prev:
        raise BadRequest("`previous_response_id` must be the id of an earlier response", param="previous_response_id")
    row = await _stored(request, prev, key)
    if row is None:
        days = request.app.state.cfg.settings.responses_retention_days
        raise BadRequest(f"previous response `{prev}` was not found: it was never stored (store: false), has expired "
                         f"(responses are kept {days:g} days: settings.responses_retention_days), or belongs to "
                         "another key; send the whole conversation in `input` instead",
                         param="previous_response_id", code="previous_response_not_found")
    return list(row.messages)


async def _keep(request: Request, body: dict, key: Any, response: dict, conversation: list[dict]) -> None:
    """Store an answer for `previous_response_id`, before the client learns its id. A store that is away costs
    only the continuation: the answer itself is still given."""
    if body.get("store") is False:
        return
    store = request.app.state.store
    if store.responses is None and store.error is None:  # still opening (just started): worth a short wait
        with contextlib.suppress(AccordError):
            await store.wait()
    if store.responses is None:
        log.warning("responses: the database is not open; response %s is not kept", response["id"])
        return
    try:
        await store.responses.save(response["id"], key_id=key.id if key is not None else None,
                                   model=str(body.get("model")),
                                   messages=[*conversation, *input_messages(response["output"])],
                                   response=response,
                                   retention_days=request.app.state.cfg.settings.responses_retention_days)
    except Exception as e:
        log.warning("responses: could not keep response %s (%s)", response["id"], e.__class__.__name__)


def _event(ev: dict) -> bytes:
    return b"event: " + ev["type"].encode() + b"\ndata: " + orjson.dumps(ev) + b"\n\n"


async def _streamed(request: Request, chunks: AsyncIterator[bytes], call: Call, sb: StreamBridge, key: Any,
                    conversation: list[dict]) -> AsyncIterator[bytes]:
    """Chat chunks in, `response.*` events out; once it is over, the key's tokens are counted (its usage row is
    the router's)."""
    try:
        for ev in sb.start():
            yield _event(ev)
        try:
            async for raw in chunks:
                for ev in sb.add(orjson.loads(raw)):
                    yield _event(ev)
        except AccordError as e:
            # the status line is gone already: an `error` event, then `response.failed`, say what happened
            code = "rate_limit_exceeded" if e.status == 429 else "server_error"
            for ev in sb.fail(code, e.message, e.param):
                yield _event(ev)
            return
        except Exception as e:  # never a traceback to the client, never a hang
            log.error("stream failed: %s", e.__class__.__name__, exc_info=log.isEnabledFor(logging.DEBUG))
            for ev in sb.fail("server_error", "internal error while streaming; the server log has the details"):
                yield _event(ev)
            return
        final = sb.end(call.usage)
        await _keep(request, sb.body, key, final[-1]["response"], conversation)
        for ev in final:
            yield _event(ev)
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]  # ends the router's stream: its row is recorded now
        count_tokens(request, key, call)
