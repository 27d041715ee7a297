"""Anonymous peer review, done right: labels shuffled per reviewer, no self-votes, rankings parsed robustly,
aggregated by Borda count (then mean rank); what stays tied is reported as a shared place, never broken by
seat. Pure: the shuffling takes a seeded `random.Random`."""

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


_SECTION = re.compile(r"(?is)final\s+ranking\s*[*_]*\s*[:：]?(.*)$")
_LABEL = re.compile(r"(?i)\b(?:response|answer|candidate)\s*[#:]?\s*([A-Z])\b")
_BARE = re.compile(r"^[\s*_`\[(]*([A-Z])\b")
_ITEM = re.compile(r"(?m)^\s*(?:\d+\s*[.)]|[-*•])\s*(.*)$")
_SPLIT = re.compile(r"\s*(?:,|>|;|→|\bthen\b|\n)\s*")


def parse_ranking(text: str, labels: list[str]) -> list[str]:
    """Labels in ranked order, best first. Reads the `FINAL RANKING:` section when there is one, one label
    per place: a numbered or bulleted line (`1. Response C (unlike Response D ...)` is C), else the pieces
    of `C, A, B` or `C > A > B`; ignores unknown and repeated labels."""
    m = _SECTION.search(text or "")
    section = m.group(1) if m else (text or "")
    items = _ITEM.findall(section)
    pieces = items if items else _SPLIT.split(section.strip())
    known = set(labels)
    out: list[str] = []
    for piece in pieces:
        named = [x.upper() for x in _LABEL.findall(piece)]
        bare = _BARE.match(piece)
        first = named[0] if named else bare.group(1) if bare else None
        if first in known and first not in out:
            out.append(first)
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
    def key(r: dict) -> tuple[float, float]:
        return -r["score"], r["mean_rank"] if r["mean_rank"] is not None else 1e9

    rows.sort(key=lambda r: (*key(r), r["model"]))  # within a tie, by name: shown tied, never ranked by seat
    for r in rows:
        r["place"] = next(j for j, x in enumerate(rows) if key(x) == key(r)) + 1
        r["tied"] = sum(key(x) == key(r) for x in rows) > 1
    return rows


def leaders(rows: list[dict]) -> list[str]:
    """Everyone sharing first place: one name when the review picked a winner, several when it tied."""
    return [r["model"] for r in rows if r["place"] == 1]
