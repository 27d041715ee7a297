"""Which deployment serves a request: groups by model name and alias, balancing, retries, fallbacks, cooldowns.

The gateway, the consensus engine and the MCP tools all call models through a Router, so every caller gets
the same reliability for free.
"""

from __future__ import annotations

import asyncio
import difflib
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from . import metering, providers
from .config import Config, Deployment
from .errors import AccordError, NotFound, RateLimited, UpstreamError, UpstreamTimeout
from .providers.base import Call
from .providers.http import Pools

T = TypeVar("T")
FAIL_WINDOW = 60.0  # seconds in which `allowed_fails` failures put a deployment in cooldown
LIMIT_WINDOW = 60.0  # rpm/tpm are counted over this sliding window


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
    last_error_at: float | None = None  # wall-clock time
    requests: deque[float] = field(default_factory=deque)  # start times within the last minute (rpm)
    tokens: deque[tuple[float, int]] = field(default_factory=deque)  # (time, tokens) within the last minute

    def cooling(self, now: float) -> bool:
        return self.cooldown_until > now

    def trim(self, now: float) -> None:
        while self.requests and now - self.requests[0] >= LIMIT_WINDOW:
            self.requests.popleft()
        while self.tokens and now - self.tokens[0][0] >= LIMIT_WINDOW:
            self.tokens.popleft()

    def tokens_in_window(self, now: float) -> int:
        self.trim(now)
        return sum(n for _, n in self.tokens)


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
        self.listeners: list[Callable[[Call], None]] = []  # called with every finished call (usage, logs)

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
            ttft = dep.stream_timeout or self.settings.first_token_timeout
            call.stream = True  # finished (and recorded) when the stream ends, not when it opens

            async def first_chunk() -> AsyncIterator[bytes]:
                it = await providers.get(dep.adapter).stream(dep, dict(body), call, self.pools)
                try:
                    first = await it.__anext__()
                except StopAsyncIteration:
                    raise UpstreamError(f"{dep.id} sent an empty stream") from None
                except BaseException:
                    await it.aclose()  # type: ignore[attr-defined]
                    raise
                return _prepend(first, it, call, self._finished)

            try:
                return await asyncio.wait_for(first_chunk(), ttft)
            except asyncio.TimeoutError:
                raise UpstreamTimeout(f"{dep.vendor.label or dep.vendor.name} ({dep.id}) sent no first token "
                                      f"within {ttft:g} s") from None

        return await self._run(name, attempt)

    async def embed(self, name: str, body: dict) -> tuple[dict, Call]:
        async def attempt(dep: Deployment, call: Call) -> dict:
            return await providers.get(dep.adapter).embed(dep, dict(body), call, self.pools)

        return await self._run(name, attempt)

    async def _run(self, name: str, attempt: Callable[[Deployment, Call], Awaitable[T]]) -> tuple[T, Call]:
        """Try the model's group with retries; then its fallbacks (context-window ones only for a context
        error), each with retries of their own."""
        primary = self.canonical(name)
        queue, seen = [primary], {primary}
        attempts = 0
        last: AccordError | None = None
        while queue:
            model = queue.pop(0)
            group = self.groups[model]
            tried: set[str] = set()
            retries = group[0].max_retries if group[0].max_retries is not None else self.settings.num_retries
            for n in range(retries + 1):
                dep = self._pick(group, tried)
                if dep is None:  # every deployment is at its rpm/tpm limit
                    last = self._limit_error(model, group)
                    break
                tried.add(dep.id)
                attempts += 1
                call = Call(dep, origin=metering.current.get())
                st = self.state[dep.id]
                st.in_flight += 1
                if dep.rpm is not None:
                    st.requests.append(time.monotonic())
                try:
                    result = await attempt(dep, call)
                except AccordError as e:
                    self._failed(dep, e)
                    call.status, call.error_type = e.status, e.type
                    self._finished(call)
                    last = e
                    if not getattr(e, "retryable", False):
                        break
                    if n < retries and not await self._backoff(e, n, group, tried):
                        break  # the provider asked for a longer wait than we allow
                    continue
                except BaseException as e:  # cancelled (the caller's timeout, a client gone) or an adapter bug
                    cancelled = isinstance(e, asyncio.CancelledError)
                    call.status, call.error_type = (499, "cancelled") if cancelled else (500, "internal_error")
                    self._finished(call)
                    raise
                finally:
                    st.in_flight -= 1
                self._succeeded(dep, call)
                call.attempts = attempts
                if not call.stream:  # a stream's usage is known only when it ends
                    self._finished(call)
                return result, call
            assert last is not None
            context = getattr(last, "code", None) == "context_length_exceeded"
            if not getattr(last, "retryable", False) and not context:
                raise last  # the request itself is wrong: another model will not help
            for m in self._fallbacks(model, context):
                if m not in seen:
                    seen.add(m)
                    queue.append(m)
        assert last is not None
        raise last

    def _fallbacks(self, model: str, context: bool) -> list[str]:
        s = self.settings
        names = list(s.context_window_fallbacks.get(model, ())) if context else list(s.fallbacks.get(model, ()))
        if context and not names:
            # no list given: any model with a larger window, smallest first
            window = self.groups[model][0].info.context_window
            larger = [(g[0].info.context_window, n) for n, g in self.groups.items()
                      if g[0].info.context_window > window and g[0].info.mode == "chat"]
            names = [n for _, n in sorted(larger)]
        names += list(s.default_fallbacks)
        out = []
        for m in names:
            try:
                out.append(self.canonical(m))
            except NotFound:
                continue
        return out

    def _pick(self, group: list[Deployment], tried: set[str]) -> Deployment | None:
        now = time.monotonic()
        open_ = [d for d in group if self._under_limits(d, now)]
        if not open_:
            return None
        if len(open_) == 1:
            return open_[0]
        fresh = [d for d in open_ if d.id not in tried] or open_
        ready = [d for d in fresh if not self.state[d.id].cooling(now)] or fresh
        strategy = self.settings.routing_strategy
        if strategy == "least-busy":
            return _least(ready, lambda d: self.state[d.id].in_flight)
        if strategy == "latency-based-routing":  # untried deployments (no latency yet) go first
            return _least(ready, lambda d: self.state[d.id].latency or 0.0)
        if strategy == "cost-based-routing":
            return _least(ready, lambda d: d.info.input_price + d.info.output_price)
        if strategy == "usage-based-routing":
            return _least(ready, lambda d: self.state[d.id].tokens_in_window(now))
        if any(d.order is not None for d in ready):  # lowest order first; no order = after every ordered one
            low = min(_order(d) for d in ready)
            ready = [d for d in ready if _order(d) == low]
        weights = [d.weight if d.weight != 1.0 else float(d.rpm or d.tpm or 1.0) for d in ready]
        return random.choices(ready, weights=weights)[0]

    def _under_limits(self, dep: Deployment, now: float) -> bool:
        if dep.rpm is None and dep.tpm is None:
            return True
        st = self.state[dep.id]
        st.trim(now)
        if dep.rpm is not None and len(st.requests) >= dep.rpm:
            return False
        return not (dep.tpm is not None and st.tokens_in_window(now) >= dep.tpm)

    def _limit_error(self, model: str, group: list[Deployment]) -> RateLimited:
        now = time.monotonic()
        waits = []
        for d in group:
            st = self.state[d.id]
            oldest = min([*st.requests, *(t for t, _ in st.tokens)], default=now)
            waits.append(max(0.0, LIMIT_WINDOW - (now - oldest)))
        wait = min(waits, default=1.0)
        return RateLimited(f"every deployment of `{model}` is at its rpm/tpm limit; the limit resets in "
                           f"{wait:.0f} s", retry_after=wait, code="deployment_rate_limit")

    async def _backoff(self, e: AccordError, n: int, group: list[Deployment], tried: set[str]) -> bool:
        """Wait before the next attempt. Another untried deployment is tried at once; the same one again after
        the provider's Retry-After (up to retry_after_max) or a jittered exponential backoff."""
        s = self.settings
        if any(d.id not in tried for d in group):
            return True
        ra = getattr(e, "retry_after", None)
        if ra is not None:
            if ra > s.retry_after_max:
                return False
            await asyncio.sleep(ra)
            return True
        delay = min(s.retry_backoff * (2 ** n), s.retry_backoff_max)
        await asyncio.sleep(random.uniform(delay / 2, delay))
        return True

    def _failed(self, dep: Deployment, e: AccordError) -> None:
        st = self.state[dep.id]
        now = time.monotonic()
        st.failures += 1
        st.last_error = e.message[:300]
        st.last_error_at = time.time()
        if not getattr(e, "retryable", False):
            return  # the request was bad, not the deployment
        st.fails = [t for t in st.fails if now - t < FAIL_WINDOW] + [now]
        if len(st.fails) >= self.settings.allowed_fails and self.settings.cooldown_time > 0:
            st.cooldown_until = now + self.settings.cooldown_time
            st.fails.clear()

    def _succeeded(self, dep: Deployment, call: Call) -> None:
        st = self.state[dep.id]
        st.successes += 1
        st.fails.clear()
        took = time.perf_counter() - call.started
        st.latency = took if st.latency is None else 0.8 * st.latency + 0.2 * took

    def _finished(self, call: Call) -> None:
        """An attempt is over (answered, failed, cancelled; a stream at its end or cut off): count its tokens,
        tell the listeners (the usage recorder among them)."""
        if call.deployment.tpm is not None and call.usage is not None:
            self.state[call.deployment.id].tokens.append((time.monotonic(), call.usage.total_tokens))
        for listener in self.listeners:
            listener(call)

    async def close(self) -> None:
        await self.pools.close()


def _order(d: Deployment) -> float:
    return float("inf") if d.order is None else float(d.order)


def _least(items: list[Deployment], key: Callable[[Deployment], float]) -> Deployment:
    """The item with the lowest key; ties broken at random so equals share the load."""
    low = min(key(d) for d in items)
    return random.choice([d for d in items if key(d) == low])


async def _prepend(first: bytes, rest: AsyncIterator[bytes], call: Call,
                   done: Callable[[Call], None]) -> AsyncIterator[bytes]:
    """The stream with its first chunk put back; `done(call)` when it ends, with how it ended on the call."""
    call.status, call.error_type = 499, "client_gone"  # unless it runs to its end or fails
    try:
        yield first
        async for item in rest:
            yield item
        call.status, call.error_type = 200, None
    except AccordError as e:
        call.status, call.error_type = e.status, e.type
        raise
    except Exception:
        call.status, call.error_type = 500, "internal_error"
        raise
    finally:
        try:
            await rest.aclose()  # type: ignore[attr-defined]  # a client gone mid-stream closes the upstream now
        finally:
            done(call)
