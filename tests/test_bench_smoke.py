"""The benchmark harness runs end to end in smoke mode (seconds). Figures are not asserted: no timed tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"


def test_bench_smoke_runs_every_stage(tmp_path: Path) -> None:
    out = tmp_path / "results"
    proc = subprocess.run([sys.executable, str(BENCH / "run.py"), "--smoke", "--out", str(out)],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-2000:]
    res = json.loads((out / "smoke.json").read_text())
    assert res["mode"] == "smoke"
    assert set(res["targets"]) == {"direct", "accord"}  # smoke mode never needs LiteLLM or wrk
    for name, t in res["targets"].items():
        assert t["start_to_healthy_s"] > 0, name
        assert t["rss_idle_mb"] > 0 and t["rss_after_load_mb"] > 0, name
        for c, run in t["load"].items():
            assert run["ok"] > 0 and not run["errors"], (name, c, run)
            assert 0 < run["p50_ms"] <= run["p99_ms"], (name, c, run)
        s = t["stream"]
        assert s["failures"] == 0 and s["runs"] == res["settings"]["stream_runs"], (name, s)
        m = t["messages"]  # Anthropic's /v1/messages, plain and streamed, on the same server
        assert m["load_c1"]["ok"] > 0 and not m["load_c1"]["errors"], (name, m)
        assert m["stream"]["failures"] == 0 and m["stream"]["runs"] == res["settings"]["stream_runs"], (name, m)
    assert res["targets"]["accord"]["stream"]["held_back"] is not None  # compared chunk by chunk with direct
    assert res["targets"]["accord"]["messages"]["stream"]["held_back"] is not None
    assert {"accord --help", "import accord"} <= set(res["startup"])
    assert res["consensus"]["status"] == "ok" or res["consensus"]["status"].startswith("not available")
    table = (out / "smoke.md").read_text()
    assert "| start to healthy |" in table and "req/s c=16" in table and "`POST /v1/messages`" in table


def test_bench_metrics_overhead_smoke(tmp_path: Path) -> None:
    """`--metrics-overhead`: accord serve with metrics on and off, alternating, in one run (figures not asserted)."""
    out = tmp_path / "results"
    proc = subprocess.run([sys.executable, str(BENCH / "run.py"), "--metrics-overhead", "--smoke", "--out", str(out)],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-2000:]
    res = json.loads((out / "metrics-smoke.json").read_text())
    for name in ("on", "off"):
        assert len(res["runs"][name]["p50"]) == res["rounds"] and res[name]["p50"] > 0, res
    assert res["hook_cost_us"] > 0 and "added by metrics" in (out / "metrics-smoke.md").read_text()
