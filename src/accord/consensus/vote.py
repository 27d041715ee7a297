"""Plurality vote over extracted answers. Pure and deterministic: ties are reported, never broken at random."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class VoteOutcome:
    winner: str | None  # None: a tie, or no answer could be read
    counts: dict[str, int]
    share: float  # the top answer's share of all voters (unreadable answers count as voters)
    tie: list[str] = field(default_factory=list)
    voters: int = 0
    unreadable: list[str] = field(default_factory=list)


def plurality(answers: dict[str, str | None]) -> VoteOutcome:
    """`answers`: voter label -> extracted answer (None when none could be read)."""
    votes = Counter(v for v in answers.values() if v is not None)
    unreadable = [k for k, v in answers.items() if v is None]
    n = len(answers)
    if not votes:
        return VoteOutcome(None, {}, 0.0, [], n, unreadable)
    ranked = votes.most_common()
    top = ranked[0][1]
    leaders = sorted(v for v, c in ranked if c == top)
    winner = leaders[0] if len(leaders) == 1 else None
    return VoteOutcome(winner, dict(ranked), top / n, leaders if len(leaders) > 1 else [], n, unreadable)


def majority_bound(p: float, n: int) -> float:
    """Chance a majority of n independent voters of accuracy p is right (binary question; n odd)."""
    from math import comb

    return sum(comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n // 2 + 1, n + 1))
