"""`python bench/run.py [--smoke]`: every target, one run, one JSON file and one markdown table."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib.util
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from . import consensus, loadgen, report, startup, streaming, targets, wrk
from .procs import Server
from .stats import LoadResult

CHAT = b'{"model":"m","messages":[{"role":"user","content":"Say hello."}]}'
CHAT_STREAM = b'{"model":"m","messages":[{"role":"user","content":"Say hello."}],"stream":true}'
PATH = "/v1/chat/completions"
# Anthropic's Messages API, to model `a` (an Anthropic-shaped upstream: Accord and LiteLLM pass it through)
MESSAGES = b'{"model":"a","max_tokens":64,"messages":[{"role":"user","content":"Say hello."}]}'
MESSAGES_STREAM = MESSAGES[:-1] + b',"stream":true}'
MESSAGES_PATH = "/v1/messages"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="bench/run.py", description="Accord against direct and LiteLLM's proxy.")
    ap.add_argument("--smoke", action="store_true",
                    help="seconds, not minutes: Python load generator, no LiteLLM, short runs (the test suite)")
    ap.add_argument("--duration", type=float, help="seconds per load run (default 10; smoke 0.5)")
    ap.add_argument("--concurrency", default=None, help="comma list (default 1,16,64,256; smoke 1,16)")
    ap.add_argument("--workers", type=int, default=1, help="server worker processes, the same for every target")
    ap.add_argument("--chunks", type=int, default=20, help="content chunks per streamed answer")
    ap.add_argument("--pace-ms", type=float, default=10.0, help="upstream's gap between streamed chunks")
    ap.add_argument("--stream-runs", type=int, help="streamed requests per target (default 30; smoke 3)")
    ap.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto",
                    help="auto: wrk when installed (smoke: python)")
    ap.add_argument("--no-litellm", action="store_true", help="skip LiteLLM (no install, no run)")
    ap.add_argument("--no-consensus", action="store_true")
    ap.add_argument("--targets", default="direct,accord,litellm", help="comma list of targets to run")
    ap.add_argument("--micro", action="store_true",
                    help="instead: the micro-benchmarks (aiohttp vs httpx; uvicorn loop and parser)")
    ap.add_argument("--metrics-overhead", action="store_true",
                    help="instead: the latency Prometheus metrics add (accord serve with metrics on and off, "
                         "alternating rounds in one run)")
    ap.add_argument("--scenarios", nargs="?", const="all", default=None, metavar="1,2,...",
                    help="instead: the agent-shaped scenarios of issue 21 (all, or a comma list of 1-7) on direct, "
                         "Accord, LiteLLM and Portkey (--targets) in one run")
    ap.add_argument("--scenarios-report", action="store_true",
                    help="instead: write the scenarios' tables again from bench/results/scenarios-latest.json "
                         "(after a note was added to it by hand, or the report changed)")
    ap.add_argument("--quick", action="store_true",
                    help="with --scenarios: every scenario at small sizes, in seconds (what the test suite runs)")
    ap.add_argument("--out", type=Path, default=targets.BENCH / "results", help="where results are written")
    a = ap.parse_args(argv)
    a.argv = _without_out(sys.argv[1:] if argv is None else argv)
    a.micro_duration = a.duration or 5.0
    a.duration = a.duration or (0.5 if a.smoke else 10.0)
    a.concurrency = [int(c) for c in (a.concurrency or ("1,16" if a.smoke else "1,16,64,256")).split(",")]
    a.stream_runs = a.stream_runs or (3 if a.smoke else 30)
    a.settle = 0.3 if a.smoke else 2.0
    a.warmup = 0.2 if a.smoke else 2.0
    a.cli_runs = 1 if a.smoke else 15
    wanted = a.targets.split(",")
    if a.smoke or a.no_litellm:
        wanted = [t for t in wanted if t != "litellm"]
    a.wanted = wanted
    if a.scenarios is not None and a.targets == "direct,accord,litellm":
        a.targets = "direct,accord,litellm,portkey"
    if a.loadgen == "auto":
        a.loadgen = "wrk" if wrk.available() and not a.smoke else "python"
    if a.loadgen == "wrk" and not wrk.available():
        ap.error("wrk is not installed: apt-get install -y wrk (or --loadgen python)")
    return a


def _without_out(args: list[str]) -> list[str]:
    """The command line as run, less `--out DIR` (a local path says nothing about the figures)."""
    out, skip = [], False
    for x in args:
        if skip:
            skip = False
        elif x == "--out":
            skip = True
        elif not x.startswith("--out="):
            out.append(x)
    return out


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu": cpu, "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "os": f"{platform.system()} {platform.release()}",
            "uvloop": _has("uvloop")}


class OtherLoad:
    """How much CPU processes outside this run used while it ran: the machine-wide busy time minus the time
    of this process and every child it waited for (servers, wrk, CLIs). Near 0 on a quiet machine."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.busy0 = self._busy()
        self.mine0 = self._mine()

    @staticmethod
    def _busy() -> float:
        t = psutil.cpu_times()  # irq/softirq left out: loopback traffic is the run's own, but not per process
        return t.user + t.nice + t.system

    @staticmethod
    def _mine() -> float:
        t = psutil.Process().cpu_times()
        return t.user + t.system + t.children_user + t.children_system

    def share(self) -> float:
        """Other processes' CPU time as a share of the machine's capacity over the run."""
        wall = time.perf_counter() - self.t0
        other = (self._busy() - self.busy0) - (self._mine() - self.mine0)
        return max(0.0, other / (wall * (os.cpu_count() or 1)))


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def load_run(a: argparse.Namespace, srv: Server, key: str | None, c: int, duration: float) -> LoadResult:
    if a.loadgen == "wrk":
        return wrk.run(srv.url + PATH, CHAT, key, c, duration)
    return asyncio.run(loadgen.load("127.0.0.1", srv.port, PATH, CHAT, key, c, duration))


