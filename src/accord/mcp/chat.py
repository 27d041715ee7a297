"""The `chat` tool: one model, optionally continuing any thread."""

from typing import Annotated

from mcp.server.mcpserver import Context
from mcp.types import ToolAnnotations
from pydantic import AliasChoices, Field

from . import inputs
from .single import ask_one
from .state import State

DESCRIPTION = "Ask one model. continuation_id carries on any thread (chat, consensus, ...)."
ANNOTATIONS = {"chat": ToolAnnotations(title="Ask one model", read_only_hint=True, open_world_hint=True)}


def make(state: State):
    async def chat(
        prompt: Annotated[str, Field(validation_alias=AliasChoices("prompt", "question"))],
        ctx: Context,
        model: inputs.Model = None,
        files: inputs.Files = None,
        images: inputs.Images = None,
        continuation_id: inputs.Continuation = None,
        thinking: inputs.Thinking = None,
        temperature: inputs.Temperature = None,
    ) -> str:
        return await ask_one(state, ctx, tool="chat", prompt=prompt, system=None, model=model, files=files,
                             images=images, continuation_id=continuation_id, thinking=thinking,
                             temperature=temperature)

    return chat
