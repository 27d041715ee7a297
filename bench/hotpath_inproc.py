"""CPU per request of Accord's ASGI app alone (no HTTP server in front), requests 64 at a time against the fake
upstream: the steadiest figure on a shared machine, for A/B tests of the request path.

    python bench/hotpath_inproc.py                      # small plain requests, this checkout
    python bench/hotpath_inproc.py --stream             # streamed (5 chunks, no pacing)
    python bench/hotpath_inproc.py --words 100000       # a ~500 KB body (100k tokens)
    python bench/hotpath_inproc.py --agent              # a ~470 KB agent history (900 messages, tool calls, code)
    python bench/hotpath_inproc.py --words 100000 -c 1  # one request at a time (scenario 1's shape)
    python bench/hotpath_inproc.py --agent --anthropic --stream -c 1   # Claude Code's request, on an OpenAI model
    python bench/hotpath_inproc.py --src /tmp/base/src  # alternate with another checkout's src, 3 rounds each
    python bench/hotpath_inproc.py --vkeys 10000 -c 1   # 10,000 virtual keys in rotation, after each one's first
                                                        # use (scenario 5's shape); --vkeys 1: one virtual key

Each run is a fresh process (an alternate checkout is put first on PYTHONPATH); the fake upstream's CPU is not
counted.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

from accordbench import inproc  # bench/ is first on sys.path when a script here runs
from accordbench.scenarios.common import agent_messages, as_anthropic


async def make_keys(app, n: int) -> list[str]:
    """`n` virtual keys (no limits, as scenario 5 makes them), written to the store in one transaction: the
    API's one-by-one creation would take most of the run at 10,000."""
    from accord.store.keys import PREFIX, hash_key, new_key
    from accord.store.models import VirtualKey

    keys = [new_key() for _ in range(n)]
    rows = [VirtualKey(id=uuid.uuid4().hex, name=f"flood-{i}", key_hash=hash_key(k), key_prefix=k[:len(PREFIX) + 4])
            for i, k in enumerate(keys)]
    async with app.state.store.db.session() as s, s.begin():
        s.add_all(rows)
    return keys


def child(cfg: str, n: int, stream: bool, words: int, profile: str = "", agent: bool = False,
          concurrency: int = 64, log_level: str = "", vkeys: int = 0, anthropic: bool = False) -> None:
    import orjson

    from accord.config import load
    try:
        from accord.app import create_app
    except ImportError:  # a checkout from before the app moved out of the gateway
        from accord.gateway import create_app  # type: ignore[attr-defined,no-redef]
    from accord.gateway.gcpolicy import tune_for_serving

    if log_level:  # as `accord serve` sets it up: one access-log line per request on stderr at info
        from accord import logs

        logs.setup(log_level)
    app = create_app(load(cfg))
    tune_for_serving()
    content = " ".join(["word"] * words) if words else "hi"
    messages = agent_messages() if agent else [{"role": "user", "content": content}]
    path = "/v1/chat/completions"
    if anthropic:  # as Claude Code sends it; model `m` speaks OpenAI, so Accord translates both ways
        system, turns = as_anthropic(messages)
        body = orjson.dumps({"model": "m", "max_tokens": 1024, "messages": turns,
                             **({"system": system} if system else {}), **({"stream": True} if stream else {})})
        path = "/v1/messages"
    else:
        body = orjson.dumps({"model": "m", "messages": messages, **({"stream": True} if stream else {})})
    headers = [inproc.chat_headers(body)]  # one set per key in rotation (the master key's without --vkeys)
    turn = 0

    async def one() -> int:
        nonlocal turn
        status: list[int] = []

        async def send(m: dict) -> None:
            if m["type"] == "http.response.start":
                status.append(m["status"])

        turn += 1
        await inproc.post_chat(app, headers[turn % len(headers)], body, send, path)
        return status[0]

    async def main() -> None:
        async with app.router.lifespan_context(app):
            await app.state.store.wait(60)  # the store opens in the background: not part of what is measured
            if vkeys:
                headers[:] = [[(k, f"Bearer {key}".encode() if k == b"authorization" else v) for k, v in headers[0]]
                              for key in await make_keys(app, vkeys)]
                for _ in range(vkeys):  # each key's first use, in rotation: what is measured is every use after
                    assert await one() == 200

            async def worker(k: int) -> None:
                for _ in range(k):
                    s = await one()
                    assert s == 200, s

            c = concurrency
            await asyncio.gather(*(worker(max(1, 2000 // 64)) for _ in range(c)))  # warm-up
            prof = None
            if profile:
                import cProfile

                prof = cProfile.Profile()
                prof.enable()
            t0, c0 = time.perf_counter(), time.process_time()
            await asyncio.gather(*(worker(n // c) for _ in range(c)))
            t1, c1 = time.perf_counter(), time.process_time()
            if prof is not None:
                prof.disable()
                prof.dump_stats(profile)
            done = (n // c) * c
            print(f"{(c1 - c0) / done * 1e6:.1f} us CPU/request, {done / (t1 - t0):,.0f} req/s wall", flush=True)

    inproc.run(main)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--words", type=int, default=0, help="words in the message (0: 'hi')")
    ap.add_argument("--agent", action="store_true", help="a ~470 KB coding agent's history instead of --words")
    ap.add_argument("--anthropic", action="store_true", help="POST /v1/messages as Claude Code sends it (the same "
                    "history in Anthropic's shape), translated to the OpenAI upstream and back")
    ap.add_argument("-c", type=int, default=64, help="requests at a time")
    ap.add_argument("-n", type=int, default=6400, help="requests per run")
    ap.add_argument("--src", action="append", default=[], help="another checkout's src to alternate with")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--profile", default="", help="write a cProfile of this checkout's measured run to this file")
    ap.add_argument("--log-level", default="", help="set logging up as `accord serve --log-level` does (info: with "
                    "the access log; stderr goes to a pipe this process reads, as a service manager's would)")
    ap.add_argument("--vkeys", type=int, default=0, help="use this many virtual keys in rotation, each after its "
                    "first use (0: the master key)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child, a.n, a.stream, a.words, a.profile, a.agent, a.c, a.log_level, a.vkeys, a.anthropic)
        return
    from accordbench.targets import clean_env, fake_upstream

    clean_env()
    work = Path(tempfile.mkdtemp(prefix="accord-inproc-"))
    up = fake_upstream(work, chunks=5, pace_ms=0)
    up.start()
    cfg = inproc.write_config(work, up.url)

    def measure(env: dict[str, str], src: str) -> str:
        argv = [__file__, "--child", str(cfg), "-n", str(a.n), "--words", str(a.words), "-c", str(a.c),
                *(["--agent"] if a.agent else []), *(["--stream"] if a.stream else []),
                *(["--anthropic"] if a.anthropic else []),
                *(["--profile", a.profile] if a.profile and not src else []),
                *(["--log-level", a.log_level] if a.log_level else []),
                *(["--vkeys", str(a.vkeys)] if a.vkeys else [])]
        return inproc.child_run(argv, env)

    try:
        inproc.alternate(a.rounds, a.src, measure)
    finally:
        up.stop()


if __name__ == "__main__":
    main()
