"""Conformance: every request Accord sends to Claude and Gemini is one the strict fakes (the providers'
documented rules, tests/strict/) accept, and the answer comes back complete in OpenAI's format.

Entry points: `/v1/chat/completions` through the openai SDK, the MCP `chat` and `consensus` tools through the
official MCP client, and `accord ask`. Models: Claude without and with thinking, Gemini Flash without and
Gemini Pro with thinking (the Pro cannot turn thinking off).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator

import anthropic
import openai
import orjson
import pytest
from test_main import run as accord

from accord.config import parse
from accord.mcp.server import build
from accord.mcp.state import State
from clientkit import (
    anthropic_tool,
    message_turn,
    response_turn,
    responses_tool,
    tool_result_item,
    tool_result_message,
)
from conftest import Gateway
from fakes import Reply
from mcp import Client
from panelkit import chair_json
from strict import StrictUpstream
from strict import anthropic as strict_anthropic
from strict import gemini as strict_gemini

MASTER = "sk-accord-conformance"
KEY = "sk-provider-conformance-1234"
MODELS = ["claude", "claude-thinking", "gemini", "gemini-thinking"]
THINKS = {"claude-thinking", "gemini-thinking"}
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
ANSWER, AFTER_TOOL, REASONING = "Paris is the capital of France.", "It is sunny in Paris.", "Weighing the question."


def config(url: str, extra: str = "") -> str:
    m = f"api_base: {url}, api_key: {KEY}"
    return f"""
settings:
  master_key: {MASTER}
  num_retries: 0
models:
  - {{name: claude, model: anthropic/claude-sonnet-4-5, {m}}}
  - {{name: claude-thinking, model: anthropic/claude-sonnet-4-5, {m}, params: {{reasoning_effort: medium}}}}
  - {{name: gemini, model: gemini/gemini-2.5-flash, {m}}}
  - {{name: gemini-thinking, model: gemini/gemini-2.5-pro, {m}, params: {{reasoning_effort: medium}}}}
  - {{name: gemini-lite, model: gemini/gemini-2.5-flash-lite, {m}}}
  - {{name: gemini-3, model: gemini/gemini-3-pro-preview, {m}}}
consensus:
  panel: [claude, claude-thinking, gemini, gemini-thinking]
  chair: claude
