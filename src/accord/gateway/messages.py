"""POST /v1/messages and /v1/messages/count_tokens: Anthropic's Messages API, so Claude Code (via
ANTHROPIC_BASE_URL) and the anthropic SDK run on any model Accord serves.

Keys, allow-lists, budgets, rate limits, fallbacks and usage rows work exactly as on /v1/chat/completions
(the same auth, router and recording); the router passes the request through to upstreams that speak
Anthropic's format and translates it for the rest (providers/messages.py). Errors leave in Anthropic's shape
(anthropic_shape.py), in the stream too. A panel asked as a model (gateway/panels.py) answers in the same shape:
its progress as thinking, then the chair's answer as text.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from functools import partial

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ..errors import AccordError, BadRequest, NotFound
from ..providers import messages as native
from ..providers.base import estimate_tokens
from ..providers.translate_messages import anthropic_from_openai, openai_from_anthropic
from ..providers.translate_messages_stream import MessageEvents
from . import anthropic_shape, auth, intake, panels, sse, usage
from .body import model_of, read_json
from .chat import counted, served_by
from .disconnect import ClientGone, unless_disconnected
from .usage import origin, refused

log = logging.getLogger("accord.gateway")
_JSON = "application/json"


def _forwarded(request: Request) -> dict[str, str]:
    h = request.headers
    return {k: h[k] for k in native.FORWARDED if k in h}


def _check(body: dict) -> list:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("`messages` must be a non-empty list of {role, content}", param="messages")
    mt = body.get("max_tokens")
    if not isinstance(mt, int) or isinstance(mt, bool) or mt < 1:
        raise BadRequest("`max_tokens` is required: the most tokens the answer may have (an integer >= 1)",
                         param="max_tokens")
    return messages


def _served(request: Request, model: str, allow) -> str:
    """The model a name refers to; a name not served (Claude Code's own `claude-...` names, unless told
    otherwise) is a 404 that lists what is served and says how to map Claude Code's names onto it."""
    router = request.app.state.router
    try:
        return router.canonical(model, allow)
    except NotFound:
        names = [n for n in router.groups if allow is None or allow(n)]
        raise NotFound(f"model `{model}` is not served here; served: {', '.join(names) or 'none'}. Claude Code "
                       "asks for its own claude-... names unless told otherwise: run `accord claude install "
                       "--gateway --model <name>` (it sets ANTHROPIC_MODEL and the ANTHROPIC_DEFAULT_OPUS/SONNET/"
                       "HAIKU_MODEL slots), or give a served model the alias in accord.yaml",
                       param="model") from None


async def messages(request: Request) -> Response:
    a = await intake.take(request)
    started, key, body, plan, model, stream, router, allow = (a.started, a.key, a.body, a.plan, a.model, a.stream,
                                                              a.router, a.allow)
    headers = _forwarded(request)
    res = None  # the key's budget reservation, released when the request is over
    with origin(request, "messages", key) as o:
        try:
            try:
                _check(body)
                panel = panels.find(request, model)
                if panel is not None:  # a panel asked as a model: its own checks, reservation and rows
                    return await _panel(request, panel, body, key, allow, started)
                res = await intake.admit(request, a, panel_fallback=True)
                _served(request, model, allow)
                if stream:
                    chunks, call = await unless_disconnected(
                        request, router.messages_stream(model, body, allow, plan, headers))
                    response = sse.ClosingStream(
                        counted(request, chunks, call, key, _events), partial(auth.budget_release, request, res),
                        media_type="text/event-stream",
                        headers={"cache-control": "no-cache", "x-accel-buffering": "no", **served_by(call)})
                    res = None  # released by the response, once the stream is over
                    return response
                raw, call = await unless_disconnected(request, router.messages(model, body, allow, plan, headers))
            except ClientGone:  # before the answer, or a stream's first token (Claude Code's Esc)
                refused(request, o, model=model, started=started, status=499, error_type="client_gone", stream=stream)
                return Response(status_code=499)  # nobody is listening; the upstream call is cancelled
            except AccordError as e:
                panel = panels.fallback(request, model, e, key, allow)
                if panel is not None:  # the model and its model fallbacks failed: a panel is next in line
                    await auth.budget_release(request, res)
                    res = None
                    return await _panel(request, panel, body, key, allow, started, charged=True)
                refused(request, o, model=model, started=started, status=e.status, error_type=e.type, stream=stream)
                raise
            usage.count_tokens(request, key, call)
            return Response(raw, media_type=_JSON, headers=served_by(call))
        finally:
            await auth.budget_release(request, res)


async def _panel(request: Request, name: str, body: dict, key, allow, started: float, *,
                 charged: bool = False) -> Response:
    """Panel `name` answering an Anthropic request: its chat answer (or stream) translated as a model's is."""
    chat = openai_from_anthropic(body)
    chat["stream"] = bool(body.get("stream"))
    call = await panels.open_panel(request, name, chat, key, allow, started=started, charged=charged)
    if chat["stream"]:
        async def over() -> None:  # however the stream ended: its tokens count, its reservation goes
            usage.count_tokens(request, key, call)
            await call.close()

        events = MessageEvents(name, estimate_tokens(body.get("messages")))
        return sse.ClosingStream(_events(_panel_events(call.chunks(), events, call)), over,
                                 media_type="text/event-stream",
                                 headers={"cache-control": "no-cache", "x-accel-buffering": "no",
                                          "x-accord-model": name})
    try:
        data = await unless_disconnected(request, call.complete())
    except ClientGone:
        return Response(status_code=499)  # nobody is listening; the panel's calls are cancelled
    finally:
        usage.count_tokens(request, key, call)
        await call.close()
    out = {**anthropic_from_openai(data, name), "accord": data["accord"]}
    thread = data["accord"]["thread_id"]
    return Response(orjson.dumps(out), media_type=_JSON,
                    headers={"x-accord-model": name, **({"x-accord-thread": thread} if thread else {})})


async def _panel_events(chunks: AsyncIterator[bytes], events: MessageEvents, call: panels.PanelCall
                        ) -> AsyncIterator[bytes]:
    """A panel's chat chunks as Anthropic events; its `accord` detail rides on message_delta."""
    extension = None
    async for raw in chunks:
        chunk = orjson.loads(raw)
        extension = chunk.get("accord", extension)
        for ev in events.feed(chunk):
            yield ev
    for ev in events.end(call.usage, extension):
        yield ev


async def _events(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Anthropic's events as they come; a failure after the first byte becomes the documented `error` event
    (its type and message, never a traceback), which ends the stream."""
    try:
        async for raw in chunks:
            yield raw
    except AccordError as e:
        yield anthropic_shape.error_event(e)
    except Exception as e:
        log.error("stream failed: %s", e.__class__.__name__, exc_info=log.isEnabledFor(logging.DEBUG))
        yield anthropic_shape.error_event(AccordError("internal error while streaming; the server log has the "
                                                      "details"))


async def count_tokens(request: Request) -> Response:
    key = await auth.caller(request)
    body = await read_json(request)
    model = model_of(body)
    allow = auth.allowed(request, key)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("`messages` must be a non-empty list of {role, content}", param="messages")
    router = request.app.state.router
    dep = router.groups[_served(request, model, allow)][0]  # a model a key may not use is not served, to it
    n = await native.count_tokens(dep, body, router.pools, _forwarded(request))
    return Response(orjson.dumps({"input_tokens": n}), media_type=_JSON)
