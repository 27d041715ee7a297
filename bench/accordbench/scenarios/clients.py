"""The scenarios' clients, on the harness's raw asyncio + httptools connection (accordbench/loadgen.py)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ..loadgen import Exchange, _Conn, _connect
from ..stats import percentile
from .common import HOST


def summary(lat: list[float], errors: int = 0) -> dict[str, Any]:
    """p50/p99 (ms) of successful requests' latencies (seconds), with the count and errors beside them."""
    s = sorted(lat)
    return {"n": len(s), "errors": errors, "p50_ms": round(percentile(s, 50) * 1000, 3),
            "p99_ms": round(percentile(s, 99) * 1000, 3)}


async def sequential(port: int, reqs: list[bytes], duration: float | None = None, count: int | None = None,
                     timeout: float = 60.0) -> list[tuple[float, int]]:
    """Requests one after another on one keep-alive connection, cycling through `reqs`, for `duration` seconds
    or `count` requests: (latency s, status) each; status 0 for a broken exchange."""
    out: list[tuple[float, int]] = []
    conn: _Conn | None = None
    end = time.perf_counter() + (duration or 0)
    i = 0
    try:
        while (count is not None and i < count) or (count is None and time.perf_counter() < end):
            if conn is None or not conn.keep_alive:
                if conn is not None and conn.transport is not None:
                    conn.transport.close()
                conn = await _connect(HOST, port, False)
            req = reqs[i % len(reqs)]
            i += 1
            t0 = time.perf_counter()
            try:
                ex = await asyncio.wait_for(conn.send(req), timeout)
            except (OSError, asyncio.TimeoutError, Exception):
                conn.keep_alive = False
                out.append((time.perf_counter() - t0, 0))
                continue
            out.append((time.perf_counter() - t0, ex.status))
    finally:
        if conn is not None and conn.transport is not None:
            conn.transport.close()
    return out


def split(results: list[tuple[float, int]]) -> tuple[list[float], int]:
    ok = [t for t, st in results if 200 <= st < 300]
    return ok, len(results) - len(ok)


async def concurrent(port: int, req: bytes, concurrency: int, duration: float) -> dict[str, Any]:
    """`concurrency` connections sending `req` back to back: the latency summary and requests/s."""
    t0 = time.perf_counter()
    runs = await asyncio.gather(*(sequential(port, [req], duration=duration) for _ in range(concurrency)))
    took = time.perf_counter() - t0
    flat = [r for run in runs for r in run]
    ok, errors = split(flat)
    return {**summary(ok, errors), "rps": round(len(ok) / took, 1)}


class _Tail(_Conn):
    """Reads a stream to its end keeping only its size and last bytes (a 20 MB event costs nothing to hold)."""

    def __init__(self) -> None:
        super().__init__(False)
        self.size = 0
        self.tail = b""

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        self.tail = (self.tail + body)[-64:]


async def _stream_forever(port: int, req: bytes, stop: float, counts: dict[str, int]) -> None:
    loop = asyncio.get_running_loop()
    conn: _Tail | None = None
    while time.time() < stop:
        if conn is None or not conn.keep_alive:
            _, conn = await loop.create_connection(_Tail, HOST, port)
        conn.size, conn.tail = 0, b""
        try:
            ex = await asyncio.wait_for(conn.send(req), max(1.0, stop - time.time() + 60))
        except (OSError, asyncio.TimeoutError, Exception):
            counts["errors"] += 1
            conn.keep_alive = False
            continue
        counts["bytes"] += conn.size
        complete = ex.status == 200 and conn.tail.rstrip().endswith(b"[DONE]")
        counts["done" if complete else "errors"] += 1
    if conn is not None and conn.transport is not None:
        conn.transport.close()


def _streamer_main(port: int, req: bytes, n: int, stop: float, out: Any) -> None:
    counts = {"done": 0, "errors": 0, "bytes": 0}

    async def main() -> None:
        await asyncio.gather(*(_stream_forever(port, req, stop, counts) for _ in range(n)))

    asyncio.run(main())
    out.put(counts)


class Streamer:
    """`n` connections streaming `req` again and again until `seconds` have passed, in a process of their own
    (so reading a 20 MB event never delays the measuring client): scenario 3's background load."""

    def __init__(self, port: int, req: bytes, n: int, seconds: float) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self.q: Any = ctx.Queue()
        self.stop_at = time.time() + seconds
        self.proc = ctx.Process(target=_streamer_main, args=(port, req, n, self.stop_at, self.q), daemon=True)
        self.proc.start()

    def result(self) -> dict[str, Any]:
        """Wait for the last streams to end; what was streamed."""
        try:
            c = self.q.get(timeout=max(5.0, self.stop_at - time.time() + 180))
        except Exception:
            self.proc.kill()
            return {"streams_done": 0, "stream_errors": -1, "mb_received": 0.0}
        self.proc.join(10)
        return {"streams_done": c["done"], "stream_errors": c["errors"], "mb_received": round(c["bytes"] / 1e6, 1)}


class _Open(_Conn):
    """A connection that tells when its stream's first bytes arrived."""

    def __init__(self) -> None:
        super().__init__(True)
        self.first: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        if not self.first.done():
            self.first.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if not self.first.done():
            self.first.set_exception(exc or ConnectionResetError("closed"))


async def open_stream(port: int, req: bytes) -> tuple[_Open, asyncio.Future[Exchange]]:
    loop = asyncio.get_running_loop()
    _, conn = await loop.create_connection(_Open, HOST, port)
    return conn, conn.send(req)
