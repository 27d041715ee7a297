"""POST /v1/messages and /v1/messages/count_tokens through the anthropic SDK, on both paths:

- passthrough: models whose upstream speaks Anthropic's format (Anthropic itself, and a Kimi deployment with an
  `anthropic_base`), against the strict Anthropic fake (tests/strict/anthropic.py), which refuses what Anthropic
  refuses -- thinking blocks without their signature included;
- translation: DeepSeek and OpenAI models through the strict OpenAI-family fakes (tests/strict/openai_family.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import anthropic
import httpx
import orjson
import pytest

from accord import tokens
from conftest import Gateway
from fakes import FakeUpstream
from strict import StrictUpstream
from strict import anthropic as strict_anthropic
from waiting import wait_for

MASTER = "sk-accord-messages-master"
KEY = "sk-upstream-messages-0000"
READ = {"name": "read_file", "description": "Read a file",
        "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}
CALL = {"id": "toolu_01abc", "type": "function",
        "function": {"name": "read_file", "arguments": '{"path": "notes.txt"}'}}
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"


@pytest.fixture(scope="module")
def native() -> Iterator[StrictUpstream]:
    with StrictUpstream() as fake:
        yield fake


@pytest.fixture(scope="module")
def deepseek() -> Iterator[FakeUpstream]:
    with FakeUpstream(vendor="deepseek") as fake:
        yield fake


@pytest.fixture(scope="module")
def openai_fake() -> Iterator[FakeUpstream]:
    with FakeUpstream(vendor="openai") as fake:
        yield fake


@pytest.fixture(scope="module")
def gw(native, deepseek, openai_fake, tmp_path_factory) -> Iterator[Gateway]:
    db = tmp_path_factory.mktemp("messages") / "accord.db"  # made before the per-test env: a store of its own
    g = Gateway(f"""
settings:
  master_key: {MASTER}
  num_retries: 0
  database_url: "sqlite:///{db}"
models:
  - {{name: claude, model: anthropic/claude-sonnet-4-5, api_base: {native.url}, api_key: {KEY}}}
  - {{name: kimi, model: moonshot/kimi-k2-0905-preview, api_base: {deepseek.url}/v1,
      anthropic_base: {native.url}/anthropic, api_key: {KEY}}}
  - {{name: deepseek-chat, model: deepseek/deepseek-chat, api_base: {deepseek.url}/v1, api_key: {KEY}}}
  - {{name: deepseek-reasoner, model: deepseek/deepseek-reasoner, api_base: {deepseek.url}/v1, api_key: {KEY}}}
  - {{name: gpt-4o, model: openai/gpt-4o, api_base: {openai_fake.url}/v1, api_key: {KEY}}}
