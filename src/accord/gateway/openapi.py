"""The OpenAPI description of Accord's HTTP API (GET /openapi.json), written by hand: the gateway does not
validate bodies with models on the hot path, so there is nothing to generate it from, and a hand-written spec
says what clients may rely on (and is what the fuzzing suite checks the server against)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

ERROR = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["message", "type", "param", "code"], "properties": {
        "message": {"type": "string"}, "type": {"type": "string"},
        "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]}}}},
}
MODEL_NAME = {"type": "string", "minLength": 1, "maxLength": 256}
MESSAGE = {"type": "object", "required": ["role"], "properties": {
    "role": {"type": "string", "enum": ["system", "developer", "user", "assistant", "tool"]},
    "content": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}, {"type": "null"}]},
    "name": {"type": "string"}, "tool_call_id": {"type": "string"},
    "tool_calls": {"type": "array", "items": {"type": "object"}}}}
CHAT_REQUEST = {"type": "object", "required": ["model", "messages"], "properties": {
    "model": MODEL_NAME, "messages": {"type": "array", "minItems": 1, "items": MESSAGE},
    "stream": {"type": "boolean"}, "temperature": {"type": "number", "minimum": 0, "maximum": 2},
    "max_tokens": {"type": "integer", "minimum": 1}, "top_p": {"type": "number", "minimum": 0, "maximum": 1},
    "stream_options": {"type": "object", "properties": {"include_usage": {"type": "boolean"}}},
    "tools": {"type": "array", "items": {"type": "object"}}, "reasoning_effort": {"type": "string"}}}
EMBED_REQUEST = {"type": "object", "required": ["model", "input"], "properties": {
    "model": MODEL_NAME,
    "input": {"anyOf": [{"type": "string", "minLength": 1}, {"type": "array", "minItems": 1,
                                                             "items": {"type": "string"}}]}}}
RESPONSES_REQUEST = {"type": "object", "required": ["model"], "properties": {
    "model": MODEL_NAME, "input": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]},
    "instructions": {"type": "string"}, "previous_response_id": {"type": "string"}, "stream": {"type": "boolean"},
    "store": {"type": "boolean"}, "tools": {"type": "array", "items": {"type": "object"}},
    "max_output_tokens": {"type": "integer", "minimum": 1}, "reasoning": {"type": "object"},
    "temperature": {"type": "number", "minimum": 0, "maximum": 2}, "top_p": {"type": "number", "minimum": 0,
                                                                            "maximum": 1},
    "metadata": {"type": "object"}, "text": {"type": "object"}}}
# the Anthropic routes answer errors in Anthropic's shape (anthropic_shape.py)
ANTHROPIC_ERROR = {
    "type": "object", "required": ["type", "error"], "properties": {
        "type": {"const": "error"}, "error": {"type": "object", "required": ["type", "message"], "properties": {
            "type": {"type": "string"}, "message": {"type": "string"}}}}}
BLOCKS = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]}
MESSAGES_FIELDS = {
    "model": MODEL_NAME, "messages": {"type": "array", "minItems": 1, "items": {
        "type": "object", "required": ["role", "content"], "properties": {
            "role": {"type": "string", "enum": ["user", "assistant"]}, "content": BLOCKS}}},
    "system": BLOCKS, "tools": {"type": "array", "items": {"type": "object"}}, "tool_choice": {"type": "object"},
    "thinking": {"type": "object"}}
MESSAGES_REQUEST = {"type": "object", "required": ["model", "messages", "max_tokens"], "properties": {
    **MESSAGES_FIELDS, "max_tokens": {"type": "integer", "minimum": 1}, "stream": {"type": "boolean"},
    "temperature": {"type": "number", "minimum": 0, "maximum": 1}, "top_p": {"type": "number", "minimum": 0,
                                                                          "maximum": 1},
    "stop_sequences": {"type": "array", "items": {"type": "string"}}, "metadata": {"type": "object"}}}
COUNT_REQUEST = {"type": "object", "required": ["model", "messages"], "properties": MESSAGES_FIELDS}
KEY_FIELDS = {
    "key_alias": {"type": "string"}, "models": {"type": "array", "items": {**MODEL_NAME, "minLength": 0}},
    "max_budget": {"type": ["number", "null"], "minimum": 0}, "rpm_limit": {"type": ["integer", "null"], "minimum": 1},
    "tpm_limit": {"type": ["integer", "null"], "minimum": 1}, "duration": {"type": ["string", "null"]},
    "metadata": {"type": ["object", "null"]},
    "budget_duration": {"type": ["string", "null"], "description": "1d, 7d, 30d (whole days) or 1mo"},
    "max_price": {"type": ["number", "null"], "minimum": 0, "description": "USD one request may cost at most"}}
OBJ = {"type": "object"}
RUN_ID = {"name": "run_id", "in": "path", "required": True, "schema": {"type": "string"}}


def _errors(*codes: int, schema: dict = ERROR) -> dict:
    return {str(c): {"description": "error", "content": {"application/json": {"schema": schema}}} for c in codes}


def _op(summary: str, ok: dict, *codes: int, body: dict | None = None, params: list | None = None,
        admin: bool = False, public: bool = False, ok_type: str = "application/json", error: dict = ERROR) -> dict:
    op: dict[str, Any] = {"summary": summary, "responses": {"200": {"description": "ok", "content": {ok_type: {
        "schema": ok}}}, **_errors(*codes, schema=error)}}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if params:
        op["parameters"] = params
    op["security"] = [] if public else [{"bearer": []}, {"apiKey": []}]
    if admin:
        op["x-accord-admin"] = True
    return op


def _q(name: str, schema: dict, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "schema": schema}


def spec() -> dict:
    model_routes = {
        "/v1/chat/completions": {"post": _op("Chat completion (JSON, or SSE with stream: true)", OBJ,
                                             400, 401, 403, 404, 413, 429, 502, 504, body=CHAT_REQUEST)},
        "/v1/embeddings": {"post": _op("Embeddings", OBJ, 400, 401, 403, 404, 413, 429, 502, 504,
                                       body=EMBED_REQUEST)},
        "/v1/responses": {"post": _op("Responses API (JSON, or SSE response.* events with stream: true)", OBJ,
                                      400, 401, 403, 404, 413, 429, 502, 503, 504, body=RESPONSES_REQUEST)},
        "/v1/responses/{response_id}": {"get": {**_op("A stored response", OBJ, 401, 404, 503), "parameters": [
            {"name": "response_id", "in": "path", "required": True, "schema": {"type": "string"}}]}},
        "/v1/messages": {"post": _op("Anthropic Messages (JSON, or SSE with stream: true)", OBJ, 400, 401, 403,
                                     404, 413, 429, 500, 504, 529, body=MESSAGES_REQUEST, error=ANTHROPIC_ERROR)},
        "/v1/messages/count_tokens": {"post": _op("Input tokens of an Anthropic Messages request",
                                                  {"type": "object", "required": ["input_tokens"]}, 400, 401, 403,
                                                  404, 413, 429, 500, 504, 529, body=COUNT_REQUEST,
                                                  error=ANTHROPIC_ERROR)},
        "/v1/models": {"get": _op("Models served (aliases included)", OBJ, 401)},
        "/v1/models/{model_id}": {"get": {**_op("One model", OBJ, 401, 404), "parameters": [
            {"name": "model_id", "in": "path", "required": True, "schema": {"type": "string"}}]}},
    }
    paths: dict[str, Any] = dict(model_routes)
    paths.update({
        "/health/liveliness": {"get": _op("Alive", {"type": "string"}, public=True)},
        "/health/liveness": {"get": _op("Alive (the same as /health/liveliness)", {"type": "string"}, public=True)},
        "/health/readiness": {"get": _op("Ready (database, limits backend)", OBJ, public=True)},
        "/health": {"get": _op("A one-token request to every deployment, and its live state", OBJ, 401, 403,
                               admin=True)},
        "/metrics": {"get": _op("Prometheus metrics (text format; 404 with settings.metrics off)", {"type": "string"},
                                401, 403, 404, admin=True, ok_type="text/plain")},
        "/key/generate": {"post": _op("Create a virtual key (shown once)", OBJ, 400, 401, 403, 503,
                                      body={"type": "object", "properties": KEY_FIELDS}, admin=True)},
        "/key/info": {"get": _op("One key", OBJ, 400, 401, 403, 404, 503, admin=True,
                                 params=[_q("key", {"type": "string"}, True)])},
        "/key/list": {"get": _op("Keys", OBJ, 401, 403, 503, admin=True,
                                 params=[_q("include_revoked", {"type": "boolean"})])},
        "/key/update": {"post": _op("Change a key", OBJ, 400, 401, 403, 404, 503, admin=True, body={
            "type": "object", "required": ["key"], "properties": {"key": {"type": "string"}, **KEY_FIELDS}})},
        "/key/delete": {"post": _op("Revoke keys", OBJ, 400, 401, 403, 404, 503, admin=True, body={
            "type": "object", "required": ["keys"], "properties": {"keys": {"type": "array",
                                                                            "items": {"type": "string"}}}})},
        "/spend/logs": {"get": _op("Request log, newest first (keyset pagination)", {"type": "array"}, 400, 401,
                                   403, 503, admin=True, params=[
            _q("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
            _q("before", {"type": "integer", "minimum": 1}), _q("key_id", {"type": "string"}),
            _q("model", {"type": "string"}), _q("status", {"type": "string"}),
            _q("start_date", {"type": "string"}), _q("end_date", {"type": "string"})])},
        "/usage/summary": {"get": _op("Totals per day, model or key", OBJ, 400, 401, 403, 503, admin=True, params=[
            _q("group_by", {"type": "string", "enum": ["day", "model", "key"]}), _q("start", {"type": "string"}),
            _q("end", {"type": "string"}), _q("key_id", {"type": "string"}), _q("model", {"type": "string"})])},
        "/v1/consensus/runs": {"post": _op(
            "Start a background run (how stdio `accord mcp` hands one to the service)", OBJ, 400, 401,
            403, 404, 503, admin=True, body={"type": "object", "required": ["request"], "properties": {
                "tool": {"type": "string", "enum": ["consensus", "review", "precommit", "debug", "planner"],
                         "default": "consensus"},
                "request": {"type": "object", "description": "consensus: question, panel, mode, ...; a panel "
                            "tool: its ask (panel, and path/diff/files, symptoms, task, ...)"},
                "thread_id": {"type": ["string", "null"]}}})},
        "/v1/consensus/runs/{run_id}": {"get": {**_op(
            "A background run: its state, each model's progress and answer so far, the result when done", OBJ,
            401, 403, 404, 503, admin=True), "parameters": [RUN_ID]}},
        "/v1/consensus/runs/{run_id}/cancel": {"post": {**_op(
            "Stop a background run and its upstream calls", OBJ, 401, 403, 404, 409, 503, admin=True,
            body={"type": "object", "description": "ignored; send {}"}), "parameters": [RUN_ID]}},
        "/config/reload": {"post": _op("Apply the changed config file", OBJ, 400, 401, 403, admin=True,
                                       body={"type": "object", "description": "ignored; send {}"})},
    })
    for path, ops in model_routes.items():  # the same routes without /v1
        paths[path.removeprefix("/v1")] = ops
    for path, ops in paths.items():  # RequestContext's answers, before any route: Host, header size, JSON bodies
        for method, op in ops.items():
            op["responses"].update(_errors(421, 431, *([415] if method == "post" else []),
                                           schema=ANTHROPIC_ERROR if "/messages" in path else ERROR))
    return {
        "openapi": "3.1.0",
        "info": {"title": "Accord", "version": "1",
                 "description": "OpenAI- and Anthropic-compatible gateway, and admin API"},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                           "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}}},
        "paths": paths,
    }


_CACHED: bytes | None = None


async def openapi(request: Request) -> Response:
    global _CACHED
    if _CACHED is None:
        _CACHED = orjson.dumps(spec())
    return Response(_CACHED, media_type="application/json")
