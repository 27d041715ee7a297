"""The `planner` tool: the panel drafts plans in parallel and the chair merges them into one, in one call."""

import dataclasses
from typing import Annotated

from mcp.server.mcpserver import Context
from mcp.types import ToolAnnotations
from pydantic import AliasChoices, Field

from .. import metering
from ..consensus.planner import Ask, markdown, plan
from ..consensus.types import InputError
from . import background as bg
from . import inputs
from .progress import Progress
from .state import State

DESCRIPTION = ("The panel drafts plans in parallel; the chair merges them into one numbered plan with risks, "
               "open questions and where the drafts disagreed. Continue to refine it.")
ANNOTATIONS = {"planner": ToolAnnotations(title="Multi-model planning", read_only_hint=True, open_world_hint=True)}


def make(state: State):
    async def planner(
        task: Annotated[str, Field(description="what to plan, or (continuing) how to change the plan",
                                   validation_alias=AliasChoices("task", "step", "prompt"))],
        ctx: Context,
        files: inputs.Files = None,
        models: inputs.Models = None,
        chair: inputs.Model = None,
        continuation_id: inputs.Continuation = None,
        background: bg.Flag = False,
    ) -> str:
        with inputs.tool_errors():
            context, _images, notes = await inputs.gather(state, files, None)
            ask = Ask(inputs.panel(state, models), task, context=context,
                      chair=chair if chair and chair.lower() != "auto" else None, thread_id=continuation_id,
                      history=await inputs.history(state, continuation_id))
            if background:
                return await bg.start(state, "planner", task, ask.panel, continuation_id, lambda tid, p: plan(
                    state.engine, state.cfg, dataclasses.replace(ask, thread_id=tid), p.on_event))
            async with Progress(ctx, state.cfg.mcp.heartbeat) as progress:
                await progress.send(f"asking {len(ask.panel)} models for drafts")
                with metering.tagged("mcp"):
                    p = await plan(state.engine, state.cfg, ask, progress.on_event)
            p.notes[:0] = notes
            if p.status == "failed":
                raise InputError(f"no model drafted a plan ({'; '.join(x[2:] for x in p.panel)}); "
                                 f"thread {p.thread_id}")
            return markdown(p, state.cfg.mcp.output_tokens)

    return planner