def measure_target(a: argparse.Namespace, srv: Server, key: str | None, started: bool,
                   direct: dict[str, streaming.StreamRuns] | None) -> tuple[dict[str, Any], dict[str, streaming.StreamRuns]]:
    """Every figure of one target; the stream runs are returned so later targets are compared with direct's."""
    out: dict[str, Any] = {}
    if not started:
        print(f"bench: starting {srv.name}", flush=True)
        srv.start()
    out["start_to_healthy_s"] = srv.start_to_healthy_s
    time.sleep(a.settle)
    out["rss_idle_mb"] = srv.rss_mb()
    load_run(a, srv, key, min(16, max(a.concurrency)), a.warmup)  # warm-up: pools, caches, JITs
    out["load"] = {}
    for c in a.concurrency:
        r = load_run(a, srv, key, c, a.duration)
        print(f"bench: {srv.name:8} c={c:<4} {r.rps:9.0f} req/s  p50 {r.p50_ms:7.2f} ms  p99 {r.p99_ms:7.2f} ms"
              + (f"  errors {r.errors}" if r.errors else ""), flush=True)
        out["load"][str(c)] = r.as_dict()
    series = asyncio.run(loadgen.stream_series("127.0.0.1", srv.port, PATH, CHAT_STREAM, key, a.stream_runs))
    runs = streaming.collect(series, a.chunks)
    out["stream"] = streaming.figures(runs, a.chunks, a.pace_ms, (direct or {}).get("chat")).as_dict()
    out["messages"], msg_runs = measure_messages(a, srv, key, (direct or {}).get("messages"))
    out["rss_after_load_mb"] = srv.rss_mb()
    return out, {"chat": runs, "messages": msg_runs}


