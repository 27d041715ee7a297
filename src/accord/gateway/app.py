"""create_app: the ASGI application `accord serve` runs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route

from .. import __version__, logs, metering, metrics
from ..config import Config
from ..consensus.background import Runs
from ..limits import Limits
from ..router import Router
from ..store.ledger import Ledger
from ..ui import LazyUI
from . import (
    chat,
    errors,
    health,
    keys_api,
    messages,
    models,
    openapi,
    prometheus,
    reload,
    responses,
    runs_api,
    spend,
)
from .hosts import HostPolicy
from .mcp_mount import LazyMCP
from .middleware import RequestContext
from .store import Store

log = logging.getLogger("accord")


def routes() -> list[Route]:
    out: list[Route] = []
    for prefix in ("/v1", ""):
        out += [
            Route(f"{prefix}/chat/completions", chat.chat_completions, methods=["POST"]),
            Route(f"{prefix}/embeddings", chat.embeddings, methods=["POST"]),
            Route(f"{prefix}/responses", responses.create_response, methods=["POST"]),
            Route(prefix + "/responses/{response_id}", responses.get_response, methods=["GET"]),
            Route(f"{prefix}/messages", messages.messages, methods=["POST"]),
            Route(f"{prefix}/messages/count_tokens", messages.count_tokens, methods=["POST"]),
            Route(f"{prefix}/models", models.list_models, methods=["GET"]),
            Route(prefix + "/models/{model_id:path}", models.get_model, methods=["GET"]),
        ]
    out += [
        Route("/health/liveliness", health.liveliness, methods=["GET"]),
        Route("/health/liveness", health.liveliness, methods=["GET"]),
        Route("/health/readiness", health.readiness, methods=["GET"]),
        Route("/health", health.health, methods=["GET"]),
        Route("/key/generate", keys_api.generate, methods=["POST"]),
        Route("/key/info", keys_api.info, methods=["GET"]),
        Route("/key/list", keys_api.list_keys, methods=["GET"]),
        Route("/key/update", keys_api.update, methods=["POST"]),
        Route("/key/delete", keys_api.delete, methods=["POST"]),
        Route("/spend/logs", spend.logs, methods=["GET"]),
        Route("/usage/summary", spend.summary, methods=["GET"]),
        Route("/config/reload", reload.reload_route, methods=["POST"]),
        Route("/openapi.json", openapi.openapi, methods=["GET"]),
        Route("/v1/consensus/runs", runs_api.start_run, methods=["POST"]),
        Route("/v1/consensus/runs/{run_id}", runs_api.get_run, methods=["GET"]),
        Route("/v1/consensus/runs/{run_id}/cancel", runs_api.cancel_run, methods=["POST"]),
    ]
    return out


class Gateway(Starlette):
    """Starlette, with HTTP requests handed to RequestContext directly: it answers every error raised before a
    response begins, so ServerErrorMiddleware in front of it only added a frame and a `send` wrapper per message
    (after a response has begun both re-raise to the server alike). Lifespan and websockets go the usual way."""

    _front: RequestContext | None = None

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        front = self._front
        if front is None or scope["type"] != "http":
            await super().__call__(scope, receive, send)
            if self._front is None and self.middleware_stack is not None:
                inner = getattr(self.middleware_stack, "app", None)
                self._front = inner if isinstance(inner, RequestContext) else None
            return
        scope["app"] = self
        await front(scope, receive, send)


def create_app(cfg: Config) -> Starlette:
    logs.redact_config(cfg)  # its secrets are masked in every log line and traceback
    router = Router(cfg)
    s = cfg.settings
    if s.metrics:
        metrics.enable()
    mcp = LazyMCP() if cfg.mcp.http else None  # MCP over streamable HTTP at /mcp

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

    ui = [Mount("/ui", app=LazyUI())]  # the dashboard, built on its first request
    scrape = [Route("/metrics", prometheus.scrape, methods=["GET"])] if s.metrics else []
    app = Gateway(routes=routes() + scrape + ([Route("/mcp", endpoint=mcp)] if mcp else []) + ui,
                    exception_handlers=errors.HANDLERS, lifespan=lifespan,
                    middleware=[Middleware(RequestContext)])  # type: ignore[arg-type]
    app.state.cfg = cfg
    app.state.router = router
    app.state.runs = Runs()  # background consensus runs (MCP `background: true`, /v1/consensus/runs)
    app.state.on_reload = []  # callables (cfg, router) told of every reload
    app.state.limits = Limits(cfg.settings.redis_url)
    app.state.store = Store(cfg.settings, Ledger(app.state.limits.redis))  # budgets share the limits' Redis
    metering.attach(router, app.state.store.record)  # every model call, from /v1, /mcp or the dashboard
    app.state.master_key = cfg.settings.master_key or None
    app.state.hosts = HostPolicy(cfg.settings.allowed_hosts)
    app.state.max_body = int(cfg.settings.max_body_mb * 1024 * 1024)
    app.state.version = __version__
    return app


def app_from_env() -> Starlette:
    """Factory for uvicorn workers: each worker reads the config file itself (never a parent's memory)."""
    from ..config import load

    return create_app(load(os.environ.get("ACCORD_CONFIG") or None, env_file=os.environ.get("ACCORD_ENV_FILE")))
