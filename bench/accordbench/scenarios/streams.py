"""Scenarios 2 (streamed tool calls), 3 (head-of-line blocking) and 4 (many open streams)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from typing import Any

import orjson

from .. import loadgen, streaming
from ..loadgen import _Conn
from .clients import Streamer, open_stream, sequential, split, summary
from .common import CHAT, HOST, MESSAGES, Gateway, chat_body, messages_body

ARG = re.compile(rb"argtok(\d+)")
TOK = re.compile(rb'"content":\s*"tok\d+')  # one per argument delta (the fake's tool call: {"q": "argtok1 ... argtokN"})


def _arguments(events: list[tuple[float, bytes]]) -> str:
    """The tool call's arguments as a client reassembles them: OpenAI's `function.arguments` deltas, or
    Anthropic's `input_json_delta` `partial_json`s."""
    parts: list[str] = []
    for _, payload in events:
        if payload == b"[DONE]":
            continue
        try:
            d = orjson.loads(payload)
        except orjson.JSONDecodeError:
            continue
        if d.get("type") == "content_block_delta" and d["delta"].get("type") == "input_json_delta":
            parts.append(d["delta"]["partial_json"])
        for ch in d.get("choices") or []:
            for tc in (ch.get("delta") or {}).get("tool_calls") or []:
                parts.append((tc.get("function") or {}).get("arguments") or "")
    return "".join(parts)


def _tool_run(gw: Gateway, path: str, body: bytes, n: int, pace: float, runs: int,
              direct: streaming.StreamRuns | None) -> tuple[dict[str, Any], streaming.StreamRuns]:
    series = asyncio.run(loadgen.stream_series(HOST, gw.port, path, body, gw.key, runs, headers=gw.hdrs("tools")))
    got = streaming.collect(series, n, ARG)
    fig = streaming.figures(got, n, pace, direct).as_dict()
    want = {"q": " ".join(f"argtok{i}" for i in range(1, n + 1)) + " "}
    fig["arguments_intact"] = sum(1 for _, ex in series if _json_or_none(_arguments(ex.events)) == want)
    bad = next((ex for _, ex in series if ex.status != 200), None)
    if bad is not None:
        fig["error"] = f"HTTP {bad.status}: {bytes(bad.body)[:200].decode(errors='replace')}"
    elif got.failures:
        fig["error"] = f"{got.failures} of {runs} streams lacked argument deltas"
    return fig, got


class _Acking(_Conn):
    """Tells the fake upstream (`GET /ack/<i>`, pipelined on a connection of its own) each argument delta it
    has received: a lockstep stream sends delta i + 1 only then."""

    def __init__(self, ack: asyncio.Transport) -> None:
        super().__init__(True)
        self.ack = ack
        self.acked: set[int] = set()
        self.seen = 0

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        for _, payload in self.ex.events[self.seen:]:
            for m in ARG.finditer(payload):
                i = int(m.group(1))
                if i not in self.acked:
                    self.acked.add(i)
                    self.ack.write(b"GET /ack/%d HTTP/1.1\r\nHost: fake\r\n\r\n" % i)
        self.seen = len(self.ex.events)


def _waited_out(fake_port: int) -> int:
    import urllib.request

    with urllib.request.urlopen(f"http://{HOST}:{fake_port}/lockstep", timeout=10) as r:
        return int(orjson.loads(r.read())["waited_out"])


async def _lockstep(gw: Gateway, path: str, body: bytes, runs: int, fake_port: int) -> int:
    loop = asyncio.get_running_loop()
    ack_t, _ = await loop.create_connection(asyncio.Protocol, HOST, fake_port)
    bad = 0
    try:
        for _ in range(runs):
            _, conn = await loop.create_connection(lambda: _Acking(ack_t), HOST, gw.port)  # type: ignore[arg-type]
            try:
                ex = await asyncio.wait_for(conn.send(gw.request(path, "lock", body)), 60)
                bad += ex.status != 200
            except (OSError, asyncio.TimeoutError, ConnectionError):
                bad += 1
            finally:
                if conn.transport is not None:
                    conn.transport.close()
    finally:
        ack_t.close()
    return bad


def lockstep(gw: Gateway, path: str, body: bytes, runs: int, fake_port: int) -> dict[str, Any]:
    """Argument deltas held back, counted without a clock: the upstream sends each delta only once the client
    has received the one before, so a delta a gateway buffers is never acknowledged (the fake gives up after
    3 s and counts it)."""
    before = _waited_out(fake_port)
    failed = asyncio.run(_lockstep(gw, path, body, runs, fake_port))
    return {"lockstep_runs": runs, "lockstep_failed": failed, "held_back_lockstep": _waited_out(fake_port) - before}


