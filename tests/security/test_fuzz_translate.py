"""Hypothesis over the protocol translators (OpenAI <-> Anthropic <-> Gemini) and the config loader.

- Any client body, however malformed, gives a translated request or a 400 (BadRequest): never another
  exception, which the gateway could only answer with a 500.
- Well-formed conversations survive OpenAI -> Anthropic -> OpenAI and OpenAI -> Gemini -> OpenAI with their
  content intact (system text, user and assistant text, tool calls and tool results); answers survive the
  response translations both ways.
- Any config text gives a Config or a ConfigError, never another exception.

    ACCORD_FUZZ_EXAMPLES=2000 pytest --timeout 0 tests/security/test_fuzz_translate.py     # the long run
"""

from __future__ import annotations

import contextlib
import json
import os

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.catalog import info_for
from accord.config import parse
from accord.errors import AccordError, ConfigError
from accord.providers import translate_anthropic as ta
from accord.providers import translate_gemini as tg
from accord.providers import translate_messages as tm

N = int(os.environ.get("ACCORD_FUZZ_EXAMPLES", "150"))
FAST = settings(max_examples=N, deadline=None, database=None, suppress_health_check=list(HealthCheck))
CLAUDE = info_for("claude-sonnet-4-5", "anthropic")
GEMINI = info_for("gemini-2.5-flash", "gemini")

# ------------------------------------------------------------------------------------------- strategies
words = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40).filter(
    lambda s: s.strip() == s and s != "")
names = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)
scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False) | st.text(max_size=20)
anything = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(max_size=10), inner, max_size=4), max_leaves=20)
args = st.dictionaries(names, st.integers(-1000, 1000) | words | st.booleans(), max_size=3)


def text_content():
    return words | st.lists(st.builds(lambda t: {"type": "text", "text": t}, words), min_size=1, max_size=3)


@st.composite
def conversation(draw) -> dict:
    """A valid OpenAI chat: optional system, then user / assistant (maybe with tool calls, each answered)."""
    msgs: list[dict] = []
    if draw(st.booleans()):
        msgs.append({"role": "system", "content": draw(words)})
    n_call = 0
    for _ in range(draw(st.integers(1, 4))):
        msgs.append({"role": "user", "content": draw(text_content())})
        a: dict = {"role": "assistant", "content": draw(words)}
        calls = []
        for _ in range(draw(st.integers(0, 2))):
            n_call += 1
            calls.append({"id": f"call_{n_call}", "type": "function",
                          "function": {"name": draw(names), "arguments": json.dumps(draw(args))}})
        if calls:
            a["tool_calls"] = calls
        msgs.append(a)
        msgs += [{"role": "tool", "tool_call_id": c["id"], "content": draw(words)} for c in calls]
    msgs.append({"role": "user", "content": draw(text_content())})
    return {"model": "m", "messages": msgs}


def text(content) -> str:
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content or () if isinstance(p, dict))


def summary(msgs: list[dict], *, ids: bool = True) -> dict:
    """What must survive a round trip: the texts by role, in order, the tool calls and the tool results."""
    out: dict = {"system": [], "user": [], "assistant": [], "calls": [], "results": []}
    for m in msgs:
        if m["role"] in ("system", "user", "assistant") and text(m.get("content")):
            out[m["role"]].append(text(m.get("content")))
        for c in m.get("tool_calls") or ():
            out["calls"].append(((c["id"],) if ids else ()) + (c["function"]["name"],
                                                                 json.loads(c["function"]["arguments"] or "{}")))
        if m["role"] == "tool":
            out["results"].append(((m["tool_call_id"],) if ids else ()) + (text(m.get("content")),))
    out["system"] = ["\n\n".join(out["system"])] if out["system"] else []
    return out


# ------------------------------------------------------------------------------------------------ tests
@FAST
@given(conversation())
def test_openai_anthropic_openai_round_trip_keeps_content(body):
    back = tm.openai_from_anthropic(ta.to_anthropic(body, "claude-sonnet-4-5", CLAUDE))
    want, got = summary(body["messages"]), summary(back["messages"])
    # Anthropic merges adjacent turns of one role: compare the concatenation per role
    for role in ("user", "assistant"):
        assert "".join(got[role]) == "".join(want[role])
    assert got["system"] == want["system"]
    assert got["calls"] == want["calls"] and got["results"] == want["results"]


