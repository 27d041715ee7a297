"""Micro-benchmarks behind two choices: the upstream HTTP client (aiohttp vs httpx) and the server options
(uvicorn's loop and HTTP parser). `python bench/run.py --micro` runs both and prints their tables."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from . import targets, wrk
from .main import CHAT, PATH
from .procs import Server, free_port
from .report import table
from .stats import percentile

Post = Callable[[], Awaitable[bytes]]


async def _drive(post: Post, concurrency: int, duration: float) -> dict[str, float]:
    lat: list[float] = []
    end = time.perf_counter() + duration

    async def worker() -> None:
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            await post()
            lat.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    took = time.perf_counter() - t0
    lat.sort()
    return {"rps": len(lat) / took, "p50_ms": percentile(lat, 50) * 1000, "p99_ms": percentile(lat, 99) * 1000}


async def _aiohttp(url: str, concurrency: int, duration: float) -> dict[str, float]:
    import aiohttp
    import orjson

    conn = aiohttp.TCPConnector(limit=0, keepalive_timeout=30)
    async with aiohttp.ClientSession(connector=conn, skip_auto_headers=("User-Agent",)) as s:
        headers = {"Content-Type": "application/json", "Authorization": "Bearer x"}

        async def post() -> bytes:
            async with s.post(url, data=CHAT, headers=headers) as r:
                raw = await r.read()
            orjson.loads(raw)
            return raw

        await _drive(post, concurrency, 0.3)
        return await _drive(post, concurrency, duration)


async def _httpx(url: str, concurrency: int, duration: float) -> dict[str, float]:
    import httpx
    import orjson

    limits = httpx.Limits(max_connections=None, max_keepalive_connections=max(concurrency, 10))
    async with httpx.AsyncClient(limits=limits, timeout=30) as c:
        headers = {"Content-Type": "application/json", "Authorization": "Bearer x"}

        async def post() -> bytes:
            r = await c.post(url, content=CHAT, headers=headers)
            orjson.loads(r.content)
            return r.content

        await _drive(post, concurrency, 0.3)
        return await _drive(post, concurrency, duration)


def clients(url: str, duration: float, loops: list[str]) -> list[list[str]]:
    rows = [["client", "loop", "c=1 req/s · p50", "c=64 req/s · p50 / p99"]]
    for loop in loops:
        run = asyncio.run
        if loop == "uvloop":
            import uvloop

            run = uvloop.run
        for name, fn in (("aiohttp", _aiohttp), ("httpx", _httpx)):
            one = run(fn(url, 1, duration))
            many = run(fn(url, 64, duration))
            rows.append([name, loop, f"{one['rps']:,.0f} · {one['p50_ms']:.3f} ms",
                         f"{many['rps']:,.0f} · {many['p50_ms']:.2f} / {many['p99_ms']:.2f} ms"])
            print(f"micro: {name} {loop}: {rows[-1][2:]}", flush=True)
    return rows


_LAUNCH = """
import sys, uvicorn
from accord.config import load
from accord.app import create_app
cfg = load(sys.argv[1])
app = create_app(cfg)
if sys.argv[5] == "tuned":
    from accord.app import tune_for_serving
    tune_for_serving()
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), loop=sys.argv[3], http=sys.argv[4],
            log_level="warning", access_log=False, lifespan="on")
