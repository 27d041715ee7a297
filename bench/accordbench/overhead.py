"""`python bench/run.py --metrics-overhead`: what recording Prometheus metrics adds to a request.

Two `accord serve` on the same fake upstream, in one run: one with the default `metrics: true`, one with
`metrics: false` (nothing recorded, prometheus_client never imported). They are measured in alternation,
round after round (the order flipped each round), so a slower or busier minute of the machine falls on both;
the figure is the median over the rounds of each one's p50 (and p99) at c = 1, and its req/s at c = 16. The
hooks' own cost is also timed in-process: one request's worth of records (its labels, the attempt, the usage row,
the count and latency at its end), without any server around it.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from . import loadgen, targets, wrk
from .main import CHAT, PATH
from .stats import median

OFF = "  metrics: false\n"  # appended to the generated config, whose last section is `settings:`


def _load(a: argparse.Namespace, port: int, c: int, duration: float) -> Any:
    if a.loadgen == "wrk":
        return wrk.run(f"http://127.0.0.1:{port}{PATH}", CHAT, targets.MASTER_KEY, c, duration)
    return asyncio.run(loadgen.load("127.0.0.1", port, PATH, CHAT, targets.MASTER_KEY, c, duration))


def hook_cost_us(n: int = 20_000) -> float:
    """Microseconds the metrics hooks take for one request, timed in this process."""
    from types import SimpleNamespace

    from accord import metrics

    metrics.enable()
    dep = SimpleNamespace(name="m", id="m")
    router = SimpleNamespace(lookup=lambda name: name)
    row = {"route": "chat", "model": "m", "deployment": "m", "status": 200, "latency_ms": 1.2, "stream": False,
           "key_id": None, "prompt_tokens": 12, "completion_tokens": 30, "reasoning_tokens": 0, "cached_tokens": 0,
           "cost": 1e-5}

    def one() -> None:  # what one non-streamed chat request records, in the order it does
        scope = {"app": SimpleNamespace(state=SimpleNamespace(router=router))}
        metrics.request_started()
        scope["accord.metrics"] = labels = metrics.request_labels("chat", None, None)
        metrics.attempt(dep, "ok")  # type: ignore[arg-type]
        metrics.usage_row(row)
        labels[2], labels[3] = "m", "m"  # type: ignore[index]
        metrics.request_ended(scope, 200, time.perf_counter())

    for _ in range(1000):
        one()
    runs = []
    for _ in range(15):  # the median of 15 timings: a busy moment of the machine moves one, not the figure
        t0 = time.perf_counter()
        for _ in range(n // 15):
            one()
        runs.append((time.perf_counter() - t0) / (n // 15) * 1e6)
    return median(runs)


def _cpu(srv: Any) -> float:
    """CPU seconds the server (and its workers) used so far: per request, the figure least moved by a busy
    machine."""
    import psutil

    p = psutil.Process(srv.proc.pid)
    total = 0.0
    for proc in (p, *p.children(recursive=True)):
        try:
            t = proc.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def measure(a: argparse.Namespace, rounds: int | None = None) -> dict[str, Any]:
    rounds = rounds or (2 if a.smoke else 6)
    work = Path(tempfile.mkdtemp(prefix="accord-bench-metrics-"))
    fake = targets.fake_upstream(work, a.chunks, a.pace_ms)
    runs: dict[str, dict[str, list[float]]] = {name: {"p50": [], "p99": [], "rps16": [], "cpu_us": []}
                                               for name in ("on", "off")}
    with fake:
        fake.start()
        on = targets.accord(work, fake.url, a.workers, "", "accord-metrics-on")
        off = targets.accord(work, fake.url, a.workers, OFF, "accord-metrics-off")
        with on, off:
            on.start()
            off.start()
            servers = {"on": on, "off": off}
            for srv in servers.values():
                _load(a, srv.port, 16, a.warmup)  # warm-up: pools, caches
            for i in range(rounds):
                order = ("on", "off") if i % 2 == 0 else ("off", "on")
                for name in order:
                    r1 = _load(a, servers[name].port, 1, a.duration)
                    cpu0 = _cpu(servers[name])
                    r16 = _load(a, servers[name].port, 16, a.duration)
                    runs[name]["cpu_us"].append((_cpu(servers[name]) - cpu0) / max(1, r16.ok) * 1e6)
                    runs[name]["p50"].append(r1.p50_ms)
                    runs[name]["p99"].append(r1.p99_ms)
                    runs[name]["rps16"].append(r16.rps)
                    print(f"bench: metrics {name:3} round {i + 1}: c=1 p50 {r1.p50_ms:.3f} ms  "
                          f"p99 {r1.p99_ms:.3f} ms  c=16 {r16.rps:,.0f} req/s, "
                          f"{runs[name]['cpu_us'][-1]:.0f} µs CPU each", flush=True)
    out: dict[str, Any] = {"rounds": rounds, "loadgen": a.loadgen, "duration_s": a.duration, "workers": a.workers,
                           "runs": runs, "hook_cost_us": round(hook_cost_us(), 2)}
    for name in ("on", "off"):
        out[name] = {k: round(median(v), 3) for k, v in runs[name].items()}
    out["added_p50_ms"] = round(out["on"]["p50"] - out["off"]["p50"], 3)
    out["added_p99_ms"] = round(out["on"]["p99"] - out["off"]["p99"], 3)
    out["added_cpu_us"] = round(out["on"]["cpu_us"] - out["off"]["cpu_us"], 1)
    spread = sorted(runs["off"]["p50"])
    out["off_p50_spread_ms"] = round(spread[-1] - spread[0], 3)  # how much the same server moves round to round
    return out


def markdown(res: dict[str, Any], when: str, machine: dict[str, Any]) -> str:
    on, off = res["on"], res["off"]
    rps_change = (on["rps16"] / off["rps16"] - 1) * 100 if off["rps16"] else 0.0
    return f"""Run {when}: {machine['cpus']} CPUs ({machine['cpu'].split()[0] if machine['cpu'] else '?'}), \
Python {machine['python']}; {res['rounds']} alternating rounds of {res['duration_s']:g} s per figure \
({res['loadgen']}), {res['workers']} worker.

| `accord serve` | c=1 p50 | c=1 p99 | c=16 req/s | server CPU per request (c=16) |
|---|---|---|---|---|
| metrics on (default) | {on['p50']:.3f} ms | {on['p99']:.3f} ms | {on['rps16']:,.0f} | {on['cpu_us']:.0f} µs |
| metrics off | {off['p50']:.3f} ms | {off['p99']:.3f} ms | {off['rps16']:,.0f} | {off['cpu_us']:.0f} µs |
| added by metrics | **{res['added_p50_ms']:+.3f} ms** | {res['added_p99_ms']:+.3f} ms | {rps_change:+.1f}% | \
{res['added_cpu_us']:+.0f} µs |

The hooks' own cost, timed in-process: **{res['hook_cost_us']:.1f} µs per request**. For scale, the metrics-off
server's c=1 p50 moved by {res['off_p50_spread_ms']:.3f} ms between its own rounds.
"""
