"""Streams as `accord serve` runs them, on Accord's own HTTP protocol (gateway/headlimit.py): the response sends
its body in the request's task and the protocol cancels that task when the client hangs up (gateway/sse.py).
Each behaviour that the restructuring could break is asserted through a real client: a hang-up closes the
upstream at once and leaves the stream's usage row; a client that reads slowly still gets every chunk; and a
stream's objects are freed by reference counting alone once it is over (10,000 open streams must not wait for
the cyclic collector to give their memory back)."""

from __future__ import annotations

import asyncio
import gc
import http.client
import socket
import tracemalloc
import weakref
from collections.abc import Callable, Iterator

import httpx
import openai
import orjson
import pytest

from accord.app import HTTP_PROTOCOL, create_app
from accord.config import parse
from accord.gateway import sse
from accord.gateway.headlimit import BoundedHttpTools
from conftest import MASTER_KEY
from fakes import FakeUpstream, Reply, ServerThread
from faults import FaultServer
from waiting import wait_for

ADMIN = {"Authorization": f"Bearer {MASTER_KEY}"}


def _config(api_base: str, extra: str = "") -> str:
    return f"""
settings:
  master_key: {MASTER_KEY}
{extra}models:
  - name: m
    model: openai/m
    api_base: {api_base}
    api_key: k
"""


@pytest.fixture
def served() -> Iterator[Callable[[str], str]]:
    """Accord on the protocol `accord serve` runs (not uvicorn's default); returns its URL."""
    made: list[ServerThread] = []

    def serve(cfg_text: str, http: str = HTTP_PROTOCOL) -> str:
        made.append(ServerThread(create_app(parse(cfg_text, "test.yaml")), http=http).start())
        return made[-1].url

    yield serve
    for s in made:
        s.stop()


def _rows(url: str, **params: str) -> list[dict]:
    return httpx.get(f"{url}/spend/logs", params=params, headers=ADMIN).json()


def test_a_hang_up_mid_stream_closes_the_upstream_and_leaves_the_usage_row(served) -> None:
    # the upstream's next chunk is an hour away and no time-out fires before it: only the hang-up can end it
    faults = FaultServer(drip_gap=3600).start()
    try:
        url = served(_config(faults.url("drip"), "  stream_idle_timeout: 3600\n  request_timeout: 3600\n"))
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=MASTER_KEY, max_retries=0)
        with client.chat.completions.create(model="m", stream=True,
                                            messages=[{"role": "user", "content": "x"}]) as stream:
            first = next(c for c in stream if c.choices and c.choices[0].delta.content)
        assert first.choices[0].delta.content == "slow "
        wait_for(lambda: faults.peer_closed, "the upstream connection to close once the client hung up")
        wait_for(lambda: httpx.get(f"{url}/health/readiness").json()["db"] == "connected", "the store")
        row = wait_for(lambda: next(iter(_rows(url, status="error")), None), "the cut stream's usage row")
        assert (row["status"], row["error_type"], row["stream"], row["model"]) == (499, "client_gone", True, "m")
        # no usage came: the prompt is estimated from the request as sent upstream, the words sent are counted
        assert (row["prompt_tokens"], row["completion_tokens"]) == (faults.sizes[-1] // 4, 1)
    finally:
        faults.stop()


def _history(n: int) -> list[dict]:
    """An agent's history: many small messages with tool calls (the shape whose JSON body.py keeps to send)."""
    out: list[dict] = [{"role": "system", "content": "You are a coding agent."}]
    for i in range(n):
        call = {"id": f"call_{i}", "type": "function",
                "function": {"name": "read_file", "arguments": orjson.dumps({"path": f"src/m{i}.py"}).decode()}}
        out += [{"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": f"call_{i}", "content": f"def f{i}(x):\n    return x + {i}\n" * 20}]
    return [*out, {"role": "user", "content": "Now fix the bug."}]


@pytest.mark.parametrize("messages", [[{"role": "user", "content": "word " * 400_000}], _history(2_000)],
                         ids=["one-long-text", "agent-history"])
def test_an_open_stream_does_not_hold_its_request(served, messages: list[dict]) -> None:
    """An agent's request is ~0.5 MB at 100k tokens, and its stream may stay open for minutes, thousands at once:
    once the request is sent upstream, an open stream holds nothing of it -- not the parsed body, nor the JSON of
    its messages body.py keeps for the adapter (the prompt's estimate, should the stream end without the
    upstream's usage, is an integer on the call). Read with tracemalloc: what the parse of the client's body
    allocated (gateway/body.py) and is still alive while the stream is open."""
    from accord.gateway import body as body_module

    size_sent = len(orjson.dumps(messages))
    faults = FaultServer(drip_gap=3600).start()
    tracemalloc.start()
    try:
        url = served(_config(faults.url("drip"), "  stream_idle_timeout: 3600\n  request_timeout: 3600\n"))
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=MASTER_KEY, max_retries=0)
        with client.chat.completions.create(model="m", stream=True, messages=messages) as stream:  # type: ignore[arg-type]
            assert next(c for c in stream if c.choices and c.choices[0].delta.content)
            gc.collect()
            held = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(True, body_module.__file__)])
            size = sum(s.size for s in held.statistics("filename"))
        wait_for(lambda: faults.peer_closed, "the upstream connection to close once the client hung up")
        assert faults.sizes[-1] > size_sent  # it was sent whole
        assert size < size_sent // 10, f"an open stream holds {size:,} bytes of its {size_sent:,}-byte messages"
    finally:
        tracemalloc.stop()
        faults.stop()


