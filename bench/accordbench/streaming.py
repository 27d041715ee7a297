"""Streaming: time to first token, and whether each chunk is passed on as the upstream sends it.

The fake upstream sends a role chunk at once, then content chunks `tok1 ... tokN`, one every `pace` ms. For
each target we record when every event arrives (since the request was sent), take the median per chunk
over the runs, and compare chunk by chunk with the direct run:

- TTFT: arrival of the first data event; TTFT added = target's p50 minus direct's p50.
- chunk added (ms): per content chunk, median arrival minus direct's median arrival for the same chunk.
- held back: a content chunk that either falls behind by more than `tol` beyond what the first event was
  delayed (it waited in a buffer), or arrives less than half a pace after the one before it while it was
  sent a full pace later (it was bunched with it). tol = max(2 ms, 0.3 x pace).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from typing import Any

from .loadgen import Exchange
from .stats import median, percentile

_TOK = re.compile(rb'"(?:content|text)":\s*"tok(\d+) "')  # chat chunks' `content`, Anthropic's `text_delta`


@dataclass
class StreamRuns:
    """Per-run arrival times (seconds since the request was sent)."""

    ttft: list[float] = field(default_factory=list)
    chunks: list[dict[int, float]] = field(default_factory=list)  # token index -> arrival
    failures: int = 0


def collect(series: list[tuple[float, Exchange]], n_chunks: int, token: re.Pattern[bytes] = _TOK) -> StreamRuns:
    """Per run, when each numbered chunk (`token`'s group 1) arrived; a run missing any is a failure."""
    out = StreamRuns()
    for t0, ex in series:
        arrivals: dict[int, float] = {}
        for t, payload in ex.events:
            m = token.search(payload)
            if m:
                arrivals.setdefault(int(m.group(1)), t - t0)
        if ex.status != 200 or not ex.events or len(arrivals) < n_chunks:
            out.failures += 1
            continue
        out.ttft.append(ex.events[0][0] - t0)
        out.chunks.append(arrivals)
    return out


def per_chunk_median(runs: StreamRuns, n_chunks: int) -> list[float]:
    return [median([r[i] for r in runs.chunks]) for i in range(1, n_chunks + 1)]


@dataclass
class StreamFigures:
    runs: int
    failures: int
    ttft_p50_ms: float
    ttft_p99_ms: float
    ttft_added_p50_ms: float | None = None
    chunk_added_p50_ms: float | None = None
    chunk_added_max_ms: float | None = None
    held_back: int | None = None  # content chunks held back (see module doc)
    gap_p50_ms: float = 0.0  # median gap between consecutive content chunks
    pace_ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def figures(runs: StreamRuns, n_chunks: int, pace_ms: float, direct: StreamRuns | None) -> StreamFigures:
    ttft = sorted(runs.ttft)
    f = StreamFigures(runs=len(runs.ttft), failures=runs.failures, ttft_p50_ms=percentile(ttft, 50) * 1000,
                      ttft_p99_ms=percentile(ttft, 99) * 1000, pace_ms=pace_ms)
    if not runs.chunks:
        return f
    mine = per_chunk_median(runs, n_chunks)
    gaps = [b - a for a, b in pairwise(mine)]
    f.gap_p50_ms = median(gaps) * 1000
    if direct is None or not direct.chunks:
        return f
    base = per_chunk_median(direct, n_chunks)
    ttft_added = median(runs.ttft) - median(direct.ttft)
    added = [m - b for m, b in zip(mine, base, strict=True)]
    base_gaps = [b - a for a, b in pairwise(base)]
    tol = max(0.002, 0.3 * pace_ms / 1000)
    held = sum(1 for a in added if a > ttft_added + tol)
    held += sum(1 for g, bg in zip(gaps, base_gaps, strict=True) if bg > pace_ms / 1000 / 2 and g < pace_ms / 1000 / 2)
    f.ttft_added_p50_ms = ttft_added * 1000
    f.chunk_added_p50_ms = median(added) * 1000
    f.chunk_added_max_ms = max(added) * 1000
    f.held_back = min(held, n_chunks)
    return f
