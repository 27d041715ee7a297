"""How each provider is asked to think more or less: one level (off, low, medium, high, max) in, the request
fields that say it out, plus a note when the model has no such control. Pure: no I/O, no state.

Driven by the vendor row's `quirks["thinking_param"]` and the adapter name, so callers never branch on the
provider themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config import Deployment

LEVELS = ("off", "low", "medium", "high", "max")
# thinking budgets in tokens (Anthropic budget_tokens, Qwen thinking_budget), capped by the model's max output
BUDGETS = {"low": 2_048, "medium": 8_192, "high": 16_384, "max": 32_768}
EFFORT = {"low": "low", "medium": "medium", "high": "high", "max": "high"}


def thinking_params(dep: Deployment, level: str | None) -> tuple[dict[str, Any], str | None]:
    """Request-body additions for `level` on this deployment, and a note for the caller (or None)."""
    if not level:
        return {}, None
    if level not in LEVELS:
        raise ValueError(f"thinking must be one of {', '.join(LEVELS)}, not {level!r}")
    info = dep.info
    name = dep.name
    # a model that cannot think refuses the thinking fields (OpenAI: 400 for reasoning_effort on gpt-4o)
    if not info.thinking:
        return {}, None if level == "off" else f"{name} cannot think; thinking={level} ignored"
    budget = min(BUDGETS.get(level, 0), max(1_024, info.max_output_tokens // 2)) if level != "off" else 0
    param = dep.vendor.quirks.get("thinking_param")
    if param == "enable_thinking":  # Qwen on DashScope: its own switch and budget (OpenAI's fields are ignored)
        if level == "off":
            return {"enable_thinking": False}, None
        return {"enable_thinking": True, "thinking_budget": budget}, None
    if param == "reasoning_effort":  # OpenAI reasoning models
        if level == "off":
            # gpt-5.1 and later turn reasoning off with "none" and refuse gpt-5's "minimal"
            if dep.model.startswith("gpt-5."):
                return {"reasoning_effort": "none"}, None
            # gpt-5, -mini, -nano know "minimal"; the o-series refuse it (400) and go no lower than "low"
            if dep.model.startswith("gpt-5"):
                return {"reasoning_effort": "minimal"}, None
            return {"reasoning_effort": "low"}, f"{name} cannot stop thinking; used the lowest effort"
        return {"reasoning_effort": EFFORT[level]}, None
    if dep.adapter == "anthropic":
        if level == "off":
            return {"thinking": {"type": "disabled"}}, None
        return {"thinking": {"type": "enabled", "budget_tokens": budget}}, None
    if dep.adapter == "gemini":
        if level == "off":
            return {"reasoning_effort": "none"}, None
        return {"reasoning_effort": EFFORT[level]}, None
    # a model that always thinks and has no control (deepseek-reasoner, kimi-k2-thinking)
    return {}, f"{name} thinks on its own; thinking={level} has no control here and was ignored"


def temperature_note(dep: Deployment, temperature: float | None) -> str | None:
    if temperature is not None and not dep.info.temperature:
        return f"{dep.name} has a fixed temperature; temperature={temperature} ignored"
    return None
