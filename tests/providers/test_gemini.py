"""The Gemini adapter, driven against the fake upstream over real HTTP."""

from __future__ import annotations

import base64
import json
import struct

import orjson
import pytest

from accord.config import Deployment, parse
from accord.errors import BadRequest, UpstreamError
from accord.providers import get
from accord.providers.base import Call, upstream_error
from accord.providers.http import Pools
from accord.providers.translate_gemini import (
    SKIP_SIGNATURE,
    from_gemini,
    gemini_from_openai,
    openai_from_gemini,
    to_gemini,
)
from fakes import FakeUpstream, count_tokens

KEY = "AIzaSy-test-secret-key-123456"
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                   "additionalProperties": False}}}
CALL = {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
OSLO = {"id": "call_b", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
HI = {"messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture(autouse=True)
def _fresh(fake: FakeUpstream) -> None:
    fake.reset()


def deployment(fake: FakeUpstream | None, model: str = "gemini/gemini-2.5-flash", **entry) -> Deployment:
    base = {"api_base": fake.url} if fake else {}
    cfg = {"models": [{"name": "gem", "model": model, "api_key": KEY, **base, **entry}]}
    return parse(json.dumps(cfg)).deployments[0]


async def complete(dep: Deployment, body: dict, pools: Pools) -> tuple[dict, Call]:
    call = Call(dep)
    return await get("gemini").complete(dep, body, call, pools), call


async def stream(dep: Deployment, body: dict, pools: Pools) -> tuple[list[dict], Call]:
    call = Call(dep)
    it = await get("gemini").stream(dep, {**body, "stream": True}, call, pools)
    return [orjson.loads(c) async for c in it], call


def assemble(chunks: list[dict]) -> dict:
    """What an OpenAI client makes of the chunks."""
    out: dict = {"content": "", "reasoning": "", "tools": {}, "finish": None}
    for c in chunks:
        for ch in c["choices"]:
            d = ch["delta"]
            out["content"] += d.get("content") or ""
            out["reasoning"] += d.get("reasoning_content") or ""
            for tc in d.get("tool_calls") or ():
                slot = out["tools"].setdefault(tc["index"], {"arguments": ""})
                slot.update({k: v for k, v in tc.items() if k in ("id", "extra_content")})
                slot["name"] = (tc.get("function") or {}).get("name") or slot.get("name")
                slot["arguments"] += (tc.get("function") or {}).get("arguments") or ""
            out["finish"] = ch.get("finish_reason") or out["finish"]
    return out


# ------------------------------------------------------------------------------------------ requests
async def test_system_multi_turn_and_params_are_translated(fake: FakeUpstream, pools: Pools) -> None:
    fake.reply(content="Sunny, 21 degrees.")
    dep = deployment(fake)
    body = {"model": "gem", "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": "Use metric units."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Weather?"},
        {"role": "user", "content": [{"type": "text", "text": "In Paris."}]},
    ], "max_completion_tokens": 300, "temperature": 0.3, "top_p": 0.9, "stop": "END", "seed": 7,
        "n": 2, "logprobs": True, "presence_penalty": 0.5, "user": "u-1", "stream_options": {"include_usage": True}}
    out, call = await complete(dep, body, pools)

    rec = fake.last
    assert rec["path"] == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert rec["headers"]["x-goog-api-key"] == KEY
    sent = rec["json"]
    assert sent["systemInstruction"] == {"parts": [{"text": "Be brief."}, {"text": "Use metric units."}]}
    assert sent["contents"] == [
        {"role": "user", "parts": [{"text": "Hi"}]},
        {"role": "model", "parts": [{"text": "Hello! How can I help?"}]},
        {"role": "user", "parts": [{"text": "Weather?"}, {"text": "In Paris."}]},
    ]
    assert sent["generationConfig"] == {"maxOutputTokens": 300, "temperature": 0.3, "topP": 0.9, "seed": 7,
                                        "stopSequences": ["END"]}
    assert set(sent) == {"contents", "systemInstruction", "generationConfig"}  # the rest is dropped

    assert out["object"] == "chat.completion" and out["id"].startswith("chatcmpl-")
    assert out["model"] == "gemini-2.5-flash"
    assert out["choices"][0]["message"] == {"role": "assistant", "content": "Sunny, 21 degrees."}
    assert out["choices"][0]["finish_reason"] == call.finish_reason == "stop"
    completion = count_tokens("Sunny, 21 degrees.")
    assert out["usage"] == {"prompt_tokens": 11, "completion_tokens": completion, "total_tokens": 11 + completion}
    assert call.usage.prompt_tokens == 11 and not call.usage.estimated


async def test_deployment_defaults_extra_body_and_api_base_with_version(fake: FakeUpstream, pools: Pools) -> None:
    dep = deployment(fake, params={"temperature": 0.1, "max_tokens": 64},
                     extra_body={"generationConfig": {"topK": 4},
                                 "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "OFF"}]},
                     api_base=f"{fake.url}/v1beta")
    await complete(dep, {**HI, "temperature": 0.9}, pools)
    sent = fake.last["json"]
    assert fake.last["path"] == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert sent["generationConfig"] == {"maxOutputTokens": 64, "temperature": 0.9, "topK": 4}  # merged, not replaced
    assert sent["safetySettings"][0]["threshold"] == "OFF"


async def test_images_become_inline_data_and_file_data(fake: FakeUpstream, pools: Pools) -> None:
    content = [{"type": "text", "text": "What is in these?"},
               {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
               {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
               {"type": "input_audio", "input_audio": {"data": "UklGR", "format": "mp3"}}]
    await complete(deployment(fake), {"messages": [{"role": "user", "content": content}]}, pools)
    assert fake.last["json"]["contents"][0]["parts"] == [
        {"text": "What is in these?"},
        {"inlineData": {"mimeType": "image/png", "data": PNG}},
        {"fileData": {"fileUri": "https://example.com/cat.jpg", "mimeType": "image/jpeg"}},
        {"inlineData": {"mimeType": "audio/mp3", "data": "UklGR"}},
    ]


async def test_tools_and_function_calls(fake: FakeUpstream, pools: Pools) -> None:
    fake.reply(content="", tool_calls=[CALL, OSLO])
    body = {"messages": [{"role": "user", "content": "Weather in Paris and Oslo?"}], "tools": [WEATHER],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}}}
    out, call = await complete(deployment(fake), body, pools)
    sent = fake.last["json"]
    assert sent["tools"] == [{"functionDeclarations": [{
        "name": "get_weather", "description": "Current weather for a city",
        "parametersJsonSchema": WEATHER["function"]["parameters"]}]}]
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}}

    msg = out["choices"][0]["message"]
    assert msg["content"] is None
    calls = msg["tool_calls"]
    assert [(t["type"], t["function"]["name"]) for t in calls] == [("function", "get_weather")] * 2
    assert [json.loads(t["function"]["arguments"]) for t in calls] == [{"city": "Paris"}, {"city": "Oslo"}]
    assert all(t["id"].startswith("call_") for t in calls) and calls[0]["id"] != calls[1]["id"]
    assert calls[0]["extra_content"] == {"google": {"thought_signature": "fake-thought-signature"}}
    assert "extra_content" not in calls[1]
    assert out["choices"][0]["finish_reason"] == call.finish_reason == "tool_calls"


@pytest.mark.parametrize(("choice", "config"), [
    ("auto", {"mode": "AUTO"}), ("none", {"mode": "NONE"}), ("required", {"mode": "ANY"}),
])
def test_tool_choice_mapping(choice: str, config: dict) -> None:
    out = to_gemini({**HI, "tools": [WEATHER], "tool_choice": choice}, deployment(None).info)
    assert out["toolConfig"] == {"functionCallingConfig": config}


async def test_tool_results_become_function_responses(fake: FakeUpstream, pools: Pools) -> None:
    fake.reply(content="Paris is sunny, Oslo is rainy.")
    signed = {**CALL, "extra_content": {"google": {"thought_signature": "sig-1"}}}
    body = {"messages": [
        {"role": "user", "content": "Weather in Paris and Oslo?"},
        {"role": "assistant", "content": "Let me check.", "reasoning_content": "dropped", "tool_calls": [signed, OSLO]},
        {"role": "tool", "tool_call_id": "call_a", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_b", "content": [{"type": "text", "text": "rainy"}]},
    ], "tools": [WEATHER]}
    out, _ = await complete(deployment(fake), body, pools)
    assert fake.last["json"]["contents"][1:] == [
        {"role": "model", "parts": [
            {"text": "Let me check."},
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "sig-1"},
            {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}]},
        {"role": "user", "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"output": "sunny"}}},
            {"functionResponse": {"name": "get_weather", "response": {"output": "rainy"}}}]},
    ]
    assert out["choices"][0]["message"]["content"] == "Paris is sunny, Oslo is rainy."

    with pytest.raises(BadRequest, match="call_zzz"):
        await complete(deployment(fake), {"messages": [{"role": "tool", "tool_call_id": "call_zzz", "content": "x"}]},
                       pools)