def measure_messages(a: argparse.Namespace, srv: Server, key: str | None,
                     direct: streaming.StreamRuns | None) -> tuple[dict[str, Any], streaming.StreamRuns]:
    """`POST /v1/messages` (Anthropic's format, what Claude Code sends): latency at c = 1 with the Python load
    generator (for every target alike, wrk or not), and the streamed answer's TTFT and chunks."""
    host = "127.0.0.1"
    asyncio.run(loadgen.load(host, srv.port, MESSAGES_PATH, MESSAGES, key, 1, a.warmup))
    r = asyncio.run(loadgen.load(host, srv.port, MESSAGES_PATH, MESSAGES, key, 1, a.duration))
    print(f"bench: {srv.name:8} /v1/messages c=1 p50 {r.p50_ms:7.2f} ms  p99 {r.p99_ms:7.2f} ms"
          + (f"  errors {r.errors}" if r.errors else ""), flush=True)
    series = asyncio.run(loadgen.stream_series(host, srv.port, MESSAGES_PATH, MESSAGES_STREAM, key, a.stream_runs))
    runs = streaming.collect(series, a.chunks)
    return {"load_c1": r.as_dict(), "stream": streaming.figures(runs, a.chunks, a.pace_ms, direct).as_dict()}, runs


def gateway_only(a: argparse.Namespace, work: Path, upstream_url: str) -> dict[str, Any]:
    """Start-up and idle memory of `accord serve` with the MCP endpoint off (same config otherwise)."""
    srv = targets.accord(work, upstream_url, a.workers, targets.GATEWAY_ONLY, "accord-gateway-only")
    try:
        with srv:
            srv.start()
            time.sleep(a.settle)
            return {"start_to_healthy_s": srv.start_to_healthy_s, "rss_idle_mb": srv.rss_mb()}
    except RuntimeError as e:  # a config without that setting
        return {"error": str(e)[:300]}


def run(a: argparse.Namespace) -> dict[str, Any]:
    targets.clean_env()
    other = OtherLoad()
    work = Path(tempfile.mkdtemp(prefix="accord-bench-"))
    res: dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "mode": "smoke" if a.smoke else "full",
        "machine": machine(), "command": " ".join(["python bench/run.py", *a.argv]),
        "settings": {"loadgen": a.loadgen, "duration_s": a.duration, "concurrency": a.concurrency,
                     "workers": a.workers, "chunks": a.chunks, "pace_ms": a.pace_ms, "stream_runs": a.stream_runs,
                     "litellm_version": targets.LITELLM_VERSION if "litellm" in a.wanted else None},
        "targets": {}, "logs": str(work),
    }
    if "litellm" in a.wanted:
        targets.ensure_litellm(work / "litellm-install.log")
    fake = targets.fake_upstream(work, a.chunks, a.pace_ms)
    with fake:
        fake.start()
        direct: dict[str, streaming.StreamRuns] | None = None
        for name in a.wanted:
            if name == "direct":
                res["targets"]["direct"], direct = measure_target(a, fake, targets.MASTER_KEY, True, None)
                continue
            make = {"accord": targets.accord, "litellm": targets.litellm}[name]
            with make(work, fake.url, a.workers) as srv:
                res["targets"][name], _ = measure_target(a, srv, targets.MASTER_KEY, False, direct)
            if name == "accord":
                res["targets"][name]["gateway_only"] = gateway_only(a, work, fake.url)
        if not a.no_consensus:
            print("bench: consensus", flush=True)
            res["consensus"] = consensus.measure(work, fake.url, 0.1 if a.smoke else 1.0)
    print("bench: start-up times", flush=True)
    res["startup"] = startup.measure(a.cli_runs, "litellm" in a.wanted)
    if res.get("consensus", {}).get("status") == "ok":
        c = res["consensus"]
        c["net_s"] = c.get("engine_s", c["wall_s"] - res["startup"]["accord --help"]["median_s"])
        c["met"] = c["net_s"] <= c["bound_s"]
    res["machine"]["other_load"] = round(other.share(), 3)
    return res


README = targets.BENCH / "README.md"


def update_readme(section: str, text: str) -> None:
    """Replace a section of bench/README.md (update_section)."""
    update_section(README, section, text)


