"""One model, one call: what chat, thinkdeep and challenge share. The asking and the thread are consensus.ask's;
here the progress, the footer and trimming to the output budget."""

from __future__ import annotations

from typing import Any

from .. import metering, tokens
from ..consensus import ask
from ..consensus.report import trim
from . import inputs
from .progress import Progress
from .state import State


async def ask_one(state: State, ctx: Any, *, tool: str, prompt: str, system: str | None, model: str | None,
                  files: list[str] | None, images: list[str] | None, continuation_id: str | None,
                  thinking: str | None, temperature: float | None, wants_thinking: bool = False) -> str:
    with inputs.tool_errors():
        async with Progress(ctx, state.cfg.mcp.heartbeat) as progress:
            with metering.tagged("mcp"):
                one = await ask.single(state.cfg, state.engine, tool=tool, prompt=prompt, system=system, model=model,
                                       files=files, images=images, continuation_id=continuation_id,
                                       thinking=thinking, temperature=temperature, wants_thinking=wants_thinking,
                                       on_event=progress.on_event)
        a, name, tid = one.answer, one.model, one.thread_id
        if not a.ok:
            raise inputs.ToolError(f"{name} {a.status}: {a.error} (thread {tid})")
        foot = f"\n\n---\n{name} · {a.latency or 0:.1f} s · {a.prompt_tokens + a.completion_tokens} tokens · thread {tid}"
        if a.notes:
            foot += "\n" + "\n".join(f"note: {n}" for n in a.notes)
        limit = tokens.room(state.cfg.mcp.output_tokens)
        if tokens.fits(a.content + foot, limit):
            return a.content + foot
        return trim(a.content, limit - tokens.count(foot), tid, one.part) + foot
