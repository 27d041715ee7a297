"""What the load and soak runs share: the fast fake upstream and `accord serve` as real processes, a streaming
load generator (aiohttp), MCP `consensus` callers over streamable HTTP, and a process probe (RSS, file
handles, sockets, asyncio tasks).

Used by the short versions in the test suite and by the long scripts (`load.py`, `soak.py`) alike. Only
loopback addresses are used.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
MASTER = "sk-reliability-master"
PROBE = Path(__file__).with_name("serve_probe.py")

sys.path.insert(0, str(ROOT / "tests"))  # the long scripts run from here: tests/waiting.py, as the suite uses
from waiting import wait_for, wait_http  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def raise_fd_limit(want: int = 65536) -> int:
    """1,000 clients need more than the usual 1,024 descriptors (client, server and upstream sides)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _wait_http(port: int, path: str, proc: subprocess.Popen, log: Path, want: str = "") -> None:
    wait_http(f"http://127.0.0.1:{port}{path}", f"{log.stem} to answer {path}", proc, want=want,
              output=lambda: log.read_text(errors="replace"))


class Proc:
    """A child process with its output in a log file."""

    proc: subprocess.Popen
    log: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class FastUpstream(Proc):
    """bench/fake_upstream.py: raw asyncio + httptools, canned bytes, so the upstream is never the bottleneck.
    A stream is `chunks` content chunks `pace_ms` apart (role chunk first; finish, usage and [DONE] last)."""

    def __init__(self, workdir: Path, chunks: int = 20, pace_ms: float = 10.0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.chunks = chunks
        self.log = workdir / "fake-upstream.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen([PYTHON, str(ROOT / "bench" / "fake_upstream.py"), "--port", str(self.port),
                                          "--chunks", str(chunks), "--pace-ms", str(pace_ms)],
                                         stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        _wait_http(self.port, "/health/liveliness", self.proc, self.log)


def write_config(workdir: Path, upstream_url: str, *, db: Path | None = None, extra_settings: str = "",
                 extra: str = "") -> Path:
    """A panel of three models and an embedder on the fake upstream; usage in SQLite under `workdir`."""
    db = db or workdir / "accord.db"
    cfg = workdir / "accord.yaml"
    models = "".join(f"  - {{name: {n}, model: openai/{m}, api_base: {upstream_url}/v1, api_key: sk-up}}\n"
                     for n, m in (("m", "gpt-4o-mini"), ("p1", "p1-model"), ("p2", "p2-model"),
                                  ("p3", "p3-model"), ("emb", "text-embedding-3-small")))
    cfg.write_text(f"""settings:
  master_key: {MASTER}
  database_url: "sqlite:///{db}"
  num_retries: 0
{extra_settings}models:
{models}consensus:
  panel: [p1, p2, p3]
  chair: m
mcp:
  heartbeat: 1
{extra}""")
    return cfg


