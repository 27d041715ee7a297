"""`model: auto`: pick by capability (thinking, vision, context needed), then intelligence score, then price.
Pure."""

from __future__ import annotations

from collections.abc import Iterable

from ..catalog import ModelInfo


def choose(candidates: Iterable[tuple[str, ModelInfo]], *, thinking: bool = False, vision: bool = False,
           context_tokens: int = 0, exclude: Iterable[str] = ()) -> str | None:
    skip = set(exclude)
    pool = [(n, i) for n, i in candidates if i.mode == "chat" and n not in skip]
    if vision:
        pool = [(n, i) for n, i in pool if i.vision]
    if context_tokens:
        pool = [(n, i) for n, i in pool if i.context_window >= context_tokens * 1.15]
    if thinking:
        pool = [(n, i) for n, i in pool if i.thinking] or pool
    if not pool:
        return None
    pool.sort(key=lambda p: (-p[1].intelligence, p[1].input_price + p[1].output_price, p[0]))
    return pool[0][0]


def top(candidates: Iterable[tuple[str, ModelInfo]], n: int = 3) -> list[str]:
    """A default panel when none is configured: the n best chat models (quality of members matters more than
    their diversity: Self-MoA)."""
    pool = [(name, i) for name, i in candidates if i.mode == "chat"]
    pool.sort(key=lambda p: (-p[1].intelligence, p[1].input_price + p[1].output_price, p[0]))
    return [name for name, _ in pool[:n]]
