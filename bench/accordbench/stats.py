"""Result records and the little statistics the harness needs."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    k = max(0, min(len(sorted_values) - 1, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


@dataclass
class LoadResult:
    """One fixed-concurrency, fixed-duration run against one target."""

    tool: str  # wrk | python
    concurrency: int
    duration_s: float
    requests: int
    ok: int
    rps: float  # successful responses per second
    p50_ms: float
    p99_ms: float
    errors: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
