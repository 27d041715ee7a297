"""The conformance matrix: every entry point × every OpenAI-family vendor (strict fakes, tests/strict) × the
ways it is used. Each request must be one the vendor accepts, and the answer must come back whole in the
client's own format."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anthropic
import openai
import pytest
from click.testing import CliRunner

from accord.cli import cli as main
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
from conftest import MASTER_KEY, Gateway
from fakes import Reply, count_tokens
from mcp import Client
from strict import PROFILES
from strict.panel import MODELS, answer, config, refused, thinking

WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "The weather in a city.",
                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                           "required": ["city"]}}}
# what a client sends to make each model think (nothing: the model or its config entry thinks already)
THINKING = {"deepseek-chat": {"extra_body": {"thinking": {"type": "enabled"}}}, "deepseek-reasoner": {},
            "qwen-thinking": {}, "kimi-thinking": {}, "o3": {"reasoning_effort": "high"},
            "gpt-5": {"reasoning_effort": "minimal"}, "gpt-5.1": {"reasoning_effort": "none"}, "local-r1": {}}
# where each vendor's answer carries its reasoning (OpenAI: never; it counts reasoning tokens instead)
REASONING_FIELD = {"deepseek": "reasoning_content", "dashscope": "reasoning_content", "moonshot": "reasoning_content",
                   "openai": None, "generic": "reasoning"}
NAMES = list(MODELS)


def upstream_id(name: str) -> str:
    return MODELS[name][1].split("/", 1)[1]


def vendor(name: str) -> str:
    return MODELS[name][0]


@pytest.fixture
def accepted(strict) -> Iterator[dict]:
    """After the test: no strict fake refused anything."""
    yield strict
    bad = [r for fake in strict.values() for r in refused(fake)]
    assert not bad, f"requests the real vendors refuse: {bad}"


@pytest.fixture(scope="module")
def gateway_url(strict_servers) -> Iterator[str]:
    gw = Gateway(config(strict_servers, MASTER_KEY))
    yield gw.url
    gw.stop()


@pytest.fixture
def client(gateway_url: str, accepted) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=MASTER_KEY, max_retries=0)


def extra(obj, key: str):
    return (obj.model_extra or {}).get(key)


def read_stream(chunks) -> tuple[str, str, object]:
    content, reasoning, usage = [], [], None
    for ch in chunks:
        usage = ch.usage or usage
        for c in ch.choices:
            content.append(c.delta.content or "")
            for key in ("reasoning_content", "reasoning"):
                reasoning.append(extra(c.delta, key) or "")
    return "".join(content), "".join(reasoning), usage


def check_reasoning(name: str, reasoning: str | None, usage) -> None:
    field = REASONING_FIELD[vendor(name)]
    if field is None:
        details = usage.completion_tokens_details
        assert details is not None and details.reasoning_tokens > 0
    else:
        assert reasoning == thinking(upstream_id(name))


# ------------------------------------------------------------------------------------------- gateway × vendor
@pytest.mark.parametrize("name", NAMES)
def test_gateway_plain(client: openai.OpenAI, name: str):
    """What most clients send: a temperature and max_tokens, which reasoning models refuse as they stand."""
    r = client.chat.completions.create(model=name, messages=[{"role": "user", "content": "6 x 7?"}],
                                       temperature=0.7, max_tokens=300)
    assert r.choices[0].message.content == answer(upstream_id(name))
    assert r.choices[0].finish_reason == "stop" and r.usage.total_tokens > 0


@pytest.mark.parametrize("name", NAMES)
def test_gateway_streamed(client: openai.OpenAI, name: str):
    chunks = client.chat.completions.create(model=name, messages=[{"role": "user", "content": "6 x 7?"}],
                                            max_tokens=300, stream=True, stream_options={"include_usage": True})
    content, _, usage = read_stream(chunks)
    assert content == answer(upstream_id(name))
    assert usage is not None and usage.completion_tokens > 0


@pytest.mark.parametrize("name", NAMES)
def test_gateway_tools(client: openai.OpenAI, name: str):
    r = client.chat.completions.create(model=name, messages=[{"role": "user", "content": "Weather in Paris?"}],
                                       tools=[WEATHER], tool_choice="auto")
    [call] = r.choices[0].message.tool_calls
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    assert r.choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize("name", list(THINKING))
@pytest.mark.parametrize("stream", [False, True], ids=["json", "streamed"])
def test_gateway_thinking(client: openai.OpenAI, name: str, stream: bool):
    kw = {"messages": [{"role": "user", "content": "6 x 7?"}], "max_tokens": 2000, **THINKING[name]}
    if stream:
        content, reasoning, usage = read_stream(client.chat.completions.create(
            model=name, stream=True, stream_options={"include_usage": True}, **kw))
    else:
        r = client.chat.completions.create(model=name, **kw)
        msg, usage = r.choices[0].message, r.usage
        content = msg.content
        reasoning = extra(msg, "reasoning_content") or extra(msg, "reasoning")
    assert content == answer(upstream_id(name))
    check_reasoning(name, reasoning, usage)


@pytest.mark.parametrize("name", NAMES)
def test_gateway_multi_turn_with_reasoning_and_tools(client: openai.OpenAI, name: str):
    """A tool loop then a follow-up, the client sending back each answer as it got it (reasoning included)."""
    msgs: list[dict] = [{"role": "user", "content": "Weather in Paris?"}]
    kw = {"model": name, "tools": [WEATHER], **THINKING.get(name, {})}
    first = client.chat.completions.create(messages=msgs, **kw).choices[0].message
    said = first.model_dump(exclude_none=True)
    msgs += [said, {"role": "tool", "tool_call_id": first.tool_calls[0].id, "content": "18 C, sunny"}]
    content, reasoning, _ = read_stream(client.chat.completions.create(messages=msgs, stream=True, **kw))
    assert content == answer(upstream_id(name))
    field = REASONING_FIELD[vendor(name)]
    msgs += [{"role": "assistant", "content": content, **({field: reasoning} if field and reasoning else {})},
             {"role": "user", "content": "And in Rome?"}]
    third = client.chat.completions.create(messages=msgs, **kw).choices[0].message
    assert third.tool_calls[0].function.name == "get_weather"


# ------------------------------------------------------------------------- /v1/messages, /v1/responses × vendor
def thinking_asked(entry: str, name: str) -> dict:
    """How each entry point's client asks a thinking model to think (nothing for the rest)."""
    if name not in THINKING:
        return {}
    if entry == "messages":
        return {"thinking": {"type": "enabled", "budget_tokens": 1024}}
    return {"reasoning": {"effort": THINKING[name].get("reasoning_effort", "high")}}


