"""The `review` tool (PAL's `codereview`) and `precommit`: the whole panel reviews a git change and/or files
in parallel, in one call; findings merged across models with who found each, and a verdict under a policy."""

from typing import Annotated, Literal

from mcp.server.mcpserver import Context
from mcp.types import ToolAnnotations
from pydantic import AliasChoices, Field

from ..consensus.review_code import Ask, Review, markdown
from ..consensus.types import InputError
from . import background as bg
from . import inputs, panel_call
from .state import State

DESCRIPTION = ("The panel reviews a git change (diff: staged, unstaged, a rev or a...b, in the repo at path) "
               "and/or files in parallel; findings merged across models, verdict pass/fail.")
PRECOMMIT_DESCRIPTION = ("Review the pending change (staged, else unstaged) before committing: the panel's "
                         "review and intent check, plus secrets, debug leftovers, TODOs, untested code.")
ANNOTATIONS = {
    "review": ToolAnnotations(title="Multi-model code review", read_only_hint=True, open_world_hint=True),
    "precommit": ToolAnnotations(title="Multi-model pre-commit check", read_only_hint=True, open_world_hint=True),
}

Diff = Annotated[str | None, Field(validation_alias=AliasChoices("diff", "compare_to"))]
Path_ = Annotated[str | None, Field(description="absolute path in the git repository")]
FailOn = Annotated[Literal["critical", "high", "medium", "low"] | None,
                   Field(description="fail on this severity or worse; default: critical, or high found by 2+")]


async def run(state: State, ctx: Context, ask: Ask, tool: str, background: bool = False) -> str:
    return await panel_call.run(state, ctx, tool, ask, background, show=markdown, failure=_failure,
                                doing=f"reviewing with {len(ask.panel)} models")


def _failure(r: Review) -> str | None:
    if r.status != "failed" or r.findings:
        return None
    return "no model could review the change (" + "; ".join(
        f"{p['model']}: {p['error'] or p['unreadable']}" for p in r.panel) + ")"


def make(state: State):
    async def review_(
        ctx: Context,
        path: Path_ = None,
        diff: Diff = None,
        files: inputs.Files = None,
        models: inputs.Models = None,
        fail_on: FailOn = None,
        focus: Annotated[str | None, Field(validation_alias=AliasChoices("focus", "focus_on", "step", "prompt"))
                         ] = None,
        continuation_id: inputs.Continuation = None,
        background: bg.Flag = False,
    ) -> str:
        with inputs.tool_errors():
            ask = Ask(inputs.panel(state, models), path=path, diff=diff, files=files, fail_on=fail_on,
                      focus=focus,
                      thread_id=continuation_id, history=await inputs.history(state, continuation_id))
        return await run(state, ctx, ask, "review", background)

    return review_


def make_precommit(state: State):
    async def precommit(
        path: Path_,
        ctx: Context,
        intent: Annotated[str | None, Field(description="what the change is meant to do",
                                            validation_alias=AliasChoices("intent", "step", "prompt"))] = None,
        diff: Diff = None,
        models: inputs.Models = None,
        fail_on: FailOn = None,
        continuation_id: inputs.Continuation = None,
        background: bg.Flag = False,
    ) -> str:
        with inputs.tool_errors():
            if not path:
                raise InputError("path is needed: the absolute path of the repository")
            ask = Ask(inputs.panel(state, models), path=path, diff=diff, intent=intent, precommit=True,
                      fail_on=fail_on,
                      thread_id=continuation_id, history=await inputs.history(state, continuation_id))
        return await run(state, ctx, ask, "precommit", background)

    return precommit
