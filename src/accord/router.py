"""Which deployment serves a request: groups by model name and alias, balancing, retries, fallbacks, cooldowns.

The gateway, the consensus engine and the MCP tools all call models through a Router, so every caller gets
the same reliability for free.
"""

from __future__ import annotations

import asyncio
import difflib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from . import providers
from .config import Config, Deployment
from .errors import AccordError, NotFound, UpstreamError
from .providers.base import Call
from .providers.http import Pools

T = TypeVar("T")
FAIL_WINDOW = 60.0  # seconds in which `allowed_fails` failures put a deployment in cooldown


@dataclass
class DeploymentState:
    """Live health of one deployment (shown by /health and the dashboard)."""

    in_flight: int = 0
    fails: list[float] = field(default_factory=list)
    cooldown_until: float = 0.0
    last_error: str | None = None
    latency: float | None = None  # moving average of seconds per successful call
    successes: int = 0
    failures: int = 0

    def cooling(self, now: float) -> bool:
        return self.cooldown_until > now


class Router:
    def __init__(self, cfg: Config, pools: Pools | None = None) -> None:
        self.cfg = cfg
        self.settings = cfg.settings
        self.pools = pools or Pools(cfg.settings)
        self.groups: dict[str, list[Deployment]] = {}
        self.aliases: dict[str, str] = {}
        for d in cfg.deployments:
            self.groups.setdefault(d.name, []).append(d)
        for d in cfg.deployments:
            for a in d.aliases:
                if a not in self.groups:
                    self.aliases.setdefault(a, d.name)
        self.state: dict[str, DeploymentState] = {d.id: DeploymentState() for d in cfg.deployments}

    # ----------------------------------------------------------------------------------------- lookup
    def names(self) -> list[str]:
        return list(self.groups)

    def canonical(self, name: str) -> str:
        """The model name `name` refers to (itself, or the model an alias points at)."""
        if name in self.groups:
            return name
        if name in self.aliases:
            return self.aliases[name]
        low = name.lower()
        for n in self.groups:
            if n.lower() == low:
                return n
        for a, n in self.aliases.items():
            if a.lower() == low:
                return n
        choices = [*self.groups, *self.aliases]
        close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        if not choices:
            hint = "; no models are configured: add one to accord.yaml or set a provider key (accord init)"
        raise NotFound(f"model `{name}` is not served here{hint}", param="model")

    def group(self, name: str) -> list[Deployment]:
        return self.groups[self.canonical(name)]

    def info(self, name: str):
        return self.group(name)[0].info

    # ----------------------------------------------------------------------------------------- calling
    async def complete(self, name: str, body: dict) -> tuple[dict, Call]:
        async def attempt(dep: Deployment, call: Call) -> dict:
            return await providers.get(dep.adapter).complete(dep, dict(body), call, self.pools)

        return await self._run(name, attempt)

    async def stream(self, name: str, body: dict) -> tuple[AsyncIterator[bytes], Call]:
        """Open a stream and wait for its first chunk, so failures up to the first byte can still be retried
        (and reported with a proper status); after that nothing is retried."""

        async def attempt(dep: Deployment, call: Call) -> AsyncIterator[bytes]:
            it = await providers.get(dep.adapter).stream(dep, dict(body), call, self.pools)
            try:
                first = await it.__anext__()
            except StopAsyncIteration:
                raise UpstreamError(f"{dep.id} sent an empty stream") from None
            return _prepend(first, it)

        return await self._run(name, attempt)

    async def embed(self, name: str, body: dict) -> tuple[dict, Call]:
        async def attempt(dep: Deployment, call: Call) -> dict:
            return await providers.get(dep.adapter).embed(dep, dict(body), call, self.pools)

        return await self._run(name, attempt)

    async def _run(self, name: str, attempt: Callable[[Deployment, Call], Awaitable[T]]) -> tuple[T, Call]:
        primary = self.canonical(name)
        chain = [primary] + [m for m in self._fallbacks(primary) if m != primary]
        attempts = 0
        last: AccordError | None = None
        for model in chain:
            group = self.groups[model]
            tried: set[str] = set()
            retries = self.settings.num_retries
            for _ in range(retries + 1):
                dep = self._pick(group, tried)
                tried.add(dep.id)
                attempts += 1
                call = Call(dep)
                st = self.state[dep.id]
                st.in_flight += 1
                try:
                    result = await attempt(dep, call)
                except AccordError as e:
                    self._failed(dep, e)
                    last = e
                    if not getattr(e, "retryable", False):
                        if getattr(e, "code", None) == "context_length_exceeded":
                            break  # a larger model in the fallbacks may take it
                        raise
                    await self._backoff(e, dep, group, tried)
                    continue
                finally:
                    st.in_flight -= 1
                self._succeeded(dep, call)
                call.attempts = attempts
                return result, call
        assert last is not None
        raise last

    def _fallbacks(self, model: str) -> list[str]:
        s = self.settings
        out = list(s.fallbacks.get(model, ())) + list(s.context_window_fallbacks.get(model, ()))
        out += list(s.default_fallbacks)
        resolved = []
        for m in out:
            try:
                resolved.append(self.canonical(m))
            except NotFound:
                continue
        return resolved

    def _pick(self, group: list[Deployment], tried: set[str]) -> Deployment:
        if len(group) == 1:
            return group[0]
        now = time.monotonic()
        fresh = [d for d in group if d.id not in tried] or group
        ready = [d for d in fresh if not self.state[d.id].cooling(now)] or fresh
        strategy = self.settings.routing_strategy
        if strategy == "least-busy":
            return min(ready, key=lambda d: self.state[d.id].in_flight)
        if strategy == "latency-based-routing":
            return min(ready, key=lambda d: self.state[d.id].latency or 0.0)
        if strategy == "cost-based-routing":
            return min(ready, key=lambda d: d.info.input_price + d.info.output_price)
        ordered = [d for d in ready if d.order is not None]
        if ordered:
            low = min(d.order for d in ordered)  # type: ignore[type-var]
            ready = [d for d in ordered if d.order == low]
        weights = [d.weight if d.weight != 1.0 else float(d.rpm or d.tpm or 1.0) for d in ready]
        return random.choices(ready, weights=weights)[0]

    async def _backoff(self, e: AccordError, dep: Deployment, group: list[Deployment], tried: set[str]) -> None:
        """Wait before retrying: honour Retry-After; jittered exponential when the same deployment is next."""
        ra = getattr(e, "retry_after", None)
        if ra is not None:
            await asyncio.sleep(min(ra, 10.0))
        elif all(d.id in tried for d in group):
            await asyncio.sleep(random.uniform(0.05, 0.25) * min(len(tried), 4))

    def _failed(self, dep: Deployment, e: AccordError) -> None:
        st = self.state[dep.id]
        now = time.monotonic()
        st.failures += 1
        st.last_error = e.message[:300]
        if not getattr(e, "retryable", False):
            return  # the request was bad, not the deployment
        st.fails = [t for t in st.fails if now - t < FAIL_WINDOW] + [now]
        if len(st.fails) >= self.settings.allowed_fails and self.settings.cooldown_time > 0:
            st.cooldown_until = now + self.settings.cooldown_time
            st.fails.clear()

    def _succeeded(self, dep: Deployment, call: Call) -> None:
        st = self.state[dep.id]
        st.successes += 1
        took = time.perf_counter() - call.started
        st.latency = took if st.latency is None else 0.8 * st.latency + 0.2 * took

    async def close(self) -> None:
        await self.pools.close()


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    try:
        yield first
        async for item in rest:
            yield item
    finally:
        await rest.aclose()  # type: ignore[attr-defined]  # a client gone mid-stream closes the upstream now
