"""Server-sent events out: chunks forwarded the moment they arrive, errors as an event the SDKs raise."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from ..errors import AccordError

log = logging.getLogger("accord.gateway")
DONE = b"data: [DONE]\n\n"


async def events(chunks: AsyncIterator[bytes], outcome: dict | None = None) -> AsyncIterator[bytes]:
    """`outcome` (status, error_type) is updated as the stream ends, for its usage row."""
    outcome = {} if outcome is None else outcome
    try:
        async for payload in chunks:
            yield b"data: " + payload + b"\n\n"
    except AccordError as e:
        # the status line is gone already; an `error` event makes the openai SDK raise instead of returning a
        # silently short answer, and no [DONE] follows
        outcome.update(status=e.status, error_type=e.type)
        yield b"data: " + orjson.dumps(e.to_dict()) + b"\n\n"
        return
    except Exception as e:  # never a traceback to the client, never a hang
        log.error("stream failed: %s", e.__class__.__name__, exc_info=log.isEnabledFor(logging.DEBUG))
        err = AccordError("internal error while streaming; the server log has the details")
        outcome.update(status=500, error_type="internal_error")
        yield b"data: " + orjson.dumps(err.to_dict()) + b"\n\n"
        return
    outcome.update(status=200, error_type=None)
    yield DONE


class ClosingStream(StreamingResponse):
    """A streaming response that runs `then` once it is over, however it ended: finished, failed, the client
    gone, or cancelled before its body began (when a body iterator's own `finally` never runs)."""

    def __init__(self, content: AsyncIterator[bytes], then: Callable[[], Awaitable[None]], **kw: Any) -> None:
        super().__init__(content, **kw)
        self.then = then

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._respond(scope, receive, send)
        finally:
            try:
                close = getattr(self.body_iterator, "aclose", None)
                if close is not None:  # a client gone leaves it open: end it (and what it records) first
                    await close()
            finally:
                await self.then()

    async def _respond(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Starlette's response, minus its anyio task group on servers that report a disconnect only through
        `receive` (ASGI spec < 2.4: uvicorn): the body is sent by one task while this one waits for a hang-up,
        with plain asyncio tasks (bench/README.md, "Hot path")."""
        spec = scope.get("asgi", {}).get("spec_version", "2.0")
        if scope["type"] != "http" or self.background is not None or tuple(map(int, spec.split("."))) >= (2, 4):
            await super().__call__(scope, receive, send)
            return
        body = asyncio.ensure_future(self.stream_response(send))
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