""")
    yield g
    g.stop()


@pytest.fixture(autouse=True)
def _fresh(native, deepseek, openai_fake) -> None:
    for f in (native, deepseek, openai_fake):
        f.reset()


def client(gw: Gateway, key: str = MASTER, **kw) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0, **kw)


def ask(text: str = "Hi") -> list[dict]:
    return [{"role": "user", "content": text}]


def events_of(stream) -> tuple[list[str], anthropic.types.Message]:
    names = [ev.type for ev in stream]
    return names, stream.get_final_message()


def documented_order(names: list[str]) -> bool:
    return bool(strict_anthropic.ORDER.fullmatch(" ".join(names)))


def raw_stream(gw: Gateway, body: dict) -> list[str]:
    """The event names exactly as sent (the SDK hides `ping`)."""
    with httpx.stream("POST", f"{gw.url}/v1/messages", json={**body, "stream": True},
                      headers={"x-api-key": MASTER, "anthropic-version": "2023-06-01"}) as r:
        return [line[7:] for line in r.iter_lines() if line.startswith("event: ")]


# ------------------------------------------------------------------------------------------- passthrough
def test_passthrough_forwards_the_body_untouched_but_for_the_model(gw, native) -> None:
    native.reply(content="Hello there.")
    system = [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}]
    msg = client(gw, default_headers={"anthropic-beta": "interleaved-thinking-2025-05-14"}).messages.create(
        model="claude", max_tokens=300, system=system, messages=ask(), metadata={"user_id": "u-7"},
        stop_sequences=["END"], extra_body={"temperature": 0.4, "top_k": 5})
    assert msg.content[0].text == "Hello there." and msg.stop_reason == "end_turn"
    assert msg.model == "claude"  # the name asked for (Claude Code keeps thinking only for its own model)
    assert (msg.usage.input_tokens, msg.usage.cache_read_input_tokens, msg.usage.cache_creation_input_tokens) \
        == (11, 0, 0)
    rec = native.last
    assert rec["path"] == "/v1/messages" and "refused" not in rec
    assert rec["json"] == {"model": "claude-sonnet-4-5", "max_tokens": 300, "system": system, "messages": ask(),
                           "metadata": {"user_id": "u-7"}, "stop_sequences": ["END"], "temperature": 0.4,
                           "top_k": 5, "stream": False}
    assert rec["headers"]["x-api-key"] == KEY  # the provider's key, never the client's
    assert rec["headers"]["anthropic-beta"] == "interleaved-thinking-2025-05-14"


def test_passthrough_stream_is_the_upstreams_own_events(gw, native) -> None:
    native.reply(content="A streamed answer in pieces.", finish_reason="max_tokens")
    with client(gw).messages.stream(model="claude", max_tokens=50, messages=ask()) as s:
        _, final = events_of(s)
    assert "".join(b.text for b in final.content) == "A streamed answer in pieces."
    assert final.stop_reason == "max_tokens" and final.usage.output_tokens > 0 and final.model == "claude"
    native.reply(content="Again.")
    assert documented_order(raw_stream(gw, {"model": "claude", "max_tokens": 50, "messages": ask()}))


@pytest.mark.parametrize("model", ["claude", "kimi"])
def test_passthrough_thinking_and_tool_use_round_trip_keeps_signatures_and_ids(gw, native, model) -> None:
    """The strict fake refuses a thinking block whose signature or text changed: the round trip must carry them
    byte for byte, streamed, to Anthropic itself and to a vendor's Anthropic endpoint (Kimi)."""
    native.reply(reasoning="I should read the notes first.", content="", tool_calls=[CALL])
    c = client(gw)
    thinking = {"type": "enabled", "budget_tokens": 2048}
    first = c.messages.create(model=model, max_tokens=4096, thinking=thinking, tools=[READ],
                              messages=ask("What is in notes.txt?"))
    assert [b.type for b in first.content] == ["thinking", "tool_use"]
    assert first.content[0].signature == strict_anthropic.SIGNATURE and first.stop_reason == "tool_use"
    assert (first.content[1].id, first.content[1].input) == ("toolu_01abc", {"path": "notes.txt"})
    expected_path = "/v1/messages" if model == "claude" else "/anthropic/v1/messages"
    assert native.last["path"] == expected_path

    native.reply(content="The notes say: buy milk.")
    turn = [*ask("What is in notes.txt?"), {"role": "assistant", "content": [b.model_dump() for b in first.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01abc",
                                          "content": [{"type": "text", "text": "buy milk"}]}]}]
    with c.messages.stream(model=model, max_tokens=4096, thinking=thinking, tools=[READ], messages=turn) as s:
        _, final = events_of(s)
    assert native.refusals == [] and final.content[-1].text == "The notes say: buy milk."
    sent = native.last["json"]["messages"][1]["content"]
    assert sent[0]["signature"] == strict_anthropic.SIGNATURE and sent[1]["id"] == "toolu_01abc"


