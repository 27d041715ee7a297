"""What the panel tools past consensus (review, precommit, debug, planner) share once their arguments are an
ask: the call goes to the background (mcp/background.py), or runs here with progress notifications; a result
no model could give is a tool error that names each model's failure, any other is shown as Markdown."""

from collections.abc import Callable
from typing import Any

from mcp.server.mcpserver import Context

from .. import metering
from ..consensus import panel_tools
from ..consensus.types import InputError
from . import background as bg
from . import inputs
from .progress import Progress
from .state import State


async def run(state: State, ctx: Context, tool: str, ask: Any, background: bool, *, doing: str,
              failure: Callable[[Any], str | None], show: Callable[[Any, int], str],
              notes: list[str] | None = None) -> str:
    """`doing`: the first progress message; `failure(result)`: why it failed, or None; `show(result, budget)`:
    its Markdown; `notes` (what reading the files said) go before the result's own."""
    with inputs.tool_errors():
        if background:
            return await bg.start(state, tool, ask)
        async with Progress(ctx, state.cfg.mcp.heartbeat) as progress:
            await progress.send(doing)
            with metering.tagged("mcp"):
                out = await panel_tools.TOOLS[tool].call(state.engine, state.cfg, ask, progress.on_event)
        out.notes[:0] = notes or []
        why = failure(out)
        if why:
            raise InputError(f"{why}; thread {out.thread_id}")
        return show(out, state.cfg.mcp.output_tokens)
