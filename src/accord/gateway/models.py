"""GET /v1/models and /v1/models/{id}, in OpenAI's shape, aliases listed as models of their own."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ..errors import NotFound, PermissionDenied
from . import auth, panels

CREATED = 1_700_000_000  # OpenAI's shape wants a timestamp; config models have none


def _entry(name: str, router, alias_of: str | None = None) -> dict:
    dep = router.groups[alias_of or name][0]
    out = {"id": name, "object": "model", "created": CREATED, "owned_by": dep.vendor.name}
    if alias_of:
        out["root"] = alias_of
    return out


async def list_models(request: Request) -> Response:
    key = await auth.caller(request)
    router = request.app.state.router
    allow = auth.allowed(request, key)  # a key sees only the models it may use
    data = [_entry(n, router) for n in router.groups if allow is None or allow(n)]
    data += [_entry(a, router, n) for a, n in router.aliases.items() if allow is None or allow(n)]
    data += [_panel(request, n) for n in request.app.state.cfg.panels if _may(request, key, n, allow)]
    return Response(orjson.dumps({"object": "list", "data": data}), media_type="application/json")


def _panel(request: Request, name: str) -> dict:
    """A panel, as a model with an `accord` extension saying so and naming its members."""
    spec = request.app.state.cfg.panels[name]
    return {"id": name, "object": "model", "created": CREATED, "owned_by": "accord",
            "accord": {"panel": True, "models": list(spec.models), "mode": spec.mode, "chair": spec.chair}}


def _may(request: Request, key, name: str, allow) -> bool:
    try:
        panels.permit(request, key, name, request.app.state.cfg.panels[name], allow)
    except PermissionDenied:
        return False
    return True


async def get_model(request: Request) -> Response:
    key = await auth.caller(request)
    router = request.app.state.router
    mid = request.path_params["model_id"]
    panel = panels.find(request, mid)
    if panel is not None and _may(request, key, panel, auth.allowed(request, key)):
        return Response(orjson.dumps(_panel(request, panel)), media_type="application/json")
    # a model the key may not use is not found, as an unknown one is; the suggestions name only its own
    name = router.canonical(mid, auth.allowed(request, key))
    if mid not in router.groups and mid not in router.aliases:
        raise NotFound(f"model `{mid}` is not served here; did you mean {name}?", param="model")
    return Response(orjson.dumps(_entry(mid, router, None if mid == name else name)), media_type="application/json")
