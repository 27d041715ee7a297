"""The composition root: builds the services once and mounts the front-ends on them.

One config, one router, one store, one set of limits and budgets, one usage recorder and one list of
background runs, shared by the gateway's routes, the dashboard at /ui and MCP at /mcp. The front-ends are
siblings that never import each other: each reads the services from `request.app.state`, set here. Only the
CLI imports this module; nothing below it does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route

from . import __version__, logs, metering, metrics
from .config import Config, load
from .consensus.background import Runs
from .gateway import prometheus, reload
from .gateway import routes as gateway_routes
from .gateway.app import HANDLERS, Gateway
from .gateway.gcpolicy import tune_for_serving
from .gateway.hosts import HostPolicy
from .gateway.middleware import RequestContext
from .limits import Limits
from .mcp.mount import LazyMCP
from .router import Router
from .store.ledger import Ledger
from .store.live import Store
from .ui import LazyUI

# uvicorn's HTTP protocol for `accord serve`: httptools, with request heads bounded
HTTP_PROTOCOL = "accord.gateway.headlimit:BoundedHttpTools"
WORKER_FACTORY = "accord.app:worker_app"

__all__ = ["HTTP_PROTOCOL", "WORKER_FACTORY", "app_from_env", "create_app", "run_mcp_stdio", "serve_metrics_port",
           "tune_for_serving", "worker_app"]


def create_app(cfg: Config) -> Starlette:
    """The ASGI app `accord serve` runs: the gateway's routes, /ui and /mcp over one set of services."""
    logs.redact_config(cfg)  # its secrets are masked in every log line and traceback
    s = cfg.settings
    if s.metrics:
        metrics.enable()
    router = Router(cfg)
    limits = Limits(s.redis_url)
    store = Store(s, Ledger(limits.redis))  # budgets share the limits' Redis
    metering.attach(router, store.record)  # every model call, from /v1, /mcp or the dashboard
    mcp = LazyMCP() if cfg.mcp.http else None  # MCP over streamable HTTP at /mcp, started on first use

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.store.open_in_background()
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError, AttributeError):
            # only the main thread of a process can take signals (not a test's server thread, not Windows)
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload.on_sighup, app)
        sampler = asyncio.create_task(metrics.sample_forever(app.state), name="accord-metrics") if s.metrics else None
        # with several workers the metrics port is served once, by `accord serve`'s parent process
        port = prometheus.serve_port(s.metrics_port) if s.metrics and s.metrics_port and not metrics.multiprocess() \
            else None
        try:
            yield
        finally:
            if sampler is not None:
                sampler.cancel()
            prometheus.stop_port(port)
            metrics.process_exited()
            await app.state.runs.close()  # background runs end `interrupted`, stored before the store closes
            if mcp is not None:
                await mcp.close()
            await app.state.router.close()
            await app.state.store.close()  # flushes usage: a SIGTERM loses nothing
            await app.state.limits.close()

    mounted: list[BaseRoute] = [Route("/mcp", endpoint=mcp)] if mcp else []
    mounted.append(Mount("/ui", app=LazyUI()))  # the dashboard, built on its first request
    app = Gateway(routes=gateway_routes(cfg) + mounted, exception_handlers=HANDLERS,
                    lifespan=lifespan, middleware=[Middleware(RequestContext)])
    app.state.cfg = cfg
    app.state.router = router
    app.state.runs = Runs()  # background consensus runs (MCP `background: true`, /v1/consensus/runs)
    app.state.on_reload = []  # callables (cfg, router) told of every reload
    app.state.limits = limits
    app.state.store = store
    app.state.master_key = s.master_key or None
    app.state.hosts = HostPolicy(s.allowed_hosts)
    app.state.max_body = int(s.max_body_mb * 1024 * 1024)
    app.state.version = __version__
    return app


def app_from_env() -> Starlette:
    """Each uvicorn worker reads the config file itself (never a parent's memory)."""
    return create_app(load(os.environ.get("ACCORD_CONFIG") or None, env_file=os.environ.get("ACCORD_ENV_FILE")))


def worker_app() -> Starlette:
    """The app factory each worker process of `accord serve --workers N` runs (WORKER_FACTORY): logging as the
    parent set it up, the config read from its file, then the collector tuned."""
    level, _, fmt = os.environ.get("ACCORD_LOG", "info:text").partition(":")
    logs.setup(level, fmt or "text")
    app = app_from_env()
    tune_for_serving()
    return app


def serve_metrics_port(port: int) -> None:
    """The metrics port, served once by `accord serve`'s parent process when workers write multiprocess files."""
    prometheus.serve_port(port)


def run_mcp_stdio(cfg: Config) -> None:
    """`accord mcp`: the MCP server on stdin/stdout, with its own router and the same store as `accord serve`."""
    from .mcp.stdio import run  # the MCP SDK: loaded only by the command that needs it

    run(cfg)
