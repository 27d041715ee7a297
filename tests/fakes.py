"""A fake model provider: the outside world, scripted.

It speaks the wire formats Accord talks to (OpenAI chat completions and embeddings; Anthropic Messages;
Gemini generateContent), JSON and SSE, with scripted replies, latency, errors and a record of every request.
It runs as a real HTTP server on a free loopback port (uvicorn in a thread), so Accord's real HTTP client
is exercised.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from waiting import DEADLINE, Hopeless, wait_for


@dataclass
class Reply:
    """What the fake answers one request with."""

    content: str = "Hello from the fake upstream."
    reasoning: str | None = None  # streamed/returned as reasoning (reasoning_content, thinking, thought parts)
    tool_calls: list[dict] | None = None  # OpenAI-shaped [{"id", "type": "function", "function": {...}}]
    finish_reason: str | None = None  # default: "tool_calls" with tool calls, else "stop"
    status: int = 200
    error: Any = None  # body sent with an error status (dict, str or bytes)
    headers: dict = field(default_factory=dict)
    delay: float = 0.0  # seconds before the response starts (a deliberate latency, not a wait for anything)
    hold: Callable[[], bool] | None = None  # answer only once this holds (a test's gate; reset() lets all go)
    chunk_delay: float = 0.0  # seconds between streamed chunks
    chunk_hold: Callable[[int], bool] | None = None  # stream content chunk i only once this holds (OpenAI format)
    chunk_size: int = 8  # characters of content per streamed chunk
    usage: bool = True  # report usage
    prompt_tokens: int = 11  # all input, as OpenAI counts it (cache reads and writes included)
    cached_tokens: int | None = None  # of prompt_tokens, read from the cache (None: the vendor's default)
    cache_write_tokens: int = 0  # of prompt_tokens, written to the cache (Anthropic)
    raw: bytes | None = None  # send these bytes as the body, verbatim (malformed output)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerThread:
    """Run an ASGI app with uvicorn on a loopback port in a background thread."""

    def __init__(self, app: Any, port: int | None = None, http: Any = "auto") -> None:
        """`http`: uvicorn's HTTP protocol (accord.app.HTTP_PROTOCOL: the one `accord serve` runs)."""
        self.port = port or free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on", loop="asyncio", timeout_graceful_shutdown=2,
                                                    http=http))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerThread:
        self.thread.start()

        def started() -> bool:
            if not self.thread.is_alive():
                raise Hopeless("the server thread died (see the log above)")
            return self.server.started

        wait_for(started, "the server thread to start", every=0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class FakeUpstream:
    """Scripted provider. Queue replies with `.reply(...)`, or set `.responder` to compute one per request."""

    def __init__(self, vendor: str | None = None) -> None:
        """`vendor` (e.g. "deepseek", see tests/strict): refuse what that vendor refuses, with its status and
        error body, and shape answers with its fields; None: accept anything (the lenient fake)."""
        self.strict = None
        if vendor is not None:
            from strict import PROFILES

            self.strict = PROFILES[vendor]
        self.requests: list[dict] = []  # {"path", "headers", "json"}; a refused one also has "refused"
        self.models = ["fake-model"]  # what GET /models lists
        self.script: deque[Reply] = deque()
        self.default = Reply()
        self.responder: Callable[[dict], Reply | None] | None = None
        self.in_flight = 0  # requests received and not yet answered (the response has not started)
        self.peak_in_flight = 0  # the most at once: how a test sees that calls overlapped, without a clock
        self._epoch = 0  # bumped by reset(), which lets every held request go
        self.app = Starlette(routes=[Route("/{path:path}", self._dispatch, methods=["POST", "GET"])])
        self._server = ServerThread(self.app)

    # ------------------------------------------------------------------ control
    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> FakeUpstream:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reply(self, **kw: Any) -> FakeUpstream:
        self.script.append(Reply(**kw))
        return self

    def reset(self) -> None:
        self.requests.clear()
        self.script.clear()
        self.responder = None
        self.default = Reply()
        self.in_flight = self.peak_in_flight = 0
        self._epoch += 1

    @property
    def last(self) -> dict:
        return self.requests[-1]

    # ------------------------------------------------------------------ serving
    def _next(self, req: dict) -> Reply:
        if self.responder is not None:
            r = self.responder(req)
            if r is not None:
                return r
        return self.script.popleft() if self.script else self.default

    async def _dispatch(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            body = {"_raw": raw}
        path = "/" + request.path_params["path"]
        rec = {"path": path, "headers": dict(request.headers), "json": body, "query": dict(request.query_params)}
        epoch = self._epoch
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        self.requests.append(rec)
        try:
            return await self._answer(request, rec, path)
        finally:
            if epoch == self._epoch:  # one left over from before a reset() no longer counts
                self.in_flight -= 1

    async def _answer(self, request: Request, rec: dict, path: str) -> Response:
        if request.method == "GET" and path.endswith("/models"):
            return _json({"object": "list", "data": [{"id": m, "object": "model"} for m in self.models]})
        if self.strict is not None and self.strict.applies(path):
            broken = self.strict.check(rec["json"])
            if broken is not None:
                rec["refused"] = broken.message
                return _json(self.strict.error(broken), broken.status)
        reply = self._next(rec)
        if reply.hold is not None:
            epoch = self._epoch
            if not await _held(lambda: reply.hold() or epoch != self._epoch):  # type: ignore[misc]
                return _json({"error": {"message": "fake: held past the deadline", "type": "fake"}}, 504)
        if reply.delay:
            await asyncio.sleep(reply.delay)  # wait-ok: the provider's scripted latency
        if reply.status >= 400:
            err = reply.error if reply.error is not None else {"error": {"message": f"fake error {reply.status}",
                                                                           "type": "server_error"}}
            content = err if isinstance(err, bytes) else err.encode() if isinstance(err, str) else orjson.dumps(err)
            return Response(content, status_code=reply.status, headers=reply.headers,
                            media_type="application/json")
        if reply.raw is not None:
            return Response(reply.raw, headers=reply.headers, media_type="application/json")
        for suffix, handler in HANDLERS.items():
            if suffix in path:
                return await handler(self, rec, reply)
        return _json({"error": {"message": f"fake: no route {path}"}}, 404)


async def _held(gate: Callable[[], bool]) -> bool:
    """Wait for a test's gate to open; False after the deadline (a safety net: a broken test fails, never hangs)."""
    deadline = time.monotonic() + DEADLINE
    while not gate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)  # wait-ok: polling the test's gate
    return True


def _json(data: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, headers=headers, media_type="application/json")


def pieces(text: str, size: int) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)] if text else []