@pytest.mark.parametrize("stream", [False, True], ids=["json", "streamed"])
@pytest.mark.parametrize("entry", ["messages", "responses"])
@pytest.mark.parametrize("name", NAMES)
def test_entry_point_plain_tools_thinking_and_multi_turn(gateway_url: str, accepted, name: str, entry: str,
                                                         stream: bool):
    """The Anthropic and Responses clients, translated to each vendor: a question, then a tool round trip and a
    follow-up that carries the previous turns' reasoning and tool calls back, as the client got them."""
    fake = accepted[vendor(name)]
    if entry == "messages":
        c = anthropic.Anthropic(base_url=gateway_url, api_key=MASTER_KEY, max_retries=0)
        kw = {"model": name, "max_tokens": 2000, "tools": [anthropic_tool(WEATHER)], **thinking_asked(entry, name)}
        turn, key, result = message_turn, "messages", tool_result_message
    else:
        c = openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=MASTER_KEY, max_retries=0)
        kw = {"model": name, "max_output_tokens": 2000, "tools": [responses_tool(WEATHER)],
              **thinking_asked(entry, name)}
        turn, key, result = response_turn, "input", tool_result_item

    def ask(text: str) -> dict:
        return {"role": "user", "content": text}

    def reasoning() -> str:  # what the vendor thought, as the client should see it
        shown = REASONING_FIELD[vendor(name)] and PROFILES[vendor(name)].thinks(upstream_id(name), fake.last["json"])
        return thinking(upstream_id(name)) if shown else ""

    plain = turn(c, stream, **{k: v for k, v in kw.items() if k != "tools"}, **{key: [ask("6 x 7?")]})
    assert (plain.text, plain.reasoning) == (answer(upstream_id(name)), reasoning())
    assert plain.output_tokens > 0 and plain.stop in ("end_turn", "completed")
    # deepseek-chat thinks only when told in DeepSeek's own words (THINKING): no effort or budget says it
    if name in THINKING and REASONING_FIELD[vendor(name)] and name != "deepseek-chat":
        assert plain.reasoning  # the client's way of asking made the model think
    history = [ask("Weather in Paris?")]
    first = turn(c, stream, **kw, **{key: history})
    assert [(n, a) for _, n, a in first.calls] == [("get_weather", {"city": "Paris"})]
    assert first.reasoning == reasoning() and first.stop in ("tool_use", "completed")
    history += [*first.echo, result(first.calls[0][0], "18 C, sunny")]
    second = turn(c, stream, **kw, **{key: history})
    assert (second.text, second.reasoning) == (answer(upstream_id(name)), reasoning())
    history += [*second.echo, ask("And in Rome?")]
    third = turn(c, stream, **kw, **{key: history})
    assert [n for _, n, _ in third.calls] == ["get_weather"] and third.reasoning == reasoning()


