"""Load: many concurrent streaming clients through a real `accord serve` against the fast fake upstream (its own
process), then concurrent MCP `consensus` calls over streamable HTTP. Zero errors, zero truncated streams,
and one usage row for every request.

    python tests/reliability/load.py --clients 1000 --seconds 60 --mcp 200      # the long run (docs/reliability.md)
    python tests/reliability/load.py --clients 100 --seconds 8 --mcp 20         # what CI runs (test_load_short.py)

The load generator runs in this process (or --procs processes), the server and the upstream in their own.
Prints the figures as JSON; exit status 1 when a check failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from harness import (
    MASTER,
    Accord,
    FastUpstream,
    LoadResult,
    machine,
    mcp_consensus_calls,
    raise_fd_limit,
    stream_load,
    usage_rows,
    usage_rows_by_status,
    write_config,
)


def _load_part(url: str, clients: int, seconds: float, chunks: int) -> LoadResult:
    raise_fd_limit()
    return asyncio.run(stream_load(url, MASTER, clients, seconds, chunks))


def run(clients: int, seconds: float, mcp_calls: int, *, chunks: int = 20, pace_ms: float = 25.0, procs: int = 1,
        workdir: Path | None = None) -> dict:
    nofile = raise_fd_limit()
    work = workdir or Path(tempfile.mkdtemp(prefix="accord-load-"))
    up = FastUpstream(work, chunks=chunks, pace_ms=pace_ms)
    db = work / "accord.db"
    server = Accord(work, write_config(work, up.url, db=db))
    peak = {"rss_mb": 0.0, "fds": 0, "sockets": 0}
    sampling = True

    def sampler() -> None:
        while sampling:
            try:
                rss = server.ps.memory_info().rss / 2**20
                peak["rss_mb"] = max(peak["rss_mb"], round(rss, 1))
                peak["fds"] = max(peak["fds"], server.ps.num_fds())
            except Exception:
                return
            time.sleep(0.5)  # wait-ok: the sampling period

    threading.Thread(target=sampler, daemon=True).start()
    idle = server.sample()
    try:
        if procs <= 1:
            res = asyncio.run(stream_load(server.url, MASTER, clients, seconds, chunks))
        else:
            res = LoadResult(clients, seconds)
            with ProcessPoolExecutor(procs) as pool:
                parts = [pool.submit(_load_part, server.url, clients // procs + (i < clients % procs), seconds,
                                     chunks) for i in range(procs)]
                for f in parts:
                    res.merge(f.result())
                res.seconds = max(res.seconds, seconds)
        after_load = server.sample()
        mcp = asyncio.run(mcp_consensus_calls(server.url, MASTER, mcp_calls)) if mcp_calls else None
        settled = server.sample()
    finally:
        sampling = False
        code = server.stop(signal.SIGTERM)  # flushes every usage row
        up.stop()
    requests = res.ok + res.truncated + res.errors
    rows = usage_rows(db, "chat")
    by_status = usage_rows_by_status(db)
    mcp_rows = usage_rows(db, "mcp")
    stream = res.figures()
    figures = {
        "machine": machine(), "nofile": nofile, "load_procs": procs,
        "stream": {**stream, "chunks_per_stream": chunks, "pace_ms": pace_ms},
        "usage": {"requests": requests, "rows": rows, "rows_200": by_status.get(200, 0), "mcp_rows": mcp_rows},
        "server": {"idle": idle, "after_load": after_load, "settled": settled, "peak": peak, "exit_code": code},
        "mcp": mcp,
    }
    failed = []
    if res.errors or res.truncated or res.ok == 0:
        failed.append(f"{res.errors} errors, {res.truncated} truncated streams of {requests}")
    if rows != requests or by_status.get(200, 0) != res.ok:
        failed.append(f"usage rows {rows} (200: {by_status.get(200, 0)}) for {requests} requests ({res.ok} ok)")
    if mcp is not None and mcp["ok"] != mcp_calls:
        failed.append(f"MCP consensus: {mcp['ok']} of {mcp_calls} ok: {mcp['failure_samples']}")
    if mcp is not None and mcp_rows != 4 * mcp_calls:  # three panelists and the chair each
        failed.append(f"usage rows {mcp_rows} for {mcp_calls} MCP consensus calls of 4 model calls each")
    if code not in (0, -signal.SIGTERM):  # uvicorn ends by re-raising the signal after its graceful shutdown
        failed.append(f"accord serve exited with {code} on SIGTERM")
    figures["failed"] = failed
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--mcp", type=int, default=200, help="concurrent MCP consensus calls after the stream load")
    ap.add_argument("--chunks", type=int, default=20, help="content chunks per stream")
    ap.add_argument("--pace-ms", type=float, default=25.0, help="ms between the upstream's chunks")
    ap.add_argument("--procs", type=int, default=1, help="load generator processes")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    a = ap.parse_args()
    figures = run(a.clients, a.seconds, a.mcp, chunks=a.chunks, pace_ms=a.pace_ms, procs=a.procs)
    text = json.dumps(figures, indent=2)
    print(text)
    if a.json:
        a.json.write_text(text)
    sys.exit(1 if figures["failed"] else 0)


if __name__ == "__main__":
    main()
