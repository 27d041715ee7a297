"""uvicorn's httptools protocol with a bound on a request's head (request line and headers).

httptools (llhttp) sets no limit of its own: it gathers a header of any size in memory before the app sees
the request, so a single 100 MB header costs 100 MB however early the app refuses it. This counts the bytes
fed to the parser while a head is being read and answers 431, closing the connection, once they pass the
limit: memory per connection stays under the limit plus two reads (256 KB each). RequestContext checks the same
limit on complete heads, for servers run without this protocol.

What a response writes within one turn of the event loop leaves in one write at the end of that turn: its head
and body (uvicorn writes them separately), or the SSE events one upstream read held. Nothing waits for more
data; it saves a syscall and a TCP segment per write (bench/README.md, "Hot path").

A request body of known length up to BODY_ROOM is read without pausing and handed to the app whole, in one
message: uvicorn pauses reading once 64 KB wait for the app and wakes the app for every read, so a 460 KB body
(100k tokens) came in several messages, each a pause, a resume and a task switch, joined again by the app
(bench/README.md, "Hot path"). The app holds the whole body anyway (it parses it as one JSON document); a longer
or chunked body keeps uvicorn's flow control, so a connection still buffers at most BODY_ROOM plus a read
before the app reads. Its reads are kept as the parser made them and joined once when the app takes them (a body
of one read is not copied at all), where uvicorn's bytearray copied each read into itself and the whole again
into `bytes`.

A response that streams (gateway/sse.py) learns of a hang-up from this protocol's `connection_lost`, at once:
the request's scope carries the connection (`HANGUP`) and the response sets `on_hangup` while it streams, so no
task of its own waits on `receive` for the life of the stream.

After the 431 the connection is half-closed and what the client still sends is read and dropped for a few
seconds: closing a socket with unread data resets it, and a reset can destroy the answer before the client
reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from typing import Any, cast

import orjson
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .middleware import MAX_HEADERS

log = logging.getLogger("accord.access")

# request line, header names, values and their separators: a little above what RequestContext counts
MAX_HEAD = MAX_HEADERS + 8 * 1024
BODY_ROOM = 1 << 20  # bytes of a request body with a content-length that are read without pausing
LINGER = 5.0  # seconds the rest of a refused request is read and dropped before the connection is closed


def _response() -> bytes:
    body = orjson.dumps({"error": {
        "message": f"the request headers are over {MAX_HEADERS} bytes: send fewer or shorter headers",
        "type": "invalid_request_error", "param": None, "code": "headers_too_large"}})
    return (b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body)


_RESPONSE = _response()


class _TurnWrites:
    """A response's transport whose writes in one loop turn are joined into one (flushed before a close)."""

    __slots__ = ("loop", "parts", "transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport, self.loop = transport, loop
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self.parts:
            self.loop.call_soon(self.flush)
        self.parts.append(data)

    def flush(self) -> None:
        parts, self.parts = self.parts, []
        if parts and not self.transport.is_closing():
            self.transport.write(parts[0] if len(parts) == 1 else b"".join(parts))

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def __getattr__(self, name: str):
        return getattr(self.transport, name)


class _Flag:
    """The part of asyncio.Event uvicorn uses for a connection's flow control and a request's messages (set,
    clear, is_set, wait), without the 0.7 KB block an empty deque of waiters takes up front: two per
    connection, 1.4 KB of each open stream. Waiters are listed only while there are any."""

    __slots__ = ("_set", "_waiters")

    def __init__(self, value: bool = False) -> None:
        self._set = value
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        if not self._set:
            self._set = True
            waiters, self._waiters = self._waiters, None
            for fut in waiters or ():
                if not fut.done():
                    fut.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        if self._set:
            return True
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(fut)
        try:
            await fut
            return True
        finally:
            if self._waiters is not None and fut in self._waiters:
                self._waiters.remove(fut)


class _Pipeline(list):
    """uvicorn's queue of pipelined requests (`appendleft`, `pop`) as a list: almost always empty, and an empty
    deque is 0.7 KB."""

    __slots__ = ()

    def appendleft(self, item: Any) -> None:
        self.insert(0, item)


class _Parts:
    """A request body read in several pieces, joined once when the app takes it (uvicorn's `bytes(cycle.body)`):
    uvicorn's bytearray copied every read into itself, growing, and then copied the whole into `bytes` again."""

    __slots__ = ("parts", "size")

    def __init__(self, *parts: bytes) -> None:
        self.parts = list(parts)
        self.size = sum(len(p) for p in parts)

    def __iadd__(self, part: bytes) -> _Parts:
        self.parts.append(part)
        self.size += len(part)
        return self

    def __len__(self) -> int:
        return self.size

    def __bytes__(self) -> bytes:
        return b"".join(self.parts)


HANGUP = "accord.hangup"  # scope key: the connection, whose `on_hangup` a streaming response sets (gateway/sse.py)


class BoundedHttpTools(HttpToolsProtocol):
    # Slots, not instance attributes: uvicorn's ~28 already fill the instance's shared-key dict, and four more
    # turned it into a dict of its own, 1.3 KB more per connection (10,000 open streams: 13 MB)
    __slots__ = ("_began", "_head", "_in_head", "_refused", "_room", "on_hangup")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = False  # between a request's first byte and the end of its headers
        self._began = False  # a request began during the current read
        self._head = 0  # bytes of the current head counted so far
        self._refused = False
        self._room = HIGH_WATER_LIMIT  # the current request's body bytes read before reading pauses for the app
        self.on_hangup: Callable[[], None] | None = None  # called once if the client goes while a response streams
        self.pipeline = _Pipeline()  # type: ignore[assignment]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        # asyncio sets TCP_NODELAY only on sockets made with proto=IPPROTO_TCP; the listening socket uvicorn
        # binds for `--workers N` has proto 0, so without this every keep-alive answer waited ~40 ms for the
        # client's delayed ACK (Kludex/uvicorn#3149; bench/README.md, scenario 7)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
        self.flow._is_writable_event = _Flag(True)  # type: ignore[assignment]  # as FlowControl makes it: set

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # the rest of a refused request: dropped
        counting = self._in_head
        self._began = False
        super().data_received(data)
        # Only reads that were head from end to end are counted (a read in which a request began may hold the
        # end of the one before, body and all): the head may pass the limit by a read or two, never more.
        if counting and self._in_head and not self._began and not self.transport.is_closing():
            self._head += len(data)
            if self._head > MAX_HEAD:
                self._too_large()

    def on_message_begin(self) -> None:
        self._in_head, self._began, self._head = True, True, 0
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._room = HIGH_WATER_LIMIT
        for name, value in self.headers:
            if name == b"content-length":
                if value.isdigit():
                    self._room = max(HIGH_WATER_LIMIT, min(int(value), BODY_ROOM))
                break
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.transport is self.transport:
            cycle.transport = _TurnWrites(self.transport, self.loop)  # type: ignore[assignment]
            cycle.message_event = _Flag()  # type: ignore[assignment]  # before anything can wait on it or set it
            cast(dict, self.scope)[HANGUP] = self

    def connection_lost(self, exc: Exception | None) -> None:
        """A response that streams learns of the hang-up here, at once, instead of from a task of its own
        waiting on `receive` for the whole stream."""
        super().connection_lost(exc)
        if self.scope is not None:  # the last request's scope no longer holds the connection alive
            cast(dict, self.scope).pop(HANGUP, None)
        hangup, self.on_hangup = self.on_hangup, None
        if hangup is not None:
            hangup()

    def on_body(self, body: bytes) -> None:
        cycle = self.cycle
        if (cycle is None or self._room <= HIGH_WATER_LIMIT or len(cycle.body) + len(body) > self._room
                or cycle.response_complete or self.parser.should_upgrade()):
            super().on_body(body)  # uvicorn's own: pauses reading past 64 KB
            return
        held: Any = cycle.body  # uvicorn's bytearray, or what an earlier read left: bytes, _Parts
        if not held:  # the body's first read: kept as it is (a one-read body reaches the app uncopied)
            cycle.body = body  # type: ignore[assignment]
        elif type(held) is _Parts:
            held += body
        else:
            cycle.body = _Parts(held, body)  # type: ignore[assignment]
        # the app is woken once, by the body's end (on_message_complete): one message

    def _too_large(self) -> None:
        log.warning("refused a request whose headers passed %d bytes (431), from %s", MAX_HEAD,
                    self.client[0] if self.client else "?")
        self._refused = True
        if self.cycle is not None and not self.cycle.response_complete:
            self.transport.close()  # a response is still being sent: all that can be done is cut the connection
            return
        self.transport.write(_RESPONSE)
        self.transport.write_eof()
        asyncio.get_running_loop().call_later(LINGER, self.transport.close)
