"""Server-sent events out: chunks forwarded the moment they arrive, errors as an event the SDKs raise."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import orjson
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from ..errors import AccordError
from .disconnect import ClientGone, until_hangup
from .headlimit import HANGUP

log = logging.getLogger("accord.gateway")
DONE = b"data: [DONE]\n\n"


def failed(e: Exception) -> bytes:
    """The `error` event that ends a stream which failed after its first byte: the status line is gone already,
    and an `error` event makes the openai SDK raise instead of returning a silently short answer (no [DONE]
    follows). Never a traceback: an unexpected error is logged by class and told as an internal error."""
    if not isinstance(e, AccordError):
        log.error("stream failed: %s", e.__class__.__name__, exc_info=log.isEnabledFor(logging.DEBUG))
        e = AccordError("internal error while streaming; the server log has the details")
    return b"data: " + orjson.dumps(e.to_dict()) + b"\n\n"


async def events(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Each payload as an SSE event, then `[DONE]`; a failure as an `error` event (how the stream ended is the
    router's to record, on its usage row)."""
    try:
        async for payload in chunks:
            yield b"data: " + payload + b"\n\n"
    except Exception as e:  # never a traceback to the client, never a hang
        yield failed(e)
        return
    yield DONE


class ClosingStream(StreamingResponse):
    """A streaming response that runs `then` once it is over, however it ended: finished, failed, the client
    gone. Its body iterator is closed first (a client gone leaves it open), so what the stream records on
    closing is recorded before `then` runs.

    `payloads`: the content yields SSE `data` payloads, framed here as `events` would frame them, without a
    generator of its own around the stream (one layer less held by each of 10,000 open streams)."""

    def __init__(self, content: AsyncIterator[bytes], then: Callable[[], Awaitable[None]], *,
                 payloads: bool = False, **kw: Any) -> None:
        super().__init__(content, **kw)
        self.then = then
        self.payloads = payloads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Starlette's response, minus its anyio task group on servers that report a disconnect only through
        `receive` (ASGI spec < 2.4: uvicorn). On Accord's own protocol (gateway/headlimit.py) the body is sent by
        this task and the protocol cancels it the moment the client hangs up, wherever it waits (on the upstream,
        or on a slow reader's socket): no second task, future or `receive` waiter is held for the life of the
        stream. On other such servers one task sends the body while this one waits for a hang-up."""
        try:
            spec = scope.get("asgi", {}).get("spec_version", "2.0")
            conn = scope.get(HANGUP)
            if scope["type"] != "http" or self.background is not None or tuple(map(int, spec.split("."))) >= (2, 4):
                await super().__call__(scope, receive, send)
            elif conn is None:
                await self._watched(receive, send)
            else:
                await self._until_hangup(conn, send)
        finally:
            try:
                close = getattr(self.body_iterator, "aclose", None)
                if close is not None:  # a client gone leaves it open: end it (and what it records) first
                    await close()
            finally:
                await self.then()

    async def _until_hangup(self, conn: Any, send: Send) -> None:
        """The body sent by this task, which the protocol cancels when the client goes (`until_hangup`); a
        hang-up ends it quietly, as Starlette's task group does once the client is gone."""
        with contextlib.suppress(ClientGone):
            await until_hangup(conn, self._stream(send))

    async def _watched(self, receive: Receive, send: Send) -> None:
        body = asyncio.ensure_future(self._stream(send))
        gone = asyncio.ensure_future(self.listen_for_disconnect(receive))
        try:
            await asyncio.wait((body, gone), return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            if not body.done():  # the client left (or this task was cancelled): stop sending, and let the body
                body.cancel()    # unwind, so its stream's own finally has run before `then`
                await asyncio.wait((body,))
        if not body.cancelled():
            body.result()  # an error while streaming is raised here, as from Starlette's task group

    async def _stream(self, send: Send) -> None:
        """Starlette's `stream_response`, without keeping the encoded headers for the life of the stream, and
        framing payloads as events when asked to."""
        headers, self.raw_headers = self.raw_headers, []
        await send({"type": "http.response.start", "status": self.status_code, "headers": headers})
        del headers
        if not self.payloads:
            async for chunk in self.body_iterator:
                if not isinstance(chunk, (bytes, memoryview)):
                    chunk = chunk.encode(self.charset)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        chunks = cast(AsyncIterator[bytes], self.body_iterator).__aiter__()
        while True:
            try:
                payload = await chunks.__anext__()
            except StopAsyncIteration:
                last = DONE
                break
            except Exception as e:  # from the stream only, as in `events`: never a traceback, never a hang
                last = failed(e)
                break
            await send({"type": "http.response.body", "body": b"data: " + payload + b"\n\n", "more_body": True})
        await send({"type": "http.response.body", "body": last, "more_body": False})
