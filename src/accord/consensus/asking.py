"""What the panel tools past `consensus` share (debug, planner): every seat asked in parallel within the run's
limits and budgets, the run kept in a stored thread, a cancelled call marked as such."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .ask import limits
from .runner import Engine, OnEvent, Run
from .types import Answer, Member, Request

if TYPE_CHECKING:
    from ..config import Config


def request(cfg: Config, question: str, panel: list[Member]) -> Request:
    """A request under the configured consensus limits (timeouts, concurrency, budgets)."""
    return Request(question=question, panel=panel, **limits(cfg.consensus))


@dataclass
class PanelRun:
    engine: Engine
    run: Run
    labels: list[str]
    tid: str | None

    @classmethod
    async def open(cls, engine: Engine, req: Request, *, tool: str, thread_id: str | None, asked: str,
                   on_event: OnEvent | None, calls: int) -> PanelRun:
        """Check the request (aliases resolved), open or reopen its thread, and store what was asked."""
        engine.check(req)
        run = Run(req, on_event=on_event, sem=asyncio.Semaphore(req.concurrency) if req.concurrency else None)
        run.calls_planned = calls
        labels = engine.labels(req.panel)
        tid = None
        if engine.store is not None:
            tid = await engine.store.open(tool, req.question, thread_id=thread_id, panel=labels, timeout=req.timeout)
            await engine.store.add(tid, [{"role": "user", "content": asked}])
        return cls(engine, run, labels, tid)

    async def guard(self, coro: Any) -> Any:
        """Await `coro`; a cancelled call leaves its thread marked cancelled, with what it spent."""
        try:
            return await coro
        except asyncio.CancelledError:
            await self.engine.cancelled(self.tid, self.run)
            raise

    async def ask_all(self, messages: Callable[[Member], list[dict]]) -> list[Answer]:
        """Every seat at once; a seat's failure is in its Answer, never raised."""
        seats = self.run.req.panel
        return list(await self.guard(asyncio.gather(*(
            self.engine.ask(self.run, m.model, messages(m), label=self.labels[i]) for i, m in enumerate(seats)))))

    async def record(self, answers: list[Answer], *, final: str, status: str, summary: dict,
                     chair: Answer | None = None) -> None:
        """Every answer kept, and `final` (what the caller got) as the turn a continuation carries on from; a
        cancel while it is written ends the thread `cancelled`, not `running`."""
        if self.engine.store is None or self.tid is None:
            return
        await self.guard(self._write(answers, final=final, status=status, summary=summary, chair=chair))

    async def _write(self, answers: list[Answer], *, final: str, status: str, summary: dict,
                     chair: Answer | None) -> None:
        assert self.engine.store is not None and self.tid is not None
        spent = [*answers, *([chair] if chair else [])]
        rows = [_row("panel", a) for a in answers]
        if chair is not None and not chair.ok:
            rows.append(_row("chair", chair))  # its failure kept; the turn below is what the caller got
        if chair is not None and chair.ok:
            rows.append({**_row("chair", chair), "content": final})
        else:
            rows.append({"role": "chair", "model": "accord", "content": final})
        await self.engine.store.add(self.tid, rows)
        await self.engine.store.finish(self.tid, status=status, result=summary,
                                       prompt_tokens=sum(a.prompt_tokens for a in spent),
                                       completion_tokens=sum(a.completion_tokens for a in spent),
                                       cost=sum(a.cost for a in spent))


def _row(role: str, a: Answer) -> dict:
    return {"role": role, "model": a.model, "stance": None, "content": a.content, "reasoning": a.reasoning,
            "status": a.status, "error": a.error, "prompt_tokens": a.prompt_tokens,
            "completion_tokens": a.completion_tokens, "cost": a.cost, "latency": a.latency}


def panel_lines(labels: list[str], answers: list[Answer], counts: dict[str, str] | None = None) -> list[str]:
    """One line per seat: ok (and what it gave), or why it failed."""
    out = []
    for label, a in zip(labels, answers, strict=True):
        if a.ok:
            out.append(f"- {label}: ok" + (f", {counts[label]}" if counts and label in counts else ""))
        else:
            out.append(f"- {label}: {a.status}: {a.error}")
    return out
