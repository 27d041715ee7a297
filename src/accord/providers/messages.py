"""Anthropic Messages requests (POST /v1/messages) served by any deployment.

Where the upstream speaks Anthropic's format (Anthropic itself; DeepSeek, Kimi and Qwen at their `anthropic_base`)
the client's body goes on with only `model` replaced, and the answer comes back as the upstream's own bytes
(but for its `model`, which names what the client asked for): thinking signatures, tool ids and cache_control
survive untouched, which no translation can promise. Every
other upstream gets the request translated to chat completions (translate_messages.py) through its own adapter,
and the answer translated back (a stream event by event).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from .. import tokens
from ..errors import UpstreamError
from . import get
from .anthropic import VERSION
from .base import Call, Chunks, Usage, bad_upstream_json, estimate_tokens, need_key, scrub, upstream_error
from .event_views import message_event
from .http import Pools, WholeReply, post, read_body, sse_events, whole_reply
from .sse_frames import data_lines, split_lines
from .thinking import thinking_params
from .translate_anthropic import FINISH, usage_from
from .translate_anthropic_stream import ERROR_STATUS
from .translate_messages import anthropic_from_openai, openai_from_anthropic, thinking_level
from .translate_messages_stream import MessageEvents
from .translate_openai import deep_merge

if TYPE_CHECKING:
    from ..config import Deployment

FORWARDED = ("anthropic-version", "anthropic-beta")  # client headers an Anthropic-shaped upstream gets
# what POST /v1/messages/count_tokens takes (the rest of a Messages body is refused there)
COUNT_FIELDS = ("model", "messages", "system", "tools", "tool_choice", "thinking", "mcp_servers")
IMAGE_TOKENS = 1_600  # Claude's count for a large image (about width x height / 750, capped by resizing)


def native_base(dep: Deployment) -> str | None:
    """Where this deployment serves Anthropic's Messages API; None or "" (`anthropic_base: ""` in the config
    turns a vendor's off): requests are translated."""
    return dep.api_base if dep.adapter == "anthropic" else dep.anthropic_base


def _url(base: str, path: str = "messages") -> str:
    return f"{base}/{path}" if base.endswith("/v1") else f"{base}/v1/{path}"


def _headers(dep: Deployment, forwarded: dict[str, str]) -> dict[str, str]:
    h = {"Content-Type": "application/json", "Accept": "application/json", "anthropic-version": VERSION,
         **forwarded}
    if dep.api_key:
        h["x-api-key"] = dep.api_key
        # the compatible endpoints document Bearer auth (Kimi) beside x-api-key (unless api_base holds a
        # user:password, which goes as the Authorization header: with_url_credentials)
        if dep.adapter != "anthropic" and not dep.url_auth:
            h["Authorization"] = f"Bearer {dep.api_key}"
    h.update(dep.headers)
    return h


def _native_body(dep: Deployment, body: dict, **over: Any) -> bytes:
    out = {**body, "model": dep.model, **over}
    if dep.extra_body and dep.adapter == "anthropic":  # extra_body of other vendors is in their chat format
        out = deep_merge(out, dep.extra_body)
    return orjson.dumps(out)


def chat_body(dep: Deployment, native: dict) -> dict:
    """The chat-completions body for a translated call: thinking said the way this vendor says it, max_tokens
    within what the model can write (Claude Code asks for up to 32k)."""
    out = openai_from_anthropic(native)
    level = thinking_level(native)
    if level:
        extra, _ = thinking_params(dep, level)
        out.update(extra)
    cap = dep.info.max_output_tokens if dep.info.known and dep.info.max_output_tokens > 0 else None
    if cap and isinstance(out.get("max_tokens"), int) and out["max_tokens"] > cap:
        out["max_tokens"] = cap
    return out


# ------------------------------------------------------------------------------------------------ calls
async def complete(dep: Deployment, body: dict, call: Call, pools: Pools, forwarded: dict[str, str]) -> bytes:
    """One Anthropic message, as the JSON bytes to send the client."""
    base = native_base(dep)
    if not base:
        data = await get(dep.adapter).complete(dep, {**chat_body(dep, body), "stream": False}, call, pools)
        return orjson.dumps(anthropic_from_openai(data, body.get("model")))
    need_key(dep)
    resp = await post(pools, dep, _url(base), _native_body(dep, body, stream=False), _headers(dep, forwarded),
                      pools.timeout(dep.timeout, stream=False))
    raw = await read_body(resp, dep, getattr(resp, "accord_limit", 64 << 20))
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad_upstream_json(dep) from None
    if not isinstance(data, dict) or not isinstance(data.get("content"), list):
        if isinstance(data, dict) and data.get("type") == "error":
            kind = (data.get("error") or {}).get("type")
            raise upstream_error(dep, ERROR_STATUS.get(str(kind), 502), raw)
        raise bad_upstream_json(dep)
    call.usage = usage_from(data.get("usage")) or Usage(estimate_tokens(body.get("messages")),
                                                        estimate_tokens(data["content"]), estimated=True)
    call.finish_reason = FINISH.get(data.get("stop_reason") or "end_turn", "stop")
    model = _named(body)
    if model is not None and data.get("model") != model:
        data["model"] = model
        return orjson.dumps(data)
    return raw