def test_passthrough_image_and_exact_count_tokens(gw, native) -> None:
    native.reply(content="A tiny picture.")
    content = [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
               {"type": "text", "text": "What is this?"}]
    msg = client(gw).messages.create(model="claude", max_tokens=100, messages=[{"role": "user", "content": content}])
    assert msg.content[0].text == "A tiny picture."
    assert native.last["json"]["messages"][0]["content"] == content
    counted = client(gw).messages.count_tokens(model="claude", messages=[{"role": "user", "content": content}],
                                               system="Be brief.")
    assert counted.input_tokens == 1000 + len(orjson.dumps([{"role": "user", "content": content}]))  # the fake's
    assert native.last["path"] == "/v1/messages/count_tokens" and "refused" not in native.last


def test_passthrough_upstream_errors_keep_anthropics_types(gw, native) -> None:
    native.script.append(strict_anthropic.error(529))
    with pytest.raises(anthropic.APIStatusError) as e:
        client(gw).messages.create(model="claude", max_tokens=10, messages=ask())
    assert e.value.status_code == 529 and e.value.body["error"]["type"] == "overloaded_error"
    assert e.value.body["type"] == "error"
    native.script.append(strict_anthropic.error(429))
    with pytest.raises(anthropic.RateLimitError) as e:
        client(gw).messages.create(model="claude", max_tokens=10, messages=ask())
    assert e.value.body["error"]["type"] == "rate_limit_error"
    # an error event mid-stream goes to the client as it came
    native.script.append(strict_anthropic.stream([
        {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
                                              "model": "claude-sonnet-4-5", "content": [], "stop_reason": None,
                                              "usage": {"input_tokens": 3, "output_tokens": 1}}},
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}]))
    with pytest.raises(anthropic.APIStatusError, match="Overloaded"), \
            client(gw).messages.stream(model="claude", max_tokens=10, messages=ask()) as s:
        list(s)


# ------------------------------------------------------------------------------------------- translation
def test_translation_plain_and_streamed(gw, deepseek) -> None:
    deepseek.reply(content="Bonjour from DeepSeek.")
    msg = client(gw).messages.create(model="deepseek-chat", max_tokens=20000, system="Answer in French.",
                                     messages=ask(), metadata={"user_id": "u-1"}, stop_sequences=["###"])
    assert msg.content[0].text == "Bonjour from DeepSeek." and msg.stop_reason == "end_turn"
    assert msg.type == "message" and msg.id.startswith("msg_") and msg.model == "deepseek-chat"
    # DeepSeek reports its cache hits: Anthropic's usage counts them apart from input_tokens
    assert msg.usage.input_tokens + msg.usage.cache_read_input_tokens == 11 and msg.usage.cache_read_input_tokens
    assert msg.usage.output_tokens > 0
    sent = deepseek.last["json"]
    assert sent["messages"] == [{"role": "system", "content": "Answer in French."}, {"role": "user", "content": "Hi"}]
    assert sent["max_tokens"] == 8192  # within what the model can write
    assert (sent["stop"], sent["user"]) == (["###"], "u-1") and "refused" not in deepseek.last

    deepseek.reply(content="A streamed answer from an OpenAI-format upstream.", finish_reason="length")
    with client(gw).messages.stream(model="deepseek-chat", max_tokens=50, messages=ask()) as s:
        _, final = events_of(s)
    assert final.content[0].text == "A streamed answer from an OpenAI-format upstream."
    assert final.stop_reason == "max_tokens" and final.usage.output_tokens > 0
    assert final.usage.input_tokens + final.usage.cache_read_input_tokens == 11
    deepseek.reply(content="Again, in pieces.")
    assert documented_order(raw_stream(gw, {"model": "deepseek-chat", "max_tokens": 50, "messages": ask()}))


