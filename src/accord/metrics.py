"""Prometheus metrics: what was served, how fast, at what cost, and how healthy the parts are.

Recorded at the places that already see each event, once per event: the gateway's usage row (a request),
the router's attempt, failure, cooldown and stream hooks, the consensus engine's finished run, the usage
writer's failed flush. Every hook is a module function that does nothing until `enable()` ran, so code paths
that never serve metrics (a CLI call) pay one global lookup. Label children are bound once per label set and
kept in a dict, so a hot-path record is a dict lookup and an add.

One registry per process. With several worker processes (`accord serve --workers N`) every worker writes to
prometheus_client's multiprocess files in a private directory `accord serve` makes (PROMETHEUS_MULTIPROC_DIR),
and a scrape of any worker, or of the metrics port, reads them all: the numbers are the server's, never one
worker's. Several instances are scraped one by one, as Prometheus does (its `instance` label).

Gauges that describe a state (database and Redis up, usage rows waiting, deployments cooling down, upstream
calls in flight) are sampled off the request path: by `refresh()` before each scrape, and every
SAMPLE_EVERY seconds by each process (so a worker that is not the one scraped is current too).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .config import Deployment

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SAMPLE_EVERY = 10.0  # seconds between a process's samples of its state gauges
PROBE_TIMEOUT = 1.0  # seconds a database or Redis health probe may take
MASTER = "master"  # the `key` label of requests made with the master key (or on an open loopback server)
SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
FIRST_TOKEN = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300)
SHARE = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
TOKEN_FIELDS = (("input", "prompt_tokens"), ("output", "completion_tokens"), ("reasoning", "reasoning_tokens"),
                ("cached", "cached_tokens"))  # (type label, usage-row field)

_m: _Metrics | None = None


def multiprocess() -> bool:
    """Whether this process writes prometheus_client's multiprocess files (set by `accord serve --workers N`)."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def enable() -> None:
    """Create this process's metrics (once); from then on every hook records."""
    global _m
    if _m is None:
        _m = _Metrics()


def enabled() -> bool:
    return _m is not None


def exposition() -> bytes:
    """The text a scrape returns: this process's registry, or every worker's files in multiprocess mode."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    if multiprocess():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry)
    assert _m is not None and _m.registry is not None
    return generate_latest(_m.registry)


def scrape_registry() -> Any:
    """The registry a stand-alone metrics server (the metrics port) serves."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    if multiprocess():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return registry
    enable()
    assert _m is not None
    return _m.registry


def process_exited() -> None:
    """A worker is stopping: its live gauges (in flight, queue depth, health) stop counting."""
    if multiprocess():
        from prometheus_client import multiprocess as mp

        with contextlib.suppress(Exception):
            mp.mark_process_dead(os.getpid())


# --------------------------------------------------------------------------------------------- the hooks
def request_labels(route: str, key_id: str | None, key_alias: str | None) -> list | None:
    """A model route's request is starting: the labels it will be counted under, filled in as the request
    learns them (`[route, key, model, deployment, status of a stream]`), or None when metrics are off. Kept
    on the request's scope; the middleware counts the request when it is over (`request_ended`)."""
    if _m is None:
        return None
    if key_id is not None:
        _m.aliases[key_id] = key_alias or key_id
    return [route, key_alias or MASTER, "", "", 0]


def usage_row(row: dict) -> None:
    """A usage row (one per upstream attempt, whichever front-end made it): tokens, spend, time to first token."""
    if _m is not None and row.get("deployment"):
        _m.usage_row(row)


def attempt(dep: Deployment, outcome: str) -> None:
    """One upstream attempt ended: `ok`, or the error's type."""
    if _m is not None:
        add = _m.attempt_adders.get((dep.id, outcome))
        if add is None:
            add = _m.attempt_adders[(dep.id, outcome)] = _adder(_m.attempts.labels(dep.name, dep.id, outcome))
        add(1)


def retry(model: str) -> None:
    if _m is not None:
        _m.child(_m.retries, (model,)).inc()


def fallback(model: str, to: str) -> None:
    if _m is not None:
        _m.child(_m.fallbacks, (model, to)).inc()


def cooldown(dep: Deployment) -> None:
    if _m is not None:
        _m.child(_m.cooldowns, (dep.name, dep.id)).inc()


# In flight: plain integers on the request path (no lock, no call into prometheus_client), copied into their
# gauges when sampled. Counted whether or not metrics are on: an add costs less than asking.
_requests_in_flight = 0
_streams_in_flight = 0


def stream_opened() -> None:
    global _streams_in_flight
    _streams_in_flight += 1


def stream_closed() -> None:
    global _streams_in_flight
    _streams_in_flight -= 1


def request_started() -> None:
    global _requests_in_flight
    _requests_in_flight += 1


