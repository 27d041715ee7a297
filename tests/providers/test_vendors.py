"""Each vendor quirk in accord.providers, through the openai SDK or the MCP client, against the strict fake of
its vendor (tests/strict): the request goes through only because of the quirk (each test fails without it)."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import openai
import pytest
from test_conformance_anthropic_gemini import KEY as PROVIDER_KEY
from test_conformance_anthropic_gemini import MASTER as NATIVE_KEY
from test_conformance_anthropic_gemini import answer as native_answer
from test_conformance_anthropic_gemini import config as native_config

from accord.config import parse
from accord.mcp.server import build
from accord.mcp.state import State
from conftest import MASTER_KEY, Gateway
from mcp import Client
from strict import StrictUpstream, rate_limited
from strict.panel import answer, config, refused, thinking

USER = {"role": "user", "content": "6 x 7?"}
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}
# the China rows and Azure carry quirks of their own (vendors.py): each gets a model on its vendor's fake
EXTRA = """  - {{name: qwen-thinking-only, model: dashscope/qwen3-235b-a22b-thinking-2507, api_base: {dashscope}/v1, api_key: k}}
  - {{name: qwen-cn-thinking-only, model: dashscope-cn/qwen3-235b-a22b-thinking-2507, api_base: {dashscope}/v1, api_key: k}}
  - {{name: qwen, model: dashscope/qwen-plus, api_base: {dashscope}/v1, api_key: k}}
  - {{name: kimi-cn, model: moonshot-cn/kimi-k2-0905-preview, api_base: {moonshot}/v1, api_key: k}}
  - {{name: azure-o3, model: azure/o3, api_base: {openai}, api_key: sk-azure-0000}}
