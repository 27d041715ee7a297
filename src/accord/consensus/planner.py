"""Planning by a panel: every model drafts a plan in parallel; the chair merges the drafts into one numbered
plan with risks, open questions and where the drafts disagreed. A continuation refines the plan."""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .asking import PanelRun, panel_lines, request
from .runner import Engine, OnEvent
from .types import Answer, InputError, Member

if TYPE_CHECKING:
    from ..config import Config

DRAFT = """You plan software work as a senior engineer. Write a plan for the task: numbered steps in the order \
to do them, each concrete and checkable (what to change, and how to know it is done); then the risks, and the \
open questions to settle before or during the work. Markdown, no preamble. When an earlier plan is given, \
revise it as asked and keep what still holds."""
MERGE = """You merge plans drafted independently by several engineers for one task into the single best plan. \
Keep the steps most drafts share, add what only one draft saw when it is right, drop what is wrong. Write \
Markdown with exactly these sections:
## Plan
(numbered steps, each concrete and checkable)
## Risks
## Open questions
## Where the drafts disagreed
(each point, which drafts took which side, and which side the plan takes and why; "none" if they agreed)"""


@dataclass
class Ask:
    panel: list[Member]
    task: str
    context: str = ""  # files, already read
    chair: str | None = None
    thread_id: str | None = None
    history: list[dict] = field(default_factory=list)


@dataclass
class Plan:
    text: str  # the merged plan (or, without a chair, the drafts)
    status: str  # done | partial (a draft failed) | degraded (the chair failed: the drafts are given) | failed
    panel: list[str]
    answers: list[Answer]
    chair: Answer | None
    notes: list[str] = field(default_factory=list)
    thread_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "plan": self.text, "panel": self.panel, "notes": self.notes,
                "chair": self.chair.model if self.chair else None, "thread_id": self.thread_id}


async def plan(engine: Engine, cfg: Config, ask: Ask, on_event: OnEvent | None = None) -> Plan:
    """Drafts in parallel, then the merge; a failed draft or chair shows in the result, never raises."""
    if not ask.task.strip():
        raise InputError("the task is empty: say what should be planned")
    req = request(cfg, ask.task, ask.panel)
    req.chair = ask.chair or cfg.consensus.chair
    p = await PanelRun.open(engine, req, tool="planner", thread_id=ask.thread_id, asked=ask.task, on_event=on_event,
                            calls=len(req.panel) + 1)
    user = ask.task + (f"\n\nFILES:\n{ask.context}" if ask.context else "")
    drafts = await p.ask_all(lambda m: [{"role": "system", "content": DRAFT}, *ask.history,
                                        {"role": "user", "content": user}])
    ok = [(label, a) for label, a in zip(p.labels, drafts, strict=True) if a.ok]
    lines = panel_lines(p.labels, drafts)
    chair: Answer | None = None
    notes: list[str] = []
    if not ok:
        text, status = "", "failed"
    else:
        name, why = engine.chair_choice(req, drafts)
        shown = "\n\n".join(f"### Draft {string.ascii_uppercase[i]} ({label})\n{a.content}"
                            for i, (label, a) in enumerate(ok))
        chair = await p.guard(engine.ask(p.run, name, [
            {"role": "system", "content": MERGE}, *ask.history,
            {"role": "user", "content": f"TASK:\n{user}\n\nDRAFTS:\n\n{shown}"}], event="chair"))
        if chair.ok:
            text = chair.content
            status = "done" if len(ok) == len(drafts) else "partial"
            notes.append(f"merged by {name} ({why})")
        else:
            text, status = shown, "degraded"
            notes.append(f"the chair {name} failed ({chair.status}: {chair.error}): the drafts follow unmerged")
    out = Plan(text, status, lines, drafts, chair, notes, p.tid)
    await p.run.emit("finished", None, status)
    await p.record(drafts, final=text or "(no plan)", status=status, summary=out.to_dict(), chair=chair)
    return out


def markdown(pl: Plan, budget: int) -> str:
    """The plan, then who drafted it; cut to the budget (the whole plan stays in the thread)."""
    from .. import tokens
    from .report import trim

    head = "# Plan" + (f" ({pl.status})" if pl.status != "done" else "")
    foot = "\n\n".join(["## Drafts\n" + "\n".join(pl.panel), *(f"note: {n}" for n in pl.notes),
                        f"thread: {pl.thread_id} (continue with continuation_id to refine the plan)"
                        if pl.thread_id else ""])
    limit = tokens.room(budget)
    body = trim(pl.text, max(100, limit - tokens.count(head) - tokens.count(foot) - 20), pl.thread_id)
    return trim("\n\n".join(x for x in (head, body, foot) if x), limit, pl.thread_id)