CHUNK = 1 << 16  # characters of content per upstream chunk
TEXT = "".join(f"{i:07d} " for i in range(1 << 20))  # 8 MB of numbered words: more than a socket buffer holds


def test_a_client_that_reads_slowly_still_gets_every_chunk(served, monkeypatch) -> None:
    """The client reads nothing until Accord has had to stop writing to it (its socket buffers full, uvicorn's
    write buffer past its mark: the response waits for the client to drain), then reads: every chunk is there,
    in order, and the stream ends with [DONE] and its usage."""
    paused: list[bool] = []
    pause = BoundedHttpTools.pause_writing

    def pause_writing(self) -> None:  # type: ignore[no-untyped-def]
        paused.append(True)
        pause(self)

    monkeypatch.setattr(BoundedHttpTools, "pause_writing", pause_writing)
    with FakeUpstream() as upstream:
        upstream.default = Reply(content=TEXT, chunk_size=CHUNK)
        url = served(_config(f"{upstream.url}/v1"))
        port = int(url.rsplit(":", 1)[1])
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: the window stays small
        sock.connect(("127.0.0.1", port))
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.sock = sock
        try:
            conn.request("POST", "/v1/chat/completions", headers={**ADMIN, "content-type": "application/json"},
                         body=orjson.dumps({"model": "m", "stream": True, "stream_options": {"include_usage": True},
                                            "messages": [{"role": "user", "content": "count"}]}))
            wait_for(lambda: paused, "Accord to pause writing to the client that reads nothing")
            resp = conn.getresponse()
            assert resp.status == 200
            raw = resp.read()
        finally:
            conn.close()
    payloads = [e[6:] for e in raw.split(b"\n\n") if e.startswith(b"data: ")]
    assert payloads[-1] == b"[DONE]"
    chunks = [orjson.loads(p) for p in payloads[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == TEXT
    assert chunks[-1]["usage"]["completion_tokens"] > 0


def _tracked(monkeypatch: pytest.MonkeyPatch) -> list[weakref.ref]:
    """Weak references to each connection's protocol and each stream's response, as they are made."""
    refs: list[weakref.ref] = []
    made, init = BoundedHttpTools.connection_made, sse.ClosingStream.__init__

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
        refs.append(weakref.ref(self))
        made(self, transport)

    def response(self, *args, **kw) -> None:  # type: ignore[no-untyped-def]
        refs.append(weakref.ref(self))
        init(self, *args, **kw)

    monkeypatch.setattr(BoundedHttpTools, "connection_made", connection_made)
    monkeypatch.setattr(sse.ClosingStream, "__init__", response)
    return refs


@pytest.fixture
def no_cyclic_gc() -> Iterator[None]:
    """Only reference counting frees anything meanwhile (the collector runs rarely under `accord serve`)."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.parametrize("hang_up", [False, True], ids=["read-to-the-end", "hung-up"])
def test_a_streams_objects_are_freed_without_the_cyclic_collector(served, monkeypatch, no_cyclic_gc,
                                                                  hang_up: bool) -> None:
    gate: list[bool] = []
    with FakeUpstream() as upstream:
        upstream.default = Reply(content="one two three four", chunk_hold=lambda i: i == 0 or bool(gate))
        url = served(_config(f"{upstream.url}/v1"))
        refs = _tracked(monkeypatch)
        with httpx.Client(headers=ADMIN, timeout=30) as http_client:
            client = openai.OpenAI(base_url=f"{url}/v1", api_key=MASTER_KEY, max_retries=0, http_client=http_client)
            with client.chat.completions.create(model="m", stream=True,
                                                messages=[{"role": "user", "content": "x"}]) as stream:
                it = iter(stream)
                next(c for c in it if c.choices and c.choices[0].delta.content)
                assert len(refs) == 2  # the connection and the stream's response, both alive
                if not hang_up:
                    gate.append(True)
                    assert "".join(c.choices[0].delta.content or "" for c in it if c.choices) == "three four"
        gate.append(True)
        wait_for(lambda: all(r() is None for r in refs),
                 "the connection and the response to be freed once the stream is over")


STREAMS = 20


def test_an_open_stream_holds_one_task_not_three(served, monkeypatch) -> None:
    """Each task an open stream holds is ~1 KB with its coroutines, its context and its futures, times 10,000
    streams (bench/README.md, scenario 4): the request's own task now sends the body and nothing waits on
    `receive` beside it (it was the request's, the body's and a hang-up watcher's)."""
    loops: list[asyncio.AbstractEventLoop] = []
    made = BoundedHttpTools.connection_made

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
        loops.append(self.loop)
        made(self, transport)

    monkeypatch.setattr(BoundedHttpTools, "connection_made", connection_made)
    gate: list[bool] = []

    async def tasks() -> int:
        return len(asyncio.all_tasks())

    def server_tasks() -> int:
        return asyncio.run_coroutine_threadsafe(tasks(), loops[0]).result(30)

    async def streams(url: str) -> tuple[int, int, list[str]]:
        async with openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=MASTER_KEY, max_retries=0) as client:
            await client.models.list()
            before = await asyncio.to_thread(server_tasks)
            opened = [await client.chat.completions.create(model="m", stream=True,
                                                           messages=[{"role": "user", "content": "x"}])
                      for _ in range(STREAMS)]
            for s in opened:  # each is open and has sent its first words
                assert await anext(c.choices[0].delta.content async for c in s if c.choices
                                   and c.choices[0].delta.content) == "one "
            during = await asyncio.to_thread(server_tasks)
            gate.append(True)
            texts = []
            for s in opened:
                texts.append("".join([c.choices[0].delta.content or "" async for c in s if c.choices]))
            return before, during, texts

    with FakeUpstream() as upstream:
        upstream.default = Reply(content="one two", chunk_size=4, chunk_hold=lambda i: i == 0 or bool(gate))
        before, during, texts = asyncio.run(streams(served(_config(f"{upstream.url}/v1"))))
    assert texts == ["two"] * STREAMS
    assert during - before < 2 * STREAMS, f"{during - before} tasks for {STREAMS} open streams"


@pytest.mark.parametrize("route", ["/v1/chat/completions", "/v1/messages", "/v1/responses"])
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "plain"])
@pytest.mark.parametrize("http", [HTTP_PROTOCOL, "httptools"], ids=["accord-protocol", "uvicorn-httptools"])
def test_a_hang_up_before_the_first_token_cancels_the_upstream(served, route, stream, http) -> None:
    """A long prompt or a thinking model can keep the first token minutes away (first_token_timeout defaults
    to 300 s): a client that gives up before it (Claude Code's Esc) must not leave the upstream generating,
    billed and holding the key's budget reservation, until then. Streamed or not; on Accord's protocol the
    connection cancels the request (gateway/disconnect.py), on uvicorn's own a watcher does."""
    faults = FaultServer().start()  # `stall`: reads the request, then says nothing until the client goes
    try:
        url = served(_config(faults.url("stall"), "  first_token_timeout: 3600\n  request_timeout: 3600\n"), http)
        body = orjson.dumps({"model": "m", "stream": stream, "max_tokens": 10,
                             **({"input": "x"} if route == "/v1/responses"
                                else {"messages": [{"role": "user", "content": "x"}]})})
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(f"POST {route} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {MASTER_KEY}\r\n"
                      f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n".encode() + body)
            wait_for(lambda: faults.hits.get("stall"), "the request to reach the upstream")
        # the client is gone before any token: the upstream connection closes now, not in an hour
        wait_for(lambda: [f for f, _ in faults.peer_closed if f == "stall"], "the upstream call to be cancelled")
        wait_for(lambda: httpx.get(f"{url}/health/readiness").json()["db"] == "connected", "the store")
        row = wait_for(lambda: next(iter(_rows(url, status="error")), None), "the cancelled attempt's usage row")
        assert (row["status"], row["stream"], row["model"]) == (499, stream, "m"), row
    finally:
        faults.stop()
