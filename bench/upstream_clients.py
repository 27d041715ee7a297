"""CPU per request of the upstream HTTP client alone: pooled keep-alive POSTs, 64 at a time, against the fake
upstream, one fresh process per variant and round (alternating), so the clients are compared in one run.

    python bench/upstream_clients.py [--stream] [-n 6400] [--rounds 3] [--variants aiohttp,aiohttp-lean,aiosonic]

Variants: `aiohttp` (as Accord's providers/http.py uses it: a headers dict, a ClientTimeout and a URL built
once), `aiohttp-lean` (the same session with a DummyCookieJar, the headers merged once into a CIMultiDict),
`aiohttp-direct` (`session._request` awaited directly, without `post`'s wrapper), `aiohttp-read` (a body of
known length taken in one `readexactly`, as providers/http.py's `read_body` does since round 3, instead of by
`iter_chunked`), `aiosonic` (its pooled HTTPClient, 1.3; not an Accord dependency: `pip install aiosonic`
into the venv first). Each reads the whole body (plain) or iterates it
by chunk (stream), as the gateway does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from accordbench import inproc  # bench/ is first on sys.path when a script here runs


def child(variant: str, url: str, n: int, stream: bool) -> None:
    import orjson

    body = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}],
                         **({"stream": True} if stream else {})})
    headers = {"Authorization": "Bearer x", "Content-Type": "application/json"}

    async def main() -> None:
        if variant.startswith("aiohttp"):
            import aiohttp
            from multidict import CIMultiDict
            from yarl import URL

            lean = variant == "aiohttp-lean"
            direct = variant == "aiohttp-direct"
            whole = variant == "aiohttp-read"
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=30),
                auto_decompress=True, skip_auto_headers=("User-Agent",),
                timeout=aiohttp.ClientTimeout(total=None, connect=10),
                read_bufsize=2**16, max_field_size=2**16,
                **({"cookie_jar": aiohttp.DummyCookieJar()} if lean else {}))
            target = URL(url)
            timeout = aiohttp.ClientTimeout(total=600, connect=10)
            hdrs = CIMultiDict(headers) if lean else headers

            async def one() -> int:
                if direct:  # the coroutine under `post`'s context-manager wrapper (a private name)
                    resp = await session._request("POST", target, data=body, headers=hdrs, timeout=timeout)
                else:
                    resp = await session.post(target, data=body, headers=hdrs, timeout=timeout)
                if stream:
                    async for _ in resp.content.iter_any():
                        pass
                elif whole and resp.content_length is not None:  # a known length: one read of it
                    await resp.content.readexactly(resp.content_length)
                else:
                    async for _ in resp.content.iter_chunked(1 << 16):
                        pass
                resp.release()
                return resp.status

            close = session.close
        elif variant == "aiosonic":
            import aiosonic
            from aiosonic.connectors import TCPConnector
            from aiosonic.pools import PoolConfig
            from aiosonic.timeout import Timeouts

            client = aiosonic.HTTPClient(TCPConnector(
                pool_configs={":default": PoolConfig(size=64, max_conn_requests=None)},
                timeouts=Timeouts(sock_connect=10, sock_read=600, request_timeout=600)))

            async def one() -> int:
                resp = await client.post(url, data=body, headers=headers)
                if stream:
                    async for _ in resp.read_chunks():
                        pass
                else:
                    await resp.content()
                return resp.status_code

            async def close() -> None:
                await client.connector.cleanup()
        else:
            raise SystemExit(f"unknown variant {variant}")

        async def worker(k: int) -> None:
            for _ in range(k):
                s = await one()
                assert s == 200, s

        await asyncio.gather(*(worker(2000 // 64) for _ in range(64)))  # warm-up: pools full
        prof = None
        if os.environ.get("CLIENTS_PROFILE"):
            import cProfile

            prof = cProfile.Profile()
            prof.enable()
        t0, c0, o0 = time.perf_counter(), time.process_time(), os.times()
        await asyncio.gather(*(worker(n // 64) for _ in range(64)))
        if prof is not None:
            prof.disable()
            prof.dump_stats(f"{os.environ['CLIENTS_PROFILE']}.{variant}")
        t1, c1, o1 = time.perf_counter(), time.process_time(), os.times()
        done = (n // 64) * 64
        print(f"{(c1 - c0) / done * 1e6:.1f} us CPU/request (user {(o1.user - o0.user) / done * 1e6:.0f}, "
              f"system {(o1.system - o0.system) / done * 1e6:.0f}), {done / (t1 - t0):,.0f} req/s wall", flush=True)
        await close()

    inproc.run(main)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("-n", type=int, default=6400)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--variants", default="aiohttp,aiohttp-lean,aiosonic")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child[0], a.child[1], a.n, a.stream)
        return
    from accordbench.targets import clean_env, fake_upstream

    clean_env()
    up = fake_upstream(Path(tempfile.mkdtemp(prefix="accord-clients-")), chunks=5, pace_ms=0)
    up.start()
    url = f"{up.url}/v1/chat/completions"
    try:
        for _ in range(a.rounds):
            for v in a.variants.split(","):
                argv = [sys.executable, __file__, "--child", v, url, "-n", str(a.n)]
                out = subprocess.run(argv + (["--stream"] if a.stream else []), capture_output=True, text=True)
                print(f"{v}: {inproc.last_line(out, 400)}", flush=True)
    finally:
        up.stop()


if __name__ == "__main__":
    main()