def count_tokens(text: str | None) -> int:
    return max(1, len(text or "") // 4)


def _sse(gen, reply: Reply) -> StreamingResponse:
    return StreamingResponse(gen, media_type="text/event-stream", headers=reply.headers)


# ----------------------------------------------------------------------------------------- OpenAI format
async def openai_chat(fake: FakeUpstream, rec: dict, reply: Reply) -> Response:
    body = rec["json"]
    model = body.get("model", "fake")
    finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
    completion = count_tokens(reply.content) + count_tokens(reply.reasoning) if reply.reasoning else \
        count_tokens(reply.content)
    usage = {"prompt_tokens": reply.prompt_tokens, "completion_tokens": completion,
             "total_tokens": reply.prompt_tokens + completion}
    if reply.reasoning:
        usage["completion_tokens_details"] = {"reasoning_tokens": count_tokens(reply.reasoning)}
    if reply.cached_tokens is not None:  # each strict vendor moves it to its own field
        usage["prompt_tokens_details"] = {"cached_tokens": reply.cached_tokens}
    reasoning_field = "reasoning_content"
    if fake.strict is not None:  # the vendor's own usage fields, and its name for reasoning (or none)
        usage = fake.strict.usage(usage, model, body)
        reasoning_field = fake.strict.reasoning_field
    cid, created = "chatcmpl-fake", int(time.time())
    if not body.get("stream"):
        msg: dict = {"role": "assistant", "content": reply.content}
        if reply.reasoning and reasoning_field:
            msg[reasoning_field] = reply.reasoning
        if reply.tool_calls:
            msg["tool_calls"] = reply.tool_calls
        data = {"id": cid, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": msg, "finish_reason": finish}]}
        if reply.usage:
            data["usage"] = usage
        return _json(data, headers=reply.headers)

    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

    def chunk(delta: dict, fr: str | None = None) -> bytes:
        c = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
             "choices": [{"index": 0, "delta": delta, "finish_reason": fr}]}
        return b"data: " + orjson.dumps(c) + b"\n\n"

    async def gen():
        yield chunk({"role": "assistant", "content": ""})
        for part in pieces(reply.reasoning or "", reply.chunk_size) if reasoning_field else ():
            if reply.chunk_delay:
                await asyncio.sleep(reply.chunk_delay)  # wait-ok: scripted latency
            yield chunk({reasoning_field: part})
        for i, part in enumerate(pieces(reply.content, reply.chunk_size)):
            if reply.chunk_delay:
                await asyncio.sleep(reply.chunk_delay)  # wait-ok: scripted latency
            if reply.chunk_hold is not None and not await _held(lambda i=i: reply.chunk_hold(i)):  # type: ignore[misc]
                return  # the gate never opened: end the stream unfinished, so the test sees it
            yield chunk({"content": part})
        for i, tc in enumerate(reply.tool_calls or ()):
            yield chunk({"tool_calls": [{"index": i, **tc}]})
        yield chunk({}, finish)
        if include_usage and reply.usage:
            u = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                 "choices": [], "usage": usage}
            yield b"data: " + orjson.dumps(u) + b"\n\n"
        yield b"data: [DONE]\n\n"

    return _sse(gen(), reply)