class Accord(Proc):
    """`accord serve` as a real process (through serve_probe.py, which adds a SIGUSR1 asyncio-task probe)."""

    def __init__(self, workdir: Path, cfg: Path, *, log_level: str = "warning", env: dict | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.log = workdir / f"accord-{self.port}.log"
        self.tasks_file = workdir / f"tasks-{self.port}.txt"
        env = {**os.environ, "ACCORD_TASK_PROBE": str(self.tasks_file), "XDG_DATA_HOME": str(workdir / "data"),
               **(env or {})}
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen([PYTHON, str(PROBE), "serve", "--config", str(cfg), "--port", str(self.port),
                                          "--log-level", log_level], stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env)
        _wait_http(self.port, "/health/readiness", self.proc, self.log, want='"db":"connected"')
        self.ps = psutil.Process(self.proc.pid)

    def tasks(self) -> int:
        """asyncio tasks alive in the server right now."""
        self.tasks_file.unlink(missing_ok=True)
        self.proc.send_signal(signal.SIGUSR1)
        return wait_for(lambda: (int(self.tasks_file.read_text()),), "the task probe to answer")[0]

    def sample(self) -> dict:
        """RSS (MB), open file descriptors, open sockets and asyncio tasks of the server process."""
        return {"rss_mb": round(self.ps.memory_info().rss / 2**20, 1), "fds": self.ps.num_fds(),
                "sockets": len(self.ps.net_connections(kind="inet")), "tasks": self.tasks()}


def usage_rows(db: Path, route: str | None = None) -> int:
    """Usage rows, of one route (chat: the /v1 API; mcp: the tools' model calls) or all."""
    with sqlite3.connect(db) as c:
        if route is None:
            return int(c.execute("SELECT count(*) FROM usage").fetchone()[0])
        return int(c.execute("SELECT count(*) FROM usage WHERE route = ?", (route,)).fetchone()[0])


def usage_rows_by_status(db: Path, route: str = "chat") -> dict[int, int]:
    with sqlite3.connect(db) as c:
        return dict(c.execute("SELECT status, count(*) FROM usage WHERE route = ? GROUP BY status",
                              (route,)).fetchall())


# ------------------------------------------------------------------------------------ streaming load
@dataclass
class LoadResult:
    clients: int
    seconds: float
    ok: int = 0
    errors: int = 0
    truncated: int = 0
    error_samples: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # whole stream, seconds
    ttfts: list[float] = field(default_factory=list)
    slow: list[tuple[float, float, float]] = field(default_factory=list)  # (started at, ttft, total) over 5 s

    def merge(self, other: LoadResult) -> None:
        self.ok += other.ok
        self.errors += other.errors
        self.truncated += other.truncated
        self.error_samples += other.error_samples[: max(0, 5 - len(self.error_samples))]
        self.latencies += other.latencies
        self.ttfts += other.ttfts

    def figures(self) -> dict:
        def pct(xs: list[float], p: float) -> float | None:
            if not xs:
                return None
            xs = sorted(xs)
            return round(xs[min(len(xs) - 1, int(p * len(xs)))] * 1000, 1)

        return {"clients": self.clients, "seconds": self.seconds, "streams_ok": self.ok, "errors": self.errors,
                "truncated": self.truncated, "streams_per_s": round(self.ok / self.seconds, 1) if self.seconds else 0,
                "ttft_ms_p50": pct(self.ttfts, 0.5), "ttft_ms_p99": pct(self.ttfts, 0.99),
                "stream_ms_p50": pct(self.latencies, 0.5), "stream_ms_p99": pct(self.latencies, 0.99),
                "stream_ms_p999": pct(self.latencies, 0.999), "stream_ms_max": pct(self.latencies, 1.0),
                "streams_over_5s": sum(1 for x in self.latencies if x > 5),
                "slow_streams_started_after_3s": sum(1 for started, _, _ in self.slow if started > 3), "error_samples": self.error_samples}


async def stream_load(url: str, key: str, clients: int, seconds: float, chunks: int, model: str = "m",
                      ramp: float = 2.0) -> LoadResult:
    """`clients` concurrent clients, each streaming one chat completion after another for `seconds`.
    A stream counts as whole only with every content chunk, a finish reason and `[DONE]`."""
    import aiohttp

    res = LoadResult(clients, seconds)
    body = json.dumps({"model": model, "stream": True, "messages": [{"role": "user", "content": "hi"}]}).encode()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    conn = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=120, sock_connect=30)
    stop_at = time.monotonic() + seconds + ramp
    began = time.monotonic()

    async def one(session: aiohttp.ClientSession) -> None:
        t0 = time.monotonic()
        ttft = None
        async with session.post(f"{url}/v1/chat/completions", data=body, headers=headers) as r:
            if r.status != 200:
                res.errors += 1
                if len(res.error_samples) < 5:
                    res.error_samples.append(f"HTTP {r.status}: {(await r.text())[:200]}")
                return
            buf = b""
            async for data in r.content.iter_any():
                if ttft is None:
                    ttft = time.monotonic() - t0
                buf += data
        events = [e[6:] for e in buf.split(b"\n\n") if e.startswith(b"data: ")]
        content = sum(1 for e in events if b'"content":"tok' in e)
        whole = bool(events) and events[-1] == b"[DONE]" and content == chunks and any(
            b'"finish_reason":"stop"' in e for e in events) and not any(b'"error"' in e[:12] for e in events)
        if whole:
            res.ok += 1
            res.latencies.append(time.monotonic() - t0)
            if res.latencies[-1] > 5 and len(res.slow) < 5000:
                res.slow.append((round(t0 - began, 2), round(ttft or 0, 2), round(res.latencies[-1], 2)))
            res.ttfts.append(ttft or 0.0)
        else:
            res.truncated += 1
            if len(res.error_samples) < 5:
                res.error_samples.append(f"truncated: {content}/{chunks} chunks, last {events[-1:]!r}"[:300])

    async def client(i: int, session: aiohttp.ClientSession) -> None:
        await asyncio.sleep(ramp * i / max(1, clients))  # wait-ok: the workload's ramp-up, not a wait for anything
        while time.monotonic() < stop_at:
            try:
                await one(session)
            except Exception as e:  # a refused connection, a reset, a time-out: all count as errors
                res.errors += 1
                if len(res.error_samples) < 5:
                    res.error_samples.append(f"{e.__class__.__name__}: {e}"[:200])

    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as session:
        t0 = time.monotonic()
        await asyncio.gather(*(client(i, session) for i in range(clients)))
        res.seconds = round(time.monotonic() - t0, 2)
    return res


# --------------------------------------------------------------------------------- MCP over HTTP
async def mcp_consensus_calls(url: str, key: str, calls: int, question: str = "Ship on Friday?") -> dict:
    """`calls` concurrent `consensus` tool calls, each in its own MCP session over streamable HTTP."""
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    from mcp import Client

    ok = 0
    failures: list[str] = []
    walls: list[float] = []
    limits = httpx2.Limits(max_connections=None, max_keepalive_connections=None)

    async def one(i: int) -> None:
        nonlocal ok
        t0 = time.monotonic()
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, limits=limits,
                                  timeout=httpx2.Timeout(120, read=300))
        try:
            async with http, Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client:
                r = await client.call_tool("consensus", {"question": f"{question} #{i}"})
                text = r.content[0].text if r.content else ""
                if r.is_error or "# Consensus" not in text:
                    failures.append(text[:200])
                else:
                    ok += 1
                    walls.append(time.monotonic() - t0)
        except Exception as e:
            failures.append(f"{e.__class__.__name__}: {e}"[:200])

    t0 = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(calls)))
    walls.sort()
    return {"calls": calls, "ok": ok, "failed": len(failures), "failure_samples": failures[:5],
            "wall_s": round(time.monotonic() - t0, 2),
            "call_s_p50": round(walls[len(walls) // 2], 2) if walls else None,
            "call_s_max": round(walls[-1], 2) if walls else None}


def machine() -> dict:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), "unknown") if Path("/proc/cpuinfo").exists() else "unknown"
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": sys.version.split()[0],
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
