"""The one way tests wait: for a condition, never for a fixed time.

A test that sleeps for "long enough" passes on an idle machine and fails on a busy one. These poll a condition
until it holds; the deadline is only a safety net against hanging forever (generous, never a timing claim:
timing claims live in bench/), and when it runs out the error says what never happened.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx

T = TypeVar("T")

DEADLINE = 60.0  # seconds: a safety net for a hung test, not a bound on how fast anything must be


class Hopeless(AssertionError):
    """Raise it from a condition that can now never hold (the server process exited): waiting stops at once."""


def wait_for(cond: Callable[[], T], what: str, timeout: float = DEADLINE, every: float = 0.02) -> T:
    """Poll `cond` until it returns something truthy, and return that. Exceptions count as "not yet"."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            value = cond()
            if value:
                return value
        except Hopeless:
            raise
        except Exception as e:  # not ready yet (a server still starting, a row not yet written)
            last = e
        if time.monotonic() > deadline:
            why = f" (last error: {last!r})" if last else ""
            raise AssertionError(f"waited {timeout:g} s for {what}, and it never happened{why}")
        time.sleep(every)  # wait-ok: the polling interval, not an assumption about timing


async def async_wait_for(cond: Callable[[], T | Awaitable[T]], what: str, timeout: float = DEADLINE,
                         every: float = 0.02) -> T:
    """The same inside a test's event loop; `cond` may be a plain function or a coroutine function."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            value = cond()
            if asyncio.iscoroutine(value) or isinstance(value, Awaitable):
                value = await value  # type: ignore[misc]
            if value:
                return value  # type: ignore[return-value]
        except Hopeless:
            raise
        except Exception as e:
            last = e
        if time.monotonic() > deadline:
            why = f" (last error: {last!r})" if last else ""
            raise AssertionError(f"waited {timeout:g} s for {what}, and it never happened{why}")
        await asyncio.sleep(every)  # wait-ok: the polling interval


def fails_with(error: type[BaseException], match: str, call: Callable[..., object], *args: object,
               **kwargs: object) -> bool:
    """True if `call(*args, **kwargs)` raises `error` with `match` in its message: to wait until it is refused."""
    try:
        call(*args, **kwargs)
    except error as e:
        return match in str(e)
    return False


def wait_http(url: str, what: str, proc: subprocess.Popen | None = None, want: str = "",
              output: Callable[[], str] | None = None, timeout: float = DEADLINE) -> httpx.Response:
    """Wait until GET `url` answers 200 with `want` in its body (a server started by a test is up); stop at once,
    with what it printed, if its process `proc` exits."""

    def printed() -> str:
        if output is not None:
            return output()
        return proc.stdout.read() if proc is not None and proc.stdout is not None else ""

    def up() -> httpx.Response | None:
        if proc is not None and proc.poll() is not None:
            raise Hopeless(f"{what}: the process exited with {proc.returncode}:\n{printed()[-3000:]}")
        r = httpx.get(url, timeout=5)
        return r if r.status_code == 200 and want in r.text else None

    return wait_for(up, what, timeout=timeout)
