"""Stop paying for answers nobody will read: a client that hangs up cancels its upstream call at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from starlette.requests import Request

from .headlimit import HANGUP

T = TypeVar("T")


class ClientGone(Exception):
    pass


async def _disconnected(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    """Await `work`, cancelling it if the client disconnects first (the body must be read already): ClientGone
    once the cancelled work has unwound, so its attempt is recorded first.

    On Accord's own protocol (`accord serve`) the connection cancels this task from `connection_lost`, and the
    work runs in it: no task, future or `receive` waiter of its own per request (two tasks were two more turns
    of the event loop for each plain request). On other servers a watcher task waits on `receive`."""
    conn = request.scope.get(HANGUP)
    if conn is not None and conn.on_hangup is None:
        return await until_hangup(conn, work)
    return await _watched(request, work)


async def until_hangup(conn: Any, work: Awaitable[T]) -> T:
    """`work` awaited in this task, which the connection (`HANGUP` in the scope) cancels from `connection_lost`;
    ClientGone if that is what ended it. A plain request's upstream call and a stream's body both run this way."""
    task = asyncio.current_task()
    assert task is not None
    gone = False

    def hung_up() -> None:
        nonlocal gone
        gone = True
        task.cancel()

    conn.on_hangup = hung_up
    try:
        return await work
    except asyncio.CancelledError:
        # ours: the client is gone; anyone else's (a shutdown, a timeout around this): raised as it came
        uncancel = getattr(task, "uncancel", None)  # Python 3.11+
        if gone and (uncancel is None or uncancel() == 0):
            raise ClientGone from None
        raise
    finally:
        if conn.on_hangup is hung_up:
            conn.on_hangup = None


async def _watched(request: Request, work: Awaitable[T]) -> T:
    """The watcher cancels the work from a done-callback and the request awaits the work itself: no
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
