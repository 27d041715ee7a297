"""Consensus runs that outlive the call that started them (`background: true`): the call returns the run's id at
once, the run goes on in this process, and its thread is stored as it goes -- each model's state and its answer
so far -- so `threads`, `accord threads ID` and GET /v1/consensus/runs/{id} can show it, and the result once
done. A run is an asyncio task owned by `Runs`, never by the request or MCP session that started it, so a client
that disconnects leaves it running; `cancel` stops it and its upstream calls (the thread says `cancelled`). A
process that dies leaves its runs to store/runs.py, which marks them `interrupted` at the next start."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .types import Event, InputError, Request

if TYPE_CHECKING:
    from ..store.threads import ThreadStore
    from .runner import Engine

log = logging.getLogger("accord.consensus")
FLUSH_EVERY = 1.0  # seconds between writes of the answers streaming in (each model's start and end is written at once)


def request_to_dict(req: Request) -> dict[str, Any]:
    return dataclasses.asdict(req)


def request_from_dict(data: Any) -> Request:
    """A Request sent by another process (`accord mcp` handing a run to `accord serve`); InputError if malformed."""
    from pydantic import TypeAdapter, ValidationError

    if not isinstance(data, dict):
        raise InputError("`request` must be an object (a consensus request)")
    unknown = sorted(set(data) - {f.name for f in dataclasses.fields(Request)})
    if unknown:
        raise InputError(f"unknown request field(s): {', '.join(map(str, unknown))[:200]}")
    try:
        return TypeAdapter(Request).validate_python(data, strict=False)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(map(str, err["loc"])) or "request"
        raise InputError(f"request.{where}: {err['msg']}") from None


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

    def launch(self, store: ThreadStore, tid: str, labels: list[str],
               job: Callable[[Progress], Awaitable[Any]]) -> str:
        """Run `job` (a panel tool's whole call, given the Progress to report to) as run `tid`, whose thread is
        open already: how review, precommit, debug and planner run in the background as consensus does."""
        progress = Progress(store, tid, labels)
        task = asyncio.create_task(self._run(store, tid, job, progress), name=f"accord-run-{tid}")
        self.tasks[tid] = task
        task.add_done_callback(lambda _t: self.tasks.pop(tid, None))
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
            if self.stopping:  # not the user's cancel: the server stopped under it
                await asyncio.shield(store.finish(tid, status="interrupted"))
            # else the engine has marked the thread `cancelled`
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
        task = self.tasks.get(tid)
        if task is None:
            return False
        task.cancel()
        await asyncio.wait({task})
        return True

    async def close(self) -> None:
        """The process is stopping: its runs end `interrupted` (a kill leaves them to be marked so at the next
        start, by store/runs.py)."""
        self.stopping = True
        for tid in list(self.tasks):
            await self.cancel(tid)
