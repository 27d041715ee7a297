"""Models: every deployment with the router's live view of it, its capabilities and price, and a test button."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .. import health
from . import auth
from .pages import render


def rows(router) -> list[dict]:
    out = []
    for name, group in router.groups.items():
        for dep in group:
            info = dep.info
            out.append({
                "name": name, "id": dep.id, "provider": dep.vendor.label or dep.vendor.name,
                "upstream": dep.model, "api_base": dep.api_base, "aliases": list(dep.aliases),
                "mode": info.mode, "context": info.context_window, "max_output": info.max_output_tokens,
                "caps": [c for c, on in (("thinking", info.thinking), ("vision", info.vision),
                                         ("tools", info.tools), ("json", info.json_mode)) if on],
                "price_in": info.input_price, "price_out": info.output_price,
                **health.deployment_state(router.state[dep.id]),
            })
    return out


@auth.guarded
async def page(request: Request) -> Response:
    return render(request, "models.html", page="models", deployments=rows(request.app.state.router))


@auth.guarded
async def test(request: Request) -> Response:
    """Send one deployment the smallest real request, as /health does, and report what happened."""
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        body = {}
    router = request.app.state.router
    dep = next((d for g in router.groups.values() for d in g if d.id == body.get("deployment")), None)
    if dep is None:
        return JSONResponse({"error": "no such deployment"}, 404)
    return JSONResponse(await health.probe(router, dep))
