"""The hot-path benchmark: requests/s at one concurrency, small chat requests (plain and streamed), for `accord
serve` variants against the direct-to-fake floor and the bare relay (lean_proxy.py), in alternating rounds of
one run, each figure the median of its rounds (the machine is shared: read ratios, not absolutes).

    python bench/hotpath.py                                  # accord (default server) vs direct, c=64
    python bench/hotpath.py --variants src:/tmp/base/src,accord,lean --rounds 5 --duration 4
    python bench/hotpath.py --stream                         # `stream: true`, 5 chunks, no pacing
    python bench/hotpath.py --words 100000 --variants accord  # c=1 latency added by a ~500 KB body (100k tokens)

A variant is `accord` (as a user runs it), `lean` (the bare relay, plain requests only), `env:NAME=VALUE`
(accord with one environment variable set, for A/B switches) or `src:DIR` (accord run from another checkout's
`src`, e.g. `git archive main src | tar -x -C /tmp/base` for the before of a change).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psutil
from accordbench import wrk
from accordbench.procs import Server, free_port
from accordbench.targets import BENCH, MASTER_KEY, accord_config, accord_executable, clean_env, fake_upstream


def variant(name: str, work: Path, upstream: str, log_level: str = "") -> Server:
    if name == "lean":
        port = free_port()
        up_port = upstream.rsplit(":", 1)[1]
        return Server("lean", [sys.executable, str(BENCH / "lean_proxy.py"), "--port", str(port),
                               "--upstream-port", up_port], port, work / "lean.log", health="/health")
    port = free_port()
    tag = name.replace(":", "_").replace("=", "_").replace("/", "_")
    cfg = work / f"{tag}.yaml"
    cfg.write_text(accord_config(upstream, port, 1) + "mcp:\n  http: false\n")
    argv = [*accord_executable(), "serve", "-c", str(cfg), *(["--log-level", log_level] if log_level else [])]
    env: dict[str, str] = {}
    if name.startswith("env:"):
        k, _, v = name[4:].partition("=")
        env[k] = v
    elif name.startswith("src:"):
        env["PYTHONPATH"] = name[4:]
    return Server(name, argv, port, work / f"{tag}.log", env=env)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variants", default="accord", help="comma list (see the module docstring)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run")
    ap.add_argument("-c", "--concurrency", type=int, default=64)
    ap.add_argument("--stream", action="store_true", help="streamed requests (5 chunks, no pacing)")
    ap.add_argument("--words", type=int, default=0,
                    help="instead: latency at c=1 of requests whose message has this many words (http.client)")
    ap.add_argument("--requests", type=int, default=300, help="with --words: requests per target and round")
    ap.add_argument("--log-level", default="", help="accord serve --log-level (the config says warning; info: "
                    "with an access-log line per request, to the server's log file)")
    a = ap.parse_args()
    clean_env()
    work = Path(tempfile.mkdtemp(prefix="accord-hotpath-"))
    up = fake_upstream(work, chunks=5, pace_ms=0)
    up.start()
    names = ["direct", *[v for v in a.variants.split(",") if v]]
    servers = {n: variant(n, work, up.url, a.log_level) for n in names if n != "direct"}
    for s in servers.values():
        s.start()
    if a.words:
        try:
            latency(a, names, up, servers)
        finally:
            for s in servers.values():
                s.stop()
            up.stop()
        return
    body = b'{"model":"m","messages":[{"role":"user","content":"hi"}]' + (b',"stream":true}' if a.stream else b"}")
    results: dict[str, list[float]] = {n: [] for n in names}
    cpu_us: dict[str, list[float]] = {n: [] for n in names}
    procs = {n: psutil.Process((up if n == "direct" else servers[n]).proc.pid) for n in names}  # type: ignore[union-attr]

    def cpu(p: psutil.Process) -> float:
        total = 0.0
        for q in [p, *p.children(recursive=True)]:
            t = q.cpu_times()
            total += t.user + t.system
        return total

    try:
        for name in names:  # warm-up
            url = up.url if name == "direct" else servers[name].url
            wrk.run(url + "/v1/chat/completions", body, MASTER_KEY, a.concurrency, 1)
        load0 = os.getloadavg()[0]
        for r in range(a.rounds):
            order = names if r % 2 == 0 else names[::-1]
            for name in order:
                url = up.url if name == "direct" else servers[name].url
                before = cpu(procs[name])
                res = wrk.run(url + "/v1/chat/completions", body, MASTER_KEY, a.concurrency, a.duration)
                cpu_us[name].append((cpu(procs[name]) - before) / max(1, res.ok) * 1e6)
                if res.errors:
                    print(f"  {name}: errors {res.errors}", file=sys.stderr)
                results[name].append(res.rps)
                print(f"round {r + 1} {name}: {res.rps:,.0f} req/s  p50 {res.p50_ms:.2f} ms  p99 {res.p99_ms:.2f} ms  "
                      f"server CPU {cpu_us[name][-1]:.0f} µs/request",
                      flush=True)
        load1 = os.getloadavg()[0]
    finally:
        for s in servers.values():
            s.stop()
        up.stop()
    direct = statistics.median(results["direct"])
    kind = "streamed" if a.stream else "plain"
    print(f"\n{kind}, c={a.concurrency}, median of {a.rounds} rounds x {a.duration:g} s; "
          f"load average {load0:.1f} -> {load1:.1f}; {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())}")
    print("| option | req/s | ratio to direct | server CPU per request | rounds (req/s) |")
    print("|---|---|---|---|---|")
    for name in names:
        m = statistics.median(results[name])
        print(f"| {name} | {m:,.0f} | {m / direct:.1%} | {statistics.median(cpu_us[name]):.0f} µs | "
              f"{', '.join(f'{x:,.0f}' for x in results[name])} |")


def latency(a: argparse.Namespace, names: list[str], up: Server, servers: dict[str, Server]) -> None:
    """p50/p99 of one request at a time with a large body; added = target's minus direct's, per round."""
    import http.client

    import orjson

    body = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": " ".join(["word"] * a.words)}]})
    headers = {"content-type": "application/json", "authorization": f"Bearer {MASTER_KEY}"}
    p50s: dict[str, list[float]] = {n: [] for n in names}
    p99s: dict[str, list[float]] = {n: [] for n in names}
    cpus: dict[str, list[float]] = {n: [] for n in names}
    for r in range(a.rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            server = up if name == "direct" else servers[name]
            proc = psutil.Process(server.proc.pid)  # type: ignore[union-attr]
            port = server.port
            conn = http.client.HTTPConnection("127.0.0.1", port)
            times = []
            for i in range(a.requests + 20):
                if i == 20:
                    t = proc.cpu_times()
                    cpu0 = t.user + t.system
                t0 = time.perf_counter()
                conn.request("POST", "/v1/chat/completions", body, headers)
                resp = conn.getresponse()
                resp.read()
                assert resp.status == 200, resp.status
                if i >= 20:  # warm-up
                    times.append((time.perf_counter() - t0) * 1000)
            t = proc.cpu_times()
            cpus[name].append((t.user + t.system - cpu0) / a.requests * 1e6)
            conn.close()
            times.sort()
            p50s[name].append(times[len(times) // 2])
            p99s[name].append(times[int(len(times) * 0.99)])
            print(f"round {r + 1} {name}: p50 {p50s[name][-1]:.2f} ms, server CPU {cpus[name][-1]:.0f} µs/request",
                  flush=True)
    print(f"\nbody {len(body):,} bytes ({a.words:,} words), c=1, {a.requests} requests x {a.rounds} rounds; "
          f"load average {os.getloadavg()[0]:.1f}")
    print("| option | p50 | p99 | p50 added (median of rounds) | server CPU / request (median) |")
    print("|---|---|---|---|---|")
    for name in names:
        added = statistics.median(x - d for x, d in zip(p50s[name], p50s["direct"], strict=True))
        print(f"| {name} | {statistics.median(p50s[name]):.2f} ms | {statistics.median(p99s[name]):.2f} ms | "
              f"{added:.2f} ms | {statistics.median(cpus[name]):.0f} µs |")


if __name__ == "__main__":
    main()
