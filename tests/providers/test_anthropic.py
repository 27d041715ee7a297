"""The Anthropic Messages adapter, driven against the fake upstream over real HTTP."""

from __future__ import annotations

import json

import orjson
import pytest

from accord.config import Deployment, parse
from accord.errors import BadRequest, UpstreamError
from accord.providers import get
from accord.providers.base import Call, upstream_error
from accord.providers.http import Pools
from accord.providers.translate_anthropic import from_anthropic, to_anthropic
from accord.providers.translate_messages import anthropic_from_openai, openai_from_anthropic
from fakes import FakeUpstream, count_tokens

KEY = "sk-ant-test-secret-key-123456"
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
CALL = {"id": "toolu_01", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"


@pytest.fixture(autouse=True)
def _fresh(fake: FakeUpstream) -> None:
    fake.reset()


def deployment(fake: FakeUpstream, model: str = "anthropic/claude-sonnet-4-5", **entry) -> Deployment:
    cfg = {"models": [{"name": "claude", "model": model, "api_base": fake.url, "api_key": KEY, **entry}]}
    return parse(json.dumps(cfg)).deployments[0]


async def complete(dep: Deployment, body: dict, pools: Pools) -> tuple[dict, Call]:
    call = Call(dep)
    return await get("anthropic").complete(dep, body, call, pools), call


async def stream(dep: Deployment, body: dict, pools: Pools, call: Call | None = None) -> tuple[list[dict], Call]:
    call = call or Call(dep)
    it = await get("anthropic").stream(dep, {**body, "stream": True}, call, pools)
    return [orjson.loads(c) async for c in it], call


def assemble(chunks: list[dict]) -> dict:
    """What an OpenAI client makes of the chunks."""
    out: dict = {"content": "", "reasoning": "", "tools": {}, "finish": None, "usage": None}
    for c in chunks:
        if c.get("usage"):
            out["usage"] = c["usage"]
        for ch in c["choices"]:
            d = ch["delta"]
            out["content"] += d.get("content") or ""
            out["reasoning"] += d.get("reasoning_content") or ""
            for tc in d.get("tool_calls") or ():
                slot = out["tools"].setdefault(tc["index"], {"id": None, "name": None, "arguments": ""})
                slot["id"] = tc.get("id") or slot["id"]
                slot["name"] = (tc.get("function") or {}).get("name") or slot["name"]
                slot["arguments"] += (tc.get("function") or {}).get("arguments") or ""
            out["finish"] = ch.get("finish_reason") or out["finish"]
    return out


# ------------------------------------------------------------------------------------------ requests
async def test_system_multi_turn_and_params_are_translated(fake: FakeUpstream, pools: Pools) -> None:
    fake.reply(content="Sunny, 21 degrees.")
    dep = deployment(fake)
    body = {"model": "claude", "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "Use metric units."}]},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Weather?"},
        {"role": "user", "content": [{"type": "text", "text": "In Paris."}]},
    ], "temperature": 0.3, "top_p": 0.9, "stop": "END", "user": "u-1",
        "n": 2, "logprobs": True, "presence_penalty": 0.5, "seed": 3, "stream_options": {"include_usage": True}}
    out, call = await complete(dep, body, pools)

    rec = fake.last
    assert rec["path"] == "/v1/messages"
    assert rec["headers"]["x-api-key"] == KEY
    assert rec["headers"]["anthropic-version"] == "2023-06-01"
    sent = rec["json"]
    assert sent["model"] == "claude-sonnet-4-5"
    assert sent["system"] == "Be brief.\n\nUse metric units."
    assert sent["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Hello! How can I help?"}]},
        {"role": "user", "content": [{"type": "text", "text": "Weather?"}, {"type": "text", "text": "In Paris."}]},
    ]
    assert sent["max_tokens"] == 8192  # required by Anthropic: the catalog's 64k capped
    assert (sent["temperature"], sent["top_p"], sent["stop_sequences"]) == (0.3, 0.9, ["END"])
    assert sent["metadata"] == {"user_id": "u-1"}
    for dropped in ("n", "logprobs", "presence_penalty", "seed", "stream_options", "stream", "stop", "user"):
        assert dropped not in sent

    assert out["object"] == "chat.completion" and out["id"].startswith("chatcmpl-")
    assert out["model"] == "claude-sonnet-4-5"
    assert out["choices"][0]["message"] == {"role": "assistant", "content": "Sunny, 21 degrees."}
    assert out["choices"][0]["finish_reason"] == "stop"
    completion = count_tokens("Sunny, 21 degrees.")
    assert out["usage"] == {"prompt_tokens": 11, "completion_tokens": completion, "total_tokens": 11 + completion}
    assert call.finish_reason == "stop"
    assert (call.usage.prompt_tokens, call.usage.completion_tokens, call.usage.estimated) == (11, completion, False)


