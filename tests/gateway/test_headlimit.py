"""gateway/headlimit.py's protocol on a listening socket made the way uvicorn makes it for `--workers N`
(proto 0): every accepted connection gets TCP_NODELAY, which asyncio itself skips on such sockets
(Kludex/uvicorn#3149) — without it each keep-alive answer waits for the client's delayed ACK."""

from __future__ import annotations

import asyncio
import socket

import uvicorn
from uvicorn.server import ServerState

from accord.gateway.headlimit import BoundedHttpTools
from waiting import async_wait_for


async def _app(scope, receive, send) -> None:  # never reached: no request is sent
    raise AssertionError("no request expected")


async def test_connections_on_a_workers_socket_get_tcp_nodelay() -> None:
    config = uvicorn.Config(_app, http=BoundedHttpTools, log_config=None, lifespan="off")
    config.load()
    state = ServerState()
    made: list[BoundedHttpTools] = []

    def factory() -> BoundedHttpTools:
        p = BoundedHttpTools(config=config, server_state=state, app_state={})
        made.append(p)
        return p

    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # proto 0, as uvicorn's bind_socket makes it
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    server = await asyncio.get_running_loop().create_server(factory, sock=listening)
    _, writer = await asyncio.open_connection(*listening.getsockname())
    try:
        await async_wait_for(lambda: made and made[0].transport is not None, "the connection to be accepted")
        sock = made[0].transport.get_extra_info("socket")
        assert sock.proto == 0  # the case asyncio leaves alone
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
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
