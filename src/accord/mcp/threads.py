"""The `threads` tool: recent threads, or one thread in full (answers are stored whole even when a tool's
result had to be trimmed)."""

from typing import Annotated

from pydantic import Field

from ..consensus.report import trim
from . import inputs
from .state import State

DESCRIPTION = "List recent threads, or fetch one by id with every stored answer."


def make(state: State):
    async def threads(
        id: Annotated[str | None, Field(description="thread to fetch; absent: list recent")] = None,
        limit: Annotated[int, Field(ge=1, le=100)] = 10,
    ) -> str:
        budget = state.cfg.mcp.output_tokens * 4
        with inputs.tool_errors():
            if not id:
                rows = await state.store.recent(limit)
                if not rows:
                    return "no threads yet"
                return "\n".join(f"- {t['id']} {t['updated_at'][:19]} {t['tool']}"
                                 f"{'/' + t['mode'] if t['mode'] else ''} {t['status']}: {t['title'][:80]}"
                                 for t in rows)
            t = await state.store.get(id)
            out = [f"# Thread {t['id']} ({t['tool']}, {t['status']})",
                   f"{t['prompt_tokens'] + t['completion_tokens']} tokens, ${t['cost']:.4f}"]
            for m in t["messages"]:
                who = m["role"] + (f" {m['model']}" if m["model"] else "") + (f" ({m['stance']})" if m["stance"]
                                                                              else "")
                body = m["content"] if m["status"] == "ok" else f"{m['status']}: {m['error']}"
                out.append(f"## {who}\n{body}")
            return trim("\n\n".join(out), budget, None)

    return threads
