"""The consensus engine: ask a panel of models at once, then vote, review or synthesize.

No MCP here: the MCP tools, the CLI and the web UI all call `Engine.run`. Strategies (extract, vote, rank) are
pure functions; only runner.py does I/O, and only through a `ModelCaller`.
"""

from .types import Answer, Event, Member, Request, Result

__all__ = ["Answer", "Event", "Member", "Request", "Result"]
