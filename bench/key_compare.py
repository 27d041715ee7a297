"""The master key check takes as long for a key wrong in its first character as for one wrong only in its last.

A timing claim, so it lives here and not in the test suite (tests/security/test_auth_routes.py checks that the
constant-time comparison decides). Interleaved rounds, medians; run it on a quiet machine:

    .venv/bin/python bench/key_compare.py
"""

from __future__ import annotations

import statistics
import time

from accord import auth


def timed(master: str, key: str, n: int = 2000) -> float:
    t0 = time.perf_counter_ns()
    for _ in range(n):
        auth.is_master(master, key)
    return (time.perf_counter_ns() - t0) / n


def main(rounds: int = 200) -> int:
    master = "sk-" + "k" * 61
    first_wrong, last_wrong = "X" + master[1:], master[:-1] + "X"
    early: list[float] = []
    late: list[float] = []
    for i in range(rounds):
        pair = [(early, first_wrong), (late, last_wrong)]
        for out, key in pair if i % 2 else reversed(pair):
            out.append(timed(master, key))
    a, b = statistics.median(early), statistics.median(late)
    gap = abs(a - b) / min(a, b)
    print(f"wrong first char {a:.0f} ns, wrong last char {b:.0f} ns: {gap:.1%} apart (target < 25%)")
    return 0 if gap < 0.25 else 1


if __name__ == "__main__":
    raise SystemExit(main())