def test_gemini_3_gets_a_stand_in_signature_for_unsigned_calls() -> None:
    body = {"messages": [{"role": "user", "content": "Weather?"},
                         {"role": "assistant", "content": None, "tool_calls": [CALL, OSLO]},
                         {"role": "tool", "tool_call_id": "call_a", "content": "sunny"},
                         {"role": "tool", "tool_call_id": "call_b", "content": "rainy"}]}
    from accord.providers.gemini import request_body

    parts = request_body(deployment(None, "gemini/gemini-3-pro-preview"), body)["contents"][1]["parts"]
    assert [p.get("thoughtSignature") for p in parts] == [SKIP_SIGNATURE, None]
    parts = request_body(deployment(None), body)["contents"][1]["parts"]
    assert all("thoughtSignature" not in p for p in parts)


async def test_reasoning_and_json_mode(fake: FakeUpstream, pools: Pools) -> None:
    fake.reply(reasoning="Consider the question carefully.", content='{"answer": 42}')
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}}
    body = {**HI, "reasoning_effort": "low",
            "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}}
    out, call = await complete(deployment(fake), body, pools)
    gc = fake.last["json"]["generationConfig"]
    assert gc["thinkingConfig"] == {"thinkingBudget": 1024, "includeThoughts": True}
    assert (gc["responseMimeType"], gc["responseJsonSchema"]) == ("application/json", schema)
    msg = out["choices"][0]["message"]
    assert msg == {"role": "assistant", "content": '{"answer": 42}', "reasoning_content": "Consider the question carefully."}
    thoughts = count_tokens("Consider the question carefully.")
    assert out["usage"]["completion_tokens"] == count_tokens('{"answer": 42}') + thoughts
    assert out["usage"]["completion_tokens_details"] == {"reasoning_tokens": thoughts}
    assert call.usage.reasoning_tokens == thoughts

    await complete(deployment(fake), {**HI, "reasoning_effort": "none", "response_format": {"type": "json_object"}},
                   pools)
    gc = fake.last["json"]["generationConfig"]
    assert gc == {"thinkingConfig": {"thinkingBudget": 0}, "responseMimeType": "application/json"}


# ----------------------------------------------------------------------------------------- streaming
async def test_stream_reassembles_text_reasoning_and_tool_calls(fake: FakeUpstream, pools: Pools) -> None:
    fake.reply(reasoning="Think first, then call.", content="Checking the weather.", chunk_size=4,
               tool_calls=[CALL, OSLO])
    chunks, call = await stream(deployment(fake), {**HI, "tools": [WEATHER],
                                                   "stream_options": {"include_usage": True}}, pools)
    rec = fake.last
    assert rec["path"] == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert rec["query"] == {"alt": "sse"}
    assert "stream" not in rec["json"]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "gemini-2.5-flash" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    got = assemble(chunks)
    assert got["reasoning"] == "Think first, then call."
    assert got["content"] == "Checking the weather."
    assert [json.loads(t["arguments"]) for t in got["tools"].values()] == [{"city": "Paris"}, {"city": "Oslo"}]
    assert got["tools"][0]["extra_content"] == {"google": {"thought_signature": "fake-thought-signature"}}
    assert got["finish"] == call.finish_reason == "tool_calls"
    assert chunks[-1]["choices"] == []
    thoughts = count_tokens("Think first, then call.")
    assert chunks[-1]["usage"]["completion_tokens_details"] == {"reasoning_tokens": thoughts}
    assert call.first_byte is not None and call.chunks == len(chunks) - 1
    assert (call.usage.prompt_tokens, call.usage.reasoning_tokens) == (11, thoughts)
    assert call.usage.completion_tokens == count_tokens("Checking the weather.") + thoughts


async def test_stream_usage_chunk_only_when_asked(fake: FakeUpstream, pools: Pools) -> None:
    chunks, call = await stream(deployment(fake), HI, pools)
    assert all(c["choices"] for c in chunks)
    assert assemble(chunks)["content"] == "Hello from the fake upstream."
    assert call.usage is not None and call.usage.prompt_tokens == 11


@pytest.mark.parametrize(("native", "finish"), [
    ("STOP", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter"), ("RECITATION", "content_filter"),
    ("OTHER", "stop"),
])
async def test_finish_reasons(fake: FakeUpstream, pools: Pools, native: str, finish: str) -> None:
    dep = deployment(fake)
    fake.reply(finish_reason=native)
    out, _ = await complete(dep, HI, pools)
    assert out["choices"][0]["finish_reason"] == finish
    fake.reply(finish_reason=native)
    chunks, call = await stream(dep, HI, pools)
    assert assemble(chunks)["finish"] == call.finish_reason == finish


async def test_blocked_prompt_is_a_content_filter_finish(fake: FakeUpstream, pools: Pools) -> None:
    fake.reply(raw=orjson.dumps({"promptFeedback": {"blockReason": "SAFETY"},
                                 "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8}}))
    out, call = await complete(deployment(fake), HI, pools)
    assert out["choices"][0]["message"]["content"] == ""
    assert out["choices"][0]["finish_reason"] == call.finish_reason == "content_filter"
    assert call.usage.prompt_tokens == 8


# -------------------------------------------------------------------------------------------- errors
def gemini_error(code: int, status: str, message: str) -> dict:
    return {"error": {"code": code, "message": message, "status": status}}


async def test_rate_limit_maps_to_429_with_retry_after(fake: FakeUpstream, pools: Pools) -> None:
    fake.reply(status=429, headers={"retry-after": "12"},
               error=gemini_error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."))
    with pytest.raises(UpstreamError) as e:
        await complete(deployment(fake), HI, pools)
    assert e.value.status == 429 and e.value.retry_after == 12.0
    assert "Resource has been exhausted" in e.value.message


async def test_refused_key_is_never_echoed(fake: FakeUpstream, pools: Pools) -> None:
    fake.reply(status=400, error=gemini_error(400, "INVALID_ARGUMENT", f"API key not valid: {KEY}"))
    fake.reply(status=403, error=gemini_error(403, "PERMISSION_DENIED", f"Key {KEY} lacks permission"))
    for _ in range(2):
        with pytest.raises(UpstreamError) as e:
            await complete(deployment(fake), HI, pools)
        assert KEY not in e.value.message and "****" in e.value.message


async def test_server_errors_before_the_stream_are_raised_by_stream(fake: FakeUpstream, pools: Pools) -> None:
    fake.reply(status=500, error=gemini_error(500, "INTERNAL", "An internal error has occurred."))
    dep = deployment(fake)
    with pytest.raises(UpstreamError) as e:
        await get("gemini").stream(dep, HI, Call(dep), pools)
    assert e.value.upstream_status == 500 and e.value.retryable
    assert "An internal error has occurred." in e.value.message


def sse(*events: dict) -> bytes:
    return b"".join(b"data: " + orjson.dumps(e) + b"\r\n\r\n" for e in events)


PIECE = {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}, "index": 0}],
         "usageMetadata": {"promptTokenCount": 5}}


async def test_truncated_stream_raises(fake: FakeUpstream, pools: Pools) -> None:
    fake.reply(raw=sse(PIECE, PIECE))
    dep = deployment(fake)
    call = Call(dep)
    got: list[dict] = []
    with pytest.raises(UpstreamError, match="incomplete"):
        async for c in await get("gemini").stream(dep, HI, call, pools):
            got.append(orjson.loads(c))
    assert assemble(got)["content"] == "HelHel"
    assert call.usage is not None and call.usage.prompt_tokens == 5


async def test_error_mid_stream_raises(fake: FakeUpstream, pools: Pools) -> None:
    fake.reply(raw=sse(PIECE, gemini_error(503, "UNAVAILABLE", "The model is overloaded.")))
    with pytest.raises(UpstreamError, match="overloaded") as e:
        await stream(deployment(fake), HI, pools)
    assert e.value.upstream_status == 503


def test_error_bodies_read_well() -> None:
    dep = deployment(None)
    err = upstream_error(dep, 400, orjson.dumps(gemini_error(400, "INVALID_ARGUMENT", "Invalid JSON payload.")))
    assert err.message.endswith("rejected the request: Invalid JSON payload.")
    listed = orjson.dumps([gemini_error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")])
    assert upstream_error(dep, 503, listed).message.endswith("The model is overloaded. Please try again later.")
    err = upstream_error(dep, 400, orjson.dumps(gemini_error(
        400, "INVALID_ARGUMENT", "The input token count (1200000) exceeds the maximum number of tokens allowed")))
    assert err.code == "context_length_exceeded"


# ---------------------------------------------------------------------------------------- embeddings
async def test_embeddings(fake: FakeUpstream, pools: Pools) -> None:
    dep = deployment(fake, model="gemini/text-embedding-004", extra_body={"taskType": "RETRIEVAL_DOCUMENT"})
    call = Call(dep)
    out = await get("gemini").embed(dep, {"input": ["first text", "second"], "dimensions": 3}, call, pools)
    rec = fake.last
    assert rec["path"] == "/v1beta/models/text-embedding-004:batchEmbedContents"
    assert rec["json"]["requests"][1] == {"model": "models/text-embedding-004", "outputDimensionality": 3,
                                          "content": {"parts": [{"text": "second"}]}, "taskType": "RETRIEVAL_DOCUMENT"}
    assert out["object"] == "list" and out["model"] == "text-embedding-004"
    assert [d["index"] for d in out["data"]] == [0, 1]
    assert out["data"][1]["embedding"] == [0.2, 0.2, 0.3]
    assert out["usage"]["prompt_tokens"] == call.usage.prompt_tokens > 0 and call.usage.estimated

    out = await get("gemini").embed(dep, {"input": "one", "encoding_format": "base64"}, Call(dep), pools)
    floats = struct.unpack("<3f", base64.b64decode(out["data"][0]["embedding"]))
    assert floats == pytest.approx((0.1, 0.2, 0.3))
    with pytest.raises(BadRequest, match="token ids"):
        await get("gemini").embed(dep, {"input": [[1, 2, 3]]}, Call(dep), pools)


# ------------------------------------------------------------------------------------- pure round trip
def test_round_trip_openai_gemini_openai_keeps_content_and_tools() -> None:
    body = {"messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Look:"},
                                     {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]},
        {"role": "assistant", "content": None, "tool_calls": [CALL, OSLO]},
        {"role": "tool", "tool_call_id": "call_a", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_b", "content": "rainy"},
        {"role": "assistant", "content": "Sunny and rainy."},
        {"role": "user", "content": "Thanks"},
    ], "tools": [WEATHER], "tool_choice": "required", "temperature": 0.2, "stop": ["X"], "max_tokens": 500}
    back = openai_from_gemini(to_gemini(body, deployment(None).info))
    # Gemini has no call ids: map the made-up ones back to compare
    made_up = [tc["id"] for m in back["messages"] for tc in m.get("tool_calls") or ()]
    rename = dict(zip(made_up, ["call_a", "call_b"], strict=True))
    for m in back["messages"]:
        for tc in m.get("tool_calls") or ():
            tc["id"] = rename[tc["id"]]
            tc["function"]["arguments"] = json.loads(tc["function"]["arguments"])
        if m["role"] == "tool":
            m["tool_call_id"] = rename[m["tool_call_id"]]
    expected = json.loads(json.dumps(body["messages"]))
    for tc in expected[2]["tool_calls"]:
        tc["function"]["arguments"] = json.loads(tc["function"]["arguments"])
    assert back["messages"] == expected
    assert back["tools"] == body["tools"]
    assert back["tool_choice"] == "required"
    assert (back["temperature"], back["stop"], back["max_tokens"]) == (0.2, ["X"], 500)


def test_round_trip_of_a_response() -> None:
    resp = {"id": "chatcmpl-1", "object": "chat.completion", "model": "m", "created": 1, "choices": [{
        "index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": "Checking.", "reasoning_content": "hmm",
            "tool_calls": [{**CALL, "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                            "extra_content": {"google": {"thought_signature": "s"}}}]}}],
        "usage": {"prompt_tokens": 30, "completion_tokens": 7, "total_tokens": 37,
                  "completion_tokens_details": {"reasoning_tokens": 3}}}
    back = from_gemini(gemini_from_openai(resp), "m")
    msg = back["choices"][0]["message"]
    assert msg["tool_calls"][0]["id"].startswith("call_")
    msg["tool_calls"][0]["id"] = CALL["id"]
    assert msg == resp["choices"][0]["message"]
    assert back["choices"][0]["finish_reason"] == "tool_calls"
    assert back["usage"] == resp["usage"]
