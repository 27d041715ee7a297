"""CPU per request of the upstream HTTP client alone: pooled keep-alive POSTs, 64 at a time (`-c`), against the
fake upstream, one fresh process per variant and round (alternating), so the clients are compared in one run.

    python bench/upstream_clients.py [--stream] [-n 6400] [-c 64] [--rounds 3] [--variants aiohttp,aiohttp-lean,aiosonic]
    python bench/upstream_clients.py --variants aiohttp,pyreqwest,curl_cffi,rnet,httpr,floor --rounds 3   # round 5

Variants: `aiohttp` (as Accord's providers/http.py uses it: a headers dict, a ClientTimeout and a URL built
once), `aiohttp-lean` (the same session with a DummyCookieJar, the headers merged once into a CIMultiDict),
`aiohttp-direct` (`session._request` awaited directly, without `post`'s wrapper), `aiohttp-read` (a body of
known length taken in one `readexactly`, as providers/http.py's `read_body` does since round 3, instead of by
`iter_chunked`), `aiosonic` (its pooled HTTPClient, 1.3; not an Accord dependency: `pip install aiosonic`
into the venv first), and, plain only, the other async clients on PyPI that claim speed: `pyreqwest` (0.15, Rust
reqwest/hyper; Python >= 3.11), `curl_cffi` (0.17, libcurl's multi interface on the event loop), `rnet` (2.4,
Rust), `httpr` (0.7, Rust) -- none an Accord dependency: `pip install` each into the venv first. `floor` is no
candidate but the least a pooled HTTP/1.1 client can do on asyncio (a Protocol per connection, httptools parsing
the reply, the request's bytes built once): what any client's own work is measured against. Each reads the whole
body (plain) or iterates it by chunk (stream), as the gateway does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

from accordbench import inproc  # bench/ is first on sys.path when a script here runs


def child(variant: str, url: str, n: int, stream: bool, conc: int = 64) -> None:
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
        elif variant == "pyreqwest":
            from pyreqwest.client import ClientBuilder

            rq = await ClientBuilder().build().__aenter__()

            async def one() -> int:
                resp = await rq.post(url).body_bytes(body).headers(headers).build().send()
                await resp.bytes()
                return resp.status

            async def close() -> None:
                await rq.__aexit__(None, None, None)
        elif variant == "curl_cffi":
            from curl_cffi.requests import AsyncSession

            cs = AsyncSession(max_clients=conc)

            async def one() -> int:
                resp = await cs.post(url, data=body, headers=headers)
                return resp.status_code

            close = cs.close
        elif variant == "rnet":
            import rnet

            rc = rnet.Client()

            async def one() -> int:
                resp = await rc.post(url, body=body, headers=headers)
                await resp.bytes()
                return int(resp.status)

            async def close() -> None:
                pass
        elif variant == "httpr":
            import httpr

            hc = httpr.AsyncClient()

            async def one() -> int:
                resp = await hc.post(url, content=body, headers=headers)
                _ = resp.content
                return resp.status_code

            async def close() -> None:
                pass
        elif variant == "floor":
            one, close = _floor(url, body, headers)
        else:
            raise SystemExit(f"unknown variant {variant}")

        async def worker(k: int) -> None:
            for _ in range(k):
                s = await one()
                assert s == 200, s

        await asyncio.gather(*(worker(max(1, 2000 // conc)) for _ in range(conc)))  # warm-up: pools full
        prof = None
        if os.environ.get("CLIENTS_PROFILE"):
            import cProfile

            prof = cProfile.Profile()
            prof.enable()
        t0, c0, o0 = time.perf_counter(), time.process_time(), os.times()
        await asyncio.gather(*(worker(n // conc) for _ in range(conc)))
        if prof is not None:
            prof.disable()
            prof.dump_stats(f"{os.environ['CLIENTS_PROFILE']}.{variant}")
        t1, c1, o1 = time.perf_counter(), time.process_time(), os.times()
        done = (n // conc) * conc
        print(f"{(c1 - c0) / done * 1e6:.1f} us CPU/request (user {(o1.user - o0.user) / done * 1e6:.0f}, "
              f"system {(o1.system - o0.system) / done * 1e6:.0f}), {done / (t1 - t0):,.0f} req/s wall", flush=True)
        await close()

    inproc.run(main)


def _floor(url: str, body: bytes, headers: dict[str, str]) -> tuple[Callable[[], Awaitable[int]],
                                                                     Callable[[], Awaitable[None]]]:
    """The least a pooled keep-alive HTTP/1.1 client does on asyncio, plain replies only: no timeouts, no
    errors handled, no TLS -- a floor to read the candidates against, not something to ship."""
    import httptools

    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = (f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n{head}Content-Length: {len(body)}\r\n\r\n"
               ).encode() + body

    class Conn(asyncio.Protocol):
        def __init__(self) -> None:
            self.parser = httptools.HttpResponseParser(self)
            self.done: asyncio.Future[bytes] | None = None
            self.parts: list[bytes] = []
            self.transport: asyncio.Transport | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport  # type: ignore[assignment]

        def data_received(self, data: bytes) -> None:
            self.parser.feed_data(data)

        def on_body(self, data: bytes) -> None:
            self.parts.append(data)

        def on_message_complete(self) -> None:
            done, self.done = self.done, None
            if done is not None:
                done.set_result(b"".join(self.parts))
            self.parts = []

    idle: list[Conn] = []
    loop = asyncio.get_running_loop()

    async def one() -> int:
        conn = idle.pop() if idle else (await loop.create_connection(Conn, host, port))[1]
        conn.done = loop.create_future()
        assert conn.transport is not None
        conn.transport.write(request)
        await conn.done
        status = conn.parser.get_status_code()
        idle.append(conn)
        return status

    async def close() -> None:
        for c in idle:
            if c.transport is not None:
                c.transport.close()

    return one, close


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("-n", type=int, default=6400)
    ap.add_argument("-c", type=int, default=64, help="requests at a time")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--variants", default="aiohttp,aiohttp-lean,aiosonic")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child[0], a.child[1], a.n, a.stream, a.c)
        return
    from accordbench.targets import clean_env, fake_upstream

    clean_env()
    up = fake_upstream(Path(tempfile.mkdtemp(prefix="accord-clients-")), chunks=5, pace_ms=0)
    up.start()
    url = f"{up.url}/v1/chat/completions"
    try:
        for _ in range(a.rounds):
            for v in a.variants.split(","):
                argv = [sys.executable, __file__, "--child", v, url, "-n", str(a.n), "-c", str(a.c)]
                out = subprocess.run(argv + (["--stream"] if a.stream else []), capture_output=True, text=True)
                print(f"{v}: {inproc.last_line(out, 400)}", flush=True)
    finally:
        up.stop()


if __name__ == "__main__":
    main()