mcp:
  heartbeat: 0.2
{extra}"""


# ------------------------------------------------------------------------------ what the fake answers
def _view(rec: dict) -> tuple[bool, bool, bool, str]:
    """(thinking on, may call get_weather, last turn is a tool result, last user text) of a native request."""
    body = rec["json"]
    if rec["path"].endswith("/messages"):
        thinks = (body.get("thinking") or {}).get("type") == "enabled"
        may_call = any(t.get("name") == "get_weather" for t in body.get("tools") or ()) and \
            (body.get("tool_choice") or {}).get("type") != "none"
        last = body["messages"][-1]["content"]
        blocks = [{"type": "text", "text": last}] if isinstance(last, str) else last
        result = any(b.get("type") == "tool_result" for b in blocks)
        text = " ".join(b.get("text", "") for b in blocks if b.get("type") == "text")
    else:
        gc = body.get("generationConfig") or {}
        thinks = bool((gc.get("thinkingConfig") or {}).get("includeThoughts"))
        names = [d.get("name") for t in body.get("tools") or () for d in t.get("functionDeclarations") or ()]
        mode = ((body.get("toolConfig") or {}).get("functionCallingConfig") or {}).get("mode")
        may_call = "get_weather" in names and mode != "NONE"
        parts = body["contents"][-1]["parts"]
        result = any("functionResponse" in p for p in parts)
        text = " ".join(p.get("text", "") for p in parts)
    return thinks, may_call, result, text


def answer(rec: dict) -> Reply:
    thinks, may_call, result, text = _view(rec)
    reasoning = REASONING if thinks else None
    if text.startswith("You chair a panel"):
        return Reply(content=chair_json(["claude", "gemini"]), reasoning=reasoning)
    if result and not text.strip():  # tool results alone: answer from them
        return Reply(content=AFTER_TOOL, reasoning=reasoning)
    if may_call:
        call = {"id": "toolu_01WeatherParis", "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
        return Reply(content="", reasoning=reasoning, tool_calls=[call])
    return Reply(content=ANSWER, reasoning=reasoning)


@pytest.fixture(scope="session")
def strict_server() -> Iterator[StrictUpstream]:
    fake = StrictUpstream().start()
    yield fake
    fake.stop()


@pytest.fixture
def strict(strict_server: StrictUpstream) -> Iterator[StrictUpstream]:
    strict_server.reset()
    strict_server.responder = answer
    yield strict_server
    assert strict_server.refusals == [], strict_server.refusals  # every request was one the provider accepts


@pytest.fixture(scope="module")
def gateway(strict_server: StrictUpstream) -> Iterator[Gateway]:
    g = Gateway(config(strict_server.url))
    yield g
    g.stop()


@pytest.fixture
def client(gateway: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=MASTER, max_retries=0)


def collect(stream) -> dict:
    """What an OpenAI client assembles from a stream."""
    out: dict = {"content": "", "reasoning": "", "tools": {}, "finish": None, "usage": None}
    for chunk in stream:
        if chunk.usage:
            out["usage"] = chunk.usage
        for ch in chunk.choices:
            d = ch.delta.model_dump()
            out["content"] += d.get("content") or ""
            out["reasoning"] += d.get("reasoning_content") or ""
            for tc in d.get("tool_calls") or ():
                slot = out["tools"].setdefault(tc["index"], {"id": None, "name": None, "arguments": ""})
                slot["id"] = tc.get("id") or slot["id"]
                slot["name"] = (tc.get("function") or {}).get("name") or slot["name"]
                slot["arguments"] += (tc.get("function") or {}).get("arguments") or ""
            out["finish"] = ch.finish_reason or out["finish"]
    return out


def ask(client: openai.OpenAI, model: str, messages: list, stream: bool, **kw) -> dict:
    """One chat completion, streamed or not, as {content, reasoning, tools, finish, usage, message}."""
    if stream:
        return collect(client.chat.completions.create(model=model, messages=messages, stream=True,
                                                      stream_options={"include_usage": True}, **kw))
    r = client.chat.completions.create(model=model, messages=messages, **kw)
    msg = r.choices[0].message
    d = msg.model_dump()
    tools = {i: {"id": tc.id, "name": tc.function.name, "arguments": tc.function.arguments}
             for i, tc in enumerate(msg.tool_calls or ())}
    return {"content": msg.content or "", "reasoning": d.get("reasoning_content") or "", "tools": tools,
            "finish": r.choices[0].finish_reason, "usage": r.usage, "message": msg}


def check_answer(out: dict, model: str, content: str, thinks: bool | None = None) -> None:
    assert out["content"] == content
    assert out["reasoning"] == (REASONING if (model in THINKS if thinks is None else thinks) else "")
    assert out["finish"] == "stop"
    assert out["usage"] is not None and out["usage"].prompt_tokens > 0 and out["usage"].completion_tokens > 0


def check_call(out: dict, model: str) -> dict:
    assert out["finish"] == "tool_calls"
    assert out["reasoning"] == (REASONING if model in THINKS else "")
    (call,) = out["tools"].values()
    assert call["id"] and call["name"] == "get_weather" and json.loads(call["arguments"]) == {"city": "Paris"}
    return call


# ------------------------------------------------------------------------------ /v1/chat/completions
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("model", MODELS)
def test_gateway_plain_and_with_tools(client, strict, model, stream):
    q = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}]
    check_answer(ask(client, model, q, stream, temperature=0.3, top_p=0.9, max_tokens=2000), model, ANSWER)
    check_call(ask(client, model, [{"role": "user", "content": "Weather in Paris?"}], stream, tools=[WEATHER]),
               model)


@pytest.mark.parametrize("history", ["echoed", "standard"])
@pytest.mark.parametrize("model", [*MODELS, "gemini-3"])
def test_gateway_multi_turn_with_reasoning_and_tool_calls(client, strict, model, history):
    """The client sends back the previous turns: the assistant message as the SDK gave it (reasoning, signed
    thinking blocks, Gemini's thought signatures), or only the standard OpenAI fields."""
    msgs: list = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather in Paris?"}]
    first = ask(client, model, msgs, False, tools=[WEATHER])
    call = check_call(first, model)
    m = first["message"]
    msgs.append(m.model_dump(exclude_none=True) if history == "echoed" else {
        "role": "assistant", "content": m.content,
        "tool_calls": [{"id": call["id"], "type": "function",
                        "function": {"name": call["name"], "arguments": call["arguments"]}}]})
    msgs.append({"role": "tool", "tool_call_id": call["id"], "content": "sunny, 21 C"})
    second = ask(client, model, msgs, False, tools=[WEATHER])
    if model.startswith("gemini") and history == "echoed":  # Gemini's thought signature went back with its call
        sent = strict.last["json"]["contents"][1]["parts"]
        assert [p.get("thoughtSignature") for p in sent if "functionCall" in p] == ["fake-thought-signature"]
    # Claude cannot think while continuing a tool call whose signed thinking block the client dropped
    lost = model == "claude-thinking" and history == "standard"
    check_answer(second, model, AFTER_TOOL, thinks=False if lost else None)
    msgs += [second["message"].model_dump(exclude_none=True) if history == "echoed" else
             {"role": "assistant", "content": second["content"]},
             {"role": "user", "content": "Capital of France?"}]
    check_answer(ask(client, model, msgs, True), model, ANSWER)  # the follow-up without tools, streamed


@pytest.mark.parametrize("model", MODELS)
def test_gateway_history_from_another_provider(client, strict, model):
    """Parallel tool calls another vendor made earlier (Kimi's ids look like `functions.name:0`), their results,
    then a user message: adjacent turns of one role must reach Claude and Gemini as one turn."""
    calls = [{"id": f"functions.get_weather:{i}", "type": "function",
              "function": {"name": "get_weather", "arguments": json.dumps({"city": city})}}
             for i, city in enumerate(["Paris", "Lyon"])]
    msgs = [{"role": "user", "content": "Weather in Paris and Lyon?"},
            {"role": "assistant", "content": None, "tool_calls": calls},
            *({"role": "tool", "tool_call_id": c["id"], "content": "sunny"} for c in calls),
            {"role": "user", "content": "Capital of France?"}]
    # Claude cannot think while continuing a tool call that has no signed thinking block of its own
    check_answer(ask(client, model, msgs, False), model, ANSWER, thinks=False if model == "claude-thinking" else None)
    check_answer(ask(client, model, msgs[:-1], False, tools=[WEATHER]), model, AFTER_TOOL,
                 thinks=False if model == "claude-thinking" else None)


@pytest.mark.parametrize("effort", ["none", "minimal", "low", "medium", "high", "xhigh"])
@pytest.mark.parametrize("model", [*MODELS, "gemini-lite", "gemini-3"])
def test_gateway_every_reasoning_effort(client, strict, model, effort):
    """Each Gemini family takes its own thinking budgets (or, for Gemini 3, levels); every effort fits."""
    out = ask(client, model, [{"role": "user", "content": "Capital of France?"}], False, reasoning_effort=effort)
    assert out["content"] == ANSWER and out["finish"] == "stop"


# ------------------------------------------------------------------------------ /v1/messages, /v1/responses
@pytest.mark.parametrize("stream", [False, True], ids=["json", "streamed"])
@pytest.mark.parametrize("entry", ["messages", "responses"])
@pytest.mark.parametrize("model", MODELS)
def test_entry_point_plain_tools_thinking_and_multi_turn(gateway, strict, model, entry, stream):
    """The anthropic SDK (passed through to Claude, translated for Gemini) and the Responses API (translated for
    both): a question, a tool round trip, and a follow-up carrying back the earlier reasoning and tool calls."""
    thinks = model in THINKS
    if entry == "messages":
        c = anthropic.Anthropic(base_url=gateway.url, api_key=MASTER, max_retries=0)
        asked = {"thinking": {"type": "enabled", "budget_tokens": 1024}} if thinks else {}
        kw = {"model": model, "max_tokens": 2000, "tools": [anthropic_tool(WEATHER)], **asked}
        turn, key, result = message_turn, "messages", tool_result_message
    else:
        c = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=MASTER, max_retries=0)
        asked = {"reasoning": {"effort": "medium"}} if thinks else {}
        kw = {"model": model, "max_output_tokens": 2000, "tools": [responses_tool(WEATHER)], **asked}
        turn, key, result = response_turn, "input", tool_result_item
    reasoning = REASONING if thinks else ""

    def ask(text: str) -> dict:
        return {"role": "user", "content": text}

    plain = turn(c, stream, **{k: v for k, v in kw.items() if k != "tools"}, **{key: [ask("Capital of France?")]})
    assert (plain.text, plain.reasoning) == (ANSWER, reasoning)
    assert plain.output_tokens > 0 and plain.stop in ("end_turn", "completed")
    history = [ask("Weather in Paris?")]
    first = turn(c, stream, **kw, **{key: history})
    assert [(n, a) for _, n, a in first.calls] == [("get_weather", {"city": "Paris"})]
    assert first.reasoning == reasoning and first.stop in ("tool_use", "completed")
    history += [*first.echo, result(first.calls[0][0], "sunny, 21 C")]
    second = turn(c, stream, **kw, **{key: history})
    assert (second.text, second.reasoning) == (AFTER_TOOL, reasoning)
    history += [*second.echo, ask("Weather in Paris again?")]
    third = turn(c, stream, **kw, **{key: history})
    assert [n for _, n, _ in third.calls] == ["get_weather"] and third.reasoning == reasoning


