"""An async HTTP/1.1 load generator in Python: raw asyncio protocol + httptools, pre-built request bytes.

Used where wrk is not installed (smoke mode) and for streaming, where it records when each SSE event
arrives. Keep-alive connections, one request in flight per connection, no pipelining.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import httptools

from .stats import LoadResult, percentile


def request_bytes(host: str, port: int, path: str, body: bytes, key: str | None,
                  headers: dict[str, str] | None = None) -> bytes:
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n{auth}{extra}"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


@dataclass
class Exchange:
    """One response as it arrives: status, and when each SSE event (payload) came in."""

    status: int = 0
    events: list[tuple[float, bytes]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)


class _Conn(asyncio.Protocol):
    def __init__(self, record_events: bool) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.record = record_events
        self.waiter: asyncio.Future[Exchange] | None = None
        self.ex = Exchange()
        self._buf = b""
        self.keep_alive = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as e:
            self._fail(e)

    def connection_lost(self, exc: Exception | None) -> None:
        self.keep_alive = False
        self._fail(exc or ConnectionResetError("connection closed"))

    def _fail(self, exc: BaseException) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    def on_body(self, body: bytes) -> None:
        if not self.record:
            return
        now = time.perf_counter()
        self.ex.body += body
        self._buf += body
        while b"\n\n" in self._buf:
            event, self._buf = self._buf.split(b"\n\n", 1)
            for line in event.split(b"\n"):  # Anthropic's events put an `event:` line before the data
                if line.startswith(b"data:"):
                    self.ex.events.append((now, line[5:].strip()))
                    break

    def on_message_complete(self) -> None:
        self.ex.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(self.ex)

    def send(self, req: bytes) -> asyncio.Future[Exchange]:
        assert self.transport is not None
        self.ex = Exchange()
        self._buf = b""
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(req)
        return self.waiter


async def _connect(host: str, port: int, record: bool) -> _Conn:
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_connection(lambda: _Conn(record), host, port)
    return proto


async def load(host: str, port: int, path: str, body: bytes, key: str | None, concurrency: int,
               duration: float, timeout: float = 10.0, headers: dict[str, str] | None = None) -> LoadResult:
    """`concurrency` connections, each sending the request back to back for `duration` seconds."""
    req = request_bytes(host, port, path, body, key, headers)
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    errors = {"status": 0, "timeout": 0, "connect": 0, "read": 0}
    start = time.perf_counter()
    end = start + duration

    async def worker() -> None:
        conn: _Conn | None = None
        while time.perf_counter() < end:
            if conn is None or not conn.keep_alive:
                try:
                    conn = await _connect(host, port, False)
                except OSError:
                    errors["connect"] += 1
                    await asyncio.sleep(0.01)
                    continue
            t0 = time.perf_counter()
            fut = conn.send(req)
            timer = loop.call_later(timeout, fut.cancel)
            try:
                ex = await fut
            except asyncio.CancelledError:
                if not fut.cancelled():
                    raise
                errors["timeout"] += 1
                assert conn.transport is not None
                conn.transport.close()
                conn = None
                continue
            except Exception:
                errors["read"] += 1
                conn = None
                continue
            finally:
                timer.cancel()
            latencies.append(time.perf_counter() - t0)
            if ex.status >= 400:
                errors["status"] += 1
        if conn is not None and conn.transport is not None:
            conn.transport.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    took = time.perf_counter() - start
    ok = len(latencies) - errors["status"]
    latencies.sort()
    return LoadResult(tool="python", concurrency=concurrency, duration_s=took, requests=len(latencies),
                      ok=ok, rps=ok / took, p50_ms=percentile(latencies, 50) * 1000,
                      p99_ms=percentile(latencies, 99) * 1000, errors={k: v for k, v in errors.items() if v})


async def stream_series(host: str, port: int, path: str, body: bytes, key: str | None, runs: int,
                        timeout: float = 30.0, headers: dict[str, str] | None = None) -> list[tuple[float, Exchange]]:
    """`runs` streamed requests one after another on one keep-alive connection (so connecting is not timed);
    each returns (sent-at, the exchange with every event's arrival time)."""
    req = request_bytes(host, port, path, body, key, headers)
    out: list[tuple[float, Exchange]] = []
    conn: _Conn | None = None
    try:
        for _ in range(runs):
            if conn is None or not conn.keep_alive:
                if conn is not None and conn.transport is not None:
                    conn.transport.close()
                conn = await _connect(host, port, True)
            t0 = time.perf_counter()
            try:
                ex = await asyncio.wait_for(conn.send(req), timeout)
            except (OSError, asyncio.TimeoutError, httptools.HttpParserError):
                ex, conn.keep_alive = Exchange(), False  # a failed run: counted, never a crash
            out.append((t0, ex))
    finally:
        if conn is not None and conn.transport is not None:
            conn.transport.close()
    return out
