"""Build the MCP server: one module per tool, schemas compacted, disabled tools left out."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.tools.base import Tool
from mcp.types import Tool as MCPTool

from .. import __version__
from .inputs import tool_errors
from .schema import compact
from .state import State

TOOLS = ("consensus", "chat", "thinkdeep", "challenge", "review", "precommit", "debug", "planner",
         "listmodels", "threads", "version")
MODULES = {"precommit": "review"}  # a tool that lives in another tool's module: make_<name>, <NAME>_DESCRIPTION
ALIASES = {"codereview": "review"}  # PAL's names: callable, not listed (every listed tool costs context)
NO_MODELS = ("threads", "version")  # tools that work while a remote endpoint (mcp.endpoint) is down
INSTRUCTIONS = ("Accord asks many models at once. consensus runs a whole panel in one call; chat, thinkdeep "
                "and challenge ask one model; review and precommit have the panel review a code change; debug and planner "
                "have it find root causes and plan; any tool continues any thread by continuation_id.")


class Server(MCPServer):
    """Lists every tool but the aliases, which stay callable by name."""

    async def list_tools(self) -> list[MCPTool]:
        return [t for t in await super().list_tools() if t.name not in ALIASES]


def _after_ready(state: State, fn: Callable[..., Awaitable[str]]) -> Callable[..., Awaitable[str]]:
    """The tool, run once the state's models are known (a remote endpoint's read on first use); the same
    signature, so its schema is the tool's own."""
    @functools.wraps(fn)
    async def tool(*args: Any, **kwargs: Any) -> str:
        with tool_errors():
            await state.ready()
        return await fn(*args, **kwargs)

    return tool


def build(state: State) -> MCPServer:
    tools = []
    disabled = set(state.cfg.mcp.disabled_tools)
    disabled |= {ALIASES[a] for a in disabled if a in ALIASES}
    for name in TOOLS:
        if name in disabled:
            continue
        module = importlib.import_module(f"accord.mcp.{MODULES.get(name, name)}")
        shared = name in MODULES  # not its module's main tool
        fn = getattr(module, f"make_{name}")(state) if shared else module.make(state)
        if name not in NO_MODELS:
            fn = _after_ready(state, fn)
        description = getattr(module, f"{name.upper()}_DESCRIPTION") if shared else module.DESCRIPTION
        annotations = getattr(module, "ANNOTATIONS", {}).get(name)
        tool = Tool.from_function(fn, name=name, description=description, structured_output=False,
                                  annotations=annotations)
        tool.parameters = compact(tool.parameters)
        tools.append(tool)
    tools += [tool.model_copy(update={"name": alias}) for alias, name in ALIASES.items()
              for tool in tools if tool.name == name]
    return Server("accord", version=__version__, instructions=INSTRUCTIONS, tools=tools, log_level="WARNING")
