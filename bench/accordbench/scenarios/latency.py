"""Scenarios 1 (large contexts), 5 (key flood) and 6 (failover): latency at c = 1, each beside direct's."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import orjson

from .. import targets
from ..loadgen import _Conn, _connect, request_bytes
from ..procs import free_port
from .clients import sequential, split, summary
from .common import CHAT, HOST, Gateway, chat_body, gateway


def _measure(gw: Gateway, model: str, body: bytes, seconds: float) -> dict[str, Any]:
    req = gw.request(CHAT, model, body)
    asyncio.run(sequential(gw.port, [req], count=3))  # warm-up: connections, caches
    ok, errors = split(asyncio.run(sequential(gw.port, [req], duration=seconds)))
    return summary(ok, errors)


def contexts(gateways: list[Gateway], sizes: tuple[int, ...], seconds: float) -> dict[str, Any]:
    """Scenario 1: one request at a time with a `tokens`-token user message, per target."""
    out: dict[str, Any] = {"sizes": {}}
    for tokens in sizes:
        row: dict[str, Any] = {}
        for gw in gateways:
            body = chat_body(gw.model("m"), tokens)
            try:
                row[gw.name] = {**_measure(gw, "m", body, seconds), "body_kb": round(len(body) / 1000, 1)}
            except Exception as e:
                row[gw.name] = {"error": f"{type(e).__name__}: {e}"[:300]}
                continue
            print(f"bench: s1 {tokens:>7} tokens {gw.name:8} p50 {row[gw.name]['p50_ms']:.2f} ms "
                  f"p99 {row[gw.name]['p99_ms']:.2f} ms", flush=True)
        out["sizes"][str(tokens)] = row
    return out


def failover(gateways: list[Gateway], seconds: float) -> dict[str, Any]:
    """Scenario 6: model `fo`, whose first deployment answers 500 and second serves; direct asks the serving
    upstream once (the floor)."""
    out: dict[str, Any] = {}
    for gw in gateways:
        model = "m" if gw.name == "direct" else "fo"
        try:
            out[gw.name] = _measure(gw, model, chat_body(gw.model(model)), seconds)
        except Exception as e:
            out[gw.name] = {"error": f"{type(e).__name__}: {e}"[:300]}
            continue
        print(f"bench: s6 {gw.name:8} p50 {out[gw.name]['p50_ms']:.2f} ms p99 {out[gw.name]['p99_ms']:.2f} ms "
              f"errors {out[gw.name]['errors']}", flush=True)
    return out


# ---------------------------------------------------------------------------------------------- key flood
class Postgres:
    """A throwaway PostgreSQL cluster on a free port (as `postgres` when run as root, which it refuses);
    the same recipe as tests/servers.py, without pytest."""

    def __init__(self) -> None:
        def find(binary: str) -> str | None:
            return shutil.which(binary) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{binary}"),
                                                                reverse=True)), None)

        self.initdb, self.pg_ctl, self.psql = find("initdb"), find("pg_ctl"), find("psql")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="accord-bench-pg-"))
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]

    @property
    def available(self) -> bool:
        return None not in (self.initdb, self.pg_ctl, self.psql)

    @property
    def url(self) -> str:
        return f"postgresql://accord@127.0.0.1:{self.port}/accord"

    def start(self) -> None:
        assert self.initdb and self.pg_ctl and self.psql
        data = self.dir / "data"
        run = [*self.as_user]
        subprocess.run([*run, self.initdb, "-D", str(data), "-U", "accord", "--auth=trust", "-E", "UTF8",
                        "--no-sync"], check=True, capture_output=True, timeout=120)
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run([*run, self.pg_ctl, "-D", str(data), "-o", opts, "-l", str(self.dir / "log"), "-w", "start"],
                       check=True, capture_output=True, timeout=120)
        subprocess.run([self.psql, "-h", HOST, "-p", str(self.port), "-U", "accord", "-d", "postgres", "-c",
                        "CREATE DATABASE accord"], check=True, capture_output=True, timeout=60)

    def stop(self) -> None:
        if self.pg_ctl:
            with contextlib.suppress(subprocess.SubprocessError):
                subprocess.run([*self.as_user, self.pg_ctl, "-D", str(self.dir / "data"), "-m", "immediate", "stop"],
                               capture_output=True, timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)


async def create_keys(port: int, n: int, concurrency: int = 8) -> list[str]:
    """`n` virtual keys through the admin API (POST /key/generate), as a user's script would make them."""
    keys: list[str] = []
    todo = iter(range(n))

    async def worker() -> None:
        conn: _Conn | None = None
        for i in todo:
            if conn is None or not conn.keep_alive:
                conn = await _connect(HOST, port, True)
            body = orjson.dumps({"key_alias": f"flood-{i}"})
            ex = await conn.send(request_bytes(HOST, port, "/key/generate", body, targets.MASTER_KEY))
            if ex.status != 200:
                raise RuntimeError(f"/key/generate answered {ex.status}: {bytes(ex.body)[:300]!r}")
            keys.append(orjson.loads(bytes(ex.body))["key"])
        if conn is not None and conn.transport is not None:
            conn.transport.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return keys


def key_flood(work: Path, url: str, fake: Any, models: dict[str, str], direct: Gateway, n_keys: int,
              seconds: float, backends: tuple[str, ...] = ("sqlite", "postgresql")) -> dict[str, Any]:
    """Scenario 5: `n_keys` virtual keys, each used once in rotation (first use), then again (after first use).
    Accord only: LiteLLM's keys need its Prisma + PostgreSQL set-up, Portkey's open-source gateway has none."""
    import time

    body = chat_body("m")
    out: dict[str, Any] = {"direct": _measure(direct, "m", chat_body(direct.model("m")), seconds), "keys": n_keys}
    for backend in backends:
        pg = Postgres() if backend == "postgresql" else None
        if pg is not None and not pg.available:
            out[f"accord-{backend}"] = {"error": "PostgreSQL binaries (initdb, pg_ctl, psql) not installed"}
            continue
        try:
            if pg is not None:
                pg.start()
            with gateway("accord", work, url, fake, models, database_url=pg.url if pg else None,
                         tag=f"accord-keys-{backend}") as gw:
                t0 = time.perf_counter()
                keys = asyncio.run(create_keys(gw.port, n_keys))
                made = time.perf_counter() - t0
                reqs = [request_bytes(HOST, gw.port, CHAT, body, k) for k in keys]
                first_ok, first_err = split(asyncio.run(sequential(gw.port, reqs, count=len(reqs))))
                count = max(len(reqs), 1)
                again = asyncio.run(sequential(gw.port, reqs, duration=seconds))
                if len(again) < count:  # at least one more use of every key when the duration allows fewer
                    again += asyncio.run(sequential(gw.port, reqs[len(again):], count=count - len(again)))
                again_ok, again_err = split(again)
                out[f"accord-{backend}"] = {"first_use": summary(first_ok, first_err),
                                            "after_first_use": summary(again_ok, again_err),
                                            "create_keys_s": round(made, 1)}
                print(f"bench: s5 accord/{backend}: {n_keys} keys made in {made:.1f} s; first use p50 "
                      f"{out[f'accord-{backend}']['first_use']['p50_ms']:.2f} ms, after p50 "
                      f"{out[f'accord-{backend}']['after_first_use']['p50_ms']:.2f} ms", flush=True)
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            out[f"accord-{backend}"] = {"error": str(e)[:400]}
        finally:
            if pg is not None:
                pg.stop()
    return out