def test_translation_thinking_and_tool_use_round_trip(gw, deepseek) -> None:
    """DeepSeek's reasoning becomes a thinking block and its streamed tool call input_json_deltas; sent back,
    the thinking goes as reasoning_content on the tool-call turn, which DeepSeek requires (strict fake)."""
    deepseek.reply(reasoning="Read the file, then answer.", content="", tool_calls=[CALL])
    c = client(gw)
    with c.messages.stream(model="deepseek-reasoner", max_tokens=4096, tools=[READ],
                           thinking={"type": "enabled", "budget_tokens": 4096},
                           messages=ask("What is in notes.txt?")) as s:
        names, first = events_of(s)
    assert [b.type for b in first.content] == ["thinking", "tool_use"] and first.stop_reason == "tool_use"
    assert first.content[0].thinking == "Read the file, then answer."
    assert (first.content[1].id, first.content[1].name, first.content[1].input) == \
        ("toolu_01abc", "read_file", {"path": "notes.txt"})
    assert "input_json" in names and "thinking" in names
    assert deepseek.last["json"]["tools"] == [{"type": "function", "function": {
        "name": "read_file", "description": "Read a file", "parameters": READ["input_schema"]}}]

    deepseek.reply(content="The notes say: buy milk.")
    turn = [*ask("What is in notes.txt?"), {"role": "assistant", "content": [b.model_dump() for b in first.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01abc", "is_error": True,
                                          "content": "permission denied"}]}]
    with c.messages.stream(model="deepseek-reasoner", max_tokens=4096, tools=[READ], messages=turn) as s:
        _, final = events_of(s)
    assert final.content[-1].text == "The notes say: buy milk."
    assert "refused" not in deepseek.last, deepseek.last.get("refused")
    sent = deepseek.last["json"]["messages"]
    assert sent[1] == {"role": "assistant", "content": None, "reasoning_content": "Read the file, then answer.",
                       "tool_calls": [{"id": "toolu_01abc", "type": "function",
                                       "function": {"name": "read_file", "arguments": '{"path":"notes.txt"}'}}]}
    assert sent[2] == {"role": "tool", "tool_call_id": "toolu_01abc", "content": "Error: permission denied"}


def test_translation_image_and_local_count_tokens(gw, openai_fake) -> None:
    openai_fake.reply(content="A tiny picture.")
    content = [{"type": "text", "text": "What is this?", "cache_control": {"type": "ephemeral"}},
               {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
               {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}},
               {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain notes"}}]
    msg = client(gw).messages.create(model="gpt-4o", max_tokens=100, messages=[{"role": "user", "content": content}])
    assert msg.content[0].text == "A tiny picture."
    assert openai_fake.last["json"]["messages"][0]["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE"}},
        {"type": "text", "text": "plain notes"}]
    assert "refused" not in openai_fake.last
    text = "How many tokens is this sentence, counted by a real tokenizer?"
    counted = client(gw).messages.count_tokens(model="gpt-4o", messages=ask(text), system="Be brief.")
    assert counted.input_tokens == tokens.count(text) + tokens.count("Be brief.") + 3
    assert len(openai_fake.requests) == 1  # counted here: nothing asked upstream


def test_translation_errors_in_anthropic_shape(gw, deepseek) -> None:
    deepseek.reply(status=429, error={"error": {"message": "slow down", "type": "rate_limit"}})
    with pytest.raises(anthropic.RateLimitError) as e:
        client(gw).messages.create(model="deepseek-chat", max_tokens=10, messages=ask())
    assert e.value.body["type"] == "error" and e.value.body["error"]["type"] == "rate_limit_error"
    deepseek.reply(status=500)
    with pytest.raises(anthropic.InternalServerError) as e:
        client(gw).messages.create(model="deepseek-chat", max_tokens=10, messages=ask())
    assert e.value.status_code == 500 and e.value.body["error"]["type"] == "api_error"
    # cut off mid-stream: an `error` event, never a silently short answer
    deepseek.reply(raw=b'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,'
                       b'"delta":{"content":"Half"}}]}\n\n', headers={"content-type": "text/event-stream"})
    with pytest.raises(anthropic.APIStatusError, match="incomplete"), \
            client(gw).messages.stream(model="deepseek-chat", max_tokens=10, messages=ask()) as s:
        list(s)


