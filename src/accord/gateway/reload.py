"""Apply a changed config without dropping requests: POST /config/reload, SIGHUP, `accord reload`.

The new config is read and validated first; if it is wrong, the error is returned and the old config keeps
serving. Requests in flight finish on the router they started with, whose connections are closed once idle.
"""

from __future__ import annotations

import asyncio
import logging

import orjson
from starlette.requests import Request
from starlette.responses import Response

from .. import logs
from ..config import Config, load
from ..errors import BadRequest, ConfigError
from ..router import Router
from . import auth
from .hosts import HostPolicy

log = logging.getLogger("accord.reload")
NEEDS_RESTART = ("host", "port", "workers", "database_url", "redis_url", "data_dir", "metrics", "metrics_port")
_retiring: set[asyncio.Task] = set()


async def apply(app) -> dict:
    old_cfg: Config = app.state.cfg
    new_cfg = await asyncio.to_thread(load, old_cfg.path, env_file=old_cfg.env_file)
    logs.redact_config(new_cfg)
    old_router: Router = app.state.router
    app.state.router = Router(new_cfg)
    app.state.router.listeners = old_router.listeners  # the usage recorder (shared: in-flight calls keep it)
    app.state.cfg = new_cfg
    app.state.master_key = new_cfg.settings.master_key or None
    app.state.hosts = HostPolicy(new_cfg.settings.allowed_hosts)
    app.state.max_body = int(new_cfg.settings.max_body_mb * 1024 * 1024)
    for listener in getattr(app.state, "on_reload", ()):
        listener(new_cfg, app.state.router)
    task = asyncio.create_task(_retire(old_router))
    _retiring.add(task)
    task.add_done_callback(_retiring.discard)
    restart = [k for k in NEEDS_RESTART if getattr(old_cfg.settings, k) != getattr(new_cfg.settings, k)]
    names = sorted({d.name for d in new_cfg.deployments})
    log.warning("config reloaded: %d models%s", len(names),
                f"; restart needed for: {', '.join(restart)}" if restart else "")
    return {"status": "reloaded", "models": names, "ignored": new_cfg.ignored, "restart_needed": restart}


async def _retire(router: Router, limit: float = 900.0) -> None:
    """Close the old router's connections once its last request is done (or after `limit` seconds)."""
    waited = 0.0
    while waited < limit and any(st.in_flight for st in router.state.values()):
        await asyncio.sleep(1.0)
        waited += 1.0
    await router.close()


async def reload_route(request: Request) -> Response:
    auth.admin(request)
    try:
        result = await apply(request.app)
    except ConfigError as e:
        raise BadRequest(f"new config refused, the old one keeps serving: {e}", code="invalid_config") from None
    return Response(orjson.dumps(result), media_type="application/json")


def on_sighup(app) -> None:
    async def run() -> None:
        try:
            await apply(app)
        except ConfigError as e:
            log.error("SIGHUP: new config refused, the old one keeps serving: %s", e)

    task = asyncio.ensure_future(run())
    _retiring.add(task)
    task.add_done_callback(_retiring.discard)
