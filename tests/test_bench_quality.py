"""The consensus-quality benchmark runs in its quick mode and meets its deterministic targets: every answer
shape is read right (>= 99.5%) and the vote picks what a perfect plurality vote over the intended answers
picks. Seeded, so the figures are the same on every machine; nothing is timed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"
SHAPES = {"ANSWER line", "ANSWER: v (= a − b)", "bold", "\\boxed", "Chinese", "Unicode minus",
          "thousands separators", "reasoning only", "prose, other numbers after"}


def test_quality_bench_quick_meets_the_extraction_and_vote_targets(tmp_path: Path) -> None:
    out = tmp_path / "quality.json"
    proc = subprocess.run([sys.executable, str(BENCH / "quality.py"), "--quick", "--json", str(out)],
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    res = json.loads(out.read_text())
    assert set(res["extraction"]) == SHAPES
    for shape, x in res["extraction"].items():
        assert x["seen"] >= 50 and x["accuracy"] >= 0.995, (shape, x)
    assert {(s["n"], s["p"]) for s in res["settings"]} == {(3, 0.6), (3, 0.8), (5, 0.6), (5, 0.8)}
    for s in res["settings"]:
        assert s["vote_equals_perfect"] and s["vote"] == s["perfect_plurality"], s
        assert 0 <= s["select"] <= 1 and 0 <= s["debate_final"] <= 1 and s["auroc"] is not None
        assert s["agreement_final"] >= s["agreement_first"]  # herding panelists only ever agree more
    assert res["targets"]["extraction"]["met"] and res["targets"]["vote_equals_perfect_plurality"]["met"]
    assert [r["n"] for r in res["review"]] == [3, 5] and all(-1 <= r["tau"] <= 1 for r in res["review"])
    assert "| vote = perfect plurality |" in proc.stdout and "| Unicode minus |" in proc.stdout
