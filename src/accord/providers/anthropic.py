"""The Anthropic Messages wire protocol: POST {api_base}/v1/messages, JSON or SSE.

The I/O only; translation lives in translate_anthropic*.py as pure functions.
"""

from __future__ import annotations

from contextlib import aclosing
from typing import TYPE_CHECKING

import aiohttp
import orjson

from ..errors import BadRequest, UpstreamError
from .base import Call, Chunks, Usage, bad_upstream_json, estimate_tokens, need_key, upstream_error
from .http import Pools, post, read_json, sse_json
from .translate_anthropic import from_anthropic, to_anthropic, usage_from
from .translate_anthropic_stream import ERROR_STATUS, AnthropicStream
from .translate_openai import deep_merge, wants_usage, with_defaults

if TYPE_CHECKING:
    from ..config import Deployment

VERSION = "2023-06-01"


def url(dep: Deployment) -> str:
    base = dep.api_base
    return f"{base}/messages" if base.endswith("/v1") else f"{base}/v1/messages"


def headers(dep: Deployment) -> dict:
    h = {"Content-Type": "application/json", "Accept": "application/json", "anthropic-version": VERSION}
    if dep.api_key:
        h["x-api-key"] = dep.api_key
    if dep.headers:
        h.update(dep.headers)
    return h


def request_body(dep: Deployment, body: dict) -> dict:
    native = to_anthropic(with_defaults(dep, body), dep.model, dep.info)
    return deep_merge(native, dep.extra_body) if dep.extra_body else native


def _error_event(dep: Deployment, ev: dict, raw: bytes) -> Exception:
    kind = (ev.get("error") or {}).get("type")
    return upstream_error(dep, ERROR_STATUS.get(str(kind), 502), raw)


class Anthropic:
    async def complete(self, dep: Deployment, body: dict, call: Call, pools: Pools) -> dict:
        need_key(dep)
        native = request_body(dep, body)
        resp = await post(pools, dep, url(dep), orjson.dumps(native), headers(dep),
                          pools.timeout(dep.timeout, stream=False))
        data = await read_json(resp, dep)
        if data.get("type") == "error":
            raise _error_event(dep, data, orjson.dumps(data))
        if not isinstance(data.get("content"), list):
            raise bad_upstream_json(dep)
        out = from_anthropic(data, dep.model)
        usage = usage_from(data.get("usage"))
        if usage is not None:
            call.usage = usage
        else:
            call.usage = Usage(estimate_tokens(native["messages"]), estimate_tokens(data["content"]), estimated=True)
            out["usage"] = call.usage.as_openai()
        call.finish_reason = out["choices"][0]["finish_reason"]
        return out

    async def stream(self, dep: Deployment, body: dict, call: Call, pools: Pools) -> Chunks:
        need_key(dep)
        native = request_body(dep, body)
        native["stream"] = True
        resp = await post(pools, dep, url(dep), orjson.dumps(native), headers(dep),
                          pools.timeout(dep.timeout, stream=True, stream_timeout=dep.stream_timeout), call=call)
        return self._relay(resp, dep, call, wants_usage(body))

    async def _relay(self, resp: aiohttp.ClientResponse, dep: Deployment, call: Call, want_usage: bool) -> Chunks:
        st = AnthropicStream(dep.model)
        # aclosing: an error or a client gone mid-stream closes the upstream connection at once
        async with aclosing(sse_json(resp, dep, call)) as events:
            async for data, ev in events:
                if ev is None:
                    continue
                if ev.get("type") == "error":
                    call.usage = st.usage
                    raise _error_event(dep, ev, data)
                for chunk in st.feed(ev):
                    call.chunks += 1
                    yield orjson.dumps(chunk)
                call.finish_reason = st.finish
        call.usage = st.usage or Usage(call.prompt_estimate, call.chunks, estimated=True)
        if not st.done and st.finish is None:
            raise UpstreamError(f"{dep.vendor.label or dep.vendor.name} ({dep.id}) ended the stream early "
                                "(no message_stop, no stop_reason): the answer is incomplete")
        if want_usage:
            yield orjson.dumps(st.out.usage_chunk(call.usage))

    async def embed(self, dep: Deployment, body: dict, call: Call, pools: Pools) -> dict:
        raise BadRequest(f"{dep.vendor.label or dep.vendor.name} ({dep.name}) does not offer embeddings; "
                         "use an embedding model of another provider", param="model")