# ------------------------------------------------------------------------------------- gateway rules
def test_gateway_errors_are_anthropic_shaped(gw) -> None:
    with pytest.raises(anthropic.AuthenticationError) as e:
        client(gw, key="sk-wrong").messages.create(model="claude", max_tokens=10, messages=ask())
    assert e.value.body["error"]["type"] == "authentication_error"
    with pytest.raises(anthropic.NotFoundError) as e:
        client(gw).messages.create(model="claude-sonnet-4-5-20250929", max_tokens=10, messages=ask())
    err = e.value.body["error"]
    assert err["type"] == "not_found_error" and "served: claude, kimi, deepseek-chat" in err["message"]
    assert "ANTHROPIC_DEFAULT" in err["message"]
    r = httpx.post(f"{gw.url}/v1/messages", json={"model": "claude", "messages": ask()},
                   headers={"x-api-key": MASTER})
    assert r.status_code == 400 and r.json() == {"type": "error", "error": {
        "type": "invalid_request_error",
        "message": "`max_tokens` is required: the most tokens the answer may have (an integer >= 1)"}}
    r = httpx.post(f"{gw.url}/v1/messages", content=b"model=claude", headers={"x-api-key": MASTER,
                                                                              "content-type": "text/plain"})
    assert r.status_code == 415 and r.json()["error"]["type"] == "invalid_request_error"
    r = httpx.get(f"{gw.url}/v1/messages", headers={"x-api-key": MASTER})
    assert r.status_code == 405 and r.json()["type"] == "error"
    # the OpenAI routes keep OpenAI's shape
    r = httpx.post(f"{gw.url}/v1/chat/completions", json={"model": "nope", "messages": ask()},
                   headers={"authorization": f"Bearer {MASTER}"})
    assert r.json()["error"]["code"] == "model_not_found"


def test_virtual_keys_allow_lists_budgets_and_usage_rows(gw, native, deepseek) -> None:
    admin = {"authorization": f"Bearer {MASTER}"}
    wait_for(lambda: httpx.get(f"{gw.url}/health/readiness").json()["db"] == "connected", "the store")
    made = httpx.post(f"{gw.url}/key/generate", json={"models": ["claude"], "key_alias": "cc"}, headers=admin).json()
    c = client(gw, key=made["key"])
    native.reply(content="Allowed.")
    assert c.messages.create(model="claude", max_tokens=10, messages=ask()).content[0].text == "Allowed."
    with pytest.raises(anthropic.PermissionDeniedError) as e:
        c.messages.create(model="deepseek-chat", max_tokens=10, messages=ask())
    assert e.value.body["error"]["type"] == "permission_error" and deepseek.requests == []
    with pytest.raises(anthropic.NotFoundError) as e:  # counting too: only its own models exist for a key
        c.messages.count_tokens(model="deepseek-chat", messages=ask())
    assert "served: claude." in e.value.body["error"]["message"] and "kimi" not in e.value.body["error"]["message"]
    # Bearer works as x-api-key does (Claude Code's ANTHROPIC_AUTH_TOKEN)
    bearer = anthropic.Anthropic(base_url=gw.url, auth_token=made["key"], max_retries=0)
    native.reply(content="Streamed.")
    with bearer.messages.stream(model="claude", max_tokens=10, messages=ask()) as s:
        assert s.get_final_text() == "Streamed."
    made_tiny = httpx.post(f"{gw.url}/key/generate", json={"max_budget": 0.0000001, "key_alias": "tiny"},
                           headers=admin).json()
    tiny, tiny_id = made_tiny["key"], made_tiny["token"]
    native.reply(content="Costs a little.")
    client(gw, key=tiny).messages.create(model="claude", max_tokens=10, messages=ask())
    with pytest.raises(anthropic.RateLimitError, match="budget"):
        client(gw, key=tiny).messages.create(model="claude", max_tokens=10, messages=ask())

    def rows(key_id: str, n: int):
        def ready() -> list[dict] | None:
            got = httpx.get(f"{gw.url}/spend/logs", params={"key_id": key_id}, headers=admin).json()
            return got if len(got) >= n else None
        return wait_for(ready, "the usage rows")

    logged = rows(made["token"], 3)
    assert sorted((r["route"], r["status"], r["model"], r["stream"]) for r in logged) == [
        ("messages", 200, "claude", False), ("messages", 200, "claude", True),
        ("messages", 403, "deepseek-chat", False)]
    ok = next(r for r in logged if r["status"] == 200 and r["stream"])
    assert ok["prompt_tokens"] == 11 and ok["completion_tokens"] > 0 and ok["spend"] > 0
    assert [r["status"] for r in rows(tiny_id, 2)] == [429, 200]  # newest first


