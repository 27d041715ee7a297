"""gateway/headlimit.py's protocol on a listening socket made the way uvicorn makes it for `--workers N`
(proto 0): every accepted connection gets TCP_NODELAY, which asyncio itself skips on such sockets
(Kludex/uvicorn#3149) — without it each keep-alive answer waits for the client's delayed ACK."""

from __future__ import annotations

import asyncio
import hashlib
import socket

import uvicorn
from uvicorn.server import ServerState

from accord.gateway.headlimit import BODY_ROOM, BoundedHttpTools
from waiting import async_wait_for


async def _app(scope, receive, send) -> None:  # never reached: no request is sent
    raise AssertionError("no request expected")


async def test_connections_on_a_workers_socket_get_tcp_nodelay() -> None:
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # proto 0, as uvicorn's bind_socket makes it
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    made, server, address = await _serve(_app, listening)
    _, writer = await asyncio.open_connection(*address)
    try:
        await async_wait_for(lambda: made and made[0].transport is not None, "the connection to be accepted")
        sock = made[0].transport.get_extra_info("socket")
        assert sock.proto == 0  # the case asyncio leaves alone
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        writer.close()
        server.close()
        await server.wait_closed()


async def _serve(app, sock: socket.socket | None = None
                 ) -> tuple[list[BoundedHttpTools], asyncio.AbstractServer, tuple[str, int]]:
    """Accord's protocol serving `app` on a loopback port (or on `sock`); the protocols made, one a connection."""
    config = uvicorn.Config(app, http=BoundedHttpTools, log_config=None, lifespan="off")
    config.load()
    state = ServerState()
    made: list[BoundedHttpTools] = []

    def factory() -> BoundedHttpTools:
        p = BoundedHttpTools(config=config, server_state=state, app_state={})
        made.append(p)
        return p

    loop = asyncio.get_running_loop()
    server = await (loop.create_server(factory, sock=sock) if sock else loop.create_server(factory, "127.0.0.1", 0))
    return made, server, server.sockets[0].getsockname()[:2]


async def _post(body: bytes, app_may_read: asyncio.Event, read_whole: bool) -> bytes:
    """POST `body` to an app that reads nothing until `app_may_read` is set; `read_whole`: the protocol is to read
    the whole body before the app reads (else: it is to pause reading first). Returns the app's answer."""
    async def app(scope, receive, send) -> None:
        await app_may_read.wait()
        got = bytearray()
        more = True
        while more:
            m = await receive()
            got += m.get("body", b"")
            more = m.get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"64")]})
        await send({"type": "http.response.body", "body": hashlib.sha256(got).hexdigest().encode()})

    made, server, (host, port) = await _serve(app)
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                     b"content-length: %d\r\n\r\n" % len(body) + body)
        await async_wait_for(lambda: made and made[0].cycle is not None, "the request's head to be read")
        p = made[0]
        if read_whole:  # uvicorn alone pauses past 64 KB: the body would never be whole before the app reads
            await async_wait_for(lambda: len(p.cycle.body) == len(body), "the whole body to be read")
            assert not p.flow.read_paused
        else:
            await async_wait_for(lambda: p.flow.read_paused, "reading to pause for the app")
            assert len(p.cycle.body) < len(body)
        app_may_read.set()
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        return await reader.readexactly(64)
    finally:
        writer.close()
        server.close()
        await server.wait_closed()


async def test_a_body_of_known_length_under_the_room_is_read_without_pausing() -> None:
    """A 460 KB body (100k tokens) is read whole while the app is busy: no pause, no stalled client sends."""
    body = b'{"messages":"' + b"word " * 92_000 + b'"}'
    answer = await _post(body, asyncio.Event(), read_whole=True)
    assert answer == hashlib.sha256(body).hexdigest().encode()  # every byte reached the app, in order


async def test_a_body_over_the_room_still_pauses_reading_and_arrives_whole() -> None:
    """Past BODY_ROOM uvicorn's flow control holds: memory per connection stays bounded while the app is busy."""
    body = b"x" * (BODY_ROOM * 3)
    answer = await _post(body, asyncio.Event(), read_whole=False)
    assert answer == hashlib.sha256(body).hexdigest().encode()


async def test_a_body_under_the_room_reaches_the_app_in_one_message() -> None:
    """The app, reading at once, is woken by the body's end only: one message (no wake-up per read), whose body
    is `bytes` as ASGI has it (the protocol holds the reads apart and joins them once)."""
    messages: list[int] = []
    kinds: list[type] = []

    async def app(scope, receive, send) -> None:
        got = bytearray()
        more = True
        while more:
            m = await receive()
            messages.append(len(m.get("body", b"")))
            kinds.append(type(m.get("body")))
            got += m.get("body", b"")
            more = m.get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"64")]})
        await send({"type": "http.response.body", "body": hashlib.sha256(got).hexdigest().encode()})

    body = b'{"messages":"' + b"word " * 190_000 + b'"}'  # ~950 KB: several reads of the socket
    assert len(body) < BODY_ROOM
    _, server, (host, port) = await _serve(app)
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n" % len(body))
        for i in range(0, len(body), 65_536):  # as a client's socket sends it: piece by piece
            writer.write(body[i:i + 65_536])
            await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        assert await reader.readexactly(64) == hashlib.sha256(body).hexdigest().encode()
        assert messages == [len(body)]
        assert kinds == [bytes]
    finally:
        writer.close()
        server.close()
        await server.wait_closed()


def test_pipelined_requests_are_answered_in_order(tmp_path) -> None:
    """Two requests sent back to back before either is answered: the second waits in the protocol's queue of
    pipelined requests (a list here, not uvicorn's deque) and is answered after the first, on the same
    connection."""
    from accord.app import HTTP_PROTOCOL, create_app
    from accord.config import parse
    from fakes import ServerThread

    app = create_app(parse(f"settings:\n  master_key: sk-pipe\n  data_dir: {tmp_path}\nmodels: []\n", "test.yaml"))
    server = ServerThread(app, http=HTTP_PROTOCOL).start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
            s.sendall(b"GET /health/liveliness HTTP/1.1\r\nHost: localhost\r\n\r\n"
                      b"GET /v1/models HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer sk-pipe\r\n"
                      b"Connection: close\r\n\r\n")
            raw = b""
            while chunk := s.recv(65536):
                raw += chunk
    finally:
        server.stop()
    first, second = raw.split(b"HTTP/1.1 ")[1:]
    assert first.startswith(b"200 ") and second.startswith(b"200 ")
    assert b'"object":"list"' in second.replace(b" ", b"")
