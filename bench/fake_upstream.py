"""A fast fake OpenAI-compatible upstream for benchmarks, run as its own process.

Raw asyncio protocol + httptools (uvloop when installed): no framework, canned bytes, so it is never the
bottleneck. It answers:

- POST .../chat/completions: a canned `chat.completion`, or with `"stream": true` an SSE stream of N content
  chunks, one every PACE ms (role chunk first, at once; finish, usage and [DONE] right after the last);
- POST .../messages: Anthropic's Messages API, the same way: a canned `message`, or streamed as Anthropic's
  events (`message_start` at once, one `content_block_delta` per chunk, then `message_delta`, `message_stop`);
- POST .../embeddings: a canned embedding;
- GET /health/liveliness, /health, .../models.

The requested model name can script one request: `delay-1.5` anywhere in it waits 1.5 s before answering,
`sse-20x10` streams 20 chunks 10 ms apart, `chairjson` wraps the streamed tokens in a consensus chair's JSON
reply (`{"recommendation": "tok1 tok2 ..."}`), `tools-20x10` streams one tool call whose `arguments` come in 20
deltas 10 ms apart (`argtok1 ... argtok20`), `bigevent-20` streams one 20 MB content event. Otherwise
--chunks/--pace-ms apply. `lockstep-5` streams a 5-delta tool call in lockstep with the client: each delta
waits until the client, having received the one before, calls `GET /ack/<i>` here (at most 3 s: a delta
the client never saw within that was held back by whatever sits between; `GET /lockstep` counts them).
A path under `/fail500/` (an `api_base` of `.../fail500/v1`) answers 500: the deployment a failover skips.

    python bench/fake_upstream.py --port 9001 [--chunks 20 --pace-ms 10] [--loop asyncio|uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re

import httptools
import orjson

_DELAY = re.compile(rb"delay-(\d+(?:\.\d+)?)")
_SSE = re.compile(rb"sse-(\d+)x(\d+(?:\.\d+)?)")
_STREAM_ON = re.compile(rb'"stream"\s*:\s*true')
_TOOLS = re.compile(rb"tools-(\d+)x(\d+(?:\.\d+)?)")
_BIG = re.compile(rb"bigevent-(\d+(?:\.\d+)?)")
_LOCK = re.compile(rb"lockstep-(\d+)")
LOCK_WAIT = 3.0  # seconds a lockstep delta waits for the client to have seen the one before
FAILED = b'{"error":{"message":"fake upstream failure (a /fail500/ path)","type":"server_error"}}'
_USAGE = {"prompt_tokens": 11, "completion_tokens": 9, "total_tokens": 20}
CONTENT = "Hello from the fake upstream: a short canned answer."


def completion(model: str) -> bytes:
    return orjson.dumps({
        "id": "chatcmpl-bench", "object": "chat.completion", "created": 1_700_000_000, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": CONTENT}, "finish_reason": "stop"}],
        "usage": _USAGE,
    })


def chunk(model: str, delta: dict, finish: str | None = None, usage: bool = False) -> bytes:
    c: dict = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1_700_000_000,
               "model": model, "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage:
        c["usage"] = _USAGE
    return b"data: " + orjson.dumps(c) + b"\n\n"


def message(model: str) -> bytes:
    return orjson.dumps({
        "id": "msg_bench", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": CONTENT}], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 11, "output_tokens": 9},
    })


def event(kind: str, data: dict) -> bytes:
    """One Anthropic SSE event: `event:` line, then its JSON (which repeats the type, as Anthropic's do)."""
    return b"event: %s\ndata: %s\n\n" % (kind.encode(), orjson.dumps({"type": kind, **data}))


def message_events(model: str) -> tuple[bytes, bytes]:
    """What is sent before the first token and after the last one."""
    start = orjson.loads(message(model))
    start.update(content=[], stop_reason=None, usage={"input_tokens": 11, "output_tokens": 1})
    head = event("message_start", {"message": start}) + event(
        "content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
    tail = (event("content_block_stop", {"index": 0})
            + event("message_delta", {"delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                      "usage": {"output_tokens": 9}})
            + event("message_stop", {}))
    return head, tail


EMBEDDING = orjson.dumps({"object": "list", "model": "fake-embed", "usage": {"prompt_tokens": 2, "total_tokens": 2},
                          "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3]}]})
MODELS = orjson.dumps({"object": "list", "data": [{"id": "fake", "object": "model", "owned_by": "bench"}]})
ALIVE = b'"I\'m alive!"'


def response(status: int, body: bytes, keep_alive: bool, ctype: bytes = b"application/json") -> bytes:
    reason = {200: b"OK", 500: b"Internal Server Error"}.get(status, b"Not Found")
    conn = b"keep-alive" if keep_alive else b"close"
    return (b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\nconnection: %s\r\n\r\n"
            % (status, reason, ctype, len(body), conn)) + body


class Upstream:
    """What the fake serves; shared by every connection."""

    def __init__(self, chunks: int, pace_ms: float, lock_wait: float = LOCK_WAIT) -> None:
        self.chunks = chunks
        self.lock_wait = lock_wait
        self.pace = pace_ms / 1000
        self._completions: dict[bytes, bytes] = {}
        self._big: dict[bytes, bytes] = {}
        self.acks: dict[int, asyncio.Event] = {}  # the lockstep stream under way: delta index -> client saw it
        self.waited_out = 0  # lockstep deltas the client had not seen within LOCK_WAIT

    def ack(self, i: int) -> None:
        self.acks.setdefault(i, asyncio.Event()).set()

    async def seen(self, i: int) -> None:
        """Wait until the client saw delta i; count it as held back when it has not within LOCK_WAIT."""
        try:
            await asyncio.wait_for(self.acks.setdefault(i, asyncio.Event()).wait(), self.lock_wait)
        except asyncio.TimeoutError:
            self.waited_out += 1

    def big_event(self, model: bytes, mb: float) -> bytes:
        """One SSE event carrying `mb` MB of content, built once per size."""
        ev = self._big.get(model)
        if ev is None:
            ev = self._big[model] = chunk(model.decode(), {"content": "x" * int(mb * 1_000_000)})
        return ev

    def completion_for(self, model: bytes) -> bytes:
        body = self._completions.get(model)
        if body is None:
            body = self._completions[model] = completion(model.decode())
        return body


class Conn(asyncio.Protocol):
    def __init__(self, up: Upstream) -> None:
        self.up = up
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.write(response(400, b"bad request", False, b"text/plain"))
            self.transport.close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url = b""
        self.body = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        keep = self.parser.should_keep_alive()
        method = self.parser.get_method()
        path = self.url.split(b"?", 1)[0]
        t = self.transport
        assert t is not None
        if method == b"GET":
            if path.startswith(b"/ack/"):
                self.up.ack(int(path.rsplit(b"/", 1)[1]))
                t.write(response(200, b"{}", keep))
            elif path == b"/lockstep":
                t.write(response(200, b'{"waited_out": %d}' % self.up.waited_out, keep))
            elif path.startswith(b"/health"):
                t.write(response(200, ALIVE, keep))
            elif path.endswith(b"/models"):
                t.write(response(200, MODELS, keep))
            else:
                t.write(response(404, b'{"error":{"message":"no route"}}', keep))
            return
        raw = b"".join(self.body)
        if path.startswith(b"/fail500/"):
            t.write(response(500, FAILED, keep))
        elif path.endswith(b"/chat/completions"):
            self.chat(raw, keep)
        elif path.endswith(b"/messages"):
            self.chat(raw, keep, anthropic=True)
        elif path.endswith(b"/embeddings"):
            t.write(response(200, EMBEDDING, keep))
        else:
            t.write(response(404, b'{"error":{"message":"no route"}}', keep))
        if not keep:
            t.close()

    def chat(self, raw: bytes, keep: bool, anthropic: bool = False) -> None:
        model = b"gpt-4o-mini"
        m = re.search(rb'"model"\s*:\s*"([^"]*)"', raw)
        if m:
            model = m.group(1)
        delay = _DELAY.search(model)
        stream = _STREAM_ON.search(raw) is not None
        if not stream and delay is None:
            assert self.transport is not None
            body = message(model.decode()) if anthropic else self.up.completion_for(model)
            self.transport.write(response(200, body, keep))
            return
        # the slow paths parse properly and run as a task
        body = orjson.loads(raw)
        wait = float(delay.group(1)) if delay else 0.0
        asyncio.get_running_loop().create_task(self.slow(body, model.decode(), wait, stream, keep, anthropic))

    async def slow(self, body: dict, model: str, wait: float, stream: bool, keep: bool,
                   anthropic: bool = False) -> None:
        t = self.transport
        assert t is not None
        if wait:
            await asyncio.sleep(wait)
        if not stream:
            t.write(response(200, message(model) if anthropic else completion(model), keep))
            return
        n, pace = self.up.chunks, self.up.pace
        sse = _SSE.search(model.encode()) or _TOOLS.search(model.encode())
        if sse:
            n, pace = int(sse.group(1)), float(sse.group(2)) / 1000
        lock = None if anthropic else _LOCK.search(model.encode())
        if lock is not None:
            n, pace = int(lock.group(1)), 0.0
            self.up.acks = {}
        tools = not anthropic and (_TOOLS.search(model.encode()) is not None or lock is not None)
        big = None if anthropic else _BIG.search(model.encode())
        usage = bool((body.get("stream_options") or {}).get("include_usage"))
        t.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
                b"transfer-encoding: chunked\r\nconnection: %s\r\n\r\n" % (b"keep-alive" if keep else b"close"))
        loop = asyncio.get_running_loop()
        start = loop.time()

        def send(data: bytes) -> None:
            t.write(b"%x\r\n%s\r\n" % (len(data), data))

        head, tail = message_events(model) if anthropic else (chunk(model, {"role": "assistant", "content": ""}), b"")
        if tools:
            head = chunk(model, {"role": "assistant", "content": None, "tool_calls": [
                {"index": 0, "id": "call_bench", "type": "function", "function": {"name": "grep", "arguments": ""}}]})
        send(head)
        if big is not None:
            n = 0
            send(self.up.big_event(model.encode(), float(big.group(1))))
        chair = "chairjson" in model
        for i in range(1, n + 1):
            if lock is not None and i > 1:
                await self.up.seen(i - 1)
            await asyncio.sleep(max(0.0, start + i * pace - loop.time()))
            if t.is_closing():
                return
            text = f"tok{i} "
            if chair and i == 1:
                text = '```json\n{"recommendation": "' + text
            if chair and i == n:
                text += '", "supporters": []}\n```'
            if tools:  # the arguments' JSON, a piece at a time: {"q": "argtok1 argtok2 ... argtokN"}
                args = ('{"q": "' if i == 1 else "") + f"argtok{i} " + ('"}' if i == n else "")
                send(chunk(model, {"tool_calls": [{"index": 0, "function": {"arguments": args}}]}))
                if lock is not None and i == n:
                    await self.up.seen(n)
                continue
            send(event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": text}})
                 if anthropic else chunk(model, {"content": text}))
        if not anthropic:
            tail = chunk(model, {}, "tool_calls" if tools else "stop")
            if usage:
                tail += chunk(model, {}, usage=True)
            tail += b"data: [DONE]\n\n"
        send(tail)
        t.write(b"0\r\n\r\n")
        if not keep:
            t.close()


async def serve(host: str, port: int, up: Upstream) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Conn(up), host, port, backlog=4096, reuse_address=True)
    print(f"fake upstream on http://{host}:{port} ({type(loop).__module__})", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9001)
    ap.add_argument("--chunks", type=int, default=20, help="content chunks per streamed answer")
    ap.add_argument("--pace-ms", type=float, default=10.0, help="milliseconds between streamed chunks")
    ap.add_argument("--loop", choices=["auto", "asyncio", "uvloop"], default="auto")
    ap.add_argument("--lock-wait", type=float, default=LOCK_WAIT,
                    help="seconds a lockstep delta waits for the client to have seen the one before")
    a = ap.parse_args(argv)
    up = Upstream(a.chunks, a.pace_ms, a.lock_wait)
    run = asyncio.run
    if a.loop != "asyncio":
        try:
            import uvloop

            run = uvloop.run
        except ImportError:
            if a.loop == "uvloop":
                raise
    with contextlib.suppress(KeyboardInterrupt):
        run(serve(a.host, a.port, up))

if __name__ == "__main__":
    main()
