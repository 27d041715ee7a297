"""The `planner` tool: the panel drafts plans in parallel and the chair merges them into one, in one call."""

from typing import Annotated

from mcp.server.mcpserver import Context
from mcp.types import ToolAnnotations
from pydantic import AliasChoices, Field

from ..consensus.planner import Ask, Plan, markdown
from . import background as bg
from . import inputs, panel_call
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
        return await panel_call.run(state, ctx, "planner", ask, background, notes=notes, show=markdown,
                                    doing=f"asking {len(ask.panel)} models for drafts", failure=_failure)

    return planner


def _failure(p: Plan) -> str | None:
    return f"no model drafted a plan ({'; '.join(x[2:] for x in p.panel)})" if p.status == "failed" else None
