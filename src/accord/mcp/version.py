"""The `version` tool."""

from mcp.types import ToolAnnotations

from ..consensus.remote import shown
from ..errors import AccordError
from .state import State

DESCRIPTION = "Accord's version and setup."
ANNOTATIONS = {"version": ToolAnnotations(title="Accord version and setup", read_only_hint=True, open_world_hint=False)}


def make(state: State):
    async def version() -> str:
        from importlib.metadata import version as pkg_version

        from .. import __version__

        endpoint = state.cfg.mcp.endpoint
        where = f"remote endpoint {shown(endpoint)}" if endpoint else "in-process router"
        try:
            await state.ready()
            count = str(len(state.models.names()))
        except AccordError as e:  # the endpoint is down: the rest of the answer still holds
            count = f"none ({e.message})"
        url = state.store.db.url.split("@")[-1]
        return (f"accord {__version__} (mcp SDK {pkg_version('mcp')}); models via {where}: "
                f"{count}; threads in {url}; no apilookup (Claude Code has web search)")

    return version
