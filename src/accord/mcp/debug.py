"""The `debug` tool: the whole panel proposes ranked root-cause hypotheses in parallel, in one call; merged
across models with votes. A continuation brings back what the suggested checks showed."""

from typing import Annotated

from mcp.server.mcpserver import Context
from mcp.types import ToolAnnotations
from pydantic import AliasChoices, Field

from ..consensus.debug import Ask, Diagnosis, markdown
from . import background as bg
from . import inputs, panel_call
from .state import State

DESCRIPTION = ("The panel proposes ranked root-cause hypotheses for a bug from symptoms, logs and files, each "
               "with evidence and the next check; merged with votes. Continue with what the checks showed.")
ANNOTATIONS = {"debug": ToolAnnotations(title="Multi-model debugging", read_only_hint=True, open_world_hint=True)}


def make(state: State):
    async def debug(
        symptoms: Annotated[str, Field(description="what goes wrong, when, and what was expected",
                                       validation_alias=AliasChoices("symptoms", "step", "prompt", "problem"))],
        ctx: Context,
        logs: Annotated[str | None, Field(description="error output, stack traces, log excerpts")] = None,
        checks: Annotated[str | None, Field(description="what earlier suggested checks showed",
                                            validation_alias=AliasChoices("checks", "findings"))] = None,
        files: inputs.Files = None,
        models: inputs.Models = None,
        continuation_id: inputs.Continuation = None,
        background: bg.Flag = False,
    ) -> str:
        with inputs.tool_errors():
            context, _images, notes = await inputs.gather(state, files, None)
            ask = Ask(inputs.panel(state, models), symptoms, logs=logs, context=context, checks=checks,
                      thread_id=continuation_id, history=await inputs.history(state, continuation_id))
        return await panel_call.run(state, ctx, "debug", ask, background, notes=notes, show=markdown,
                                    doing=f"asking {len(ask.panel)} models for hypotheses", failure=_failure)

    return debug


def _failure(d: Diagnosis) -> str | None:
    return f"no model gave readable hypotheses ({'; '.join(x[2:] for x in d.panel)})" if d.status == "failed" else None
