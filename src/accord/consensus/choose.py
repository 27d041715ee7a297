"""`model: auto`: pick by capability (thinking, vision, context needed), then intelligence score, then price.
Pure."""

from __future__ import annotations

from collections import Counter
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


def family(info: ModelInfo) -> str:
    """A model's family for independence: its vendor in the catalog (deepseek, dashscope, moonshot, openai,
    anthropic, gemini, ...), else its own id (an unknown model counts as a family of one)."""
    return info.vendor or info.id


def chair(answered: list[tuple[str, ModelInfo]], served: Iterable[tuple[str, ModelInfo]]) -> tuple[str, str]:
    """The chair and why. Judges favour answers like their own and models of one vendor err alike
    (arXiv 2502.04313), so when one family holds a majority of the panel the chair comes from another family
    (the best served chat model outside it, panelists first on a tie); otherwise, or when no such model is
    served, the best of those who answered. `answered`: (name, info) per seat that answered (or per seat)."""
    seats = Counter(family(i) for _, i in answered)
    best = max(dict(answered).items(), key=lambda p: p[1].intelligence)[0]
    if not seats:
        return best, "the highest intelligence score on the panel"
    fam, n = seats.most_common(1)[0]
    if n * 2 <= len(answered):
        return best, "the highest intelligence score among those who answered (no model family holds a majority)"
    own = {name for name, _ in answered}
    pool = [(name, i) for name, i in served if i.mode == "chat" and family(i) != fam]
    if not pool:
        return best, (f"the highest intelligence score among those who answered: no served model outside the "
                      f"panel majority's family ({fam}, {n} of {len(answered)})")
    pool.sort(key=lambda p: (-p[1].intelligence, p[0] not in own))
    name, info = pool[0]
    return name, (f"from another model family ({family(info)}) than the panel majority ({fam}, {n} of "
                  f"{len(answered)} seats), so it does not judge its own family's answers")
