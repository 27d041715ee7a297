"""Stop paying for answers nobody will read: a client that hangs up cancels its upstream call at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from starlette.requests import Request

T = TypeVar("T")


class ClientGone(Exception):
    pass


async def _disconnected(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    """Await `work`, cancelling it if the client disconnects first (the body must be read already).

    The watcher cancels the work from a done-callback and the request awaits the work itself: no
    `asyncio.wait` (a future and four callbacks per request)."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    gone = False

    def hung_up(w: asyncio.Future) -> None:
        nonlocal gone
        if not w.cancelled():
            w.exception()  # retrieved: a receive that failed also means nobody is listening
            gone = True
            task.cancel()

    watcher.add_done_callback(hung_up)
    try:
        return await task  # returns once the cancelled work has unwound, so its attempt is recorded first
    except asyncio.CancelledError:
        me = asyncio.current_task()
        if gone and not (me is not None and getattr(me, "cancelling", lambda: 0)()):
            raise ClientGone from None
        raise
    finally:
        watcher.remove_done_callback(hung_up)
        watcher.cancel()
