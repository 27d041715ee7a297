"""Scenario 5's shape as an A/B of checkouts: `accord serve` with N virtual keys (made through POST /key/generate),
each used once, then every key again in rotation, one of them alone and the master key alone, one request at a
time; the server's
CPU per request (all threads, and its main thread alone) beside the p50, per checkout, in alternating rounds.

    python bench/key_flood_ab.py --keys 3000 --src /tmp/base/src            # SQLite, 3 rounds
    python bench/key_flood_ab.py --postgres --src /tmp/base/src             # a throwaway PostgreSQL

CPU is read from /proc for the server's process and its main thread, so a busy machine moves it less than the
latency. The fake upstream's and this client's CPU are not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from accordbench import targets  # bench/ is first on sys.path when a script here runs
from accordbench.loadgen import request_bytes
from accordbench.scenarios.clients import sequential, split
from accordbench.scenarios.common import CHAT, HOST, Sizes, chat_body, gateway, upstream_models
from accordbench.scenarios.latency import Postgres, create_keys


def _cpu(pid: int) -> tuple[float, float]:
    """(process CPU s, main thread CPU s) of `pid`."""
    p = psutil.Process(pid)
    t = p.cpu_times()
    main = next((th for th in p.threads() if th.id == pid), None)
    return t.user + t.system, (main.user_time + main.system_time) if main else 0.0


def _run(pid: int, port: int, reqs: list[bytes], n: int) -> tuple[float, float, float]:
    """p50 ms, process CPU µs and main-thread CPU µs per request, over `n` sequential requests."""
    c0 = _cpu(pid)
    ok, errors = split(asyncio.run(sequential(port, reqs, count=n)))
    c1 = _cpu(pid)
    if errors:
        raise RuntimeError(f"{errors} requests failed")
    return statistics.median(ok) * 1000, (c1[0] - c0[0]) / n * 1e6, (c1[1] - c0[1]) / n * 1e6


def _spy(out: str, pid: int) -> subprocess.Popen:
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    spy = subprocess.Popen([exe, "record", "-r", "1000", "--format", "raw", "-o", out, "-p", str(pid)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attached
    return spy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keys", type=int, default=3000)
    ap.add_argument("--src", action="append", default=[], help="another checkout's src to alternate with")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    ap.add_argument("--py-spy", default="", help="record this checkout's server under py-spy (1000 Hz, raw) during "
                    "the use after first use, into this file (py-spy on PATH or in the venv)")
    a = ap.parse_args()
    targets.clean_env()
    work = Path(tempfile.mkdtemp(prefix="accord-keyflood-"))
    fake = targets.fake_upstream(work, 20, 10.0)
    models = upstream_models(Sizes())
    body = chat_body("m")
    with fake:
        fake.start()
        for r in range(a.rounds):
            for src in ["", *a.src]:
                old = os.environ.get("PYTHONPATH")
                if src:
                    os.environ["PYTHONPATH"] = src
                pg = Postgres() if a.postgres else None
                try:
                    if pg is not None:
                        pg.start()
                    with gateway("accord", work, fake.url, fake, models, database_url=pg.url if pg else None,
                                 tag=f"ab-{r}-{len(src)}") as gw:
                        assert gw.server is not None and gw.server.proc is not None
                        pid, port = gw.server.proc.pid, gw.port
                        keys = asyncio.run(create_keys(port, a.keys))
                        vreqs = [request_bytes(HOST, port, CHAT, body, k) for k in keys]
                        mreq = [request_bytes(HOST, port, CHAT, body, targets.MASTER_KEY)]
                        first = _run(pid, port, vreqs, len(vreqs))
                        time.sleep(1.0)  # the first use's rows written
                        spy = _spy(a.py_spy, pid) if a.py_spy and not src and r == 0 else None
                        after = _run(pid, port, vreqs, len(vreqs))
                        if spy is not None:
                            spy.send_signal(signal.SIGINT)
                            spy.wait()
                        one = _run(pid, port, vreqs[:1], len(vreqs))
                        master = _run(pid, port, mreq, len(vreqs))
                    print(f"{src or 'this checkout'}: " + "; ".join(
                        f"{what} p50 {p50:.3f} ms, CPU {cpu:.0f} µs (main thread {main:.0f})"
                        for what, (p50, cpu, main) in (("first use", first), ("after", after), ("one key", one),
                                                        ("master", master))),
                        flush=True)
                finally:
                    if pg is not None:
                        pg.stop()
                    if src:
                        if old is None:
                            os.environ.pop("PYTHONPATH", None)
                        else:
                            os.environ["PYTHONPATH"] = old


if __name__ == "__main__":
    main()
