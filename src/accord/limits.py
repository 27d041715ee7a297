"""Per-key rate limits (requests and tokens per minute), in fixed one-minute windows, and the Redis link they
share with budgets (store/ledger.py).

With `redis_url` the counters live in Redis, so a key's limit holds across every Accord instance; without it
they live in this process (each instance counts on its own). When Redis goes away the counters fall back to
the process, say so in the log and on /health, and go back to Redis when it answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

log = logging.getLogger("accord.limits")
WINDOW = 60
RETRY_REDIS_AFTER = 5.0


def _window(now: float) -> int:
    return int(now // WINDOW)


def reset_in(now: float) -> float:
    return WINDOW - (now % WINDOW)


class RedisLink:
    """One lazily opened Redis client shared by everything counted across instances (limits, budgets), and
    whether to use it: after a failure it is left alone for RETRY_REDIS_AFTER seconds, and callers count in the
    process meanwhile."""

    def __init__(self, url: str | None) -> None:
        self.url = url
        self._redis: Any = None
        self._down_at: float | None = None

    @property
    def backend(self) -> str:
        if not self.url:
            return "local"
        return "local (redis unavailable)" if self._down_at is not None else "redis"

    def client(self) -> Any:
        if self._redis is None:
            import redis.asyncio as aioredis

            if not self.url:
                raise RuntimeError("no redis_url is set: callers check usable() first")

            self._redis = aioredis.from_url(self.url, socket_timeout=0.5, socket_connect_timeout=0.5)
        return self._redis

    def usable(self) -> bool:
        if not self.url:
            return False
        return not (self._down_at is not None and time.monotonic() - self._down_at < RETRY_REDIS_AFTER)

    def failed(self, e: Exception) -> None:
        if self._down_at is None:
            log.warning("limits: redis unavailable (%s); counting per process until it is back",
                        e.__class__.__name__)
        self._down_at = time.monotonic()

    def ok(self) -> None:
        if self._down_at is not None:
            log.warning("limits: redis is back; limits are shared across instances again")
            self._down_at = None

    async def close(self) -> None:
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()
            self._redis = None


class Limits:
    def __init__(self, redis_url: str | None = None) -> None:
        self.redis = RedisLink(redis_url)
        self._local: dict[tuple[str, str, int], int] = {}
        self._background: set[asyncio.Task] = set()  # token counts on their way to Redis, referenced until done

    @property
    def backend(self) -> str:
        return self.redis.backend

    async def _add(self, key_id: str, counts: tuple[tuple[str, int], ...]) -> list[int]:
        """Add each (kind, amount) to the key's counter of this window; returns the new values. In Redis, one
        pipeline (one round trip) for all of them: a request waits for it before it is sent upstream."""
        w = _window(time.time())
        if self.redis.usable():
            try:
                pipe = self.redis.client().pipeline()
                for kind, by in counts:
                    name = f"accord:{kind}:{key_id}:{w}"
                    pipe.incrby(name, by)
                    pipe.expire(name, WINDOW * 2)
                values = await pipe.execute()
                self.redis.ok()
                return [int(v) for v in values[::2]]
            except Exception as e:  # any redis failure: fall back, never fail the request
                self.redis.failed(e)
        return [self._add_local(kind, key_id, w, by) for kind, by in counts]

    def _add_local(self, kind: str, key_id: str, w: int, by: int) -> int:
        k = (kind, key_id, w)
        self._local[k] = n = self._local.get(k, 0) + by
        if len(self._local) > 10_000:
            self._local = {kk: v for kk, v in self._local.items() if kk[2] >= w}
        return n

    async def hit(self, key_id: str, rpm: int | None, tpm: int | None) -> tuple[str, float] | None:
        """Count one request; returns (which limit, seconds until it resets) when over a limit."""
        counts = (*((("rpm", 1),) if rpm is not None else ()), *((("tpm", 0),) if tpm is not None else ()))
        if not counts:
            return None
        values = dict(zip((kind for kind, _ in counts), await self._add(key_id, counts), strict=True))
        if rpm is not None and values["rpm"] > rpm:
            return "rpm", reset_in(time.time())
        if tpm is not None and values["tpm"] >= tpm:
            return "tpm", reset_in(time.time())
        return None

    async def add_tokens(self, key_id: str, tokens: int) -> None:
        if tokens > 0:
            await self._add(key_id, (("tpm", tokens),))

    def count_tokens(self, key_id: str, tokens: int) -> None:
        """`tokens` spent by the key, counted without making the request wait: in the process at once (no task,
        no turn of the event loop), or sent to Redis in the background."""
        if tokens <= 0:
            return
        if not self.redis.usable():
            self._add_local("tpm", key_id, _window(time.time()), tokens)
            return
        task = asyncio.ensure_future(self.add_tokens(key_id, tokens))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        await self.redis.close()
