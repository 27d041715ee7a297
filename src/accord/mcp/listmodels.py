"""The `listmodels` tool: what is available, with capabilities, aliases and scores."""

from mcp.types import ToolAnnotations

from ..consensus import ask
from .state import State

DESCRIPTION = "List available models: aliases, intelligence score, context, thinking, vision, price."
ANNOTATIONS = {"listmodels": ToolAnnotations(title="List models", read_only_hint=True, open_world_hint=False)}


def _k(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k"


def make(state: State):
    async def listmodels() -> str:
        m = state.models
        rows = []
        for name in sorted(m.names(), key=lambda n: -m.info(n).intelligence):
            i = m.info(name)
            caps = [c for c, on in (("thinking", i.thinking), ("vision", i.vision)) if on]
            aliases = m.aliases(name)
            price = f", ${i.input_price:g}/${i.output_price:g} per M" if i.input_price or i.output_price else ""
            rows.append(f"- {name}" + (f" ({', '.join(aliases)})" if aliases else "")
                        + f": score {i.intelligence}, {_k(i.context_window)} context"
                        + (f", {', '.join(caps)}" if caps else "") + price)
        c = state.cfg.consensus
        head = [f"{len(rows)} models; default model: {state.cfg.mcp.default_model}"]
        seats, chosen = ask.default_panel(state.cfg, m)
        if seats:  # what `consensus` asks when given no models
            by = "; none configured: the top models by score" if chosen else ""
            head.append(f"default panel: {', '.join(s.label for s in seats)} (mode {c.mode}{by})")
        head.append("(no apilookup tool: Claude Code has web search for current API docs)")
        return "\n".join([*head, *rows]) if rows else "no models configured: add some to accord.yaml"

    return listmodels