async def openai_embeddings(fake: FakeUpstream, rec: dict, reply: Reply) -> Response:
    inp = rec["json"].get("input")
    items = inp if isinstance(inp, list) else [inp]
    data = [{"object": "embedding", "index": i, "embedding": [0.1 * (i + 1), 0.2, 0.3]} for i in range(len(items))]
    n = sum(count_tokens(str(x)) for x in items)
    return _json({"object": "list", "data": data, "model": rec["json"].get("model"),
                  "usage": {"prompt_tokens": n, "total_tokens": n}})


# path fragment -> handler; the Anthropic and Gemini formats register theirs below
HANDLERS: dict[str, Callable] = {"/chat/completions": openai_chat, "/embeddings": openai_embeddings}


# -------------------------------------------------------------------------------------- Anthropic format
# Reply.finish_reason is said in OpenAI's words; anything else is sent as the native value, as given
_ANTHROPIC_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}


def _anthropic_blocks(reply: Reply) -> list[dict]:
    blocks: list[dict] = []
    if reply.reasoning:
        blocks.append({"type": "thinking", "thinking": reply.reasoning, "signature": "fake-signature"})
    if reply.content:
        blocks.append({"type": "text", "text": reply.content})
    for i, tc in enumerate(reply.tool_calls or ()):
        fn = tc.get("function") or {}
        blocks.append({"type": "tool_use", "id": tc.get("id") or f"toolu_fake{i}", "name": fn.get("name"),
                       "input": orjson.loads(fn.get("arguments") or "{}")})
    return blocks


async def anthropic_messages(fake: FakeUpstream, rec: dict, reply: Reply) -> Response:
    body = rec["json"]
    if rec["path"].endswith("/count_tokens"):  # the fake's own count: a number Accord cannot have made up
        return _json({"input_tokens": 1000 + len(orjson.dumps(body.get("messages")))}, headers=reply.headers)
    model = body.get("model", "fake")
    finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
    stop_reason = _ANTHROPIC_STOP.get(finish, finish)
    output = count_tokens(reply.content) + (count_tokens(reply.reasoning) if reply.reasoning else 0)
    read, written = reply.cached_tokens or 0, reply.cache_write_tokens  # Anthropic counts both apart from input
    usage = {"input_tokens": reply.prompt_tokens - read - written, "cache_creation_input_tokens": written,
             "cache_read_input_tokens": read, "output_tokens": output}
    blocks = _anthropic_blocks(reply)
    message = {"id": "msg_fake", "type": "message", "role": "assistant", "model": model, "content": blocks,
               "stop_reason": stop_reason, "stop_sequence": None}
    if not body.get("stream"):
        return _json({**message, **({"usage": usage} if reply.usage else {})}, headers=reply.headers)

    def event(name: str, data: dict) -> bytes:
        return f"event: {name}\ndata: ".encode() + orjson.dumps({"type": name, **data}) + b"\n\n"

    async def gen():
        start = {**message, "content": [], "stop_reason": None}
        if reply.usage:
            start["usage"] = {**usage, "output_tokens": 1}
        yield event("message_start", {"message": start})
        yield event("ping", {})
        for i, block in enumerate(blocks):
            kind = block["type"]
            if kind == "thinking":
                yield event("content_block_start", {"index": i, "content_block": {"type": "thinking", "thinking": ""}})
                deltas = [{"type": "thinking_delta", "thinking": p} for p in pieces(block["thinking"], reply.chunk_size)]
                deltas.append({"type": "signature_delta", "signature": block["signature"]})
            elif kind == "text":
                yield event("content_block_start", {"index": i, "content_block": {"type": "text", "text": ""}})
                deltas = [{"type": "text_delta", "text": p} for p in pieces(block["text"], reply.chunk_size)]
            else:
                start_block = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
                yield event("content_block_start", {"index": i, "content_block": start_block})
                args = orjson.dumps(block["input"]).decode()
                deltas = [{"type": "input_json_delta", "partial_json": p} for p in ["", *pieces(args, reply.chunk_size)]]
            for d in deltas:
                if reply.chunk_delay:
                    await asyncio.sleep(reply.chunk_delay)  # wait-ok: scripted latency
                yield event("content_block_delta", {"index": i, "delta": d})
            yield event("content_block_stop", {"index": i})
        delta = {"delta": {"stop_reason": stop_reason, "stop_sequence": None}}
        yield event("message_delta", {**delta, **({"usage": {"output_tokens": output}} if reply.usage else {})})
        yield event("message_stop", {})

    return _sse(gen(), reply)