def _json_or_none(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def tool_calls(gateways: list[Gateway], n: int, pace: float, runs: int, fake_port: int) -> dict[str, Any]:
    """Scenario 2: a streamed tool call (arguments in `n` deltas, `pace` ms apart), OpenAI in and out, and
    Anthropic in (`/v1/messages`) with the OpenAI-shaped upstream; each delta compared with direct's."""
    out: dict[str, Any] = {"openai": {}, "anthropic_in": {}}
    direct: streaming.StreamRuns | None = None
    for gw in gateways:
        try:
            direct = _tool_target(gw, out, n, pace, runs, direct, fake_port)
        except Exception as e:
            out["openai"].setdefault(gw.name, {"error": f"{type(e).__name__}: {e}"[:300]})
            out["anthropic_in"].setdefault(gw.name, {"error": f"{type(e).__name__}: {e}"[:300]})
    return out


def _tool_target(gw: Gateway, out: dict[str, Any], n: int, pace: float, runs: int,
                 direct: streaming.StreamRuns | None, fake_port: int) -> streaming.StreamRuns | None:
    body = chat_body(gw.model("tools"), stream=True, tools=True)
    out["openai"][gw.name], got = _tool_run(gw, CHAT, body, n, pace, runs, direct)
    out["openai"][gw.name].update(lockstep(gw, CHAT, chat_body(gw.model("lock"), stream=True, tools=True), runs,
                                           fake_port))
    if gw.name == "direct":
        direct = got
    if gw.name == "direct":
        out["anthropic_in"]["direct"] = {"unsupported": "the upstream speaks OpenAI only (the row compared "
                                         "with is direct's OpenAI stream)"}
        return direct
    out["anthropic_in"][gw.name], _ = _tool_run(gw, MESSAGES, messages_body(gw.model("tools")), n, pace, runs,
                                                direct)
    out["anthropic_in"][gw.name].update(lockstep(gw, MESSAGES, messages_body(gw.model("lock")), runs, fake_port))
    for route in ("openai", "anthropic_in"):
        f = out[route][gw.name]
        print(f"bench: s2 {route:12} {gw.name:8} TTFT added {f.get('ttft_added_p50_ms')} ms held back "
              f"{f.get('held_back_lockstep')} (late by the clock {f.get('held_back')}) intact "
              f"{f.get('arguments_intact')}/{runs} {f.get('error', '')}", flush=True)
    return direct


def head_of_line(gateways: list[Gateway], hol_tokens: int, n_streams: int, big_mb: float,
                 seconds: float) -> dict[str, Any]:
    """Scenario 3: small requests one at a time, alone; while `n_streams` requests of `hol_tokens` tokens stream
    (sent again as each ends); and while one stream carrying a `big_mb` MB event is in flight (again and again)."""
    out: dict[str, Any] = {}
    for gw in gateways:
        try:
            out[gw.name] = _head_of_line(gw, hol_tokens, n_streams, big_mb, seconds)
        except Exception as e:
            out[gw.name] = {"error": f"{type(e).__name__}: {e}"[:300]}
    return out


def _head_of_line(gw: Gateway, hol_tokens: int, n_streams: int, big_mb: float, seconds: float) -> dict[str, Any]:
    small = [gw.request(CHAT, "m", chat_body(gw.model("m")))]
    asyncio.run(sequential(gw.port, small, count=20))
    row: dict[str, Any] = {}
    ok, err = split(asyncio.run(sequential(gw.port, small, duration=seconds)))
    row["alone"] = summary(ok, err)
    phases = (("long_streams", gw.request(CHAT, "hol", chat_body(gw.model("hol"), hol_tokens, stream=True)),
               n_streams),
              ("big_event", gw.request(CHAT, "big", chat_body(gw.model("big"), stream=True)), 1))
    for phase, req, n in phases:
        bg = Streamer(gw.port, req, n, seconds + 1.0)
        time.sleep(1.0)  # the background streams get under way (a spawned process starts in ~0.2 s)
        ok, err = split(asyncio.run(sequential(gw.port, small, duration=seconds)))
        row[phase] = {**summary(ok, err), **bg.result()}
    print(f"bench: s3 {gw.name:8} p99 alone {row['alone']['p99_ms']:.2f} ms, with streams "
          f"{row['long_streams']['p99_ms']:.2f} ms ({row['long_streams']['streams_done']} done, "
          f"{row['long_streams']['stream_errors']} failed), with {big_mb:g} MB event "
          f"{row['big_event']['p99_ms']:.2f} ms ({row['big_event']['streams_done']} done, "
          f"{row['big_event']['stream_errors']} failed)", flush=True)
    return row


async def _open_streams(gw: Gateway, n: int, chunks: int, open_deadline: float, stream_s: float) -> dict[str, Any]:
    req = gw.request(CHAT, "long", chat_body(gw.model("long"), stream=True))
    sem = asyncio.Semaphore(256)  # connections being opened at once (the rest wait their turn)
    state = {"open": 0, "max_open": 0, "not_opened": 0, "errors": 0, "truncated": 0, "complete": 0}
    kinds: dict[str, int] = {}  # what went wrong, by kind (an HTTP status and the start of its body, or the exception)

    def wrong(kind: str) -> None:
        kinds[kind[:160]] = kinds.get(kind[:160], 0) + 1
    opened_all = asyncio.Event()
    pending = [n]
    rss0 = gw.rss_mb()
    rss_open: list[float | None] = [None]

    def settle() -> None:
        pending[0] -= 1
        if pending[0] == 0:
            opened_all.set()

    loop = asyncio.get_running_loop()
    deadline = loop.time() + open_deadline  # one deadline for all: a stream not open by then never counts

    async def opened() -> tuple[Any, asyncio.Future[Any]]:
        async with sem:
            conn, fut = await open_stream(gw.port, req)
            try:
                await asyncio.shield(conn.first)
            except BaseException:
                if conn.transport is not None:
                    conn.transport.close()
                raise
            return conn, fut

    async def one() -> None:
        conn = None
        try:
            conn, fut = await asyncio.wait_for(opened(), max(0.0, deadline - loop.time()))
            state["open"] += 1
            state["max_open"] = max(state["max_open"], state["open"])
            settle()
        except (OSError, asyncio.TimeoutError, ConnectionError, asyncio.CancelledError) as e:
            state["not_opened"] += 1
            wrong(f"not opened: {type(e).__name__} {e}")
            settle()
            if conn is not None and conn.transport is not None:
                conn.transport.close()
            return
        try:
            ex = await asyncio.wait_for(fut, stream_s + 120)
            toks = sum(1 for _, p in ex.events if TOK.search(p))
            if ex.status != 200:
                state["errors"] += 1
                wrong(f"HTTP {ex.status}: {bytes(ex.body)[:120].decode(errors='replace')}")
            elif toks < chunks or not ex.events or ex.events[-1][1] != b"[DONE]":
                state["truncated"] += 1
                wrong(f"truncated: {toks} of {chunks} chunks")
            else:
                state["complete"] += 1
        except (OSError, asyncio.TimeoutError, ConnectionError) as e:
            state["errors"] += 1
            wrong(f"{type(e).__name__} {e}")
        finally:
            state["open"] -= 1
            if conn.transport is not None:
                conn.transport.close()

    t0 = time.perf_counter()
    tasks = [asyncio.create_task(one()) for _ in range(n)]
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(opened_all.wait(), open_deadline)
    open_s = time.perf_counter() - t0
    open_now = state["open"]
    await asyncio.sleep(0.5)  # let the server's memory follow the last streams it took on
    rss_open[0] = gw.rss_mb()
    await asyncio.gather(*tasks, return_exceptions=True)
    per = None
    if rss0 is not None and rss_open[0] is not None and open_now:
        per = (rss_open[0] - rss0) * 1000 / open_now
    return {"streams": n, **state, "open_at_sample": open_now, "open_s": round(open_s, 1),
            "rss_before_mb": rss0, "rss_open_mb": rss_open[0], "kb_per_stream": None if per is None else round(per, 1),
            "what_went_wrong": kinds}


def open_streams(gw: Gateway, n: int, chunks: int, pace_ms: float, open_deadline: float) -> dict[str, Any]:
    """Scenario 4: `n` streams opened at once (256 connecting at a time) and held open (each `chunks` chunks,
    `pace_ms` apart); RSS per open stream, errors and truncated streams."""
    stream_s = chunks * pace_ms / 1000
    r = asyncio.run(_open_streams(gw, n, chunks, open_deadline, stream_s))
    print(f"bench: s4 {gw.name:8} {n} streams: max open {r['max_open']}, not opened {r['not_opened']}, errors "
          f"{r['errors']}, truncated {r['truncated']}, {r['kb_per_stream']} KB per stream", flush=True)
    return r