# ------------------------------------------------------------------------------ provider error shapes
@pytest.mark.parametrize(("model", "reply", "status", "kind"), [
    ("claude", strict_anthropic.error(429, "Number of request tokens has exceeded your per-minute rate limit"),
     429, openai.RateLimitError),
    ("claude", strict_anthropic.error(529, "Overloaded"), None, openai.InternalServerError),
    ("claude", strict_anthropic.error(400, "prompt is too long: 210000 tokens > 200000 maximum"), 400,
     openai.BadRequestError),
    ("gemini", strict_gemini.error(429, "Resource has been exhausted (e.g. check quota)."), 429,
     openai.RateLimitError),
    ("gemini", strict_gemini.error(400, "Request contains an invalid argument."), 400, openai.BadRequestError),
], ids=["claude-429", "claude-529", "claude-400", "gemini-429", "gemini-400"])
def test_documented_errors_reach_the_client(strict, gateway_factory, model, reply, status, kind):
    strict.responder = lambda rec: reply
    gw = gateway_factory(config(strict.url))  # its own router: an error cools the deployment down
    c = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=MASTER, max_retries=0)
    message = (reply.error.get("error") or {}).get("message")
    with pytest.raises(kind) as e:
        c.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    assert message in str(e.value.message) and KEY not in str(e.value.message)
    if status:
        assert e.value.status_code == status


