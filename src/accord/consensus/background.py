"""Consensus runs that outlive the call that started them (`background: true`): the call returns the run's id at
once, the run goes on in this process, and its thread is stored as it goes -- each model's state and its answer
so far -- so `threads`, `accord threads ID` and GET /v1/consensus/runs/{id} can show it, and the result once
done. A run is an asyncio task owned by `Runs`, never by the request or MCP session that started it, so a client
that disconnects leaves it running; `cancel` stops it and its upstream calls (the thread says `cancelled`). A
process that dies leaves its runs to store/runs.py, which marks them `interrupted` at the next start. However far
a run got when it is cancelled or stopped -- not started yet, opening its thread, writing its result -- its
thread ends `cancelled` (or `interrupted`), never `running`."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from . import panel_tools
from .types import Event, InputError, Request

if TYPE_CHECKING:
    from ..config import Config
    from ..store.threads import ThreadStore
    from .runner import Engine

log = logging.getLogger("accord.consensus")
FLUSH_EVERY = 1.0  # seconds between writes of the answers streaming in (each model's start and end is written at once)


def request_to_dict(req: Request) -> dict[str, Any]:
    return dataclasses.asdict(req)


def request_from_dict(data: Any) -> Request:
    """A Request sent by another process (`accord mcp` handing a run to `accord serve`); InputError if malformed."""
    req: Request = panel_tools.parse(Request, data, "a consensus request")
    return req


class Progress:
    """Each model's state and its text so far, written to the run's thread while it runs."""

    def __init__(self, store: ThreadStore, tid: str, labels: list[str]) -> None:
        self.store, self.tid = store, tid
        self.models: dict[str, dict[str, Any]] = {lab: {"state": "waiting"} for lab in labels}
        self.partial: dict[str, str] = {}
        self.dirty = False
        self.last = 0.0

    def snapshot(self) -> dict[str, Any]:
        return {"background": True, "progress": self.models, "partial": self.partial}

    async def flush(self) -> None:
        self.dirty, self.last = False, time.monotonic()
        try:
            await self.store.progress(self.tid, self.snapshot())
        except Exception as e:  # progress is a view; losing one write must not sink the run
            log.warning("run %s: progress not stored (%s)", self.tid, e.__class__.__name__)

    async def on_event(self, e: Event) -> None:
        if e.model is None:
            return
        state = {"start": "asking", "chair": "chairing", "review": "reviewing"}.get(e.kind, e.kind)
        self.models[e.model] = {"state": state, "elapsed": e.elapsed, **({"detail": e.detail} if e.detail else {})}
        await self.flush()

    async def on_delta(self, who: str, text: str) -> None:
        self.partial[who] = self.partial.get(who, "") + text
        self.dirty = True
        if time.monotonic() - self.last >= FLUSH_EVERY:
            await self.flush()


class Runs:
    """The background runs of this process, by thread id."""

    def __init__(self) -> None:
        self.tasks: dict[str, asyncio.Task] = {}
        self.stores: dict[str, ThreadStore] = {}  # where each run's thread is: to end it whatever the task did
        self.stopping = False

    async def start(self, engine: Engine, req: Request, *, thread_id: str | None = None,
                    tool: str = "consensus") -> str:
        """Check `req`, open its thread and start it; returns the thread (= run) id at once."""
        assert engine.store is not None, "background runs need the thread store"
        engine.check(req)
        tid = thread_id or await engine.store.open(tool, req.question, mode=req.mode,
                                                   panel=[m.label for m in req.panel], timeout=req.timeout)
        return self.launch(engine.store, tid, engine.labels(req.panel), lambda p: engine.run(
            req, p.on_event, thread_id=tid, tool=tool, on_delta=p.on_delta))

    async def start_tool(self, engine: Engine, cfg: Config, tool: str, ask: Any) -> str:
        """Run a panel tool's whole call (review, precommit, debug, planner: consensus/panel_tools.py) as a
        background run: its panel checked, its thread opened (or `ask.thread_id` reopened); the id at once."""
        assert engine.store is not None, "background runs need the thread store"
        title = panel_tools.check(engine, cfg, tool, ask)
        labels = engine.labels(ask.panel)
        tid = await engine.store.open(tool, title, thread_id=ask.thread_id, panel=labels,
                                      timeout=cfg.consensus.timeout)
        call = panel_tools.TOOLS[tool].call
        return self.launch(engine.store, tid, labels, lambda p: call(
            engine, cfg, dataclasses.replace(ask, thread_id=tid), p.on_event))

    def launch(self, store: ThreadStore, tid: str, labels: list[str],
               job: Callable[[Progress], Awaitable[Any]]) -> str:
        """Run `job` (the run's whole call, given the Progress to report to) as run `tid`, whose thread is open."""
        progress = Progress(store, tid, labels)
        task = asyncio.create_task(self._run(store, tid, job, progress), name=f"accord-run-{tid}")
        self.tasks[tid], self.stores[tid] = task, store

        def done(_t: asyncio.Task) -> None:
            self.tasks.pop(tid, None)
            self.stores.pop(tid, None)

        task.add_done_callback(done)
        return tid

    async def _run(self, store: ThreadStore, tid: str, job: Callable[[Progress], Awaitable[Any]],
                   progress: Progress) -> None:
        async def flusher() -> None:
            while True:
                await asyncio.sleep(FLUSH_EVERY)
                if progress.dirty:
                    await progress.flush()

        ticker = asyncio.create_task(flusher())
        try:
            await job(progress)
        except asyncio.CancelledError:
            pass  # cancel() ends the thread, wherever the job was
        except Exception as e:
            log.error("run %s failed: %s", tid, e.__class__.__name__, exc_info=log.isEnabledFor(logging.DEBUG))
            why = getattr(e, "message", None) or (str(e) if isinstance(e, InputError) else e.__class__.__name__)
            with contextlib.suppress(Exception):
                await store.finish(tid, status="failed", result={"error": why})
        finally:
            ticker.cancel()

    def running(self, tid: str) -> bool:
        return tid in self.tasks

    async def cancel(self, tid: str) -> bool:
        """Stop run `tid` if this process runs it (its upstream calls are cancelled); False if it does not."""
        task, store = self.tasks.get(tid), self.stores.get(tid)
        if task is None or store is None:
            return False
        task.cancel()
        await asyncio.shield(self._ended(task, store, tid))
        return True

    async def _ended(self, task: asyncio.Task, store: ThreadStore, tid: str) -> None:
        """Once the cancelled task is over, its thread says so: a job cancelled before it started, or outside
        the part the engine guards (opening the thread, recording the result), leaves it `running` otherwise.
        A server stopping under the run makes it `interrupted`, over the engine's `cancelled`."""
        await asyncio.wait({task})
        if self.stopping:
            await store.end(tid, "interrupted", over=("running", "cancelled"))
        else:
            await store.end(tid, "cancelled")

    async def close(self) -> None:
        """The process is stopping: its runs end `interrupted` (a kill leaves them to be marked so at the next
        start, by store/runs.py)."""
        self.stopping = True
        for tid in list(self.tasks):
            await self.cancel(tid)
