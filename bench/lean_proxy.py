"""A ceiling experiment, not a product: the least an HTTP-aware chat proxy can do per request in Python.

Raw asyncio protocols + httptools on both sides, a pool of keep-alive upstream connections, and the JSON work
Accord's hot path must do (parse the body, set `model`, serialize; parse the answer for usage, serialize).
No routing, auth, retries, streaming, limits or logs. `python bench/run.py --micro` runs it against the fake
upstream to show how far any Python gateway on uvloop could get on this machine.

    python bench/lean_proxy.py --port 9400 --upstream-port 9001
"""

from __future__ import annotations

import argparse
import asyncio

import httptools
import orjson


class Upstream(asyncio.Protocol):
    """One keep-alive connection to the upstream; one request at a time."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[bytes] | None = None
        self.body: list[bytes] = []
        self.alive = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.alive = False
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("upstream closed"))

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        assert self.waiter is not None
        self.waiter.set_result(b"".join(self.body))

    def request(self, raw: bytes) -> asyncio.Future[bytes]:
        assert self.transport is not None
        self.body = []
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return self.waiter


class Pool:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: list[Upstream] = []

    async def post(self, path: bytes, body: bytes) -> bytes:
        conn = self.idle.pop() if self.idle else None
        if conn is None or not conn.alive:
            _, conn = await asyncio.get_running_loop().create_connection(Upstream, self.host, self.port)
        head = (b"POST %s HTTP/1.1\r\nhost: %s:%d\r\ncontent-type: application/json\r\nauthorization: Bearer x\r\n"
                b"content-length: %d\r\n\r\n" % (path, self.host.encode(), self.port, len(body)))
        out = await conn.request(head + body)
        self.idle.append(conn)
        return out


class Client(asyncio.Protocol):
    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_message_begin(self) -> None:
        self.body = []

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.parser.get_method() == b"GET":  # health
            assert self.transport is not None
            self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            return
        asyncio.get_running_loop().create_task(self.handle(b"".join(self.body)))

    async def handle(self, raw: bytes) -> None:
        body = orjson.loads(raw)
        body["model"] = "gpt-4o-mini"
        answer = orjson.loads(await self.pool.post(b"/v1/chat/completions", orjson.dumps(body)))
        _ = answer.get("usage")
        out = orjson.dumps(answer)
        assert self.transport is not None
        self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                             % (len(out), out))


async def serve(port: int, upstream_port: int) -> None:
    pool = Pool("127.0.0.1", upstream_port)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Client(pool), "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--upstream-port", type=int, required=True)
    a = ap.parse_args()
    try:
        import uvloop

        uvloop.run(serve(a.port, a.upstream_port))
    except ImportError:
        asyncio.run(serve(a.port, a.upstream_port))


if __name__ == "__main__":
    main()