"""


@pytest.fixture(scope="module")
def gateway_url(strict_servers) -> Iterator[str]:
    rows = EXTRA.format(**{v: strict_servers[v].url for v in ("dashscope", "moonshot", "openai")})
    text = config(strict_servers, MASTER_KEY).replace("mcp:\n", rows + "mcp:\n")
    gw = Gateway(text)
    yield gw.url
    gw.stop()


@pytest.fixture
def client(gateway_url: str, strict) -> Iterator[openai.OpenAI]:
    yield openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=MASTER_KEY, max_retries=0)
    bad = [r for fake in strict.values() for r in refused(fake)]
    assert not bad, f"requests the real vendors refuse: {bad}"


def sent(fake) -> dict:
    return fake.requests[-1]["json"]


# ------------------------------------------------------------------------------------------------ Moonshot
@pytest.mark.parametrize("name", ["kimi", "kimi-cn"])
def test_kimi_temperature_is_clamped_to_its_range(client, strict, name: str):
    r = client.chat.completions.create(model=name, messages=[USER], temperature=1.6)
    assert r.choices[0].message.content == answer("kimi-k2-0905-preview")
    assert sent(strict["moonshot"])["temperature"] == 1.0


@pytest.mark.parametrize("name", ["kimi", "kimi-cn"])
def test_kimi_tool_choice_required_becomes_auto(client, strict, name: str):
    r = client.chat.completions.create(model=name, messages=[USER], tools=[WEATHER], tool_choice="required")
    assert r.choices[0].message.tool_calls[0].function.name == "get_weather"
    assert sent(strict["moonshot"])["tool_choice"] == "auto"


# ------------------------------------------------------------------------------------------------ DeepSeek
def test_deepseek_reasoning_is_dropped_from_plain_turns_and_kept_on_tool_turns(client, strict):
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    history = [USER, {"role": "assistant", "content": "42", "reasoning_content": "6*7"},
               {"role": "user", "content": "Weather?"},
               {"role": "assistant", "content": "", "tool_calls": [call], "reasoning_content": "look it up"},
               {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
               {"role": "assistant", "content": "Sunny.", "reasoning_content": "read the tool"},
               {"role": "user", "content": "Thanks; and 6 x 8?"}]
    r = client.chat.completions.create(model="deepseek-reasoner", messages=history, tools=[WEATHER])
    assert r.choices[0].message.tool_calls  # the strict fake accepted the history
    got = sent(strict["deepseek"])["messages"]
    assert [m.get("reasoning_content") for m in got] == [None, None, None, "look it up", None, None, None]


def test_deepseek_gets_developer_messages_as_system(client, strict):
    r = client.chat.completions.create(model="deepseek-chat", messages=[{"role": "developer", "content": "Be brief."},
                                                                       USER])
    assert r.choices[0].message.content == answer("deepseek-chat")
    assert sent(strict["deepseek"])["messages"][0] == {"role": "system", "content": "Be brief."}


# -------------------------------------------------------------------------------------------------- OpenAI
def test_openai_reasoning_models_get_max_completion_tokens_and_no_sampling(client, strict):
    r = client.chat.completions.create(model="o3", messages=[USER], max_tokens=300, temperature=0.2, top_p=0.9)
    assert r.choices[0].message.content == answer("o3")
    body = sent(strict["openai"])
    assert body["max_completion_tokens"] == 300 and not {"max_tokens", "temperature", "top_p"} & set(body)
    client.chat.completions.create(model="gpt-4o", messages=[USER], max_tokens=300, temperature=0.2)
    assert sent(strict["openai"])["max_tokens"] == 300  # models that take max_tokens keep it


def test_azure_reasoning_models_get_max_completion_tokens_too(client, strict):
    r = client.chat.completions.create(model="azure-o3", messages=[USER], max_tokens=300)
    assert r.choices[0].message.content == answer("o3")
    rec = strict["openai"].requests[-1]
    assert rec["path"] == "/openai/deployments/o3/chat/completions" and rec["headers"]["api-key"] == "sk-azure-0000"
    assert rec["json"]["max_completion_tokens"] == 300 and "max_tokens" not in rec["json"]


def test_stream_options_are_dropped_from_a_json_call(client, strict):
    r = client.chat.completions.create(model="gpt-4o", messages=[USER],
                                       extra_body={"stream_options": {"include_usage": True}})
    assert r.choices[0].message.content == answer("gpt-4o")


# ----------------------------------------------------------------------------------------------- DashScope
@pytest.mark.parametrize("name,model", [("qwen-thinking", "qwen-plus"),
                                        ("qwen-thinking-only", "qwen3-235b-a22b-thinking-2507"),
                                        ("qwen-cn-thinking-only", "qwen3-235b-a22b-thinking-2507")])
def test_dashscope_thinking_is_streamed_for_a_json_client(client, strict, name: str, model: str):
    r = client.chat.completions.create(model=name, messages=[USER])
    msg = r.choices[0].message
    assert msg.content == answer(model) and msg.model_extra["reasoning_content"] == thinking(model)
    assert r.usage.completion_tokens > 0 and r.choices[0].finish_reason == "stop"
    assert sent(strict["dashscope"])["stream"] is True


@pytest.mark.parametrize("effort,wire", [
    ("high", {"enable_thinking": True, "thinking_budget": 16_384}),
    ("xhigh", {"enable_thinking": True, "thinking_budget": 16_384}),  # capped: half of qwen-plus's 32k output
    ("none", {"enable_thinking": False}),
])
def test_a_gateway_reasoning_effort_is_said_as_qwens_own_switch_and_budget(client, strict, effort: str, wire):
    r = client.chat.completions.create(model="qwen", messages=[USER], reasoning_effort=effort)
    assert r.choices[0].message.content == answer("qwen-plus")
    body = sent(strict["dashscope"])
    assert {k: body[k] for k in wire} == wire and "reasoning_effort" not in body  # DashScope ignores it
    assert bool(body.get("stream")) is (effort != "none")  # thinking on: streamed, assembled for this JSON client


# -------------------------------------------------------------------------------- thinking levels (MCP chat)
@pytest.mark.parametrize("name,level,effort", [
    ("o3", "off", "low"),  # the o-series refuse "minimal"
    ("gpt-5", "off", "minimal"),
    ("gpt-5.1", "off", "none"),  # gpt-5.1 refuses gpt-5's "minimal"
    ("gpt-4o", "high", None),  # a model that cannot think refuses reasoning_effort
])
async def test_thinking_levels_say_what_each_openai_model_accepts(strict, name: str, level: str, effort):
    state = State.create(parse(config(strict)))
    await state.start()
    try:
        async with Client(build(state)) as c:
            r = await c.call_tool("chat", {"prompt": "6 x 7?", "model": name, "thinking": level})
    finally:
        await state.close()
    assert not r.is_error, r.content[0].text
    assert sent(strict["openai"]).get("reasoning_effort") == effort
    assert not refused(strict["openai"])


@pytest.mark.parametrize("name,effort,accepted", [
    ("o3", "none", "low"),  # the o-series cannot stop thinking
    ("gpt-5", "none", "minimal"),
    ("gpt-5.1", "minimal", "low"),  # gpt-5.1 refuses gpt-5's "minimal"
    ("gpt-5", "xhigh", "high"),  # no o-series or gpt-5 model takes "xhigh"
])
def test_a_gateway_reasoning_effort_is_said_as_each_openai_model_accepts(client, strict, name, effort, accepted):
    r = client.chat.completions.create(model=name, messages=[USER], reasoning_effort=effort)
    assert r.choices[0].message.content == answer(name.removeprefix("openai/"))
    assert sent(strict["openai"])["reasoning_effort"] == accepted
    assert not refused(strict["openai"])


# ---------------------------------------------------------- Anthropic: OpenAI's format translated (translate_anthropic)
@pytest.fixture(scope="module")
def claude_server() -> Iterator[StrictUpstream]:
    fake = StrictUpstream().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def claude_url(claude_server: StrictUpstream) -> Iterator[str]:
    # and Kimi's Anthropic-compatible endpoint (vendors.py anthropic_base), which /v1/messages passes through to
    kimi = (f"  - {{name: kimi, model: moonshot/kimi-k2-0905-preview, api_base: {claude_server.url}/v1, "
            f"anthropic_base: {claude_server.url}/anthropic, api_key: {PROVIDER_KEY}}}\n")
    gw = Gateway(native_config(claude_server.url).replace("consensus:", kimi + "consensus:", 1))
    yield gw.url
    gw.stop()


@pytest.fixture
def claude(claude_server: StrictUpstream, claude_url: str) -> Iterator[tuple[openai.OpenAI, StrictUpstream]]:
    """An openai client on the gateway, and the strict Anthropic fake behind its `claude` model."""
    claude_server.reset()
    claude_server.responder = native_answer
    yield openai.OpenAI(base_url=f"{claude_url}/v1", api_key=NATIVE_KEY, max_retries=0), claude_server
    assert claude_server.refusals == [], claude_server.refusals


def test_claude_gets_the_tool_results_first_in_their_turn(claude):
    client, fake = claude
    calls = [{"id": f"toolu_{city}", "type": "function",
              "function": {"name": "get_weather", "arguments": f'{{"city": "{city}"}}'}} for city in ("Paris", "Lyon")]
    msgs = [{"role": "user", "content": "Weather in Paris and Lyon?"},
            {"role": "assistant", "content": None, "tool_calls": calls},
            {"role": "tool", "tool_call_id": "toolu_Paris", "content": "sunny"},
            {"role": "user", "content": "Lyon's station is slow; wait for it."},  # a client's note between results
            {"role": "tool", "tool_call_id": "toolu_Lyon", "content": "rainy"}]
    client.chat.completions.create(model="claude", messages=msgs, tools=[WEATHER])
    turn = fake.last["json"]["messages"][-1]["content"]  # one user turn, as Claude's turns alternate
    assert [b["type"] for b in turn] == ["tool_result", "tool_result", "text"]


def test_claude_gets_no_empty_text_blocks(claude):
    client, fake = claude
    call = {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    msgs = [{"role": "user", "content": [{"type": "text", "text": ""}, {"type": "text", "text": "Weather?"}]},
            {"role": "assistant", "content": "", "tool_calls": [call]},  # as many clients send a tool-call turn
            {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"}]
    client.chat.completions.create(model="claude", messages=msgs, tools=[WEATHER])
    sent = fake.last["json"]["messages"]
    assert sent[0]["content"] == [{"type": "text", "text": "Weather?"}]
    assert [b["type"] for b in sent[1]["content"]] == ["tool_use"]


def test_claude_gets_back_only_signed_thinking(claude):
    client, fake = claude
    echoed = {"role": "assistant", "content": "Paris.",  # a proxy on the way lost the signature
              "thinking_blocks": [{"type": "thinking", "thinking": "The capital, so Paris."}]}
    r = client.chat.completions.create(model="claude", messages=[
        {"role": "user", "content": "Capital of France?"}, echoed, {"role": "user", "content": "Capital of France?"}])
    assert r.choices[0].message.content
    assert fake.last["json"]["messages"][1]["content"] == [{"type": "text", "text": "Paris."}]


def test_claude_is_asked_for_json_in_the_system_prompt(claude):
    client, fake = claude
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "Capital of France?"}],
                                   response_format={"type": "json_schema",
                                                    "json_schema": {"name": "capital", "schema": schema}})
    system = fake.last["json"]["system"]  # Anthropic has no response_format: the instruction is the JSON mode
    assert "single valid JSON object" in system and '"city"' in system


def test_kimis_anthropic_endpoint_gets_the_key_as_a_bearer_token_too(claude, claude_url):
    _, fake = claude
    c = anthropic.Anthropic(base_url=claude_url, api_key=NATIVE_KEY, max_retries=0)
    msg = c.messages.create(model="kimi", max_tokens=200, messages=[{"role": "user", "content": "Capital of France?"}])
    assert msg.content[0].text
    rec = fake.last
    assert rec["path"] == "/anthropic/v1/messages" and rec["headers"]["x-api-key"] == PROVIDER_KEY
    # platform.moonshot.ai's Claude Code guide sets ANTHROPIC_AUTH_TOKEN: the key as `Authorization: Bearer`
    assert rec["headers"]["authorization"] == f"Bearer {PROVIDER_KEY}"


# ------------------------------------------------------------------------------------------ rate limits
def test_a_vendor_429_reaches_the_client_with_its_retry_after(strict, gateway_factory):
    fake = strict["deepseek"]
    fake.responder = lambda req: rate_limited("deepseek", retry_after=7)
    gw = gateway_factory(config(strict, MASTER_KEY))
    c = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=MASTER_KEY, max_retries=0)
    with pytest.raises(openai.RateLimitError) as e:
        c.chat.completions.create(model="deepseek-chat", messages=[USER])
    assert e.value.status_code == 429 and e.value.response.headers["retry-after"] == "7"
    assert "Rate limit reached" in e.value.message
