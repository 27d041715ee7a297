"""The gateway through the `openai` SDK (sync, async, streaming) and raw HTTP, against the fake upstream."""

from __future__ import annotations

import httpx
import openai
import pytest

from conftest import MASTER_KEY, basic_config


def client(gw, key: str = MASTER_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0)


def test_chat_sync_passes_body_through_and_reports_usage(gateway, upstream):
    upstream.reply(content="Paris.")
    r = client(gateway).chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "Capital of France?"}], temperature=0.2,
        extra_body={"custom_flag": 7},
    )
    assert r.choices[0].message.content == "Paris."
    assert r.usage.prompt_tokens == 11 and r.usage.total_tokens > 11
    sent = upstream.last
    assert sent["path"] == "/v1/chat/completions"
    assert sent["json"]["model"] == "gpt-4o-mini"  # the upstream id, not the public name
    assert sent["json"]["temperature"] == 0.2 and sent["json"]["custom_flag"] == 7
    assert sent["headers"]["authorization"] == "Bearer sk-upstream-secret-1234"


def test_alias_resolves_and_headers_name_what_served(gateway, upstream):
    raw = client(gateway).chat.completions.with_raw_response.create(
        model="fast", messages=[{"role": "user", "content": "hi"}])
    assert raw.headers["x-accord-model"] == "gpt-test"
    assert raw.headers["x-accord-deployment"] == "gpt-test"
    assert raw.headers["x-accord-attempts"] == "1"
    assert raw.parse().choices[0].message.content


async def test_chat_async(gateway, upstream):
    upstream.reply(content="async ok")
    c = openai.AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key=MASTER_KEY, max_retries=0)
    r = await c.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "x"}])
    assert r.choices[0].message.content == "async ok"
    await c.close()


def test_stream_reasoning_then_content_then_usage(gateway, upstream):
    upstream.reply(reasoning="Let me think about it.", content="The answer is 42.")
    stream = client(gateway).chat.completions.create(
        model="deepseek-reasoner", messages=[{"role": "user", "content": "?"}], stream=True,
        stream_options={"include_usage": True},
    )
    kinds, reasoning, content, usage = [], "", "", None
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
            kinds.append("usage")
        for ch in chunk.choices:
            r = getattr(ch.delta, "reasoning_content", None) or (ch.delta.model_extra or {}).get("reasoning_content")
            if r:
                reasoning += r
                kinds.append("reasoning")
            if ch.delta.content:
                content += ch.delta.content
                kinds.append("content")
    assert reasoning == "Let me think about it."
    assert content == "The answer is 42."
    first_content = kinds.index("content")
    assert "reasoning" not in kinds[first_content:] and kinds[-1] == "usage"
    assert kinds.index("reasoning") < first_content
    assert usage.completion_tokens > 0


def test_stream_without_include_usage_gets_no_usage_chunk(gateway, upstream):
    upstream.reply(content="abc")
    chunks = list(client(gateway).chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "x"}], stream=True))
    assert all(c.usage is None for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "abc"
    # Accord still asked the upstream for usage, so it knows it
    assert upstream.last["json"]["stream_options"] == {"include_usage": True}


def test_stream_usage_is_estimated_when_the_upstream_ignores_include_usage(gateway, upstream):
    # llama-cpp-python's server (tests/e2e/test_real_upstream.py), older vLLM and Ollama send no usage chunk
    upstream.reply(content="four words of answer", usage=False)
    chunks = list(client(gateway).chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "x"}], stream=True,
        stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "four words of answer"
    assert [c.usage is not None for c in chunks].count(True) == 1 and chunks[-1].usage is not None
    assert chunks[-1].choices == [] and chunks[-1].id == chunks[0].id and chunks[-1].model == chunks[0].model
    assert chunks[-1].usage.prompt_tokens > 0 and chunks[-1].usage.completion_tokens > 0
    assert chunks[-1].usage.total_tokens == chunks[-1].usage.prompt_tokens + chunks[-1].usage.completion_tokens