@FAST
@given(conversation())
def test_openai_gemini_openai_round_trip_keeps_content(body):
    back = tg.openai_from_gemini(tg.to_gemini(body, GEMINI))
    want, got = summary(body["messages"], ids=False), summary(back["messages"], ids=False)
    for role in ("user", "assistant"):
        assert "".join(got[role]) == "".join(want[role])
    assert got["system"] == want["system"]
    assert got["calls"] == want["calls"] and got["results"] == want["results"]
    # Gemini has no call ids: the made-up ones still pair every result with its call
    ids = [c["id"] for m in back["messages"] for c in m.get("tool_calls") or ()]
    assert [m["tool_call_id"] for m in back["messages"] if m["role"] == "tool"] == ids


@st.composite
def completion(draw) -> dict:
    msg: dict = {"role": "assistant", "content": draw(words)}
    if draw(st.booleans()):
        msg["reasoning_content"] = draw(words)
    calls = [{"id": f"call_{i}", "type": "function", "function": {"name": draw(names), "arguments": json.dumps(
        draw(args))}} for i in range(draw(st.integers(0, 2)))]
    if calls:
        msg["tool_calls"] = calls
    finish = "tool_calls" if calls else draw(st.sampled_from(["stop", "length"]))
    p, c = draw(st.integers(0, 10**6)), draw(st.integers(0, 10**6))
    return {"id": "x", "object": "chat.completion", "model": "m", "choices": [
        {"index": 0, "message": msg, "finish_reason": finish}],
        "usage": {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}}


@FAST
@given(completion())
def test_answers_survive_the_response_translations(resp):
    want = resp["choices"][0]["message"]
    for back in (ta.from_anthropic(tm.anthropic_from_openai(resp), "m"),
                 tg.from_gemini(tg.gemini_from_openai(resp), "m")):
        got = back["choices"][0]["message"]
        assert got["content"] == want["content"]
        assert got.get("reasoning_content") == want.get("reasoning_content")
        assert [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in got.get("tool_calls") or ()] \
            == [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in want.get("tool_calls") or ()]
        assert back["choices"][0]["finish_reason"] == resp["choices"][0]["finish_reason"]
        assert back["usage"]["completion_tokens"] == resp["usage"]["completion_tokens"]


def _only_bad_request(fn, *a) -> None:
    try:
        fn(*a)
    except AccordError as e:
        assert e.status == 400, e


messages_junk = st.lists(anything | st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "developer", "user", "assistant", "tool", "x"])},
    optional={"content": anything, "tool_calls": anything, "tool_call_id": anything, "name": anything}),
    max_size=5)


@FAST
@given(st.fixed_dictionaries({"model": st.just("m"), "messages": messages_junk}, optional={
    "tools": anything, "tool_choice": anything, "temperature": anything, "max_tokens": anything,
    "stop": anything, "response_format": anything, "reasoning_effort": anything, "thinking": anything,
    "top_p": anything, "parallel_tool_calls": anything, "user": anything, "stream_options": anything}))
def test_any_client_body_is_translated_or_refused_with_400(body):
    _only_bad_request(ta.to_anthropic, body, "claude-sonnet-4-5", CLAUDE)
    _only_bad_request(tg.to_gemini, body, GEMINI)


# -------------------------------------------------------------------------------------------- config
config_keys = st.sampled_from(["settings", "models", "consensus", "mcp", "model_list", "litellm_settings",
                               "general_settings", "router_settings", "environment_variables", "name", "model",
                               "api_base", "api_key", "aliases", "capabilities", "rpm", "timeout", "master_key",
                               "port", "panel", "fallbacks", "litellm_params", "model_name", "x"])
config_tree = st.recursive(scalars | st.sampled_from(["openai/gpt-4o", "deepseek/deepseek-chat", "${NOPE}",
                                                      "os.environ/NOPE", "${HOME:-x}"]),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(config_keys, inner, max_size=4),
                           max_leaves=25)


def _config_or_config_error(text: str) -> None:
    with contextlib.suppress(ConfigError):
        parse(text, "fuzz.yaml")


@FAST
@given(st.dictionaries(config_keys, config_tree, max_size=5))
def test_any_config_structure_loads_or_says_what_is_wrong(data):
    _config_or_config_error(yaml.safe_dump(data, allow_unicode=True))


@FAST
@given(st.text(max_size=300))
def test_any_config_text_loads_or_says_what_is_wrong(text):
    _config_or_config_error(text)
