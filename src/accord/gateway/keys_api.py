"""Admin API for virtual keys, in LiteLLM's shapes (/key/generate, /key/info, /key/list, /key/update,
/key/delete), so scripts written for LiteLLM's proxy keep working. Master key only. A key's fields are read
by store.key_fields, as the dashboard and `accord keys` read them."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ..errors import BadRequest, NotFound
from ..store.key_fields import key_fields
from . import auth
from .body import read_json


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


async def _keys(request: Request):
    store = request.app.state.store
    await store.wait()
    return store.keys


async def generate(request: Request) -> Response:
    auth.admin(request)
    body = await read_json(request)
    f = key_fields(body)
    key, info = await (await _keys(request)).create(**f)
    return _json({"key": key, "token": info.id, **info.public()})


async def _find(request: Request, ref: Any):
    if not isinstance(ref, str) or not ref:
        raise BadRequest("give the key (or its id or alias) as `key`", param="key")
    try:
        info = await (await _keys(request)).find(ref)
    except LookupError as e:
        raise BadRequest(str(e), param="key") from None
    if info is None:
        raise NotFound("no such key", param="key", code="key_not_found")
    return info


async def info(request: Request) -> Response:
    auth.admin(request)
    found = await _find(request, request.query_params.get("key"))
    return _json({"key": found.id, "info": found.public()})


async def list_keys(request: Request) -> Response:
    auth.admin(request)
    revoked = request.query_params.get("include_revoked", "").lower() in ("1", "true", "yes")
    keys = await (await _keys(request)).list(include_revoked=revoked)
    return _json({"keys": [k.public() for k in keys], "total_count": len(keys)})


async def update(request: Request) -> Response:
    auth.admin(request)
    body = await read_json(request)
    found = await _find(request, body.get("key"))
    changes = key_fields(body, partial=True)
    if not changes:
        raise BadRequest("nothing to change: give key_alias, models, max_budget, budget_duration, max_price, "
                         "rpm_limit, tpm_limit, duration or metadata")
    updated = await (await _keys(request)).update(found.id, **changes)
    request.app.state.store.forget()
    return _json({"key": found.id, **(updated.public() if updated else {})})


async def delete(request: Request) -> Response:
    auth.admin(request)
    body = await read_json(request)
    refs = body.get("keys") or ([body["key"]] if body.get("key") else None)
    if not isinstance(refs, list) or not refs:
        raise BadRequest('give the keys to delete as {"keys": ["sk-acc-...", ...]} (keys, ids or aliases)',
                         param="keys")
    deleted = []
    for ref in refs:
        found = await _find(request, ref)
        await (await _keys(request)).revoke(found.id)
        deleted.append(found.id)
    request.app.state.store.forget()
    return _json({"deleted_keys": deleted})
