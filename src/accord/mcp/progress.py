"""Progress notifications: one as each model starts and finishes, and a heartbeat at least every
`mcp.heartbeat` seconds, because clients cut a silent tool call off (Claude Code: about 60 s)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from ..consensus.types import Event

log = logging.getLogger("accord.mcp")


class Progress:
    def __init__(self, ctx: Any, heartbeat: float, total: int | None = None) -> None:
        self.ctx = ctx
        self.heartbeat = heartbeat
        self.total = total
        self.step = 0  # progress must increase with every notification
        self.done = 0
        self.started = time.monotonic()
        self.last = self.started
        self._task: asyncio.Task | None = None

    async def send(self, message: str) -> None:
        self.step += 1
        self.last = time.monotonic()
        try:
            await self.ctx.report_progress(self.step, None, message)
        except Exception as e:  # a client gone away must not fail the run
            log.debug("progress not sent: %s", e)

    async def on_event(self, ev: Event) -> None:
        who = ev.model or ""
        if ev.kind in ("done", "failed"):
            self.done += 1
        text = {
            "start": f"{who}: thinking",
            "chair": f"{who}: writing the synthesis",
            "review": f"{who}: reviewing",
            "done": f"{who}: done in {ev.detail}",
            "failed": f"{who}: failed: {ev.detail[:200]}",
            "round": f"debate {ev.detail}",
            "finished": f"finished: {ev.detail}",
        }.get(ev.kind, ev.kind)
        await self.send(f"{text} [{ev.elapsed:.0f} s]")

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(max(0.05, self.heartbeat - (time.monotonic() - self.last)))
            if time.monotonic() - self.last >= self.heartbeat * 0.95:
                await self.send(f"working: {self.done} finished, {time.monotonic() - self.started:.0f} s")

    async def __aenter__(self) -> Progress:
        self._task = asyncio.create_task(self._beat())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
