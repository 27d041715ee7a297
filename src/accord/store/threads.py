"""Threads: every chat turn and consensus run, stored so it survives restarts and any tool can continue it.

Each write is its own short transaction, so any number of runs can record at once without sharing state.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select, update

from . import runs
from .db import Database
from .models import Thread, ThreadMessage, utcnow

MESSAGE_FIELDS = ("role", "model", "stance", "content", "reasoning", "status", "error", "prompt_tokens",
                  "completion_tokens", "cost", "latency")


class ThreadNotFound(LookupError):
    pass


class ThreadStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def open(self, tool: str, title: str, *, thread_id: str | None = None, mode: str | None = None,
                   panel: list | None = None, timeout: float | None = None) -> str:
        """Start a thread, or reopen `thread_id` to continue it (ThreadNotFound when it does not exist).
        `timeout`: the run's own, after which it is over for sure (see runs.py)."""
        await self.db.start()
        owner, lease = runs.owner(), runs.lease(timeout)
        async with self.db.session.begin() as s:
            if thread_id:
                t = await s.get(Thread, thread_id)
                if t is None:
                    raise ThreadNotFound(thread_id)
                t.status, t.tool, t.mode, t.owner, t.lease_until = "running", tool, mode, owner, lease
                if panel is not None:
                    t.panel = panel
                t.updated_at = utcnow()
                return t.id
            tid = str(uuid.uuid4())
            s.add(Thread(id=tid, tool=tool, title=title[:200], mode=mode, panel=panel, owner=owner,
                         lease_until=lease))
            return tid

    async def add(self, thread_id: str, messages: list[dict[str, Any]]) -> list[int]:
        """Append messages; their `seq` numbers, by which the `threads` tool pages through one of them."""
        if not messages:
            return []
        seqs: list[int] = []
        async with self.db.session.begin() as s:
            seq = (await s.scalar(select(func.max(ThreadMessage.seq)).where(ThreadMessage.thread_id == thread_id)))
            seq = -1 if seq is None else seq
            for m in messages:
                seq += 1
                seqs.append(seq)
                s.add(ThreadMessage(thread_id=thread_id, seq=seq, **{k: m[k] for k in MESSAGE_FIELDS if k in m}))
        return seqs

    async def finish(self, thread_id: str, *, status: str, result: dict | None = None, prompt_tokens: int = 0,
                     completion_tokens: int = 0, cost: float = 0.0) -> None:
        async with self.db.session.begin() as s:
            await s.execute(
                update(Thread).where(Thread.id == thread_id).values(
                    status=status, result=result, updated_at=utcnow(),
                    prompt_tokens=Thread.prompt_tokens + prompt_tokens,
                    completion_tokens=Thread.completion_tokens + completion_tokens,
                    cost=Thread.cost + cost,
                )
            )

    async def progress(self, thread_id: str, result: dict) -> None:
        """A running thread's progress (each model's state, its answer so far), shown until its result replaces
        it; never written over a run that has finished."""
        async with self.db.session.begin() as s:
            await s.execute(update(Thread).where(Thread.id == thread_id, Thread.status == "running")
                            .values(result=result, updated_at=utcnow()))

    async def cancel(self, thread_id: str, *, prompt_tokens: int = 0, completion_tokens: int = 0,
                     cost: float = 0.0) -> None:
        """The run was cancelled (its caller gave up): `cancelled`, with what it spent until then."""
        await self.finish(thread_id, status="cancelled", prompt_tokens=prompt_tokens,
                          completion_tokens=completion_tokens, cost=cost)

    async def end(self, thread_id: str, status: str, *, over: tuple[str, ...] = ("running",)) -> None:
        """End a run with `status` unless it has ended otherwise already (its status is not one of `over`):
        what a cancelled background run's thread is left with, however far the run got."""
        async with self.db.session.begin() as s:
            await s.execute(update(Thread).where(Thread.id == thread_id, Thread.status.in_(over))
                            .values(status=status, updated_at=utcnow()))

    async def get(self, thread_id: str) -> dict[str, Any]:
        await self.db.start()
        async with self.db.session() as s:
            t = await s.get(Thread, thread_id)
            if t is None:
                raise ThreadNotFound(thread_id)
            rows = (await s.scalars(select(ThreadMessage).where(ThreadMessage.thread_id == thread_id)
                                    .order_by(ThreadMessage.seq))).all()
            out = _thread_dict(t)
            out["messages"] = [{k: getattr(m, k) for k in ("seq", *MESSAGE_FIELDS)} for m in rows]
            return out

    async def recent(self, limit: int = 20) -> list[dict[str, Any]]:
        await self.db.start()
        async with self.db.session() as s:
            rows = (await s.scalars(select(Thread).order_by(Thread.updated_at.desc()).limit(limit))).all()
            return [_thread_dict(t) for t in rows]

    async def history(self, thread_id: str) -> list[dict[str, str]]:
        """The thread as chat turns: each question and its final answer (the synthesis for a consensus)."""
        t = await self.get(thread_id)
        turns: list[dict[str, str]] = []
        pending: list[dict] = []
        for m in t["messages"]:
            if m["role"] == "user":
                turns += _close_turn(pending)
                pending = []
                turns.append({"role": "user", "content": m["content"]})
            elif m["status"] == "ok" and m["role"] in ("assistant", "chair", "panel"):
                pending.append(m)
        return turns + _close_turn(pending)


def _close_turn(answers: list[dict]) -> list[dict[str, str]]:
    """A turn's answer: the assistant's or chair's; with only panel answers, all of them, labelled."""
    final = [m for m in answers if m["role"] in ("assistant", "chair")]
    if final:
        return [{"role": "assistant", "content": final[-1]["content"]}]
    if answers:
        text = "\n\n".join(f"[{m['model']}{' (' + m['stance'] + ')' if m['stance'] else ''}]\n{m['content']}"
                           for m in answers)
        return [{"role": "assistant", "content": text}]
    return []


def _thread_dict(t: Thread) -> dict[str, Any]:
    return {
        "id": t.id, "tool": t.tool, "title": t.title, "status": t.status, "mode": t.mode, "panel": t.panel,
        "result": t.result, "prompt_tokens": t.prompt_tokens, "completion_tokens": t.completion_tokens,
        "cost": round(t.cost, 6), "created_at": t.created_at.isoformat(), "updated_at": t.updated_at.isoformat(),
    }
