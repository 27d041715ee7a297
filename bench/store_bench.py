"""How fast usage listing and summaries stay at 1,000,000 rows (SQLite by default, or --database-url).

    python bench/store_bench.py                 # 1M rows in a temporary SQLite file
    python bench/store_bench.py --rows 200000 --database-url postgresql://...

Rows are generated in bulk through the same UsageWriter the gateway uses (so the daily rollup is built as in
production), then each query is timed as the median of several runs.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path


async def main(rows: int, url: str | None, batch: int) -> dict:
    from accord.config import Settings
    from accord.store.db import Database, database_url
    from accord.store.usage import UsageWriter, list_usage, summary

    tmp = Path(tempfile.mkdtemp(prefix="accord-store-bench-"))
    settings = Settings(database_url=url or f"sqlite:///{tmp / 'bench.db'}")
    db = Database(database_url(settings))
    await db.start()
    writer = UsageWriter(db)
    rng = random.Random(7)
    keys = [f"{i:032x}" for i in range(50)]
    models = ["deepseek-chat", "deepseek-reasoner", "qwen3-max", "kimi-k2-thinking", "gpt-5", "claude-sonnet-4-5"]
    start = datetime.now(timezone.utc) - timedelta(days=90)
    t0 = time.perf_counter()
    for i in range(rows):
        writer.add({
            "created_at": start + timedelta(seconds=i * 90 * 86400 / rows), "request_id": f"r{i}",
            "key_id": rng.choice(keys), "route": "chat", "model": rng.choice(models), "deployment": "d",
            "provider": "p", "prompt_tokens": rng.randint(10, 4000), "completion_tokens": rng.randint(1, 2000),
            "reasoning_tokens": 0, "cost": rng.random() / 1000, "latency_ms": rng.uniform(100, 9000),
            "ttft_ms": None, "status": 200 if rng.random() > 0.03 else 502, "error_type": None, "stream": False,
        })
        if len(writer.buffer) >= batch:
            await writer.flush()
    await writer.flush()
    load_s = time.perf_counter() - t0

    async def timed(label: str, fn, runs: int = 7) -> tuple[str, float]:
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            await fn()
            times.append((time.perf_counter() - t) * 1000)
        return label, statistics.median(times)

    first, _cursor = await list_usage(db, limit=100)
    deep_cursor = first[-1]["id"] - rows // 2
    figures = dict([
        await timed("list newest 100", lambda: list_usage(db, limit=100)),
        await timed("list 100, half-way down (keyset)", lambda: list_usage(db, limit=100, before_id=deep_cursor)),
        await timed("list 100 of one key", lambda: list_usage(db, limit=100, key_id=keys[3])),
        await timed("list 100 of one model", lambda: list_usage(db, limit=100, model="qwen3-max")),
        await timed("list 100 errors", lambda: list_usage(db, limit=100, status="error")),
        await timed("summary by day (90 days)", lambda: summary(db, group_by="day")),
        await timed("summary by model", lambda: summary(db, group_by="model")),
        await timed("summary by key", lambda: summary(db, group_by="key")),
    ])
    await db.close()
    return {"rows": rows, "backend": db.url.split(":", 1)[0], "load_s": round(load_s, 1),
            "queries_ms": {k: round(v, 2) for k, v in figures.items()}}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--database-url")
    ap.add_argument("--batch", type=int, default=20_000)
    a = ap.parse_args()
    out = asyncio.run(main(a.rows, a.database_url, a.batch))
    print(f"{out['rows']:,} rows in {out['backend']} (loaded in {out['load_s']} s)")
    for k, v in out["queries_ms"].items():
        print(f"  {k:38s} {v:8.2f} ms")
