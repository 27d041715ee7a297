"""GET /metrics (Prometheus text format) and the optional metrics port.

/metrics on the API port takes the master key, as /health does (open on a loopback server without one): the
counts name models, deployments and key aliases. `settings.metrics_port` serves the same text without auth on
127.0.0.1 only, for a Prometheus on the same host that should not hold the master key.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .. import metrics
from . import auth

log = logging.getLogger("accord.metrics")
LOOPBACK = "127.0.0.1"


async def scrape(request: Request) -> Response:
    auth.check(request)
    await metrics.refresh(request.app.state)
    from prometheus_client import CONTENT_TYPE_LATEST

    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


def serve_port(port: int) -> Any:
    """Start the loopback metrics server (a thread); returns it, for `stop_port`, or None when the port is
    taken (said in the log with what to do: the API keeps serving)."""
    from prometheus_client import start_http_server

    try:
        server, _thread = start_http_server(port, addr=LOOPBACK, registry=metrics.scrape_registry())
    except OSError as e:
        log.error("metrics: cannot listen on %s:%d (%s); /metrics on the API port still answers. Choose a free "
                  "settings.metrics_port", LOOPBACK, port, e.strerror or e.__class__.__name__)
        return None
    return server


def stop_port(server: Any) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()
