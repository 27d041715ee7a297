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
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from . import metering, metrics, providers, tracing
from .config import Config, Deployment
from .errors import AccordError, BadRequest, NotFound, RateLimited, UpstreamError, UpstreamTimeout
from .providers import messages as anthropic_messages
from .providers.base import Call, Chunks, Usage
from .providers.http import Pools
from .providers.openai_compat import drop_client_messages

_timeout = getattr(asyncio, "timeout", None)  # Python 3.11+

T = TypeVar("T")
Allow = Callable[[str], bool]  # which (canonical) model names a caller may use; None: every one
FAIL_WINDOW = 60.0  # seconds in which `allowed_fails` failures put a deployment in cooldown
LIMIT_WINDOW = 60.0  # rpm/tpm are counted over this sliding window
MAX_MODEL_NAME = 256  # characters; no real name comes close, and a longer one would be stored in usage rows


def check_model_name(name: str, param: str = "model") -> str:
    """A model name a client sent, refused before it is looked up, stored or compared with fuzzy matching."""
    if len(name) > MAX_MODEL_NAME:
        raise BadRequest(f"model name is {len(name)} characters long; names are at most {MAX_MODEL_NAME}: "
                         "use one of the names GET /v1/models lists", param=param, code="model_name_too_long")
    return name


SORTS = ("price", "latency", "throughput")  # route.sort: how one request orders a group's deployments


@dataclass(frozen=True)
class Plan:
    """One request's own routing (OpenRouter's request fields): models to fall back to, in order, before the
    configured fallbacks (`models`), and how to choose among a group's deployments (`route.sort`)."""

    fallbacks: tuple[str, ...] = ()
    sort: str | None = None


