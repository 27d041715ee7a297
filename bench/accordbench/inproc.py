"""What the in-process A/B benchmarks share (bench/hotpath_inproc.py, big_event.py, access_log.py,
upstream_clients.py): the event loop they run on, one POST through Accord's ASGI app with no server in front,
a config against the fake upstream, and the rounds that alternate this checkout with other checkouts' src (each
run a fresh process, so what was imported by one never serves another)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

from .targets import accord_config


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """`main()` on uvloop where it is installed (as `accord serve` runs), else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())


def write_config(work: Path, upstream_url: str, models: str = "") -> Path:
    """The bench's one-worker accord.yaml against the fake upstream (plus `models`), its data in `work`, no MCP."""
    cfg = work / "accord.yaml"
    text = accord_config(upstream_url, 4000, 1, models) + "mcp:\n  http: false\n"
    cfg.write_text(text.replace("settings:\n", f"settings:\n  data_dir: {work / 'data'}\n"))
    return cfg


def chat_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"host", b"127.0.0.1:4000"), (b"content-type", b"application/json"),
            (b"authorization", b"Bearer sk-bench"), (b"content-length", str(len(body)).encode())]


class _Connection:
    """What Accord's HTTP protocol (gateway/headlimit.py) puts in each request's scope under "accord.hangup": the
    connection, whose `on_hangup` a request sets while it waits on the upstream or streams. Given here so the app
    takes the path it takes under `accord serve`; this client never hangs up."""

    __slots__ = ("on_hangup",)

    def __init__(self) -> None:
        self.on_hangup: Callable[[], None] | None = None


async def post_chat(app: Any, headers: list[tuple[bytes, bytes]], body: bytes,
                    send: Callable[[dict], Awaitable[None]], path: str = "/v1/chat/completions") -> None:
    """One POST /v1/chat/completions (or `path`) through the ASGI app, `send` seeing what it answers; the client
    stays connected until the answer is over."""
    scope = {"accord.hangup": _Connection(),
             "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "headers": headers, "client": ("127.0.0.1", 5000),
             "server": ("127.0.0.1", 4000), "state": {}}
    sent = False
    over = asyncio.Event()

    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await over.wait()
        return {"type": "http.disconnect"}

    try:
        await app(scope, receive, send)
    finally:
        over.set()


def last_line(out: subprocess.CompletedProcess, tail: int = 300) -> str:
    """A child's result: its last line of output, or the end of its errors."""
    return (out.stdout.strip().splitlines() or [out.stderr.strip()[-tail:]])[-1]


def alternate(rounds: int, srcs: list[str], measure: Callable[[dict[str, str], str], str]) -> None:
    """`rounds` times, this checkout then each of `srcs` (put first on PYTHONPATH), one line each:
    `measure(env, src)` runs the child and returns its result."""
    for _ in range(rounds):
        for src in ["", *srcs]:
            env = {**os.environ, "PYTHONPATH": src} if src else dict(os.environ)
            print(f"{src or 'this checkout'}: {measure(env, src)}", flush=True)


def child_run(argv: list[str], env: dict[str, str] | None = None) -> str:
    """Run this interpreter on `argv` and return the child's result line."""
    return last_line(subprocess.run([sys.executable, *argv], env=env, capture_output=True, text=True))
