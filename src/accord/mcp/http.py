"""MCP over streamable HTTP at /mcp beside the gateway, authenticated like it (master key bearer, accord.auth),
calling the server's own router in-process."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecuritySettings
from starlette.routing import Route

from ..config import Config
from .access import refused
from .server import build
from .state import State


class MCPMount:
    """An ASGI endpoint for /mcp plus the lifespan piece that runs its session manager."""

    def __init__(self, cfg: Config, router: Any = None, db: Any = None, runs: Any = None) -> None:
        self.state = State.create(cfg, router, db, runs)
        self.server = build(self.state)
        # builds the session manager; several workers cannot share sessions, so they go stateless. The SDK's own
        # Host check is off: the gateway checks Host on every route, /mcp included, against loopback and
        # settings.allowed_hosts (which the SDK's list, ports only, cannot express).
        self.server.streamable_http_app(streamable_http_path="/mcp", host=cfg.settings.host,
                                        stateless_http=cfg.settings.workers > 1,
                                        transport_security=TransportSecuritySettings(
                                            enable_dns_rebinding_protection=False))
        self.app = StreamableHTTPASGIApp(self.server.session_manager)

    def route(self, path: str = "/mcp") -> Route:
        return Route(path, endpoint=self)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if await refused(scope, receive, send):
            return
        await self.app(scope, receive, send)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        await self.state.start()
        try:
            async with self.server.session_manager.run():
                yield
        finally:
            await self.state.close()
