"""Server-sent events out: chunks forwarded the moment they arrive, errors as an event the SDKs raise."""

from __future__ import annotations

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
            await super().__call__(scope, receive, send)
        finally:
            try:
                close = getattr(self.body_iterator, "aclose", None)
                if close is not None:  # a client gone leaves it open: end it (and what it records) first
                    await close()
            finally:
                await self.then()
