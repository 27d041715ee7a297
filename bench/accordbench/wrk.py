"""Throughput and latency with wrk (one thread, so it leaves the cores to the servers)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from .stats import LoadResult

LUA = Path(__file__).resolve().parent.parent / "wrk" / "post.lua"


def available() -> bool:
    return shutil.which("wrk") is not None


def run(url: str, body: bytes, key: str | None, concurrency: int, duration: float,
        timeout: float = 10.0, headers: dict[str, str] | None = None) -> LoadResult:
    argv = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(duration))}s", f"--timeout={timeout:g}s",
            "-s", str(LUA), url]
    env = {**os.environ, "BENCH_BODY": body.decode(), "BENCH_KEY": key or "",
           "BENCH_HEADERS": "\n".join(f"{k}: {v}" for k, v in (headers or {}).items())}
    out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=duration + timeout + 30)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary (exit {out.returncode}): {out.stdout[-500:]} {out.stderr[-500:]}")
    d = json.loads(line.split(" ", 1)[1])
    took = d["duration_us"] / 1e6
    ok = max(0, d["requests"] - d["status"])
    errors = {k: d[k] for k in ("connect", "read", "write", "status", "timeout") if d[k]}
    return LoadResult(tool="wrk", concurrency=concurrency, duration_s=took, requests=d["requests"], ok=ok,
                      rps=ok / took if took else 0.0, p50_ms=d["p50_us"] / 1000, p99_ms=d["p99_us"] / 1000,
                      errors=errors)
