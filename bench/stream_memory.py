"""Where the memory of an open stream goes (issue 21, scenario 4): `accord serve`'s app under Accord's own
protocol, streams held open (the fake upstream's next chunk is minutes away), the server's memory read at 50, N
and 2N open streams. Per stream, between N and 2N: RSS, glibc's malloc arenas (mallinfo2: the objects over 512
bytes, and anything outside Python's own allocator), live objects and tasks; with --trace, tracemalloc snapshots
diffed and grouped by the innermost frame of Accord, aiohttp, uvicorn or Starlette, and the largest sites.

    python bench/stream_memory.py 4900            # 9,850 streams at the end: within a 20,000 fd limit
    python bench/stream_memory.py 1000 --trace    # tracemalloc (slower; its own memory inflates RSS)
    python bench/stream_memory.py 1000 --tokens 10000   # a 46 KB request body per stream
    python bench/stream_memory.py 200 --agent           # a ~470 KB coding agent's history per stream
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import gc
import os
import pickle
import resource
import shutil
import signal
import sys
import tempfile
import tracemalloc
from collections import defaultdict
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
FIELDS = ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")


class _MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in FIELDS]


def serve(cfg_path: str, out: Path, frames: int) -> None:
    """The server: `accord serve`'s app and protocol, writing its figures to `out` on each SIGUSR1."""
    if frames:
        tracemalloc.start(frames)
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _MallInfo2
    taken = [0]

    def dump(*_: Any) -> None:
        taken[0] += 1
        m = libc.mallinfo2()
        status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
        info = {"rss_kb": int(status["VmRSS"].split()[0]), "malloc": {f: getattr(m, f) for f in FIELDS},
                "objects": len(gc.get_objects()), "tasks": len(asyncio.all_tasks(asyncio.get_event_loop()))}
        if frames:
            tracemalloc.take_snapshot().dump(str(out / f"snap-{taken[0]}.tm"))
        (out / f"info-{taken[0]}.pkl").write_bytes(pickle.dumps(info))
        (out / f"done-{taken[0]}").touch()

    signal.signal(signal.SIGUSR1, dump)
    import uvicorn

    from accord import app as root
    from accord import logs
    from accord.cli.common import load_config

    cfg = load_config(cfg_path, None)
    logs.setup(cfg.settings.log_level, cfg.settings.log_format)
    app = root.create_app(cfg)
    root.tune_for_serving()
    uvicorn.run(app, host=cfg.settings.host, port=cfg.settings.port, log_config=None, access_log=False,
                loop="asyncio", http=root.HTTP_PROTOCOL, lifespan="on", proxy_headers=False)


def report(n: int, out: Path, infos: list[dict]) -> None:
    for a, b, what in ((infos[0], infos[1], f"50 -> {n + 50}"), (infos[1], infos[2], f"{n + 50} -> {2 * n + 50}")):
        per = {k: (b["malloc"][k] - a["malloc"][k]) / 1024 / n for k in FIELDS}
        print(f"{what} open streams, per stream: RSS {(b['rss_kb'] - a['rss_kb']) / n:.1f} KB, malloc arenas "
              f"{per['arena']:.1f} KB (in use {per['uordblks']:.1f} KB, mmapped {per['hblkhd']:.1f} KB), "
              f"{(b['objects'] - a['objects']) / n:.0f} objects, {(b['tasks'] - a['tasks']) / n:.1f} tasks")
    if not (out / "snap-3.tm").exists():
        return
    stats = tracemalloc.Snapshot.load(str(out / "snap-3.tm")).compare_to(
        tracemalloc.Snapshot.load(str(out / "snap-2.tm")), "traceback")
    print(f"traced: {sum(s.size_diff for s in stats) / n:.0f} B per stream")
    by: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    sites: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for s in stats:
        newest_first = list(s.traceback)[::-1]
        owner = next((k for f in newest_first for k in ("accord", "aiohttp", "uvicorn", "starlette")
                      if f"/{k}/" in f.filename), "asyncio and the rest")
        site = next((f for f in newest_first if f"/{owner}/" in f.filename), newest_first[0])
        where = site.filename.split(f"/{owner}/", 1)[-1] if f"/{owner}/" in site.filename else site.filename
        for key, table in ((owner, by), (f"{owner}: {where.rsplit('/', 1)[-1]}:{site.lineno}", sites)):
            table[key][0] += s.size_diff
            table[key][1] += s.count_diff
    for title, table, top in (("by owner (innermost frame)", by, 10), ("largest sites", sites, 30)):
        print(f"-- {title}")
        for k, (size, count) in sorted(table.items(), key=lambda kv: -kv[1][0])[:top]:
            print(f"  {k:45} {size / n:7.0f} B {count / n:6.1f} blocks")


