"""CPU per streamed request carrying one huge SSE event, and the longest stall of the event loop meanwhile:
Accord's ASGI app alone (no HTTP server in front) against the bench's fake upstream, one such stream at a time.

    python bench/big_event.py                          # one 20 MB event, this checkout, 3 rounds
    python bench/big_event.py --mb 20 --src /tmp/base/src --rounds 4   # alternate with another checkout's src
    python bench/big_event.py --small                  # the same figures for ordinary 5-chunk streams
    python bench/big_event.py --profile /tmp/big.prof  # a cProfile of this checkout's measured run

The longest stall is what a small request beside the stream waits at worst (scenario 3's p99): a ticker task
notes the most CPU time the loop's thread spent between two of its turns (CPU, not wall time, so a busy
machine's preemption does not count). Each run is a fresh process (an alternate checkout first on
PYTHONPATH); the fake upstream's CPU is not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from accordbench import inproc  # bench/ is first on sys.path when a script here runs


def child(cfg: str, n: int, model: str, profile: str = "") -> None:
    import orjson

    from accord.app import create_app
    from accord.config import load

    app = create_app(load(cfg))
    body = orjson.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": True})
    headers = inproc.chat_headers(body)

    async def one() -> int:
        size = 0

        async def send(m: dict) -> None:
            nonlocal size
            size += len(m.get("body", b""))

        await inproc.post_chat(app, headers, body, send)
        return size

    async def main() -> None:
        async with app.router.lifespan_context(app):
            await app.state.store.wait(60)
            for _ in range(2):  # warm-up
                await one()
            worst = 0.0
            stop = False

            async def ticker() -> None:
                nonlocal worst
                last = time.thread_time()
                while not stop:
                    await asyncio.sleep(0)
                    now = time.thread_time()
                    worst = max(worst, now - last)
                    last = now

            prof = None
            if profile:
                import cProfile

                prof = cProfile.Profile()
                prof.enable()
            tick = asyncio.create_task(ticker())
            c0 = time.process_time()
            sizes = [await one() for _ in range(n)]
            c1 = time.process_time()
            stop = True
            await tick
            if prof is not None:
                prof.disable()
                prof.dump_stats(profile)
            print(f"{(c1 - c0) / n * 1e3:.2f} ms CPU/request, longest loop stall {worst * 1e3:.2f} ms, "
                  f"{sizes[-1] / 1e6:.1f} MB relayed", flush=True)

    inproc.run(main)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=float, default=20.0, help="size of the one big event, MB")
    ap.add_argument("--small", action="store_true", help="ordinary streams (5 small chunks) instead")
    ap.add_argument("-n", type=int, default=10, help="requests per run")
    ap.add_argument("--src", action="append", default=[], help="another checkout's src to alternate with")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--profile", default="", help="write a cProfile of this checkout's measured run to this file")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child, a.n, a.model, a.profile)
        return
    from accordbench.targets import clean_env, fake_upstream

    clean_env()
    work = Path(tempfile.mkdtemp(prefix="accord-big-"))
    up = fake_upstream(work, chunks=5, pace_ms=0)
    up.start()
    model = "m" if a.small else "big"
    big = f"  - name: big\n    model: openai/bigevent-{a.mb:g}\n    api_base: {up.url}/v1\n    api_key: x\n"
    cfg = inproc.write_config(work, up.url, big)
    n = a.n * 50 if a.small else a.n

    def measure(env: dict[str, str], src: str) -> str:
        argv = [__file__, "--child", str(cfg), "-n", str(n), "--model", model,
                *(["--profile", a.profile] if a.profile and not src else [])]
        return inproc.child_run(argv, env)

    try:
        inproc.alternate(a.rounds, a.src, measure)
    finally:
        up.stop()


if __name__ == "__main__":
    main()
