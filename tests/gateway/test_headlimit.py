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