def _named(body: dict) -> str | None:
    """The model name the client asked for, which the answer carries instead of the upstream's id: Claude Code
    drops the thinking blocks (and their signatures) of a message whose model is not the one it is using,
    and a thinking model then refuses the tool-use turn that lacks them."""
    model = body.get("model")
    return model if isinstance(model, str) else None


async def stream(dep: Deployment, body: dict, call: Call, pools: Pools,
                 forwarded: dict[str, str]) -> Chunks:
    """Connect (the status checked, so failures before the first byte can be retried), then iterate the
    Anthropic SSE bytes to send the client."""
    base = native_base(dep)
    if not base:
        oa = {**chat_body(dep, body), "stream": True, "stream_options": {"include_usage": True}}
        chunks = await get(dep.adapter).stream(dep, oa, call, pools)  # it sets call.prompt_estimate
        events = MessageEvents(str(body.get("model") or dep.name), call.prompt_estimate)
        return _translated(chunks, events, call)
    need_key(dep)
    resp = await post(pools, dep, _url(base), _native_body(dep, body, stream=True), _headers(dep, forwarded),
                      pools.timeout(dep.timeout, stream=True, stream_timeout=dep.stream_timeout), call=call)
    return _relay(resp, dep, call, _named(body))


async def _translated(chunks: AsyncIterator[bytes], events: MessageEvents, call: Call) -> Chunks:
    async with aclosing(chunks) as it:  # type: ignore[type-var]
        async for raw in it:
            chunk = orjson.loads(raw)
            for ev in events.feed(chunk):
                yield ev
    for ev in events.end(call.usage):
        yield ev


class _Watch:
    """Reads the events of a passed-through stream as they go by, for the usage row and the router: usage,
    stop reason, an in-band error, whether it ended properly."""

    def __init__(self, dep: Deployment, model: str | None) -> None:
        self.dep = dep
        self.model = model
        self.usage: dict[str, int] = {}
        self.done = False
        self.error: dict | None = None

    def see(self, data: bytes, call: Call) -> bytes:
        """Note what the event says; return it as it came, but for message_start's `model` (see _named). Read
        through a view that skips the content (event_views.py); message_start and error events, small and
        rewritten here, and whatever the view does not take, are read whole."""
        view = message_event(data)
        if view is None or view.type in ("message_start", "error"):
            return self._see_whole(data, call)
        self._note(call, view.type, view.usage, view.delta.stop_reason if view.delta is not None else None)
        return data

    def _note(self, call: Call, kind: object, usage: object, stop_reason: object) -> None:
        """What every event tells, read whole or through the view: its usage, a stop reason, the end."""
        call.chunks += 1
        if isinstance(usage, dict):  # message_delta's counts are cumulative: the latest wins
            self.usage.update({k: v for k, v in usage.items() if isinstance(v, int)})
        if kind == "message_delta":
            if stop_reason:
                call.finish_reason = FINISH.get(str(stop_reason), "stop")
        elif kind == "message_stop":
            self.done = True

    def _see_whole(self, data: bytes, call: Call) -> bytes:
        try:
            ev = orjson.loads(data)
        except orjson.JSONDecodeError:
            return data
        if not isinstance(ev, dict):
            return data
        kind = ev.get("type")
        if kind == "message_start" and isinstance(ev.get("message"), dict) and self.model is not None \
                and ev["message"].get("model") != self.model:
            ev["message"]["model"] = self.model
            data = orjson.dumps(ev)
        message, delta = ev.get("message"), ev.get("delta")
        u = (message.get("usage") if isinstance(message, dict) else None) if kind == "message_start" \
            else ev.get("usage")
        self._note(call, kind, u, delta.get("stop_reason") if isinstance(delta, dict) else None)
        if kind == "error":
            self.error = ev.get("error") if isinstance(ev.get("error"), dict) else {}
            data = scrub(data.decode("utf-8", "replace"), self.dep).encode()  # never a key a provider echoed
        return data

    def events(self, raw: bytes, call: Call) -> bytes:
        """One event's bytes as they go on: the same object unless an event was rewritten (then rebuilt line by
        line, line ends as they came), so a large event is neither split nor joined again."""
        seen = [(data, self.see(data, call)) for data in data_lines(raw)]
        if all(out is data for data, out in seen):
            return raw
        lines = split_lines(raw)
        it = iter(seen)
        for i in range(0, len(lines), 2):
            line = lines[i]
            if line.startswith(b"data:") and line[5:].strip():
                data, out = next(it)
                if out is not data:
                    lines[i] = b"data: " + out
        return b"".join(lines)


