"""`background: true` for the panel tools past consensus (review, precommit, debug, planner): the tool's whole
call runs as a background run -- in this server's run registry (the gateway's /mcp), or, on stdio `accord mcp`
(started and stopped by Claude Code), in the running `accord serve` that shares the store -- so `threads`,
GET /v1/consensus/runs/{id} and cancel treat it as a consensus run."""

from typing import Annotated, Any

from pydantic import Field

from .. import metering
from ..consensus import panel_tools
from . import service
from .state import State

Flag = Annotated[bool, Field(description="return a run id at once; `threads` shows it")]


def started(tid: str, what: str) -> str:
    return (f"Started background run {tid} ({what}); it goes on after this call.\n"
            f"- progress and the result when done: threads(id=\"{tid}\")\n"
            f"- stop it: threads(id=\"{tid}\", cancel=true)")


async def start(state: State, tool: str, ask: Any) -> str:
    """Start `tool` with `ask` (its dataclass: consensus/panel_tools.py) where it outlives this call; the run id."""
    panel_tools.check(state.engine, state.cfg, tool, ask)  # unknown models refused here, not in the run
    with metering.tagged("mcp"):  # the run's calls are recorded as this tool's (the task copies the context)
        if state.runs is not None:
            tid = await state.runs.start_tool(state.engine, state.cfg, tool, ask)
        else:
            tid = await service.start(state.cfg, panel_tools.to_dict(ask), ask.thread_id, tool=tool)
    return started(tid, f"{len(ask.panel)} models, {tool}")
