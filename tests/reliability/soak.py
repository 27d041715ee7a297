"""Soak: mixed traffic for a long time against a real `accord serve` — chat, streams, embeddings, MCP
`consensus`, admin calls, and clients that disconnect mid-stream and mid-request — while the server's RSS,
file descriptors, sockets and asyncio tasks are sampled. After warm-up, RSS may grow less than 10% and the
others not at all (measured at quiet moments, so requests in flight do not count).

    python tests/reliability/soak.py --seconds 600            # the long run (docs/reliability.md)
    python tests/reliability/soak.py --seconds 4 --warmup 3   # about what CI runs (test_soak_short.py)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from harness import MASTER, Accord, FastUpstream, machine, mcp_consensus_calls, raise_fd_limit, write_config

SLOW_MODEL = """  - {name: slow, model: openai/slow-delay-0.4, api_base: UP/v1, api_key: sk-up}
"""
RSS_GROWTH_MAX = 0.10
# idle keep-alive connections to the upstream come and go, up to one per concurrent client: a leak grows with
# the number of requests (thousands here), not with the number of clients
SLACK = {"fds": 4, "sockets": 4, "tasks": 2}
POOL = ("fds", "sockets")


async def traffic(url: str, vkey: str, until: float, counts: Counter, concurrency: int, consensus: bool) -> None:
    import aiohttp

    master = {"Authorization": f"Bearer {MASTER}"}
    virtual = {"Authorization": f"Bearer {vkey}"}
    msg = [{"role": "user", "content": "hi"}]

    async def op(s: aiohttp.ClientSession, rng: random.Random) -> str:
        kind = rng.choices(["chat", "chat_vkey", "stream", "stream_cut", "slow_cut", "embed", "admin", "keys"],
                           weights=[20, 10, 20, 10, 5, 10, 15, 5])[0]
        if kind in ("chat", "chat_vkey"):
            async with s.post(f"{url}/v1/chat/completions", json={"model": "m", "messages": msg},
                              headers=master if kind == "chat" else virtual) as r:
                assert r.status == 200, await r.text()
                await r.read()
        elif kind == "stream":
            async with s.post(f"{url}/v1/chat/completions", json={"model": "m", "messages": msg, "stream": True},
                              headers=master) as r:
                assert r.status == 200
                assert (await r.read()).endswith(b"data: [DONE]\n\n")
        elif kind == "stream_cut":  # the client goes away after the first chunk
            async with s.post(f"{url}/v1/chat/completions", json={"model": "m", "messages": msg, "stream": True},
                              headers=master) as r:
                assert r.status == 200
                await r.content.readany()
                r.close()
        elif kind == "slow_cut":  # the client gives up before the upstream answers
            with contextlib.suppress(asyncio.TimeoutError):
                async with s.post(f"{url}/v1/chat/completions", json={"model": "slow", "messages": msg},
                                  headers=master, timeout=aiohttp.ClientTimeout(total=0.1)) as r:
                    await r.read()
        elif kind == "embed":
            async with s.post(f"{url}/v1/embeddings", json={"model": "emb", "input": "x"}, headers=master) as r:
                assert r.status == 200, await r.text()
                await r.read()
        elif kind == "admin":
            path = rng.choice(["/key/list", "/spend/logs?limit=50", "/usage/summary?group_by=model",
                               "/health/readiness", "/v1/models"])
            async with s.get(f"{url}{path}", headers=master) as r:
                assert r.status == 200, (path, await r.text())
                await r.read()
        else:  # a key made and revoked
            async with s.post(f"{url}/key/generate", json={"key_alias": f"soak-{rng.random()}"},
                              headers=master) as r:
                assert r.status == 200, await r.text()
                made = await r.json()
            async with s.post(f"{url}/key/delete", json={"keys": [made["key"]]}, headers=master) as r:
                assert r.status == 200, await r.text()
        return kind

    async def worker(i: int) -> None:
        rng = random.Random(i)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as s:
            while time.monotonic() < until:
                try:
                    counts[await op(s, rng)] += 1
                except Exception as e:
                    counts["errors"] += 1
                    if counts["errors"] <= 5:
                        print(f"soak: error {e.__class__.__name__}: {e}"[:300], file=sys.stderr)

    async def consensus_worker() -> None:
        while time.monotonic() < until:
            r = await mcp_consensus_calls(url, MASTER, 2)
            counts["consensus"] += r["ok"]
            counts["errors"] += r["failed"]

    jobs = [worker(i) for i in range(concurrency)]
    if consensus:
        jobs.append(consensus_worker())
    await asyncio.gather(*jobs)


def run(seconds: float, warmup: float, *, concurrency: int = 16, sample_every: float = 10.0, quiet: float = 2.5,
        workdir: Path | None = None) -> dict:
    raise_fd_limit()
    work = workdir or Path(tempfile.mkdtemp(prefix="accord-soak-"))
    up = FastUpstream(work, chunks=10, pace_ms=5)
    cfg = write_config(work, up.url)
    cfg.write_text(cfg.read_text().replace("consensus:", SLOW_MODEL.replace("UP", up.url) + "consensus:", 1))
    server = Accord(work, cfg)
    counts: Counter = Counter()
    samples: list[dict] = []
    try:
        import httpx

        vkey = httpx.post(f"{server.url}/key/generate", json={"key_alias": "soak"},
                          headers={"Authorization": f"Bearer {MASTER}"}).json()["key"]

        async def phase(length: float, sample: bool) -> None:
            t_end = time.monotonic() + length
            task = asyncio.create_task(traffic(server.url, vkey, t_end, counts, concurrency, consensus=True))
            t0 = time.monotonic()
            while sample and not task.done():
                await asyncio.sleep(min(sample_every, max(0.1, t_end - time.monotonic())))  # wait-ok: sampling period
                if not task.done():
                    samples.append({"t": round(time.monotonic() - t0, 1), **server.sample()})
            await task

        asyncio.run(phase(warmup, False))
        time.sleep(quiet)  # wait-ok: the soak's idle period before sampling is part of the measured workload
        base = server.sample()
        asyncio.run(phase(seconds, True))
        time.sleep(quiet)  # wait-ok: as above, so the two samples are taken alike
        final = server.sample()
    finally:
        code = server.stop(signal.SIGTERM)
        up.stop()
    growth = (final["rss_mb"] - base["rss_mb"]) / base["rss_mb"]
    failed = []
    if counts["errors"]:
        failed.append(f"{counts['errors']} failed requests")
    if growth >= RSS_GROWTH_MAX:
        failed.append(f"RSS grew {growth:.1%} after warm-up ({base['rss_mb']} -> {final['rss_mb']} MB)")
    for k, slack in SLACK.items():
        if k in POOL:
            slack += concurrency + 1  # + the consensus caller
        if final[k] > base[k] + slack:
            failed.append(f"{k} grew from {base[k]} to {final[k]}")
    if code not in (0, -signal.SIGTERM):
        failed.append(f"accord serve exited with {code} on SIGTERM")
    return {"machine": machine(), "seconds": seconds, "warmup": warmup, "concurrency": concurrency,
            "requests": dict(counts), "total": sum(v for k, v in counts.items() if k != "errors"),
            "baseline": base, "final": final, "rss_growth_pct": round(growth * 100, 2),
            "rss_max_mb": max([s["rss_mb"] for s in samples] + [final["rss_mb"]]), "samples": samples,
            "failed": failed}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=600, help="measured traffic, after warm-up")
    ap.add_argument("--warmup", type=float, default=60)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--sample-every", type=float, default=10.0)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    a = ap.parse_args()
    figures = run(a.seconds, a.warmup, concurrency=a.concurrency, sample_every=a.sample_every)
    text = json.dumps(figures, indent=2)
    print(text)
    if a.json:
        a.json.write_text(text)
    sys.exit(1 if figures["failed"] else 0)


if __name__ == "__main__":
    main()
