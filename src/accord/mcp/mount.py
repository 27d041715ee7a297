"""/mcp, started on its first (authenticated) request; mounted beside the gateway's routes by accord.app.

The MCP SDK is the heaviest import Accord has; loading it at the first MCP call instead of at start keeps
`accord serve` healthy in a fraction of the time and its idle memory small for users of the plain API.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

from starlette.responses import JSONResponse

from ..errors import AccordError
from .access import refused


class LazyMCP:
    """An ASGI endpoint that imports and starts the MCP server (accord.mcp.http) on the first admitted request."""

    def __init__(self) -> None:
        self.mount: Any = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task | None = None
        self._stop: asyncio.Event | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if await refused(scope, receive, send):
            return
        try:
            if self.mount is None:
                async with self._lock:
                    if self.mount is None:
                        await self._start(scope["app"])
        except AccordError as e:
            await JSONResponse(e.to_dict(), status_code=e.status)(scope, receive, send)
            return
        await self.mount(scope, receive, send)

    async def _start(self, app: Any) -> None:
        module = await asyncio.to_thread(importlib.import_module, "accord.mcp.http")
        store = app.state.store
        await store.wait(timeout=30)  # threads live in the server's own database
        mount = module.MCPMount(app.state.cfg, app.state.router, db=store.db, runs=app.state.runs)
        started, self._stop = asyncio.Event(), asyncio.Event()
        failed: list[BaseException] = []

        async def run() -> None:
            try:
                async with mount.running():
                    started.set()
                    await self._stop.wait()  # type: ignore[union-attr]
            except BaseException as e:  # surfaced to the request that started it
                failed.append(e)
                started.set()
                raise

        self._task = asyncio.create_task(run(), name="accord-mcp")
        await started.wait()
        if failed:
            raise AccordError(f"the MCP server could not start ({failed[0].__class__.__name__})")
        app.state.on_reload.append(lambda cfg, router: mount.state.retarget(cfg, router))
        self.mount = mount

    async def close(self) -> None:
        if self._task is not None and self._stop is not None:
            self._stop.set()
            try:
                await asyncio.wait_for(self._task, 10)
            except (asyncio.TimeoutError, Exception):
                self._task.cancel()