def test_stream_chunks_are_forwarded_as_they_arrive(gateway, upstream):
    arrivals: list[str] = []
    # the upstream sends each chunk only once the client has the one before: a buffered stream never finishes
    upstream.reply(content="a" * 40, chunk_size=8, chunk_hold=lambda i: len(arrivals) >= i)
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions",
                      headers={"Authorization": f"Bearer {MASTER_KEY}"},
                      json={"model": "gpt-test", "stream": True, "messages": [{"role": "user", "content": "x"}]},
                      timeout=120) as r:
        for line in r.iter_lines():
            if line.startswith("data: ") and '"content":"a' in line:
                arrivals.append(line)
    assert len(arrivals) == 5


def test_embeddings(gateway, upstream):
    r = client(gateway).embeddings.create(model="embedder", input=["one", "two"])
    assert len(r.data) == 2 and r.data[1].index == 1
    assert upstream.last["path"] == "/v1/embeddings"
    assert upstream.last["json"]["model"] == "text-embedding-3-small"


def test_models_list_and_get(gateway):
    c = client(gateway)
    ids = [m.id for m in c.models.list()]
    assert {"gpt-test", "deepseek-reasoner", "embedder", "fast"} <= set(ids)
    assert c.models.retrieve("fast").id == "fast"
    assert c.models.retrieve("gpt-test").owned_by == "openai"
    with pytest.raises(openai.NotFoundError):
        c.models.retrieve("nope")


def test_routes_without_v1_prefix(gateway, upstream):
    c = openai.OpenAI(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0)
    assert c.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "x"}]).choices
    assert any(m.id == "gpt-test" for m in c.models.list())


def test_health_routes(gateway, upstream):
    assert httpx.get(f"{gateway.url}/health/liveliness").json() == "I'm alive!"
    assert httpx.get(f"{gateway.url}/health/readiness").json()["status"] == "healthy"
    assert httpx.get(f"{gateway.url}/health").status_code == 401
    upstream.reset()
    h = httpx.get(f"{gateway.url}/health", headers={"Authorization": f"Bearer {MASTER_KEY}"}, timeout=30).json()
    assert h["healthy_count"] == 3 and h["unhealthy_count"] == 0
    upstream.default.status = 500
    h = httpx.get(f"{gateway.url}/health", headers={"x-api-key": MASTER_KEY}, timeout=30).json()
    assert h["unhealthy_count"] == 3
    assert "sk-upstream-secret" not in str(h)


# ------------------------------------------------------------------------------------------- the error table
def post(gw, body, key: str | None = MASTER_KEY, **kw) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if isinstance(body, (bytes, str)):  # raw bytes, declared JSON as any client must
        return httpx.post(f"{gw.url}/v1/chat/completions", content=body,
                          headers={**headers, "Content-Type": "application/json"}, timeout=30, **kw)
    return httpx.post(f"{gw.url}/v1/chat/completions", json=body, headers=headers, timeout=30, **kw)


def assert_error(r: httpx.Response, status: int, *words: str) -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    for w in words:
        assert w in err["message"], err["message"]
    assert "Traceback" not in r.text
    return err


MSG = [{"role": "user", "content": "x"}]


def test_400_bad_json(gateway):
    assert_error(post(gateway, b"{not json"), 400, "not valid JSON")


def test_400_bad_parameters(gateway):
    assert_error(post(gateway, {"messages": MSG}), 400, "`model` is required")
    assert_error(post(gateway, {"model": "gpt-test", "messages": []}), 400, "messages")
    assert_error(post(gateway, b"[1, 2]"), 400, "JSON object")


def test_401_missing_and_wrong_key(gateway):
    assert_error(post(gateway, {"model": "gpt-test", "messages": MSG}, key=None), 401, "no API key")
    err = assert_error(post(gateway, {"model": "gpt-test", "messages": MSG}, key="sk-wrong"), 401, "invalid API key")
    assert err["type"] == "authentication_error"
    with pytest.raises(openai.AuthenticationError):
        client(gateway, "sk-wrong").models.list()


def test_404_unknown_model_names_close_matches(gateway):
    err = assert_error(post(gateway, {"model": "gpt-tset", "messages": MSG}), 404, "gpt-test")
    assert err["code"] == "model_not_found" and err["param"] == "model"
    with pytest.raises(openai.NotFoundError):
        client(gateway).chat.completions.create(model="nonexistent-model", messages=MSG)


