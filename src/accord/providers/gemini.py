"""The Gemini API wire protocol: POST {api_base}/v1beta/models/{model}:generateContent (JSON),
:streamGenerateContent?alt=sse (SSE) and :batchEmbedContents.

The I/O only; translation lives in translate_gemini*.py as pure functions.
"""

from __future__ import annotations

from contextlib import aclosing
from typing import TYPE_CHECKING

import aiohttp
import orjson

from ..errors import UpstreamError
from .base import Call, Chunks, Usage, bad_upstream_json, estimate_tokens, need_key, upstream_error
from .http import Pools, post, read_json, sse_json
from .translate_gemini import from_gemini, to_gemini, usage_from
from .translate_gemini_embed import from_gemini_embed, to_gemini_embed
from .translate_gemini_stream import GeminiStream
from .translate_openai import deep_merge, wants_usage, with_defaults

if TYPE_CHECKING:
    from ..config import Deployment


def model_id(dep: Deployment) -> str:
    return dep.model.removeprefix("models/")


def url(dep: Deployment, method: str) -> str:
    base = dep.api_base
    if not base.endswith(("/v1beta", "/v1")):
        base += "/v1beta"
    return f"{base}/models/{model_id(dep)}:{method}"


def headers(dep: Deployment) -> dict:
    h = {"Content-Type": "application/json", "Accept": "application/json"}
    if dep.api_key:
        h["x-goog-api-key"] = dep.api_key
    if dep.headers:
        h.update(dep.headers)
    return h


def request_body(dep: Deployment, body: dict) -> dict:
    # Gemini 3 refuses function calls sent back without their thought signatures
    model = model_id(dep)
    native = to_gemini(with_defaults(dep, body), dep.info, signatures_required=model.startswith("gemini-3"),
                       model=model)
    return deep_merge(native, dep.extra_body) if dep.extra_body else native


def _error_in(dep: Deployment, data: dict, raw: bytes) -> Exception | None:
    err = data.get("error")
    if not isinstance(err, dict):
        return None
    code = err.get("code")
    return upstream_error(dep, code if isinstance(code, int) and code >= 400 else 502, raw)


class Gemini:
    async def complete(self, dep: Deployment, body: dict, call: Call, pools: Pools) -> dict:
        need_key(dep)
        native = request_body(dep, body)
        resp = await post(pools, dep, url(dep, "generateContent"), orjson.dumps(native), headers(dep),
                          pools.timeout(dep.timeout, stream=False))
        data = await read_json(resp, dep)
        err = _error_in(dep, data, orjson.dumps(data))
        if err is not None:
            raise err
        if not isinstance(data.get("candidates", []), list) or not ("candidates" in data or "promptFeedback" in data):
            raise bad_upstream_json(dep)
        out = from_gemini(data, dep.model)
        usage = usage_from(data.get("usageMetadata"))
        if usage is None:
            usage = Usage(estimate_tokens(native["contents"]), estimate_tokens(out["choices"]), estimated=True)
            out["usage"] = usage.as_openai()
        call.usage = usage
        call.finish_reason = out["choices"][0]["finish_reason"]
        return out

    async def stream(self, dep: Deployment, body: dict, call: Call, pools: Pools) -> Chunks:
        need_key(dep)
        native = request_body(dep, body)
        resp = await post(pools, dep, url(dep, "streamGenerateContent") + "?alt=sse", orjson.dumps(native),
                          headers(dep), pools.timeout(dep.timeout, stream=True, stream_timeout=dep.stream_timeout),
                          call=call)
        return self._relay(resp, dep, call, wants_usage(body))

    async def _relay(self, resp: aiohttp.ClientResponse, dep: Deployment, call: Call, want_usage: bool) -> Chunks:
        st = GeminiStream(dep.model)
        # aclosing: an error or a client gone mid-stream closes the upstream connection at once
        async with aclosing(sse_json(resp, dep, call, unwrap=True)) as events:
            async for data, event in events:
                if event is None:
                    continue
                err = _error_in(dep, event, data)
                if err is not None:
                    call.usage = st.usage
                    raise err
                for chunk in st.feed(event):
                    call.chunks += 1
                    yield orjson.dumps(chunk)
                call.finish_reason = st.finish
        call.usage = st.usage or Usage(call.prompt_estimate, call.chunks, estimated=True)
        if st.finish is None:
            raise UpstreamError(f"{dep.vendor.label or dep.vendor.name} ({dep.id}) ended the stream early "
                                "(no finishReason): the answer is incomplete")
        if want_usage:
            yield orjson.dumps(st.out.usage_chunk(call.usage))

    async def embed(self, dep: Deployment, body: dict, call: Call, pools: Pools) -> dict:
        need_key(dep)
        native = to_gemini_embed(body, model_id(dep), dep.extra_body)
        resp = await post(pools, dep, url(dep, "batchEmbedContents"), orjson.dumps(native), headers(dep),
                          pools.timeout(dep.timeout, stream=False))
        data = await read_json(resp, dep)
        out = from_gemini_embed(data, dep.model, body)
        if out is None:
            raise bad_upstream_json(dep)
        call.usage = Usage(out["usage"]["prompt_tokens"], 0, estimated=True)
        return out