# ----------------------------------------------------------------------------------------- Gemini format
_GEMINI_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP", "content_filter": "SAFETY"}


def _gemini_call(tc: dict, first: bool) -> dict:
    fn = tc.get("function") or {}
    part: dict = {"functionCall": {"name": fn.get("name"), "args": orjson.loads(fn.get("arguments") or "{}")}}
    if first:  # Gemini signs the first function call of a turn
        part["thoughtSignature"] = "fake-thought-signature"
    return part


def _gemini_usage(reply: Reply, final: bool = True) -> dict:
    u = {"promptTokenCount": reply.prompt_tokens}  # cached content included, as Gemini counts it
    if reply.cached_tokens:
        u["cachedContentTokenCount"] = reply.cached_tokens
    if final:
        u["candidatesTokenCount"] = count_tokens(reply.content)
        if reply.reasoning:
            u["thoughtsTokenCount"] = count_tokens(reply.reasoning)
    u["totalTokenCount"] = sum(v for k, v in u.items() if k != "cachedContentTokenCount")
    return u


def _gemini_model(rec: dict) -> str:
    return rec["path"].rsplit("/", 1)[-1].split(":", 1)[0]


async def gemini_generate(fake: FakeUpstream, rec: dict, reply: Reply) -> Response:
    finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
    parts: list[dict] = []
    if reply.reasoning:
        parts.append({"text": reply.reasoning, "thought": True})
    if reply.content:
        parts.append({"text": reply.content})
    parts += [_gemini_call(tc, i == 0) for i, tc in enumerate(reply.tool_calls or ())]
    data: dict = {"candidates": [{"content": {"role": "model", "parts": parts}, "index": 0,
                                  "finishReason": _GEMINI_FINISH.get(finish, finish)}],
                  "modelVersion": _gemini_model(rec), "responseId": "fake-response"}
    if reply.usage:
        data["usageMetadata"] = _gemini_usage(reply)
    return _json(data, headers=reply.headers)


async def gemini_stream(fake: FakeUpstream, rec: dict, reply: Reply) -> Response:
    finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
    events: list[list[dict]] = [[{"text": p, "thought": True}] for p in pieces(reply.reasoning or "", reply.chunk_size)]
    events += [[{"text": p}] for p in pieces(reply.content, reply.chunk_size)]
    if reply.tool_calls:
        events.append([_gemini_call(tc, i == 0) for i, tc in enumerate(reply.tool_calls)])
    events = events or [[{"text": ""}]]

    async def gen():
        for i, parts in enumerate(events):
            if reply.chunk_delay:
                await asyncio.sleep(reply.chunk_delay)  # wait-ok: scripted latency
            last = i == len(events) - 1
            cand: dict = {"content": {"role": "model", "parts": parts}, "index": 0}
            if last:  # the finish reason rides on the last piece, as Gemini does it
                cand["finishReason"] = _GEMINI_FINISH.get(finish, finish)
            data: dict = {"candidates": [cand], "modelVersion": _gemini_model(rec), "responseId": "fake-response"}
            if reply.usage:
                data["usageMetadata"] = _gemini_usage(reply, final=last)
            yield b"data: " + orjson.dumps(data) + b"\r\n\r\n"

    return _sse(gen(), reply)


async def gemini_embed(fake: FakeUpstream, rec: dict, reply: Reply) -> Response:
    requests = rec["json"].get("requests") or []
    return _json({"embeddings": [{"values": [0.1 * (i + 1), 0.2, 0.3]} for i in range(len(requests))]},
                 headers=reply.headers)


# the dispatcher takes the first fragment found in the path: the streaming one must come before the other
HANDLERS.update({"/v1/messages": anthropic_messages, ":streamGenerateContent": gemini_stream,
                 ":generateContent": gemini_generate, ":batchEmbedContents": gemini_embed})