"""


def _gc_policy_present() -> bool:
    import importlib.util

    return importlib.util.find_spec("accord.gateway.gcpolicy") is not None


def servers(work: Path, upstream_url: str, duration: float, loops: list[str]) -> list[list[str]]:
    gc = "tuned" if _gc_policy_present() else "default"
    variants = [(loop, http, gc) for loop in loops for http in ("httptools", "h11")]
    if gc == "tuned":
        variants.append((loops[-1], "httptools", "default"))
    rows = [["loop", "http", "gc", "c=1 p50", "c=64 req/s · p50 / p99"]]
    for loop, http, gc_mode in variants:
        port = free_port()
        tag = f"accord-{loop}-{http}-{gc_mode}"
        cfg = work / f"{tag}.yaml"
        cfg.write_text(targets.accord_config(upstream_url, port, 1))
        argv = [sys.executable, "-c", _LAUNCH, str(cfg), str(port), loop, http, gc_mode]
        with Server(tag, argv, port, work / f"{tag}.log") as srv:
            srv.start()
            url = srv.url + PATH
            wrk.run(url, CHAT, targets.MASTER_KEY, 16, 1)
            one = wrk.run(url, CHAT, targets.MASTER_KEY, 1, duration)
            many = wrk.run(url, CHAT, targets.MASTER_KEY, 64, duration)
        rows.append([loop, http, gc_mode, f"{one.p50_ms:.3f} ms",
                     f"{many.rps:,.0f} · {many.p50_ms:.2f} / {many.p99_ms:.2f} ms"])
        print(f"micro: server {loop}/{http}/{gc_mode}: {rows[-1][3:]}", flush=True)
    return rows


def ceiling(work: Path, fake: Server, duration: float) -> list[list[str]]:
    """Direct, the least a Python proxy can do (bench/lean_proxy.py), and `accord serve`, by wrk."""
    rows = [["target", "c=1 p50", "c=64 req/s · p50 / p99", "c=64 vs direct"]]
    lean_port = free_port()
    lean = Server("lean proxy", [sys.executable, str(targets.BENCH / "lean_proxy.py"), "--port", str(lean_port),
                                 "--upstream-port", str(fake.port)], lean_port, work / "lean-proxy.log")
    acc = targets.accord(work, fake.url, 1, tag="accord-micro")
    base = None
    for name, srv, started in (("direct", fake, True), ("lean Python proxy", lean, False), ("Accord", acc, False)):
        with contextlib.nullcontext() if started else srv:
            if not started:
                srv.start()
            url = srv.url + PATH
            wrk.run(url, CHAT, targets.MASTER_KEY, 16, 1)
            one = wrk.run(url, CHAT, targets.MASTER_KEY, 1, duration)
            many = wrk.run(url, CHAT, targets.MASTER_KEY, 64, duration)
        base = base or many.rps
        rows.append([name, f"{one.p50_ms:.3f} ms", f"{many.rps:,.0f} · {many.p50_ms:.2f} / {many.p99_ms:.2f} ms",
                     f"{many.rps / base:.0%}"])
        print(f"micro: ceiling {name}: {rows[-1][1:]}", flush=True)
    return rows


def main(duration: float = 5.0) -> dict[str, Any]:
    targets.clean_env()
    work = Path(tempfile.mkdtemp(prefix="accord-micro-"))
    loops = ["asyncio"]
    try:
        import uvloop  # noqa: F401

        loops.append("uvloop")
    except ImportError:
        pass
    with targets.fake_upstream(work, 20, 10.0) as fake:
        fake.start()
        c_rows = clients(fake.url + PATH, duration, loops)
        s_rows = servers(work, fake.url, duration, loops) if wrk.available() else []
        x_rows = ceiling(work, fake, duration) if wrk.available() else []
    from .main import machine

    m = machine()
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    text = (f"Run {when}: {m['cpus']} CPUs ({m['cpu']}), Python {m['python']}, {duration:g} s per run.\n\n"
            "Upstream client, alone against the fake upstream:\n\n" + table(c_rows) + "\n")
    if s_rows:
        text += "\nAccord under uvicorn, by loop, HTTP parser and GC policy (wrk):\n\n" + table(s_rows) + "\n"
    if x_rows:
        text += ("\nThe ceiling: direct, the least a Python proxy can do (bench/lean_proxy.py), and `accord serve`"
                 " (wrk):\n\n" + table(x_rows) + "\n")
    print(text)
    return {"clients": c_rows, "servers": s_rows, "ceiling": x_rows, "markdown": text}
