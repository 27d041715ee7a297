"""Admin API for virtual keys, in LiteLLM's shapes (/key/generate, /key/info, /key/list, /key/update,
/key/delete), so scripts written for LiteLLM's proxy keep working. Master key only."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from .. import budgets
from ..errors import BadRequest, NotFound
from ..router import check_model_name
from ..store.keys import parse_duration
from . import auth
from .body import read_json

INT_MAX = 2**31 - 1  # the limit columns are 32-bit integers (PostgreSQL's INTEGER)


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _opt_num(body: dict, name: str, kind: type) -> Any:
    v = body.get(name)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or (kind is int and int(v) != v):
        raise BadRequest(f"`{name}` must be a non-negative {'whole ' if kind is int else ''}number", param=name)
    if kind is int and v > INT_MAX:
        raise BadRequest(f"`{name}` must be at most {INT_MAX}", param=name)
    return kind(v)


def _models(body: dict) -> list[str] | None:
    v = body.get("models")
    if v is None or v == []:
        return None
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise BadRequest("`models` must be a list of model names", param="models")
    for name in v:
        check_model_name(name, "models")
    return v


def _fields(body: dict, *, partial: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if not partial or "key_alias" in body:
        alias = body.get("key_alias") or ""
        if not isinstance(alias, str):
            raise BadRequest("`key_alias` must be a string", param="key_alias")
        out["name"] = alias
    if not partial or "models" in body:
        out["models"] = _models(body)
    for name, kind, target in (("max_budget", float, "max_budget"), ("rpm_limit", int, "rpm_limit"),
                               ("tpm_limit", int, "tpm_limit"), ("max_price", float, "max_price")):
        if not partial or name in body:
            out[target] = _opt_num(body, name, kind)
    if not partial or "budget_duration" in body:
        try:
            out["budget_duration"] = budgets.check_duration(body.get("budget_duration"))
        except ValueError as e:
            raise BadRequest(str(e), param="budget_duration") from None
    if not partial or "duration" in body:
        d = body.get("duration")
        out["expires_at"] = None if d in (None, "") else datetime.now(timezone.utc) + parse_duration(str(d))
    if not partial or "metadata" in body:
        meta = body.get("metadata")
        if meta is not None and not isinstance(meta, dict):
            raise BadRequest("`metadata` must be an object", param="metadata")
        out["metadata" if not partial else "meta"] = meta
    return out


async def _keys(request: Request):
    store = request.app.state.store
    await store.wait()
    return store.keys


async def generate(request: Request) -> Response:
    auth.admin(request)
    body = await read_json(request)
    f = _fields(body, partial=False)
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
    changes = _fields(body, partial=True)
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
