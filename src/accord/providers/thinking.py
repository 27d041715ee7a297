"""How the engine asks a model to think more or less: one level (off, low, medium, high, max) in, OpenAI's
`reasoning_effort` out — the one field every front-end speaks — plus a note when the model has no such control.
Pure: no I/O, no state.

The effort becomes each provider's own wire field in that protocol's translator, the only table for it:
Anthropic's budget_tokens in translate_anthropic.py, Gemini's thinkingBudget/thinkingLevel in
translate_gemini.py, DashScope's enable_thinking/thinking_budget and the efforts each OpenAI reasoning model
accepts in openai_compat.py. So MCP `thinking: high` and a gateway client's `reasoning_effort: high` reach the
same model as the same request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .openai_compat import openai_effort

if TYPE_CHECKING:
    from ..config import Deployment

LEVELS = ("off", "low", "medium", "high", "max")
EFFORT = {"off": "none", "low": "low", "medium": "medium", "high": "high", "max": "xhigh"}


def effort_for(level: str) -> str:
    """The `reasoning_effort` a thinking level is said as; ValueError naming the levels for any other word."""
    if level not in EFFORT:
        raise ValueError(f"thinking must be one of {', '.join(LEVELS)}, not {level!r}")
    return EFFORT[level]


def thinking_params(dep: Deployment, level: str | None) -> tuple[dict[str, Any], str | None]:
    """Request-body additions for `level` on this deployment, and a note for the caller (or None)."""
    if not level:
        return {}, None
    effort = effort_for(level)
    name = dep.name
    # a model that cannot think refuses the thinking fields (OpenAI: 400 for reasoning_effort on gpt-4o)
    if not dep.info.thinking:
        return {}, None if level == "off" else f"{name} cannot think; thinking={level} ignored"
    param = dep.vendor.quirks.get("thinking_param")
    if param == "reasoning_effort":  # OpenAI reasoning models: some cannot go as low as asked
        _, note = openai_effort(dep.model, effort)
        return {"reasoning_effort": effort}, f"{name} {note}" if note else None
    if param or dep.adapter in ("anthropic", "gemini"):
        return {"reasoning_effort": effort}, None
    # a model that always thinks and has no control (deepseek-reasoner, kimi-k2-thinking)
    return {}, f"{name} thinks on its own; thinking={level} has no control here and was ignored"


def temperature_note(dep: Deployment, temperature: float | None) -> str | None:
    if temperature is not None and not dep.info.temperature:
        return f"{dep.name} has a fixed temperature; temperature={temperature} ignored"
    return None