@dataclass
class DeploymentState:
    """Live health of one deployment (shown by /health and the dashboard)."""

    in_flight: int = 0
    fails: deque[float] = field(default_factory=deque)  # the latest failures (at most allowed_fails), oldest first
    cooldown_until: float = 0.0
    last_error: str | None = None
    latency: float | None = None  # moving average of seconds per successful call
    throughput: float | None = None  # moving average of output tokens per second once the answer began
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
        tracing.configure()  # every entry point makes a router: each traces when OTEL_* (or a host) says so

    # ----------------------------------------------------------------------------------------- lookup
    def names(self) -> list[str]:
        return list(self.groups)

    def lookup(self, name: str) -> str | None:
        """The model name `name` refers to (itself, or the model an alias points at), or None."""
        check_model_name(name)
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
        return None

    def canonical(self, name: str, allow: Allow | None = None) -> str:
        """The model `name` refers to. A model `allow` refuses is answered exactly as an unknown one, and only
        allowed names are suggested: a caller must not learn of models it may not use."""
        found = self.lookup(name)
        if found is not None and (allow is None or allow(found)):
            return found
        choices = [n for n in self.groups if allow is None or allow(n)]
        choices += [a for a, n in self.aliases.items() if allow is None or allow(n)]
        close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        if not choices:
            hint = ("; no models are configured: add one to accord.yaml or set a provider key (accord init)"
                    if allow is None else "; this caller may use none of the models served here")
        raise NotFound(f"model `{name}` is not served here{hint}", param="model")

    def allow_only(self, names: Iterable[str]) -> Allow:
        """An `allow` for an allow-list as written (model names or aliases, any case): a name that is not
        served allows nothing."""
        allowed = frozenset(m for m in map(self.lookup, names) if m is not None)
        return allowed.__contains__

    def group(self, name: str) -> list[Deployment]:
        return self.groups[self.canonical(name)]

    def info(self, name: str):
        return self.group(name)[0].info

    # ----------------------------------------------------------------------------------------- calling
    # A call made on someone's behalf passes `allow` (e.g. a virtual key's allow-list): every deployment
    # actually called -- the model asked for, its fallbacks of every kind -- must be one it allows.
    async def complete(self, name: str, body: dict, allow: Allow | None = None,
                       plan: Plan | None = None) -> tuple[dict, Call]:
        async def attempt(dep: Deployment, call: Call) -> dict:
            return await providers.get(dep.adapter).complete(dep, dict(body), call, self.pools)

        return await self._run(name, attempt, allow, plan)

    async def stream(self, name: str, body: dict, allow: Allow | None = None,
                     plan: Plan | None = None) -> tuple[Chunks, Call]:
        """Open a stream and wait for its first chunk, so failures up to the first byte can still be retried
        (and reported with a proper status); after that nothing is retried."""

        async def open_(dep: Deployment, call: Call) -> Chunks:
            return await providers.get(dep.adapter).stream(dep, dict(body), call, self.pools)

        return await self._stream(name, open_, allow, plan)

    # Anthropic Messages (POST /v1/messages): passed through to deployments that speak it, translated for the
    # rest, per deployment, so fallbacks across both kinds work (providers/messages.py)
    async def messages(self, name: str, body: dict, allow: Allow | None = None, plan: Plan | None = None,
                       headers: dict[str, str] | None = None) -> tuple[bytes, Call]:
        async def attempt(dep: Deployment, call: Call) -> bytes:
            return await anthropic_messages.complete(dep, body, call, self.pools, headers or {})

        return await self._run(name, attempt, allow, plan)

    async def messages_stream(self, name: str, body: dict, allow: Allow | None = None, plan: Plan | None = None,
                              headers: dict[str, str] | None = None) -> tuple[Chunks, Call]:
        async def open_(dep: Deployment, call: Call) -> Chunks:
            return await anthropic_messages.stream(dep, body, call, self.pools, headers or {})

        return await self._stream(name, open_, allow, plan)

    async def _stream(self, name: str,
                      open_: Callable[[Deployment, Call], Awaitable[Chunks]],
                      allow: Allow | None, plan: Plan | None) -> tuple[Chunks, Call]:
        async def attempt(dep: Deployment, call: Call) -> Chunks:
            ttft = dep.stream_timeout or self.settings.first_token_timeout
            call.stream = True  # finished (and recorded) when the stream ends, not when it opens

            async def first_chunk() -> Chunks:
                it = await open_(dep, call)
                try:
                    first = await it.__anext__()
                except StopAsyncIteration:
                    raise UpstreamError(f"{dep.id} sent an empty stream") from None
                except BaseException:
                    await it.aclose()
                    raise
                tracing.first_chunk(call, first)
                return _prepend(first, it, call, self._finished)

            try:
                if _timeout is None:  # Python 3.10
                    return await asyncio.wait_for(first_chunk(), ttft)
                async with _timeout(ttft):  # in this task: wait_for made a task per stream before 3.12
                    return await first_chunk()
            except asyncio.TimeoutError:
                raise UpstreamTimeout(f"{dep.vendor.label or dep.vendor.name} ({dep.id}) sent no first token "
                                      f"within {ttft:g} s") from None

        opened = await self._run(name, attempt, allow, plan)
        drop_client_messages()  # the stream holds nothing of the request (see _prepend)
        return opened

    async def embed(self, name: str, body: dict, allow: Allow | None = None,
                    plan: Plan | None = None) -> tuple[dict, Call]:
        async def attempt(dep: Deployment, call: Call) -> dict:
            return await providers.get(dep.adapter).embed(dep, dict(body), call, self.pools)

        return await self._run(name, attempt, allow, plan)

    async def _run(self, name: str, attempt: Callable[[Deployment, Call], Awaitable[T]],
                   allow: Allow | None = None, plan: Plan | None = None) -> tuple[T, Call]:
        """Try the model's group with retries; then the request's own fallbacks (`plan`), in order; then the
        configured fallbacks (context-window ones only for a context error), each with retries of their own.
        Configured fallbacks `allow` refuses are skipped, never called; a request's own must all be allowed."""
        primary = self.canonical(name, allow)
        attempt = tracing.attempts(attempt)  # a span per attempt when tracing is on; else attempt itself
        queue, seen, tried_models, skipped = [primary], {primary}, [], False
        for m in (plan.fallbacks if plan else ()):
            if (m := self.canonical(m, allow)) not in seen:
                seen.add(m)
                queue.append(m)
        sort = plan.sort if plan else None
        attempts = 0
        last: AccordError | None = None
        while queue:
            model = queue.pop(0)
            if model != primary:
                metrics.fallback(primary, model)
            tried_models.append(model)
            group = self.groups[model]
            tried: set[str] = set()
            retries = group[0].max_retries if group[0].max_retries is not None else self.settings.num_retries
            for n in range(retries + 1):
                dep = self._pick(group, tried, sort)
                if dep is None:  # every deployment is at its rpm/tpm limit
                    last = self._limit_error(model, group)
                    break
                tried.add(dep.id)
                if n:
                    metrics.retry(model)
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
                    if not e.retryable:
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
            last.attempts = attempts
            context = last.code == "context_length_exceeded"
            if not last.retryable and not context:
                raise last  # the request itself is wrong: another model will not help
            for m in self._fallbacks(model, context):
                if m in seen:
                    continue
                seen.add(m)
                if allow is not None and not allow(m):
                    skipped = True
                    continue
                queue.append(m)
        assert last is not None
        if skipped:  # say so without naming what was skipped: the caller must not learn of those models
            last.message = (f"{last.message} (every model this caller may use failed: "
                            f"{', '.join(f'`{m}`' for m in tried_models)})")
        raise last

    def reachable(self, name: str, allow: Allow | None = None,
                  overflows: Callable[[str], bool] | None = None, plan: Plan | None = None) -> list[str]:
        """Every model a call to `name` may end up at (itself, the request's own fallbacks and every configured
        fallback, transitively): what a budget reservation must be able to pay for. `overflows(model)`: whether
        the request can be too long for that model, i.e. whether its context-window fallbacks count (None:
        always)."""
        out, queue = [], [self.canonical(m, allow) for m in (name, *(plan.fallbacks if plan else ()))]
        while queue:
            m = queue.pop(0)
            if m in out:
                continue
            out.append(m)
            context = self._fallbacks(m, True) if overflows is None or overflows(m) else []
            queue += [f for f in (*self._fallbacks(m, False), *context)
                      if f not in out and (allow is None or allow(f))]
        return out

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
        return [m for m in map(self.lookup, names) if m is not None]

    def _pick(self, group: list[Deployment], tried: set[str], sort: str | None = None) -> Deployment | None:
        now = time.monotonic()
        open_ = [d for d in group if self._under_limits(d, now)]
        if not open_:
            return None
        if len(open_) == 1:
            return open_[0]
        fresh = [d for d in open_ if d.id not in tried] or open_
        ready = [d for d in fresh if not self.state[d.id].cooling(now)] or fresh
        strategy = {"price": "cost-based-routing", "latency": "latency-based-routing",
                    "throughput": "throughput"}.get(sort or "", self.settings.routing_strategy)
        if strategy == "least-busy":
            return _least(ready, lambda d: self.state[d.id].in_flight)
        if strategy == "latency-based-routing":  # untried deployments (no latency yet) go first
            return _least(ready, lambda d: self.state[d.id].latency or 0.0)
        if strategy == "throughput":  # the most tokens a second; untried deployments (none measured) first
            return _least(ready, lambda d: -(self.state[d.id].throughput or float("inf")))
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
        ra = e.retry_after
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
        metrics.attempt(dep, e.type)
        st.last_error = e.message[:300]
        st.last_error_at = time.time()
        if not e.retryable:
            return  # the request was bad, not the deployment
        # only the last `allowed_fails` failures can decide a cooldown: keeping no more makes a failover O(1),
        # where a list of every failure in the window grew by one per request while cooldowns were off
        st.fails.append(now)
        while st.fails and (now - st.fails[0] >= FAIL_WINDOW or len(st.fails) > self.settings.allowed_fails):
            st.fails.popleft()
        if len(st.fails) >= self.settings.allowed_fails and self.settings.cooldown_time > 0:
            st.cooldown_until = now + self.settings.cooldown_time
            st.fails.clear()
            metrics.cooldown(dep)

    def _succeeded(self, dep: Deployment, call: Call) -> None:
        st = self.state[dep.id]
        st.successes += 1
        metrics.attempt(dep, "ok")
        st.fails.clear()
        took = time.perf_counter() - call.started
        st.latency = took if st.latency is None else 0.8 * st.latency + 0.2 * took

    def _finished(self, call: Call) -> None:
        """An attempt is over (answered, failed, cancelled; a stream at its end or cut off): count its tokens,
        tell the listeners (the usage recorder among them)."""
        st = self.state[call.deployment.id]
        if call.deployment.tpm is not None and call.usage is not None:
            st.tokens.append((time.monotonic(), call.usage.total_tokens))
        if call.status < 400 and call.usage is not None and call.usage.completion_tokens > 0:
            took = time.perf_counter() - (call.first_byte or call.started)
            if took > 0:
                tps = call.usage.completion_tokens / took
                st.throughput = tps if st.throughput is None else 0.8 * st.throughput + 0.2 * tps
        tracing.finished(call)
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


async def _prepend(first: bytes, rest: Chunks, call: Call, done: Callable[[Call], None]) -> Chunks:
    """The stream with its first chunk put back; `done(call)` when it ends, with how it ended on the call. It
    holds no request: a stream may stay open for minutes, and an agent's request is ~0.5 MB at 100k tokens
    (the prompt's estimate, should the stream end before its usage, is the integer on the call)."""
    call.status, call.error_type = 499, "client_gone"  # unless it runs to its end or fails
    metrics.stream_opened()
    try:
        yield first
        async for item in rest:
            yield item
        if (call.status, call.error_type) == (499, "client_gone"):  # unless the stream said it failed (an
            call.status, call.error_type = 200, None                  # upstream's error event, passed through)
    except AccordError as e:
        call.status, call.error_type = e.status, e.type
        raise
    except Exception:
        call.status, call.error_type = 500, "internal_error"
        raise
    finally:
        try:
            await rest.aclose()  # a client gone mid-stream closes the upstream now
        finally:
            metrics.stream_closed()
            if call.usage is None and call.chunks:  # cut off before the usage chunk: what was sent still costs
                call.usage = Usage(call.prompt_estimate, call.chunks, estimated=True)
            done(call)