def _metrics_overhead(a: argparse.Namespace) -> int:
    from . import overhead

    targets.clean_env()
    res = overhead.measure(a)
    when = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    m = machine()
    text = overhead.markdown(res, when, m)
    stamp = "smoke" if a.smoke else when[:10]
    (a.out / f"metrics-{stamp}.json").write_text(json.dumps({"date": when, "machine": m, **res}, indent=2) + "\n")
    (a.out / f"metrics-{stamp}.md").write_text(text)
    if not a.smoke and a.out.resolve() == (targets.BENCH / "results").resolve():
        update_readme("metrics", text)
    print(text)
    return 0


ROOT_README = targets.BENCH.parent / "README.md"


def update_section(path: Path, section: str, text: str) -> None:
    """Replace the text between `<!-- section:start -->` and `<!-- section:end -->` in a markdown file."""
    start, end = f"<!-- {section}:start -->", f"<!-- {section}:end -->"
    try:
        doc = path.read_text()
    except OSError:
        return
    if start not in doc or end not in doc:
        return
    head, rest = doc.split(start, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{start}\n{text.strip()}\n{end}{tail}")


def _scenarios(a: argparse.Namespace) -> int:
    """Run the scenarios asked for; a full run also merges them into `scenarios-latest.json` (a scenario re-run
    alone replaces only its own table, each table keeping its own date and command) and writes the README."""
    from .scenarios import report as scenario_report
    from .scenarios import runner

    res = runner.run(a)
    some = "" if len(res["scenarios"]) == 7 else "-s" + "".join(sorted(res["scenarios"]))
    stamp = "quick" if a.quick else res["date"][:10] + some
    (a.out / f"scenarios-{stamp}.json").write_text(json.dumps(res, indent=2) + "\n")
    shown = res
    latest = a.out / "scenarios-latest.json"
    if not a.quick:
        if latest.exists():
            shown = json.loads(latest.read_text())
            shown["scenarios"].update(res["scenarios"])
            for k in ("date", "machine", "command", "settings", "logs"):
                shown[k] = res[k] if len(res["scenarios"]) == 7 else shown.get(k, res[k])
        latest.write_text(json.dumps(shown, indent=2) + "\n")
    text = scenario_report.markdown(shown)
    (a.out / f"scenarios-{stamp}.md").write_text(scenario_report.markdown(res))
    if not a.quick:
        (a.out / "scenarios-latest.md").write_text(text)
    if not a.quick and a.out.resolve() == (targets.BENCH / "results").resolve():
        update_section(ROOT_README, "scenarios", text)
    print(text)
    print(f"bench: wrote {a.out / f'scenarios-{stamp}.json'} and .md", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    if a.micro:
        from . import micro

        m = micro.main(a.micro_duration)
        day = dt.datetime.now(dt.timezone.utc).date().isoformat()
        (a.out / f"micro-{day}.json").write_text(json.dumps({"machine": machine(), **m}, indent=2) + "\n")
        (a.out / f"micro-{day}.md").write_text(m["markdown"])
        if a.out.resolve() == (targets.BENCH / "results").resolve():
            update_readme("micro", m["markdown"])
        return 0
    if a.metrics_overhead:
        return _metrics_overhead(a)
    if a.scenarios_report:
        from .scenarios import report as scenario_report

        text = scenario_report.markdown(json.loads((a.out / "scenarios-latest.json").read_text()))
        (a.out / "scenarios-latest.md").write_text(text)
        update_section(ROOT_README, "scenarios", text)
        print(text)
        return 0
    if a.scenarios is not None:
        return _scenarios(a)
    res = run(a)
    stamp = res["date"][:10] if not a.smoke else "smoke"
    table = report.markdown(res)
    (a.out / f"{stamp}.json").write_text(json.dumps(res, indent=2) + "\n")
    (a.out / f"{stamp}.md").write_text(table)
    if not a.smoke:
        (a.out / "latest.md").write_text(table)
        if a.out.resolve() == (targets.BENCH / "results").resolve():
            update_readme("results", table)
    if a.smoke:
        shutil.rmtree(res["logs"], ignore_errors=True)
    print(table)
    print(f"bench: wrote {a.out / (stamp + '.json')} and {a.out / (stamp + '.md')}", file=sys.stderr)
    return 0