def request_ended(scope: dict, status: int, started: float) -> None:
    """An HTTP request is over (the middleware): one count and one latency for a model route's request."""
    global _requests_in_flight
    _requests_in_flight -= 1
    if _m is not None:
        labels = scope.get("accord.metrics")
        if labels is not None:
            _m.request(labels, status, time.perf_counter() - started, scope["app"].state.router.lookup)


def consensus(result: Any) -> None:
    """A consensus run is over (its `Result`, status set): runs, failures, agreement (its tokens and spend are
    in the usage rows of its calls)."""
    if _m is not None:
        _m.consensus(result)


def usage_flush_failed() -> None:
    if _m is not None:
        _m.flush_errors.inc()


async def refresh(state: Any) -> None:
    """Sample the state gauges from an app's state (store, limits, router), probing the database and Redis."""
    if _m is not None:
        await _m.sample(state)


async def sample_forever(state: Any) -> None:
    while True:
        with contextlib.suppress(Exception):  # a failed sample must never end the sampling
            await refresh(state)
        await asyncio.sleep(SAMPLE_EVERY)


# --------------------------------------------------------------------------------------------- the metrics
class _Metrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

        from . import __version__

        disable_created_metrics()  # a `_created` series beside each counter doubles the scrape for no use here
        mp = multiprocess()
        # multiprocess: the metrics are written to files and read back by MultiProcessCollector, never registered
        self.registry: CollectorRegistry | None = None if mp else CollectorRegistry()
        if self.registry is not None:
            from prometheus_client.gc_collector import GCCollector
            from prometheus_client.platform_collector import PlatformCollector
            from prometheus_client.process_collector import ProcessCollector

            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)
        r = self.registry

        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Any:
            return Counter(name, doc, labels, registry=r)

        def gauge(name: str, doc: str, labels: tuple[str, ...] = (),
                  mode: Literal["livesum", "livemax", "livemin", "max"] = "livesum") -> Any:
            return Gauge(name, doc, labels, registry=r, multiprocess_mode=mode)

        self.requests = counter("accord_requests", "Gateway requests, by route, served model, deployment, "
                                "virtual key alias (`master` for the master key) and HTTP status",
                                ("route", "model", "deployment", "key", "status"))
        self.latency = Histogram("accord_request_duration_seconds", "Gateway request latency, request in to "
                                 "response (or stream) over", ("route", "model"), buckets=SECONDS, registry=r)
        self.ttft = Histogram("accord_time_to_first_token_seconds", "Streamed upstream calls: time from the "
                              "call to its first chunk", ("route", "model"), buckets=FIRST_TOKEN, registry=r)
        self.tokens = counter("accord_tokens", "Tokens, by type: input, output, reasoning (part of output), "
                              "cached (part of input)", ("route", "model", "key", "type"))
        self.spend = counter("accord_spend_usd", "Spend in US dollars, as priced in the usage rows",
                             ("route", "model", "key"))
        self.in_flight = gauge("accord_requests_in_flight", "HTTP requests being served")
        self.streams = gauge("accord_streams_in_flight", "Streamed upstream responses being relayed")
        self.attempts = counter("accord_upstream_attempts", "Upstream attempts by outcome (`ok` or the error "
                                "type), retries and fallbacks included", ("model", "deployment", "outcome"))
        self.retries = counter("accord_upstream_retries", "Attempts that retried a model's group after a "
                               "failure", ("model",))
        self.fallbacks = counter("accord_fallbacks", "Calls that moved on to a fallback model",
                                 ("model", "fallback"))
        self.cooldowns = counter("accord_cooldowns", "Times a deployment was put in cooldown",
                                 ("model", "deployment"))
        self.cooling = gauge("accord_deployment_cooling", "1 while a deployment is in cooldown",
                             ("model", "deployment"), "livemax")
        self.upstream_in_flight = gauge("accord_upstream_in_flight", "Upstream calls in flight per deployment",
                                        ("model", "deployment"))
        self.runs = counter("accord_consensus_runs", "Consensus runs by mode and outcome (done, partial, "
                            "failed, ...)", ("mode", "outcome"))
        self.run_time = Histogram("accord_consensus_duration_seconds", "Consensus run wall time", ("mode",),
                                  buckets=SECONDS, registry=r)
        self.panel_failures = counter("accord_consensus_panelist_failures", "Panel, review, debate and chair "
                                      "calls that gave no answer, by model and status (failed, timeout, skipped)",
                                      ("model", "status"))
        self.agreement = Histogram("accord_consensus_agreement", "Agreement of a run's answers (0..1)",
                                   ("mode",), buckets=SHARE, registry=r)
        self.queue = gauge("accord_usage_queue_depth", "Usage rows waiting to be written to the database")
        self.flush_errors = counter("accord_usage_flush_errors", "Usage-row batches the database refused "
                                    "(kept in memory and retried)")
        self.up = gauge("accord_backend_up", "1 when the backend answers a probe: database (always), redis "
                        "(when configured)", ("backend",), "livemin")
        info = gauge("accord_build_info", "Accord's version", ("version",), "max")
        info.labels(__version__).set(1)
        self._children: dict[tuple, Any] = {}
        self._requests: dict[tuple, tuple] = {}
        self.attempt_adders: dict[tuple[str, str], Callable[[float], None]] = {}
        self._rows: dict[tuple, tuple] = {}
        self.aliases: dict[str, str] = {}  # virtual key id -> its alias, as seen by the requests that used it

    def child(self, metric: Any, labels: tuple) -> Any:
        """The label child, bound once: prometheus_client's `labels()` validates and locks on every call."""
        key = (id(metric), *labels)
        c = self._children.get(key)
        if c is None:
            if len(self._children) > 100_000:  # a label source gone wild: forget, rather than grow forever
                self._children.clear()
            c = self._children[key] = metric.labels(*labels)
        return c

    def request(self, labels: list, status: int, seconds: float, served: Callable[[str], str | None]) -> None:
        route, key, model, dep, stream_status = labels
        if not dep:  # refused, or failed at every upstream: a name a client made up is not a label value
            model = (_safe(served, model) or "") if model else ""
        kind = (route, model, dep, key, stream_status or status)
        b = self._requests.get(kind)
        if b is None:
            if len(self._requests) > 20_000:  # a label source gone wild: forget, rather than grow forever
                self._requests.clear()
            b = self._requests[kind] = (_adder(self.requests.labels(route, model, dep, key, str(kind[4]))),
                                        self.latency.labels(route, model).observe)
        b[0](1)
        b[1](seconds)

    def usage_row(self, row: dict) -> None:
        key_id = row.get("key_id")
        kind = (row["route"], row["model"], self.aliases.get(key_id, key_id) if key_id else MASTER)
        b = self._rows.get(kind)
        if b is None:
            b = self._bundle(kind)
        get = row.get
        for add, field in b[0]:
            n = get(field)
            if n:
                add(n)
        cost = get("cost")
        if cost:
            b[1](cost)
        ttft = get("ttft_ms")
        if ttft is not None and get("stream") and get("status", 200) < 400:
            b[2](ttft / 1000)

    def _bundle(self, kind: tuple) -> tuple:
        """Every child one kind of usage row records to, bound at its first occurrence: later rows of the same
        route, model and key cost one dict lookup."""
        route, model, key = kind
        if len(self._rows) > 20_000:
            self._rows.clear()
        b = (tuple((_adder(self.tokens.labels(route, model, key, t)), field) for t, field in TOKEN_FIELDS),
             _adder(self.spend.labels(route, model, key)), self.ttft.labels(route, model).observe)
        self._rows[kind] = b
        return b

    def consensus(self, result: Any) -> None:
        mode = result.mode
        self.child(self.runs, (mode, result.status)).inc()
        self.child(self.run_time, (mode,)).observe(result.wall_time)
        if result.agreement is not None:
            self.child(self.agreement, (mode,)).observe(result.agreement)
        rounds = [a for rnd in result.rounds for a in rnd]
        for a in [*result.answers, *rounds, *result.reviews, *([result.chair] if result.chair else [])]:
            if a.status != "ok":
                self.child(self.panel_failures, (a.model, a.status)).inc()

    async def sample(self, state: Any) -> None:
        store, limits, router = state.store, state.limits, state.router
        usage = store.usage
        self.queue.set(usage.pending if usage is not None else len(store._early))
        self.in_flight.set(_requests_in_flight)
        self.streams.set(_streams_in_flight)
        mono = time.monotonic()
        for group in router.groups.values():
            for d in group:
                st = router.state[d.id]
                self.child(self.cooling, (d.name, d.id)).set(1 if st.cooldown_until > mono else 0)
                self.child(self.upstream_in_flight, (d.name, d.id)).set(st.in_flight)
        self.child(self.up, ("database",)).set(1 if await _probe_db(store) else 0)
        if limits.redis.url:
            self.child(self.up, ("redis",)).set(1 if await _probe_redis(limits.redis) else 0)


def _adder(child: Any) -> Callable[[float], None]:
    """A counter child's add, as cheap as it gets: its value's own `inc` (a lock and an add, or a write to the
    multiprocess file), skipping the checks `Counter.inc` repeats on every call; `inc` itself if that changes."""
    value = getattr(child, "_value", None)
    return getattr(value, "inc", None) or child.inc


def _safe(served: Callable[[str], str | None], name: str) -> str | None:
    try:
        return served(name)
    except Exception:  # a name too long to look up: not a served one
        return None


async def _probe_db(store: Any) -> bool:
    if store.db is None or not store.ready.is_set():
        return False
    try:
        from sqlalchemy import text

        async def ping() -> None:
            async with store.db.session() as s:
                await s.execute(text("SELECT 1"))

        await asyncio.wait_for(ping(), PROBE_TIMEOUT)
        return True
    except Exception:
        return False


async def _probe_redis(link: Any) -> bool:
    try:
        await asyncio.wait_for(link.client().ping(), PROBE_TIMEOUT)
        return True
    except Exception:
        return False
