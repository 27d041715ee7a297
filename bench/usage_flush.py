"""CPU of one usage flush (the batch writer's transaction) of N rows, each of a different virtual key without a
budget (a key flood at c = 1 writes ~650 per 0.5 s flush), or all of the master key; the whole process and the loop
thread apart (SQLite's statements run in its own thread). Median of 7 flushes, per checkout, alternating.

    python bench/usage_flush.py --src /tmp/base/src            # 650 distinct keys
    python bench/usage_flush.py --master --src /tmp/base/src   # 650 rows of the master key
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from accordbench import inproc  # bench/ is first on sys.path when a script here runs


async def measure(rows: int, master: bool, flushes: int) -> str:
    from accord.config import Settings
    from accord.store.db import Database, database_url
    from accord.store.keys import Keys
    from accord.store.ledger import Ledger
    from accord.store.usage import UsageWriter

    tmp = Path(tempfile.mkdtemp(prefix="accord-flush-"))
    db = Database(database_url(Settings(database_url=f"sqlite:///{tmp / 'bench.db'}")))
    await db.start()
    keys = Keys(db)
    ids = [None] * rows if master else [(await keys.create(name=f"k{i}"))[1].id for i in range(rows)]
    ledger = Ledger()
    writer = UsageWriter(db, ledger=ledger)
    cpu: list[float] = []
    loop_thread: list[float] = []
    for _ in range(flushes):
        for key_id in ids:
            writer.add({"created_at": datetime.now(timezone.utc), "request_id": "r", "key_id": key_id,
                        "route": "chat", "model": "m", "deployment": "d", "provider": "p", "prompt_tokens": 10,
                        "completion_tokens": 5, "reasoning_tokens": 0, "cached_tokens": 0, "cache_write_tokens": 0,
                        "cost": 1e-5, "latency_ms": 1.0, "ttft_ms": None, "status": 200, "error_type": None,
                        "stream": False, "thread_id": None})
            if key_id:
                ledger.charge(key_id, 1e-5)  # as the store does for every row with a key and a cost
        c0, t0 = time.process_time(), time.thread_time()
        await writer.flush()
        cpu.append(time.process_time() - c0)
        loop_thread.append(time.thread_time() - t0)
    await db.close()
    return (f"{statistics.median(cpu) * 1e3:.1f} ms CPU per flush of {rows} rows "
            f"(loop thread {statistics.median(loop_thread) * 1e3:.1f} ms)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=650)
    ap.add_argument("--master", action="store_true", help="every row of the master key (no key id)")
    ap.add_argument("--flushes", type=int, default=7)
    ap.add_argument("--src", action="append", default=[], help="another checkout's src to alternate with")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(asyncio.run(measure(a.rows, a.master, a.flushes)), flush=True)
        return
    argv = [__file__, "--child", "--rows", str(a.rows), "--flushes", str(a.flushes),
            *(["--master"] if a.master else [])]
    inproc.alternate(a.rounds, a.src, lambda env, src: inproc.child_run(argv, env))


if __name__ == "__main__":
    sys.exit(main())
