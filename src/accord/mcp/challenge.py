"""The `challenge` tool: another model reassesses a statement critically instead of agreeing."""

from typing import Annotated

from mcp.server.mcpserver import Context
from mcp.types import ToolAnnotations
from pydantic import AliasChoices, Field

from ..consensus import prompts
from . import inputs
from .single import ask_one
from .state import State

DESCRIPTION = "Have another model critically reassess a statement (no automatic agreement)."
ANNOTATIONS = {"challenge": ToolAnnotations(title="Critical reassessment by another model", read_only_hint=True, open_world_hint=True)}


def make(state: State):
    async def challenge(
        statement: Annotated[str, Field(validation_alias=AliasChoices("statement", "prompt"))],
        ctx: Context,
        model: inputs.Model = None,
        files: inputs.Files = None,
        continuation_id: inputs.Continuation = None,
        thinking: inputs.Thinking = None,
        temperature: inputs.Temperature = None,
    ) -> str:
        return await ask_one(state, ctx, tool="challenge", prompt=statement, system=prompts.CHALLENGE,
                             model=model, files=files, images=None, continuation_id=continuation_id,
                             thinking=thinking, temperature=temperature)

    return challenge