def test_fallback_from_a_failing_passthrough_to_a_translated_model(native, deepseek, gateway_factory) -> None:
    g = gateway_factory(f"""
settings:
  num_retries: 0
  fallbacks: {{claude: [deepseek-chat]}}
models:
  - {{name: claude, model: anthropic/claude-sonnet-4-5, api_base: {native.url}, api_key: {KEY}}}
  - {{name: deepseek-chat, model: deepseek/deepseek-chat, api_base: {deepseek.url}/v1, api_key: {KEY}}}
""")
    native.script.append(strict_anthropic.error(529))
    deepseek.reply(content="Answered by the fallback.")
    msg = anthropic.Anthropic(base_url=g.url, api_key="x", max_retries=0).messages.create(
        model="claude", max_tokens=10, messages=ask())
    assert msg.content[0].text == "Answered by the fallback."
    assert json.loads(json.dumps(deepseek.last["json"]["messages"])) == [{"role": "user", "content": "Hi"}]


def test_unknown_fields_are_not_lost_on_passthrough(gw, native) -> None:
    """What Accord does not know (a newer field) still reaches an Anthropic-shaped upstream as sent."""
    native.reply(content="ok")
    r = httpx.post(f"{gw.url}/v1/messages", headers={"x-api-key": MASTER, "anthropic-version": "2023-06-01"},
                   json={"model": "claude", "max_tokens": 10, "messages": ask(),
                         "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]}})
    assert r.status_code == 200, r.text
    assert native.last["json"]["context_management"] == {"edits": [{"type": "clear_tool_uses_20250919"}]}
    assert r.headers["x-accord-model"] == "claude"



def test_translated_thinking_is_said_the_way_each_vendor_says_it(gateway_factory) -> None:
    """Qwen on DashScope thinks by `enable_thinking` + `thinking_budget`, and only when streamed: a plain JSON
    request with thinking on is streamed upstream and assembled (the strict fake refuses it otherwise)."""
    with FakeUpstream(vendor="dashscope") as qwen:
        g = gateway_factory(f"""
settings: {{num_retries: 0}}
models:
  - {{name: qwen, model: dashscope/qwen-plus, api_base: {qwen.url}/v1, api_key: {KEY}}}
""")
        qwen.reply(reasoning="Thinking it over.", content="Forty-two.")
        msg = anthropic.Anthropic(base_url=g.url, api_key="x", max_retries=0).messages.create(
            model="qwen", max_tokens=8000, thinking={"type": "enabled", "budget_tokens": 4000}, messages=ask())
        assert [(b.type, getattr(b, "thinking", None) or getattr(b, "text", None)) for b in msg.content] == [
            ("thinking", "Thinking it over."), ("text", "Forty-two.")]
        sent = qwen.last["json"]
        assert "refused" not in qwen.last and sent["enable_thinking"] is True and sent["stream"] is True
        assert sent["thinking_budget"] > 0 and "thinking" not in sent and "reasoning_effort" not in sent


def test_vendor_anthropic_endpoints_are_data(tmp_path) -> None:
    from accord.config import parse

    cfg = parse(f"""
models:
  - {{name: ds, model: deepseek/deepseek-chat, api_key: {KEY}}}
  - {{name: kimi, model: moonshot/kimi-k2-0905-preview, api_key: {KEY}}}
  - {{name: qwen, model: dashscope/qwen-plus, api_key: {KEY}}}
  - {{name: qwen-cn, model: dashscope-cn/qwen-plus, api_key: {KEY}}}
  - {{name: proxied, model: deepseek/deepseek-chat, api_base: http://proxy.local/v1, api_key: {KEY}}}
  - {{name: moved, model: deepseek/deepseek-chat, api_base: http://proxy.local/v1,
      anthropic_base: http://proxy.local/anthropic/, api_key: {KEY}}}
  - {{name: gpt, model: openai/gpt-4o, api_key: {KEY}}}
  - {{name: translated, model: deepseek/deepseek-chat, anthropic_base: "", api_key: {KEY}}}
""")
    bases = {d.name: d.anthropic_base for d in cfg.deployments}
    assert bases == {"ds": "https://api.deepseek.com/anthropic", "kimi": "https://api.moonshot.ai/anthropic",
                     "qwen": "https://dashscope-intl.aliyuncs.com/apps/anthropic",
                     "qwen-cn": "https://dashscope.aliyuncs.com/apps/anthropic",
                     "proxied": None,  # a proxy of the OpenAI endpoint says nothing about an Anthropic one
                     "moved": "http://proxy.local/anthropic", "gpt": None,
                     "translated": ""}  # turned off: translated, like any OpenAI-format upstream
    shown = {m["name"]: m.get("anthropic_base") for m in cfg.redacted()["models"]}
    assert shown["moved"] == "http://proxy.local/anthropic" and shown["gpt"] is None


def test_an_upstream_error_event_never_shows_the_provider_key(gw, native) -> None:
    native.script.append(strict_anthropic.stream([
        {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
                                              "model": "claude-sonnet-4-5", "content": [], "stop_reason": None,
                                              "usage": {"input_tokens": 3, "output_tokens": 1}}},
        {"type": "error", "error": {"type": "api_error", "message": f"bad key {KEY} in proxy"}}]))
    with httpx.stream("POST", f"{gw.url}/v1/messages", headers={"x-api-key": MASTER},
                      json={"model": "claude", "max_tokens": 10, "messages": ask(), "stream": True}) as r:
        text = r.read().decode()
    assert "bad key **** in proxy" in text and KEY not in text
    # the stream ended cleanly, but failed: its usage row says so
    admin = {"authorization": f"Bearer {MASTER}"}
    wait_for(lambda: httpx.get(f"{gw.url}/health/readiness").json()["db"] == "connected", "the store")
    row = wait_for(lambda: next((r for r in httpx.get(f"{gw.url}/spend/logs", params={"status": "error"},
                                                      headers=admin).json() if r["error_type"] == "api_error"), None),
                   "the failed stream's usage row")
    assert (row["status"], row["route"], row["model"], row["stream"]) == (500, "messages", "claude", True)


def test_translated_parallel_tool_calls_become_one_block_each(gw, deepseek) -> None:
    second = {"id": "call_02", "type": "function", "function": {"name": "read_file", "arguments": '{"path": "b"}'}}
    deepseek.reply(content="Reading both.", tool_calls=[CALL, second])
    with client(gw).messages.stream(model="deepseek-chat", max_tokens=100, tools=[READ], messages=ask()) as s:
        _, final = events_of(s)
    assert [(b.type, getattr(b, "id", None)) for b in final.content] == [
        ("text", None), ("tool_use", "toolu_01abc"), ("tool_use", "call_02")]
    assert [b.input for b in final.content[1:]] == [{"path": "notes.txt"}, {"path": "b"}]
    assert final.stop_reason == "tool_use"
    deepseek.reply(content="", tool_calls=[CALL, second])
    msg = client(gw).messages.create(model="deepseek-chat", max_tokens=100, tools=[READ], messages=ask())
    assert [b.id for b in msg.content] == ["toolu_01abc", "call_02"] and msg.stop_reason == "tool_use"
