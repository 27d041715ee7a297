"""The benchmark harness runs end to end in smoke mode (seconds). Figures are not asserted: no timed tests."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))  # the harness's modules (bench/accordbench), for the lockstep check below


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


def test_bench_scenarios_quick(tmp_path: Path) -> None:
    """`--scenarios --quick`: the seven agent-shaped scenarios of issue 21 on direct and Accord (the peers,
    LiteLLM and Portkey, are left out: CI has neither). Shapes and the behaviours that must hold at any speed
    are checked: every argument delta forwarded before the next is sent (0 held back, counted in lockstep
    with the upstream, not timed) and every open stream whole (0 errors);
    no figure is timed."""
    out = tmp_path / "results"
    proc = subprocess.run([sys.executable, str(BENCH / "run.py"), "--scenarios", "--quick", "--targets",
                           "direct,accord", "--out", str(out)],
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-2000:]
    res = json.loads((out / "scenarios-quick.json").read_text())
    assert res["mode"] == "quick" and res["settings"]["targets"] == ["direct", "accord"]
    sc = res["scenarios"]
    assert set(sc) == {str(n) for n in range(1, 8)}
    for n, s in sc.items():
        assert {"loadavg_start", "loadavg_end", "other_cpu_share", "seconds"} <= set(s["load"]), n
    for tokens, row in sc["1"]["results"]["sizes"].items():  # 1: large contexts
        for name in ("direct", "accord"):
            assert row[name]["n"] > 0 and row[name]["errors"] == 0, (tokens, name, row[name])
            assert 0 < row[name]["p50_ms"] <= row[name]["p99_ms"], (tokens, name, row[name])
    runs = res["settings"]["sizes"]["stream_runs"]
    for route in ("openai", "anthropic_in"):  # 2: streamed tool calls, OpenAI in and Anthropic in
        acc = sc["2"]["results"][route]["accord"]
        assert acc["failures"] == 0 and acc["runs"] == runs, (route, acc)
        assert acc["held_back_lockstep"] == 0 and acc["lockstep_failed"] == 0, (route, acc)  # counted, not timed
        assert acc["arguments_intact"] == runs, (route, acc)
    for name in ("direct", "accord"):  # 3: head-of-line blocking
        r = sc["3"]["results"][name]
        for phase in ("alone", "long_streams", "big_event"):
            assert r[phase]["n"] > 0 and r[phase]["errors"] == 0, (name, phase, r[phase])
        for phase in ("long_streams", "big_event"):
            assert r[phase]["streams_done"] > 0 and r[phase]["stream_errors"] == 0, (name, phase, r[phase])
    for name in ("direct", "accord"):  # 4: many open streams
        r = sc["4"]["results"][name]
        assert r["complete"] == r["streams"] > 0, (name, r)
        assert r["errors"] == r["truncated"] == r["not_opened"] == 0, (name, r)
        assert r["kb_per_stream"] is not None, (name, r)
    keys = sc["5"]["results"]  # 5: key flood (PostgreSQL where its binaries are installed)
    assert keys["accord-sqlite"]["first_use"]["n"] == keys["keys"], keys
    assert keys["accord-sqlite"]["after_first_use"]["errors"] == 0, keys
    fo = sc["6"]["results"]["accord"]  # 6: failover: every request served by the second deployment
    assert fo["n"] > 0 and fo["errors"] == 0, fo
    for name in ("direct", "accord"):  # 7: throughput frontier
        for w, lad in sc["7"]["results"][name].items():
            assert lad["runs"] and all(r["rps"] > 0 for r in lad["runs"]), (name, w, lad)
            assert set(lad["frontier"]) == {"10", "50"}, (name, w, lad)
    table = (out / "scenarios-quick.md").read_text()
    for n in range(1, 8):
        assert f"### {n}. " in table and f"`python bench/run.py --scenarios {n} --quick`" in table, n


def test_lockstep_counts_the_deltas_a_buffering_gateway_holds(tmp_path: Path) -> None:
    """Scenario 2's held-back count, which the quick run above asserts is 0 for Accord, is not 0 for a gateway
    that buffers: a relay that passes the upstream's streamed answer on only when it has ended (what a
    non-streaming proxy does) has every argument delta counted; the fake upstream directly, none."""
    from accordbench import targets
    from accordbench.procs import free_port
    from accordbench.scenarios.common import CHAT, Gateway, Sizes, chat_body, upstream_models
    from accordbench.scenarios.streams import lockstep

    fake = targets.fake_upstream(tmp_path, 20, 10.0, lock_wait=0.2)  # the fake gives up on a delta after 0.2 s
    relay_port = free_port()
    ready = threading.Event()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection("127.0.0.1", fake.port)

        async def forward() -> None:
            while data := await reader.read(65536):
                up_w.write(data)

        task = asyncio.ensure_future(forward())
        held = b""
        while data := await up_r.read(65536):
            held += data
            if held.endswith(b"0\r\n\r\n"):  # the end of the chunked answer: only now is it passed on
                writer.write(held)
                held = b""
        task.cancel()
        writer.close()

    def serve() -> None:
        async def main() -> None:
            server = await asyncio.start_server(relay, "127.0.0.1", relay_port)
            ready.set()
            await server.serve_forever()

        asyncio.run(main())

    models = upstream_models(Sizes.quick())
    n = Sizes.quick().tool_chunks
    with fake:
        fake.start()
        threading.Thread(target=serve, daemon=True).start()
        assert ready.wait(30)
        counts = {}
        for name, port in (("direct", fake.port), ("buffering", relay_port)):
            gw = Gateway(name, port, upstream_names=True, models=models)
            counts[name] = lockstep(gw, CHAT, chat_body(gw.model("lock"), stream=True, tools=True), 2, fake.port)
    assert counts["direct"] == {"lockstep_runs": 2, "lockstep_failed": 0, "held_back_lockstep": 0}, counts
    assert counts["buffering"] == {"lockstep_runs": 2, "lockstep_failed": 0, "held_back_lockstep": 2 * n}, counts
