"""What every mode's strategy (modes.py, select.py, aggregate.py) builds on: one run's state, what a strategy
may ask of the engine, and the first round every mode opens with.

The engine (runner.Engine) implements `Engine` and runs the strategies; they see it only through this
protocol, so imports point one way: runner -> modes -> strategy.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from . import prompts
from .types import Answer, Event, Member, Request

if TYPE_CHECKING:
    from .callers import ModelCaller

OnEvent = Callable[[Event], Awaitable[None]]
OnDelta = Callable[[str, str], Awaitable[None]]  # (who, text): answer text as it streams in


@dataclass
class Run:
    """One run's state: never shared between runs."""

    req: Request
    started: float = field(default_factory=time.monotonic)
    on_event: OnEvent | None = None
    on_delta: OnDelta | None = None
    sem: asyncio.Semaphore | None = None
    tokens_spent: int = 0
    cost_spent: float = 0.0
    cost_reserved: float = 0.0
    calls_planned: int = 1

    @property
    def deadline(self) -> float:
        return self.started + self.req.timeout

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    async def emit(self, kind: str, model: str | None = None, detail: str = "") -> None:
        if self.on_event is not None:
            await self.on_event(Event(kind, model, detail, round(self.elapsed(), 2)))  # type: ignore[arg-type]


class Engine(Protocol):
    """What a strategy may ask of the engine (runner.Engine)."""

    models: ModelCaller

    def labels(self, panel: list[Member]) -> list[str]: ...

    def pick_chair(self, req: Request, answers: list[Answer]) -> str: ...

    def chair_choice(self, req: Request, answers: list[Answer]) -> tuple[str, str]: ...

    def member_messages(self, run: Run, m: Member) -> tuple[list[dict], list[str]]: ...

    async def ask(self, run: Run, model: str, messages: list[dict], *, stance: str = "neutral",
                  label: str | None = None, notes: list[str] | None = None, event: str = "start") -> Answer: ...

    async def fan_out(self, run: Run, jobs: list[Callable[[], Awaitable[Answer]]]) -> list[Answer]: ...


def messages(engine: Engine, run: Run, m: Member) -> tuple[list[dict], list[str]]:
    """The panelist's messages; a debate with an answer format asks for the ANSWER line, as a vote does."""
    msgs, notes = engine.member_messages(run, m)
    if run.req.mode == "debate" and run.req.answer_format and msgs and msgs[0]["role"] == "system":
        msgs[0] = {"role": "system", "content": prompts.panel_system(m, run.req.answer_format, voting=True)}
    return msgs, notes


async def first_answers(engine: Engine, run: Run) -> list[Answer]:
    labels = engine.labels(run.req.panel)

    def job(i: int):
        m = run.req.panel[i]
        msgs, notes = messages(engine, run, m)
        return lambda: engine.ask(run, m.model, msgs, stance=m.stance, label=labels[i], notes=notes)

    return await engine.fan_out(run, [job(i) for i in range(len(labels))])
