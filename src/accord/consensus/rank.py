"""Anonymous peer review, done right: labels shuffled per reviewer, no self-votes, rankings parsed robustly,
aggregated by Borda count (ties broken by mean rank). Pure: the shuffling takes a seeded `random.Random`."""

from __future__ import annotations

import random
import re
import string
from dataclasses import dataclass

LABELS = string.ascii_uppercase


@dataclass
class Presentation:
    """What one reviewer sees: label -> candidate, in the order shown."""

    reviewer: str
    labels: dict[str, str]


def present(reviewer: str, candidates: list[str], rng: random.Random, *, shuffle: bool = True) -> Presentation:
    """The other candidates (never the reviewer's own answer), under fresh labels in a fresh order."""
    others = [c for c in candidates if c != reviewer]
    if shuffle:
        rng.shuffle(others)
    return Presentation(reviewer, {LABELS[i]: c for i, c in enumerate(others)})


_SECTION = re.compile(r"(?is)final\s+ranking\s*[:：]?(.*)$")
_LABEL = re.compile(r"(?i)\b(?:response|answer|candidate)\s*[#:]?\s*([A-Z])\b")
_BARE = re.compile(r"(?m)^\s*(?:\d+\s*[.)]|[-*])?\s*\**\s*(?:response\s+)?([A-Z])\b")


def parse_ranking(text: str, labels: list[str]) -> list[str]:
    """Labels in ranked order, best first. Reads the `FINAL RANKING:` section when there is one, accepts
    `Response A`, `1. A`, `- **Response B**`; ignores unknown and repeated labels."""
    m = _SECTION.search(text or "")
    section = m.group(1) if m else (text or "")
    known = set(labels)
    found = [x.upper() for x in _LABEL.findall(section)]
    if not any(x in known for x in found):
        found = [x.upper() for x in _BARE.findall(section)]
    out: list[str] = []
    for x in found:
        if x in known and x not in out:
            out.append(x)
    return out


def aggregate(rankings: dict[str, list[str]], candidates: list[str]) -> list[dict]:
    """rankings: reviewer -> candidates best first (self excluded). Borda points: a candidate placed i-th of k
    earns (k-1-i)/(k-1); the result, best first, has the summed score and the mean rank (1 = best)."""
    score = dict.fromkeys(candidates, 0.0)
    ranks: dict[str, list[int]] = {c: [] for c in candidates}
    for reviewer, order in rankings.items():
        order = [c for c in order if c != reviewer and c in score]
        k = len(order)
        for i, c in enumerate(order):
            score[c] += (k - 1 - i) / (k - 1) if k > 1 else 1.0
            ranks[c].append(i + 1)
    rows = [{"model": c, "score": round(score[c], 4),
             "mean_rank": round(sum(ranks[c]) / len(ranks[c]), 3) if ranks[c] else None,
             "votes": len(ranks[c])} for c in candidates]
    rows.sort(key=lambda r: (-r["score"], r["mean_rank"] if r["mean_rank"] is not None else 1e9))
    return rows
