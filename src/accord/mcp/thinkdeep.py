"""The `thinkdeep` tool: a reasoning model investigates a problem in one call and returns its analysis."""

from typing import Annotated

from mcp.server.mcpserver import Context
from mcp.types import ToolAnnotations
from pydantic import AliasChoices, Field

from ..consensus import prompts
from . import inputs
from .single import ask_one
from .state import State

DESCRIPTION = ("A reasoning model investigates a problem with your context and files and returns findings, "
               "the likely cause or best approach, what it ruled out, and next steps.")
ANNOTATIONS = {"thinkdeep": ToolAnnotations(title="Deep investigation by a reasoning model", read_only_hint=True, open_world_hint=True)}


def make(state: State):
    async def thinkdeep(
        problem: Annotated[str, Field(validation_alias=AliasChoices("problem", "step", "prompt"))],
        ctx: Context,
        context: Annotated[str | None, Field(description="what you know or tried so far",
                                             validation_alias=AliasChoices("context", "findings"))] = None,
        model: inputs.Model = None,
        files: inputs.Files = None,
        images: inputs.Images = None,
        continuation_id: inputs.Continuation = None,
        thinking: inputs.Thinking = "high",
        temperature: inputs.Temperature = None,
    ) -> str:
        prompt = problem if not context else f"{problem}\n\nWHAT IS KNOWN SO FAR:\n{context}"
        return await ask_one(state, ctx, tool="thinkdeep", prompt=prompt, system=prompts.THINKDEEP, model=model,
                             files=files, images=images, continuation_id=continuation_id, thinking=thinking,
                             temperature=temperature, wants_thinking=True)

    return thinkdeep