def test_anthropic_overloaded_mid_stream_is_an_error_not_a_short_answer(strict, gateway_factory):
    start = {"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "content": [],
             "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 9, "output_tokens": 1}}
    strict.responder = lambda rec: strict_anthropic.stream([
        {"type": "message_start", "message": start}, {"type": "ping"},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Par"}},
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}])
    gw = gateway_factory(config(strict.url))
    c = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=MASTER, max_retries=0)
    got = ""
    with pytest.raises(openai.APIError) as e:
        for chunk in c.chat.completions.create(model="claude", messages=[{"role": "user", "content": "hi"}],
                                               stream=True):
            got += "".join(ch.delta.content or "" for ch in chunk.choices)
    assert got == "Par" and "Overloaded" in str(e.value.message)


def test_gemini_safety_block_and_cached_usage(client, strict):
    strict.responder = lambda rec: strict_gemini.safety_block()
    r = client.chat.completions.create(model="gemini", messages=[{"role": "user", "content": "something bad"}])
    assert r.choices[0].finish_reason == "content_filter" and r.choices[0].message.content == ""
    strict.responder = lambda rec: strict_gemini.with_cache_usage("cached answer", 100, 60, 7, 5)
    r = client.chat.completions.create(model="gemini", messages=[{"role": "user", "content": "again"}])
    assert r.choices[0].message.content == "cached answer"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (100, 12)
    assert r.usage.prompt_tokens_details.cached_tokens == 60
    assert r.usage.completion_tokens_details.reasoning_tokens == 7