def test_404_unknown_route(gateway):
    assert_error(httpx.get(f"{gateway.url}/v1/nothing-here"), 404, "no route")


def test_413_body_too_large(upstream, gateway_factory):
    gw = gateway_factory(basic_config(upstream.url).replace("  num_retries: 0", "  num_retries: 0\n  max_body_mb: 0.01"))
    big = {"model": "gpt-test", "messages": [{"role": "user", "content": "x" * 20_000}]}
    assert_error(post(gw, big), 413, "limit")


def test_429_relayed_from_upstream_with_retry_after(gateway, upstream):
    upstream.reply(status=429, headers={"retry-after": "7"},
                   error={"error": {"message": "slow down", "type": "rate_limit"}})
    r = post(gateway, {"model": "gpt-test", "messages": MSG})
    err = assert_error(r, 429, "slow down")
    assert err["type"] == "rate_limit_error"
    assert r.headers["retry-after"] == "7"


def test_502_upstream_failure_without_leaking_the_provider_key(gateway, upstream):
    upstream.reply(status=500, error={"error": {"message": "boom, key sk-upstream-secret-1234 is bad"}})
    err = assert_error(post(gateway, {"model": "gpt-test", "messages": MSG}), 502, "boom")
    assert "sk-upstream-secret-1234" not in err["message"]
    with pytest.raises(openai.APIStatusError) as e:
        upstream.reply(status=503)
        client(gateway).chat.completions.create(model="gpt-test", messages=MSG)
    assert e.value.status_code == 502


def test_502_malformed_upstream_json(gateway, upstream):
    upstream.reply(raw=b"{this is not json")
    assert_error(post(gateway, {"model": "gpt-test", "messages": MSG}), 502, "malformed")


def test_502_upstream_unreachable(upstream, gateway_factory):
    from fakes import free_port

    gw = gateway_factory(basic_config(f"http://127.0.0.1:{free_port()}"))
    assert_error(post(gw, {"model": "gpt-test", "messages": MSG}), 502, "could not be reached")


def test_504_upstream_timeout(upstream, gateway_factory):
    cfg = basic_config(upstream.url).replace("    aliases: [fast]", "    aliases: [fast]\n    timeout: 0.5")
    gw = gateway_factory(cfg)
    upstream.reply(hold=lambda: False)  # never answers (reset lets it go)
    err = assert_error(post(gw, {"model": "gpt-test", "messages": MSG}), 504, "timed out")
    assert err["type"] == "timeout_error"


def test_stream_error_after_first_byte_is_an_error_event_the_sdk_raises(gateway, upstream):
    # a stream that ends without [DONE] or finish_reason is incomplete, and must not pass as complete
    upstream.reply(raw=None, content="partial answer")
    upstream.responder = None

    from fakes import HANDLERS

    original = HANDLERS["/chat/completions"]

    async def truncated(fake, rec, reply):
        from starlette.responses import StreamingResponse

        async def gen():
            yield b'data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"partial"},"finish_reason":null}]}\n\n'
            yield b'data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":" answer"},"finish_reason":null}]}\n\n'

        return StreamingResponse(gen(), media_type="text/event-stream")

    HANDLERS["/chat/completions"] = truncated
    try:
        stream = client(gateway).chat.completions.create(model="gpt-test", messages=MSG, stream=True)
        got = ""
        with pytest.raises(openai.APIError, match="incomplete"):
            for chunk in stream:
                got += chunk.choices[0].delta.content or ""
        assert got.startswith("partial")
    finally:
        HANDLERS["/chat/completions"] = original


def test_upstream_400_relayed_as_400(gateway, upstream):
    upstream.reply(status=400, error={"error": {"message": "temperature must be <= 2"}})
    assert_error(post(gateway, {"model": "gpt-test", "messages": MSG}), 400, "temperature must be")


def test_no_master_key_is_open_on_loopback(upstream, gateway_factory):
    gw = gateway_factory(basic_config(upstream.url, master_key=None))
    r = httpx.post(f"{gw.url}/v1/chat/completions", json={"model": "gpt-test", "messages": MSG})
    assert r.status_code == 200
