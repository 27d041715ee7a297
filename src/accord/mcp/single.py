"""One model, one call: what chat, thinkdeep and challenge share (thread, files, progress, trimming)."""

from __future__ import annotations

import asyncio
from typing import Any

from .. import metering, tokens
from ..consensus import prompts
from ..consensus.report import trim
from ..consensus.runner import Run
from ..consensus.types import Request
from . import inputs
from .progress import Progress
from .state import State


async def ask_one(state: State, ctx: Any, *, tool: str, prompt: str, system: str | None, model: str | None,
                  files: list[str] | None, images: list[str] | None, continuation_id: str | None,
                  thinking: str | None, temperature: float | None, wants_thinking: bool = False) -> str:
    with inputs.tool_errors():
        if not prompt.strip():
            raise inputs.InputError("the prompt is empty")
        context, imgs, notes = await inputs.gather(state, files, images)
        past = await inputs.history(state, continuation_id)
        size = tokens.count(prompt) + tokens.count(context) + sum(tokens.count(str(m["content"])) for m in past)
        name = inputs.pick(state, model, thinking=wants_thinking or thinking not in (None, "off"),
                           vision=bool(imgs), context_tokens=size)
        if imgs and not state.models.info(name).vision:
            notes.append(f"{name} cannot see images; they were left out")
            imgs = []
        c = state.cfg.consensus
        tid = await state.store.open(tool, prompt, thread_id=continuation_id, timeout=c.timeout)
        await state.store.add(tid, [{"role": "user", "content": prompt}])
        msgs = ([{"role": "system", "content": system}] if system else []) + past + [
            {"role": "user", "content": prompts.user_content(prompt, context, imgs)}]
        req = Request(question=prompt, panel=[], thinking=thinking, temperature=temperature,
                      per_model_timeout=c.per_model_timeout, timeout=c.timeout, max_tokens=c.max_tokens)
        run = Run(req)
        try:
            async with Progress(ctx, state.cfg.mcp.heartbeat) as progress:
                run.on_event = progress.on_event
                with metering.tagged("mcp", thread_id=tid):
                    a = await state.engine.ask(run, name, msgs, notes=notes)
        except asyncio.CancelledError:
            await state.engine.cancelled(tid, run)
            raise
        [part] = await state.store.add(tid, [{
            "role": "assistant", "model": a.model, "content": a.content, "reasoning": a.reasoning,
            "status": a.status, "error": a.error, "prompt_tokens": a.prompt_tokens,
            "completion_tokens": a.completion_tokens, "cost": a.cost, "latency": a.latency}])
        await state.store.finish(tid, status="done" if a.ok else "failed", result={"model": a.model,
                                 "notes": a.notes}, prompt_tokens=a.prompt_tokens,
                                 completion_tokens=a.completion_tokens, cost=a.cost)
        if not a.ok:
            raise inputs.ToolError(f"{name} {a.status}: {a.error} (thread {tid})")
        foot = f"\n\n---\n{name} · {a.latency or 0:.1f} s · {a.prompt_tokens + a.completion_tokens} tokens · thread {tid}"
        if a.notes:
            foot += "\n" + "\n".join(f"note: {n}" for n in a.notes)
        limit = tokens.room(state.cfg.mcp.output_tokens)
        if tokens.fits(a.content + foot, limit):
            return a.content + foot
        return trim(a.content, limit - tokens.count(foot), tid, part) + foot