def test_anthropic_cache_usage_and_stream_order(client, strict):
    message = {"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
               "content": [{"type": "text", "text": "cached answer"}], "stop_reason": "end_turn",
               "stop_sequence": None, "usage": {"input_tokens": 10, "cache_creation_input_tokens": 20,
                                                "cache_read_input_tokens": 70, "output_tokens": 4}}
    strict.responder = lambda rec: Reply(raw=orjson.dumps(message))
    r = client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content == "cached answer"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (100, 4)
    assert r.usage.prompt_tokens_details.cached_tokens == 70


# ------------------------------------------------------------------------------ MCP chat and consensus
@contextlib.asynccontextmanager
async def mcp(url: str) -> AsyncIterator[Client]:
    state = State.create(parse(config(url)))
    await state.start()
    try:
        async with Client(build(state)) as c:
            yield c
    finally:
        await state.close()


@pytest.mark.parametrize("model", MODELS)
async def test_mcp_chat_at_every_thinking_level(strict, model):
    async with mcp(strict.url) as c:
        for thinking in (None, "off", "low", "high", "max"):
            args = {"prompt": "Capital of France?", "model": model, "temperature": 0.5}
            r = await c.call_tool("chat", {**args, **({"thinking": thinking} if thinking else {})})
            assert not r.is_error, (thinking, r.content[0].text)
            assert ANSWER in r.content[0].text, (thinking, r.content[0].text)


def thinking_sent(rec: dict) -> object:
    """The thinking control of a native request: Claude's `thinking`, Gemini's `thinkingConfig`."""
    body = rec["json"]
    return body.get("thinking") if rec["path"].endswith("/messages") else \
        (body.get("generationConfig") or {}).get("thinkingConfig")


@pytest.mark.parametrize("level", ["high", "max"])
@pytest.mark.parametrize("model", ["claude", "gemini", "gemini-thinking"])
async def test_mcp_thinking_and_gateway_reasoning_effort_send_the_same_budget(client, strict, model, level):
    """MCP `thinking: high` is the gateway's `reasoning_effort: high`: one table per provider sets the budget."""
    effort = {"high": "high", "max": "xhigh"}[level]
    ask(client, model, [{"role": "user", "content": "Capital of France?"}], False, reasoning_effort=effort)
    from_gateway = thinking_sent(strict.requests[-1])
    async with mcp(strict.url) as c:
        r = await c.call_tool("chat", {"prompt": "Capital of France?", "model": model, "thinking": level})
    assert not r.is_error, r.content[0].text
    assert from_gateway and thinking_sent(strict.requests[-1]) == from_gateway


async def test_mcp_consensus_across_claude_and_gemini(strict):
    async with mcp(strict.url) as c:
        for thinking in (None, "off", "high"):
            r = await c.call_tool("consensus", {"question": "Capital of France?",
                                                **({"thinking": thinking} if thinking else {})})
            out = r.content[0].text
            assert not r.is_error, out
            assert out.startswith("# Consensus (synthesize): done"), (thinking, out)
            assert out.count(ANSWER) >= 4, out  # each of the four panel answers is in the report


# ------------------------------------------------------------------------------ CLI `accord ask`
def test_cli_ask_each_model(tmp_path, strict):
    (tmp_path / "accord.yaml").write_text(config(strict.url))
    for model in MODELS:
        r = accord("ask", "-m", model, "Capital of France?")
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip().endswith(ANSWER), r.stdout
        assert (REASONING in r.stdout) == (model in THINKS), r.stdout
