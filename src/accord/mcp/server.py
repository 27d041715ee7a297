"""Build the MCP server: one module per tool, schemas compacted, disabled tools left out."""

from __future__ import annotations

import importlib

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.tools.base import Tool

from .. import __version__
from .schema import compact
from .state import State

TOOLS = ("consensus", "chat", "thinkdeep", "challenge", "listmodels", "threads", "version")
INSTRUCTIONS = ("Accord asks many models at once. consensus runs a whole panel in one call; chat, thinkdeep "
                "and challenge ask one model; any tool continues any thread by continuation_id.")


def build(state: State) -> MCPServer:
    tools = []
    disabled = set(state.cfg.mcp.disabled_tools)
    for name in TOOLS:
        if name in disabled:
            continue
        module = importlib.import_module(f"accord.mcp.{name}")
        tool = Tool.from_function(module.make(state), name=name, description=module.DESCRIPTION,
                                  structured_output=False)
        tool.parameters = compact(tool.parameters)
        tools.append(tool)
    return MCPServer("accord", version=__version__, instructions=INSTRUCTIONS, tools=tools, log_level="WARNING")
