"""Reading a request body: bounded in size, parsed once with orjson."""

from __future__ import annotations

import time

import orjson
from starlette.requests import Request

from ..errors import BadRequest, TooLarge
from ..providers.openai_compat import CLIENT_MESSAGES
from ..router import check_model_name

# orjson reads up to 1,024 levels but writes at most 254, so a deeper body could be read but never sent on to a
# provider (a 500 instead of a 400). No real request nests this deep.
MAX_DEPTH = 254
KEEP_MIN = 64 * 1024  # bytes of messages from which their JSON may be kept for the adapter (CLIENT_MESSAGES)
_NONE = object()


async def read_json(request: Request) -> dict:
    """The body as a JSON object: 413 past settings.max_body_mb, 400 for invalid JSON, another type, or nesting
    deeper than MAX_DEPTH (it could not be sent on)."""
    limit: int = request.app.state.max_body
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise TooLarge(f"request body is {int(length)} bytes; the limit is {limit} (settings.max_body_mb)")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        if not chunk:  # Starlette ends every body with b"": kept, it would cost a 500 KB body a copy in the join
            continue
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"request body is over the limit of {limit} bytes (settings.max_body_mb)")
        chunks.append(chunk)
    if not chunks:
        raise BadRequest("empty request body: send a JSON object")
    raw = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise BadRequest(f"request body is not valid JSON ({str(e).split(':', 1)[0]})", code="invalid_json") from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object", code="invalid_json")
    # Serializing is the check: orjson writes 500 KB in ~0.1 ms, where scanning the bytes for brackets took 0.8 ms
    # at 100k tokens and walking the parsed containers 0.5 ms (bench/README.md, "Hot path"). `messages` is written
    # inside a list, one level down as in the body.
    messages = body.get("messages", _NONE)
    try:
        if messages is _NONE:
            orjson.dumps(body)
        else:
            orjson.dumps({k: v for k, v in body.items() if k != "messages"})
            began = time.perf_counter_ns()
            out = orjson.dumps([messages])
            # Kept for the adapter to send (CLIENT_MESSAGES) when writing them again would cost more than keeping
            # them: an agent's history of many small objects writes at ~0.8 ns a byte (0.38 ms for 470 KB), one
            # long text at ~0.03, and keeping the copy costs ~0.3 ns a byte (a buffer held, a join).
            # Small bodies never: writing them again costs microseconds, and the kept buffer (orjson's 4 KB at the
            # least) would be held by every open stream for its whole life (bench/stream_memory.py: +3.3 KB each).
            if len(out) >= KEEP_MIN and (time.perf_counter_ns() - began) * 3 > len(out):
                CLIENT_MESSAGES.set([messages, memoryview(out)[1:-1]])
    except orjson.JSONEncodeError:
        raise BadRequest(f"request body is nested more than {MAX_DEPTH} levels deep", code="invalid_json") from None
    return body


def model_of(body: dict) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("`model` is required: one of the names GET /v1/models lists", param="model")
    return check_model_name(model)
