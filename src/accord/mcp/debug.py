"""The `debug` tool: the whole panel proposes ranked root-cause hypotheses in parallel, in one call; merged
across models with votes. A continuation brings back what the suggested checks showed."""

import dataclasses
from typing import Annotated

from mcp.server.mcpserver import Context
from mcp.types import ToolAnnotations
from pydantic import AliasChoices, Field

from .. import metering
from ..consensus.debug import Ask, diagnose, markdown
from ..consensus.types import InputError
from . import background as bg
from . import inputs
from .progress import Progress
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
            if background:
                return await bg.start(state, "debug", symptoms, ask.panel, continuation_id, lambda tid, p: diagnose(
                    state.engine, state.cfg, dataclasses.replace(ask, thread_id=tid), p.on_event))
            async with Progress(ctx, state.cfg.mcp.heartbeat) as progress:
                await progress.send(f"asking {len(ask.panel)} models for hypotheses")
                with metering.tagged("mcp"):
                    d = await diagnose(state.engine, state.cfg, ask, progress.on_event)
            d.notes[:0] = notes
            if d.status == "failed":
                raise InputError(f"no model gave readable hypotheses ({'; '.join(x[2:] for x in d.panel)}); "
                                 f"thread {d.thread_id}")
            return markdown(d, state.cfg.mcp.output_tokens)

    return debug