async def _relay(resp: aiohttp.ClientResponse, dep: Deployment, call: Call, model: str | None) -> Chunks:
    """The upstream's bytes as they come, cut only at event boundaries (so an error Accord adds after them
    is never glued to half an event)."""
    watch = _Watch(dep, model)
    try:
        async with aclosing(sse_events(resp, dep)) as blocks:
            async for events in blocks:
                if call.first_byte is None:
                    call.first_byte = time.perf_counter()
                if events:
                    yield b"".join([watch.events(e, call) for e in events])
    except WholeReply as e:
        whole_reply(dep, e.raw)  # the upstream's own error, when it is one; else the reply is named as it is
        raise
    finally:
        u = usage_from(watch.usage) if watch.usage else None
        call.usage = u or Usage(call.prompt_estimate, call.chunks, estimated=True)
    if watch.error is not None:  # the upstream's own error event went by: the stream failed, though it ended
        call.status = ERROR_STATUS.get(str(watch.error.get("type")), 500)
        call.error_type = str(watch.error.get("type") or "upstream_error")
    elif not watch.done:
        raise UpstreamError(f"{dep.vendor.label or dep.vendor.name} ({dep.id}) ended the stream early "
                            "(no message_stop): the answer is incomplete")


# ------------------------------------------------------------------------------------------ count_tokens
async def count_tokens(dep: Deployment, body: dict, pools: Pools, forwarded: dict[str, str]) -> int:
    """Input tokens of a Messages request: the upstream's exact count where it offers one, else counted here."""
    base = native_base(dep)
    if base:
        need_key(dep)
        payload = {k: body[k] for k in COUNT_FIELDS if k in body}
        try:
            resp = await post(pools, dep, _url(base, "messages/count_tokens"),
                              orjson.dumps({**payload, "model": dep.model}), _headers(dep, forwarded),
                              pools.timeout(dep.timeout, stream=False))
        except UpstreamError as e:
            if e.upstream_status not in (404, 405):  # 404/405: this vendor has no count_tokens; count here
                raise
        else:
            data = orjson.loads(await read_body(resp, dep, getattr(resp, "accord_limit", 64 << 20)) or b"{}")
            if isinstance(data, dict) and isinstance(data.get("input_tokens"), int):
                return data["input_tokens"]
            raise bad_upstream_json(dep)
    return count_locally(body)


def count_locally(body: dict) -> int:
    """A count with the real BPE tokenizer in accord.tokens (cl100k, which over-counts rather than under):
    text, tool calls and results, tool definitions; a fixed count per image or PDF."""
    texts: list[str] = []
    extra = 0

    def blocks(content: Any) -> None:
        nonlocal extra
        if isinstance(content, str):
            texts.append(content)
            return
        for b in content if isinstance(content, list) else ():
            if not isinstance(b, dict):
                continue
            kind = b.get("type")
            if kind == "text":
                texts.append(str(b.get("text") or ""))
            elif kind == "thinking":
                texts.append(str(b.get("thinking") or ""))
            elif kind == "tool_use":
                texts.append(f"{b.get('name')} {orjson.dumps(b.get('input') or {}).decode()}")
            elif kind == "tool_result":
                blocks(b.get("content"))
            elif kind in ("image", "document"):
                src = b.get("source") or {}
                if src.get("type") == "text":
                    texts.append(str(src.get("data") or ""))
                else:
                    extra += IMAGE_TOKENS

    system = body.get("system")
    blocks(system)
    for m in body.get("messages") or ():
        if isinstance(m, dict):
            extra += 3  # the turn's own markers
            blocks(m.get("content"))
    if body.get("tools"):
        texts.append(orjson.dumps(body["tools"]).decode())
    return sum(tokens.count(t) for t in texts) + extra
