"""`background: true` for the panel tools past consensus (review, precommit, debug, planner): the thread opened
here, so the call can return its id at once, and the tool's whole call run by the process's run registry
(consensus/background.py), so `threads`, GET /v1/consensus/runs/{id} and cancel treat it as a consensus run."""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from pydantic import Field

from .. import metering
from ..consensus import asking
from ..consensus.background import Progress
from ..consensus.types import InputError, Member
from .state import State

Flag = Annotated[bool, Field(description="return a run id at once; `threads` shows it")]


def started(tid: str, what: str) -> str:
    return (f"Started background run {tid} ({what}); it goes on after this call.\n"
            f"- progress and the result when done: threads(id=\"{tid}\")\n"
            f"- stop it: threads(id=\"{tid}\", cancel=true)")


async def start(state: State, tool: str, title: str, panel: list[Member], continuation_id: str | None,
                job: Callable[[str, Progress], Awaitable[Any]]) -> str:
    """Open (or reopen) the thread and launch `job(thread_id, progress)`; the run id, at once."""
    if state.runs is None:  # stdio: only consensus requests can be handed to `accord serve` so far
        raise InputError(f"background `{tool}` runs only in the Accord service: use its /mcp endpoint "
                         "(`accord serve`), or leave background off")
    state.engine.check(asking.request(state.cfg, title, panel))  # unknown models refused now, not in the run
    labels = state.engine.labels(panel)
    with metering.tagged("mcp"):  # the run's calls are recorded as this tool's (the task copies the context)
        tid = await state.store.open(tool, title, thread_id=continuation_id, panel=labels)
        state.runs.launch(state.store, tid, labels, lambda p: job(tid, p))
    return started(tid, f"{len(panel)} models, {tool}")
