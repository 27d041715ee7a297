"""Argument types and input handling the tools share: files, images, threads, the panel, errors."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated, Literal

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import AliasChoices, Field

from ..consensus import ask
from ..consensus.types import InputError, Member
from ..errors import AccordError
from ..store.threads import ThreadNotFound
from .state import State

Thinking = Annotated[Literal["off", "low", "medium", "high", "max"] | None,
                     Field(description="reasoning effort", validation_alias=AliasChoices("thinking", "thinking_mode"))]
Temperature = Annotated[float | None, Field(ge=0, le=2)]
Model = Annotated[str | None, Field(description="name or alias; auto (default) picks by capability and score")]
Files = Annotated[list[str] | None, Field(description="absolute paths of files or folders",
                                          validation_alias=AliasChoices("files", "relevant_files",
                                                                        "absolute_file_paths"))]
Images = Annotated[list[str] | None, Field(description="absolute image paths or URLs")]
Models = Annotated[list[str] | None, Field(description="panel; default: the configured one")]
Continuation = Annotated[str | None, Field(description="thread id to continue (any tool's)")]


@contextlib.contextmanager
def tool_errors() -> Iterator[None]:
    """Bad input and provider failures become tool errors (isError) that say what to fix, never tracebacks."""
    try:
        yield
    except ToolError:
        raise
    except InputError as e:
        raise ToolError(str(e)) from None
    except ThreadNotFound as e:
        raise ToolError(f"no thread {e}: start without continuation_id, or list threads with the threads tool"
                        ) from None
    except AccordError as e:
        raise ToolError(e.message) from None


async def gather(state: State, files: list[str] | None, images: list[str] | None
                 ) -> tuple[str, list[str], list[str]]:
    """(file text, image URLs, notes) within the configured file budget and allowed roots, never Accord's own
    files, read off the event loop."""
    return await ask.gather(state.cfg, files, images)


async def history(state: State, thread_id: str | None) -> list[dict]:
    return await ask.history(state.engine, thread_id)


def panel(state: State, models: list[str] | None) -> list[Member]:
    """The seats of review, debug and planner: consensus.ask.plain_panel, the one rule every front-end uses."""
    return ask.plain_panel(state.cfg, state.models, models)