async def test_deployment_defaults_extra_body_and_headers(fake: FakeUpstream, pools: Pools) -> None:
    dep = deployment(fake, model="anthropic/claude-future-9", params={"max_tokens": 100, "temperature": 0.1},
                     extra_body={"top_k": 5, "metadata": {"user_id": "team-a"}}, headers={"anthropic-beta": "x-1"})
    await complete(dep, {"messages": [{"role": "user", "content": "Hi"}], "temperature": 0.7}, pools)
    sent = fake.last["json"]
    assert (sent["max_tokens"], sent["temperature"], sent["top_k"]) == (100, 0.7, 5)
    assert sent["metadata"] == {"user_id": "team-a"}
    assert fake.last["headers"]["anthropic-beta"] == "x-1"

    unknown = deployment(fake, model="anthropic/claude-future-9")
    await complete(unknown, {"messages": [{"role": "user", "content": "Hi"}]}, pools)
    assert fake.last["json"]["max_tokens"] == 4096  # nothing known about the model: a safe default


async def test_images_become_image_blocks(fake: FakeUpstream, pools: Pools) -> None:
    dep = deployment(fake)
    content = [{"type": "text", "text": "What is in these?"},
               {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
               {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}]
    await complete(dep, {"messages": [{"role": "user", "content": content}]}, pools)
    assert fake.last["json"]["messages"][0]["content"] == [
        {"type": "text", "text": "What is in these?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]
    with pytest.raises(BadRequest, match="input_audio"):
        await complete(dep, {"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]}, pools)


async def test_tools_and_tool_calls(fake: FakeUpstream, pools: Pools) -> None:
    fake.reply(content="", tool_calls=[CALL, {**CALL, "id": "toolu_02",
                                              "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}])
    dep = deployment(fake)
    body = {"messages": [{"role": "user", "content": "Weather in Paris and Oslo?"}], "tools": [WEATHER],
            "tool_choice": "required", "parallel_tool_calls": False}
    out, call = await complete(dep, body, pools)

    sent = fake.last["json"]
    assert sent["tools"] == [{"name": "get_weather", "description": "Current weather for a city",
                              "input_schema": WEATHER["function"]["parameters"]}]
    assert sent["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    msg = out["choices"][0]["message"]
    assert msg["content"] is None
    assert [(t["id"], t["type"], t["function"]["name"]) for t in msg["tool_calls"]] == [
        ("toolu_01", "function", "get_weather"), ("toolu_02", "function", "get_weather")]
    assert [json.loads(t["function"]["arguments"]) for t in msg["tool_calls"]] == [{"city": "Paris"}, {"city": "Oslo"}]
    assert out["choices"][0]["finish_reason"] == call.finish_reason == "tool_calls"


@pytest.mark.parametrize(("choice", "native"), [
    ("auto", {"type": "auto"}), ("none", {"type": "none"}), ("required", {"type": "any"}),
    ({"type": "function", "function": {"name": "get_weather"}}, {"type": "tool", "name": "get_weather"}),
])
def test_tool_choice_mapping(choice: object, native: dict) -> None:
    dep_info = parse(json.dumps({"models": [{"name": "c", "model": "anthropic/claude-sonnet-4-5", "api_key": "k"}]}))
    info = dep_info.deployments[0].info
    out = to_anthropic({"messages": [{"role": "user", "content": "x"}], "tools": [WEATHER], "tool_choice": choice},
                       "m", info)
    assert out["tool_choice"] == native


async def test_tool_results_go_back_as_tool_result_blocks(fake: FakeUpstream, pools: Pools) -> None:
    fake.reply(content="Paris is sunny, Oslo is rainy.")
    dep = deployment(fake)
    oslo = {**CALL, "id": "toolu_02", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}
    body = {"messages": [
        {"role": "user", "content": "Weather in Paris and Oslo?"},
        {"role": "assistant", "content": "Let me check.", "tool_calls": [CALL, oslo]},
        {"role": "tool", "tool_call_id": "toolu_01", "content": "sunny"},
        {"role": "tool", "tool_call_id": "toolu_02", "content": [{"type": "text", "text": "rainy"}]},
    ], "tools": [WEATHER]}
    out, _ = await complete(dep, body, pools)
    assert fake.last["json"]["messages"][1:] == [
        {"role": "assistant", "content": [
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_02", "name": "get_weather", "input": {"city": "Oslo"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01", "content": "sunny"},
            {"type": "tool_result", "tool_use_id": "toolu_02", "content": "rainy"}]},
    ]
    assert out["choices"][0]["message"]["content"] == "Paris is sunny, Oslo is rainy."


async def test_reasoning_effort_enables_thinking_and_signed_blocks_round_trip(fake: FakeUpstream, pools: Pools) -> None:
    fake.reply(reasoning="The user wants the weather; call the tool.", content="", tool_calls=[CALL])
    dep = deployment(fake)
    body = {"messages": [{"role": "user", "content": "Weather in Paris?"}], "tools": [WEATHER],
            "reasoning_effort": "high", "temperature": 0.5, "top_p": 0.5}
    out, _ = await complete(dep, body, pools)
    sent = fake.last["json"]
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 24576}
    assert sent["max_tokens"] == 24576 + 8192  # room for the thinking and the answer
    assert "temperature" not in sent and "top_p" not in sent  # Anthropic refuses them with thinking
    msg = out["choices"][0]["message"]
    assert msg["reasoning_content"] == "The user wants the weather; call the tool."
    assert msg["thinking_blocks"] == [{"type": "thinking", "thinking": msg["reasoning_content"],
                                       "signature": "fake-signature"}]

    # the client sends the message back as it got it: the signed thinking goes back first, thinking stays on
    follow = {**body, "messages": [*body["messages"], msg, {"role": "tool", "tool_call_id": "toolu_01",
                                                            "content": "sunny"}]}
    await complete(dep, follow, pools)
    sent = fake.last["json"]
    assert sent["messages"][1]["content"][0] == msg["thinking_blocks"][0]
    assert sent["thinking"]["type"] == "enabled"

    # a client that kept only reasoning_content: it is dropped (unsigned), and thinking is off for this turn
    bare = {k: v for k, v in msg.items() if k != "thinking_blocks"}
    await complete(dep, {**follow, "messages": [*body["messages"], bare, follow["messages"][-1]]}, pools)
    sent = fake.last["json"]
    assert [b["type"] for b in sent["messages"][1]["content"]] == ["tool_use"]
    assert "thinking" not in sent


def test_thinking_budget_fits_the_clients_limit() -> None:
    info = deployment_info()
    out = to_anthropic({"messages": [{"role": "user", "content": "x"}], "max_tokens": 3000,
                        "reasoning_effort": "high"}, "m", info)
    assert out["max_tokens"] == 3000 and out["thinking"]["budget_tokens"] == 1500
    small = to_anthropic({"messages": [{"role": "user", "content": "x"}], "max_tokens": 1000,
                          "reasoning_effort": "low"}, "m", info)
    assert "thinking" not in small  # no room for Anthropic's minimum budget
    native = to_anthropic({"messages": [{"role": "user", "content": "x"}], "thinking": {"type": "disabled"},
                           "temperature": 0.2}, "m", info)
    assert native["thinking"] == {"type": "disabled"} and native["temperature"] == 0.2


def test_history_tools_are_declared_and_temperature_fits_anthropics_range() -> None:
    body = {"messages": [{"role": "user", "content": "Summarise."},
                         {"role": "assistant", "content": None, "tool_calls": [CALL]},
                         {"role": "tool", "tool_call_id": "toolu_01", "content": "sunny"}], "temperature": 1.6}
    out = to_anthropic(body, "m", deployment_info())
    assert out["tools"] == [{"name": "get_weather", "input_schema": {"type": "object"}}]
    assert out["tool_choice"] == {"type": "none"}  # declared so Anthropic accepts the history, never called
    assert out["temperature"] == 1.0
    out = to_anthropic({**body, "tools": [WEATHER], "parallel_tool_calls": False}, "m", deployment_info())
    assert out["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


def deployment_info():
    cfg = parse(json.dumps({"models": [{"name": "c", "model": "anthropic/claude-sonnet-4-5", "api_key": "k"}]}))
    return cfg.deployments[0].info


# ----------------------------------------------------------------------------------------- streaming
async def test_stream_reassembles_text_reasoning_and_tool_arguments(fake: FakeUpstream, pools: Pools) -> None:
    args = '{"city": "Paris", "units": "metric", "days": 3}'
    fake.reply(reasoning="Think first, then call.", content="Checking the weather.", chunk_size=4,
               tool_calls=[{**CALL, "function": {"name": "get_weather", "arguments": args}}])
    dep = deployment(fake)
    chunks, call = await stream(dep, {"messages": [{"role": "user", "content": "Weather?"}], "tools": [WEATHER],
                                      "stream_options": {"include_usage": True}}, pools)
    assert fake.last["json"]["stream"] is True
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "claude-sonnet-4-5" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1 and chunks[0]["id"].startswith("chatcmpl-")
    got = assemble(chunks)
    assert got["reasoning"] == "Think first, then call."
    assert got["content"] == "Checking the weather."
    assert len(got["tools"]) == 1
    assert (got["tools"][0]["id"], got["tools"][0]["name"]) == ("toolu_01", "get_weather")
    assert json.loads(got["tools"][0]["arguments"]) == json.loads(args)
    arg_deltas = [c for c in chunks if c["choices"] and "arguments" in str(c["choices"][0]["delta"])]
    assert len(arg_deltas) > 3  # the arguments arrived in pieces
    assert got["finish"] == "tool_calls" == call.finish_reason
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] == 11
    assert call.first_byte is not None and call.first_byte >= call.started
    assert call.chunks == len(chunks) - 1  # every chunk but the usage one
    expected = count_tokens("Checking the weather.") + count_tokens("Think first, then call.")
    assert (call.usage.prompt_tokens, call.usage.completion_tokens) == (11, expected)


async def test_stream_usage_chunk_only_when_asked(fake: FakeUpstream, pools: Pools) -> None:
    dep = deployment(fake)
    chunks, call = await stream(dep, {"messages": [{"role": "user", "content": "Hi"}]}, pools)
    assert all(c["choices"] for c in chunks) and not any("usage" in c for c in chunks)
    assert assemble(chunks)["content"] == "Hello from the fake upstream."
    assert call.usage is not None and call.usage.prompt_tokens == 11


@pytest.mark.parametrize(("native", "finish"), [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"), ("refusal", "content_filter"),
    ("model_context_window_exceeded", "length"),
])
async def test_stop_reasons(fake: FakeUpstream, pools: Pools, native: str, finish: str) -> None:
    dep = deployment(fake)
    body = {"messages": [{"role": "user", "content": "Hi"}]}
    fake.reply(finish_reason=native)
    out, _ = await complete(dep, body, pools)
    assert out["choices"][0]["finish_reason"] == finish
    fake.reply(finish_reason=native)
    chunks, call = await stream(dep, body, pools)
    assert assemble(chunks)["finish"] == call.finish_reason == finish


async def test_usage_counts_cached_input(fake: FakeUpstream, pools: Pools) -> None:
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
               "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
               "usage": {"input_tokens": 10, "cache_creation_input_tokens": 50, "cache_read_input_tokens": 100,
                         "output_tokens": 5}}
    fake.reply(raw=orjson.dumps(message))
    out, call = await complete(deployment(fake), {"messages": [{"role": "user", "content": "Hi"}]}, pools)
    assert out["usage"] == {"prompt_tokens": 160, "completion_tokens": 5, "total_tokens": 165,
                            "prompt_tokens_details": {"cached_tokens": 100}, "cache_creation_input_tokens": 50}
    assert (call.usage.cached_tokens, call.usage.cache_write_tokens) == (100, 50)


# -------------------------------------------------------------------------------------------- errors
def anthropic_error(kind: str, message: str) -> dict:
    return {"type": "error", "error": {"type": kind, "message": message}}


async def test_rate_limit_maps_to_429_with_retry_after(fake: FakeUpstream, pools: Pools) -> None:
    fake.reply(status=429, headers={"retry-after": "7"},
               error=anthropic_error("rate_limit_error", "Number of request tokens has exceeded your rate limit"))
    with pytest.raises(UpstreamError) as e:
        await complete(deployment(fake), {"messages": [{"role": "user", "content": "Hi"}]}, pools)
    assert e.value.status == 429 and e.value.retry_after == 7.0
    assert "Number of request tokens has exceeded your rate limit" in e.value.message


async def test_refused_key_is_never_echoed(fake: FakeUpstream, pools: Pools) -> None:
    fake.reply(status=401, error=anthropic_error("authentication_error", f"invalid x-api-key: {KEY}"))
    with pytest.raises(UpstreamError) as e:
        await complete(deployment(fake), {"messages": [{"role": "user", "content": "Hi"}]}, pools)
    assert e.value.upstream_status == 401
    assert KEY not in e.value.message and "****" in e.value.message
    assert "ANTHROPIC_API_KEY" in e.value.message


async def test_server_errors_before_the_stream_are_raised_by_stream(fake: FakeUpstream, pools: Pools) -> None:
    fake.reply(status=500, error=anthropic_error("api_error", "Internal server error"))
    with pytest.raises(UpstreamError) as e:
        await get("anthropic").stream(deployment(fake), {"messages": [{"role": "user", "content": "Hi"}]},
                                      Call(deployment(fake)), pools)
    assert e.value.upstream_status == 500 and e.value.retryable
    assert "Internal server error" in e.value.message


def sse(*events: dict) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: ".encode() + orjson.dumps(e) + b"\n\n" for e in events)


START = {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "content": [],
                                              "usage": {"input_tokens": 9, "output_tokens": 1}}}
TEXT = [{"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}}]


async def test_truncated_stream_raises(fake: FakeUpstream, pools: Pools) -> None:
    fake.reply(raw=sse(START, *TEXT))
    dep = deployment(fake)
    call = Call(dep)
    got: list[dict] = []
    with pytest.raises(UpstreamError, match="incomplete"):
        it = await get("anthropic").stream(dep, {"messages": [{"role": "user", "content": "Hi"}]}, call, pools)
        async for c in it:
            got.append(orjson.loads(c))
    assert assemble(got)["content"] == "Hel"
    assert call.usage is not None and call.usage.prompt_tokens == 9


async def test_error_event_mid_stream_raises(fake: FakeUpstream, pools: Pools) -> None:
    fake.reply(raw=sse(START, *TEXT, anthropic_error("overloaded_error", "Overloaded")))
    with pytest.raises(UpstreamError, match="Overloaded") as e:
        await stream(deployment(fake), {"messages": [{"role": "user", "content": "Hi"}]}, pools)
    assert e.value.upstream_status == 529


async def test_malformed_response(fake: FakeUpstream, pools: Pools) -> None:
    fake.reply(raw=b"<html>oops</html>")
    with pytest.raises(UpstreamError, match="malformed"):
        await complete(deployment(fake), {"messages": [{"role": "user", "content": "Hi"}]}, pools)


async def test_no_embeddings(fake: FakeUpstream, pools: Pools) -> None:
    dep = deployment(fake)
    with pytest.raises(BadRequest, match="does not offer embeddings"):
        await get("anthropic").embed(dep, {"input": "hi"}, Call(dep), pools)
    assert fake.requests == []


def test_error_bodies_read_well(fake: FakeUpstream) -> None:
    dep = deployment(fake)
    err = upstream_error(dep, 400, orjson.dumps(anthropic_error("invalid_request_error", "max_tokens: Field required")))
    assert err.status == 400 and err.message.endswith("rejected the request: max_tokens: Field required")
    err = upstream_error(dep, 529, orjson.dumps(anthropic_error("overloaded_error", "Overloaded")))
    assert err.message.endswith("failed (HTTP 529): Overloaded")
    err = upstream_error(dep, 400, orjson.dumps(anthropic_error("invalid_request_error", "prompt is too long: "
                                                                "210000 tokens > 200000 maximum")))
    assert err.code == "context_length_exceeded"


# ------------------------------------------------------------------------------------- pure round trip
def test_round_trip_openai_anthropic_openai_keeps_content_and_tools() -> None:
    body = {"messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Look:"},
                                     {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]},
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "toolu_01", "content": "sunny"},
        {"role": "assistant", "content": "It is sunny."},
        {"role": "user", "content": "Thanks"},
    ], "tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "temperature": 0.2, "stop": ["X"], "max_tokens": 500}
    back = openai_from_anthropic(to_anthropic(body, "claude-sonnet-4-5", deployment_info()))
    for m in back["messages"]:
        for tc in m.get("tool_calls") or ():
            tc["function"]["arguments"] = json.loads(tc["function"]["arguments"])
    expected = json.loads(json.dumps(body["messages"]))
    expected[2]["tool_calls"][0]["function"]["arguments"] = {"city": "Paris"}
    assert back["messages"] == expected
    assert back["tools"] == body["tools"]
    assert back["tool_choice"] == body["tool_choice"]
    assert (back["temperature"], back["stop"], back["max_tokens"]) == (0.2, ["X"], 500)


def test_round_trip_of_a_response() -> None:
    resp = {"id": "chatcmpl-1", "object": "chat.completion", "model": "m", "created": 1, "choices": [{
        "index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": "Checking.", "reasoning_content": "hmm",
            "thinking_blocks": [{"type": "thinking", "thinking": "hmm", "signature": "s"}],
            "tool_calls": [{**CALL, "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]}}],
        "usage": {"prompt_tokens": 30, "completion_tokens": 7, "total_tokens": 37,
                  "prompt_tokens_details": {"cached_tokens": 20}}}
    back = from_anthropic(anthropic_from_openai(resp), "m")
    assert back["choices"][0]["message"] == resp["choices"][0]["message"]
    assert back["choices"][0]["finish_reason"] == "tool_calls"
    assert back["usage"] == resp["usage"]