# ----------------------------------------------------------------------------------------- MCP × vendor
@contextlib.asynccontextmanager
async def mcp_client(servers) -> AsyncIterator[Client]:
    state = State.create(parse(config(servers)))
    await state.start()
    try:
        async with Client(build(state)) as c:
            yield c
    finally:
        await state.close()


@pytest.mark.parametrize("level", [None, "high"], ids=["plain", "thinking"])
@pytest.mark.parametrize("name", NAMES)
async def test_mcp_consensus(accepted, name: str, level: str | None):
    """The engine: two seats and the chair on one vendor's model, every call streamed and assembled."""
    args = {"question": "What is 6 x 7?", "models": [{"model": name, "stance": "for"},
                                                    {"model": name, "stance": "against"}], "chair": name}
    if level:
        args["thinking"] = level
    async with mcp_client(accepted) as c:
        r = await c.call_tool("consensus", args)
    text = r.content[0].text
    assert not r.is_error, text
    assert text.startswith("# Consensus (synthesize): done"), text
    assert answer(upstream_id(name)) in text  # the chair's recommendation


@pytest.mark.parametrize("level", [None, "high"], ids=["plain", "thinking"])
@pytest.mark.parametrize("name", NAMES)
async def test_mcp_chat(accepted, name: str, level: str | None):
    args = {"prompt": "What is 6 x 7?", "model": name}
    if level:
        args["thinking"] = level
    async with mcp_client(accepted) as c:
        r = await c.call_tool("chat", args)
    text = r.content[0].text
    assert not r.is_error, text
    assert text.startswith(answer(upstream_id(name))), text


async def test_mcp_chat_through_a_remote_endpoint(accepted):
    """`mcp.endpoint` (a LiteLLM proxy, another Accord) in front of a stream-only model: the call streams."""
    dashscope = accepted["dashscope"]
    dashscope.models = ["qwen3-235b-a22b-thinking-2507"]
    text = config(accepted, extra=f"  endpoint: {dashscope.url}/v1\n")
    state = State.create(parse(text))
    await state.start()
    try:
        async with Client(build(state)) as c:
            r = await c.call_tool("chat", {"prompt": "What is 6 x 7?", "model": "qwen3-235b-a22b-thinking-2507"})
    finally:
        dashscope.models = ["fake-model"]
        await state.close()
    assert not r.is_error, r.content[0].text
    assert r.content[0].text.startswith(answer("qwen3-235b-a22b-thinking-2507"))


# ------------------------------------------------------------------------------------------ CLI × vendor
@pytest.fixture
def cfg_file(accepted, tmp_path: Path) -> Path:
    p = tmp_path / "accord.yaml"
    p.write_text(config(accepted))
    return p


@pytest.mark.parametrize("name", NAMES)
def test_cli_ask(cfg_file: Path, name: str):
    r = CliRunner().invoke(main, ["ask", "-c", str(cfg_file), "-m", name, "--max-tokens", "300", "6 x 7?"])
    assert r.exit_code == 0, r.output
    assert answer(upstream_id(name)) in r.output
    if THINKING.get(name) == {} and REASONING_FIELD[vendor(name)]:  # a model that thinks unasked
        assert thinking(upstream_id(name)) in r.output  # the reasoning, shown before the answer


@pytest.mark.parametrize("level", [None, "high"], ids=["plain", "thinking"])
def test_cli_consensus_every_vendor(cfg_file: Path, level: str | None):
    args = ["consensus", "-c", str(cfg_file), "--json", "--chair", "qwen-thinking"]
    for name in NAMES:
        args += ["-m", name]
    r = CliRunner().invoke(main, [*args, *(["--thinking", level] if level else []), "What is 6 x 7?"])
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["status"] == "done", [(a["model"], a.get("error")) for a in result["answers"]]
    assert {a["model"]: a["content"] for a in result["answers"]} == {n: answer(upstream_id(n)) for n in NAMES}
    for a in result["answers"]:  # reasoning and usage assembled from the stream, as the vendor sent them
        name = a["model"]
        thought = PROFILES[vendor(name)].thinks(upstream_id(name), {"enable_thinking": True})
        shows = thought and REASONING_FIELD[vendor(name)] is not None
        assert a["reasoning"] == (thinking(upstream_id(name)) if shows else None), name
        spent = count_tokens(a["content"]) + (count_tokens(thinking(upstream_id(name))) if thought else 0)
        assert (a["prompt_tokens"], a["completion_tokens"]) == (Reply().prompt_tokens, spent), name
