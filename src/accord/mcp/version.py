"""The `version` tool."""

from mcp.types import ToolAnnotations

from .state import State

DESCRIPTION = "Accord's version and setup."
ANNOTATIONS = {"version": ToolAnnotations(title="Accord version and setup", read_only_hint=True, open_world_hint=False)}


def make(state: State):
    async def version() -> str:
        from importlib.metadata import version as pkg_version

        from .. import __version__

        where = f"remote endpoint {state.cfg.mcp.endpoint}" if state.cfg.mcp.endpoint else "in-process router"
        url = state.store.db.url.split("@")[-1]
        return (f"accord {__version__} (mcp SDK {pkg_version('mcp')}); models via {where}: "
                f"{len(state.models.names())}; threads in {url}; no apilookup (Claude Code has web search)")

    return version