async def drive(n: int, port: int, pid: int, out: Path, req: bytes) -> list[dict]:
    from accordbench.scenarios.clients import open_stream

    asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: None)  # streams cut at the end
    keep: list[Any] = []
    infos: list[dict] = []

    async def open_many(count: int) -> None:
        sem = asyncio.Semaphore(256)

        async def one() -> None:
            async with sem:
                conn, _ = await open_stream(port, req)
                await conn.first
                keep.append(conn)

        await asyncio.gather(*(one() for _ in range(count)))
        await asyncio.sleep(1)  # let the last ones settle before the server is asked for its figures

    for count in (50, n, n):
        await open_many(count)
        os.kill(pid, signal.SIGUSR1)
        k = len(infos) + 1
        while not (out / f"done-{k}").exists():
            await asyncio.sleep(0.05)
        infos.append(pickle.loads((out / f"info-{k}.pkl").read_bytes()))
    for conn in keep:
        if conn.transport is not None:
            conn.transport.close()
    return infos


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("n", type=int, nargs="?", default=1000, help="streams opened in each step")
    p.add_argument("--trace", action="store_true", help="tracemalloc, 30 frames")
    p.add_argument("--tokens", type=int, default=8, help="tokens in each request's message")
    p.add_argument("--agent", action="store_true", help="a ~470 KB coding agent's history instead of --tokens")
    p.add_argument("--serve", nargs=2, metavar=("CONFIG", "OUT"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.serve:
        serve(a.serve[0], Path(a.serve[1]), int(os.environ.get("STREAM_MEMORY_FRAMES", "0")))
        return
    import orjson
    from accordbench import targets
    from accordbench.loadgen import request_bytes
    from accordbench.procs import Server, free_port
    from accordbench.scenarios.common import CHAT, HOST, accord_config, agent_messages, chat_body

    resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
    out = Path(tempfile.mkdtemp(prefix="stream-memory-"))
    fport = free_port()
    fake = Server("fake", [sys.executable, str(BENCH / "fake_upstream.py"), "--port", str(fport)], fport,
                  out / "fake.log")
    fake.start()
    port = free_port()
    cfg = out / "accord.yaml"
    cfg.write_text(accord_config(f"http://{HOST}:{fake.port}", {"long": "sse-4x60000"}, port, 1, out / "data"))
    srv = Server("accord", [sys.executable, __file__, "--serve", str(cfg), str(out)], port, out / "accord.log",
                 env={"STREAM_MEMORY_FRAMES": "30" if a.trace else "0"})
    srv.start()
    try:
        assert srv.proc is not None
        body = (orjson.dumps({"model": "long", "messages": agent_messages(), "stream": True}) if a.agent
                else chat_body("long", a.tokens, stream=True))
        req = request_bytes(HOST, port, CHAT, body, targets.MASTER_KEY, {})
        report(a.n, out, asyncio.run(drive(a.n, port, srv.proc.pid, out, req)))
    finally:
        srv.stop()
        fake.stop()
        with contextlib.suppress(OSError):
            shutil.rmtree(out)


if __name__ == "__main__":
    main()
