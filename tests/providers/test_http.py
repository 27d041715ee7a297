"""Upstreams that answer a stream with something else, through the SDKs against the fault server
(tests/faults.py): one huge event, a whole JSON reply or an error body instead of events, bytes that are not
HTTP. Each is relayed, or named for what it is; every error says how many attempts were made."""

from __future__ import annotations

import json
import logging

import anthropic
import httpx
import openai
import pytest

from faults import TOOL_CALL, FaultServer

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def faults():
    server = FaultServer(big_event_mb=4).start()
    yield server
    server.stop()


def config(url: str, settings: str = "", adapter: str = "openai/faulty") -> str:
    return f"""
settings:
  num_retries: 1
  retry_backoff: 0.01
  first_token_timeout: 30
{settings}
models:
  - name: m
    model: {adapter}
    api_base: {url}
    api_key: k1
"""


def client(gw) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key="x", max_retries=0, timeout=60)


# ------------------------------------------------------------------------------------------ one huge event
@pytest.mark.parametrize("fault", ["big_event", "big_event_cr"], ids=["LF", "CR"])
def test_one_event_of_megabytes_streams_through_whole(fault, faults, gateway_factory):
    """Lines may end with CR alone (the SSE spec allows it); the LF case guards the framing of a huge event."""
    gw = gateway_factory(config(faults.url(fault)))
    text = "".join(c.choices[0].delta.content or "" for c in
                   client(gw).chat.completions.create(model="m", messages=MESSAGES, stream=True) if c.choices)
    assert text == "y" * (4 << 20)


def test_one_event_past_the_limit_is_refused_by_name(faults, gateway_factory):
    gw = gateway_factory(config(faults.url("big_event"), "  max_response_mb: 1"))
    with pytest.raises(openai.APIStatusError) as e:
        list(client(gw).chat.completions.create(model="m", messages=MESSAGES, stream=True))
    assert e.value.status_code == 502
    assert "sent a single stream event over 1 MB (settings.max_response_mb)" in e.value.message


# ------------------------------------------------------------------------------- a whole reply to a stream
@pytest.mark.parametrize("include_usage", [True, False])
def test_a_whole_json_reply_to_a_stream_is_relayed_as_the_stream_asked_for(include_usage, faults,
                                                                           gateway_factory, caplog):
    gw = gateway_factory(config(faults.url("whole_json")))
    caplog.set_level(logging.INFO, logger="accord.providers")
    chunks = list(client(gw).chat.completions.create(
        model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": include_usage}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or ()]
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    usage = [c.usage for c in chunks if c.usage]
    assert text == "a whole reply" and finish == ["tool_calls"]
    assert [(tc.index, tc.id, tc.function.name, json.loads(tc.function.arguments)) for tc in calls] == \
        [(0, TOOL_CALL["id"], "lookup", {"q": "x"})]
    if include_usage:  # the upstream's own counts, last, as a stream reports them
        assert chunks[-1].usage is not None and chunks[-1].choices == []
        assert (usage[0].prompt_tokens, usage[0].completion_tokens, usage[0].total_tokens) == (3, 3, 6)
    else:
        assert usage == []
    assert "answered a streaming request with a non-stream (JSON) reply; relayed as a stream" in caplog.text


def test_an_error_body_sent_instead_of_a_stream_is_the_upstreams_error(faults, gateway_factory):
    gw = gateway_factory(config(faults.url("whole_json_error")))
    before = faults.hits.get("whole_json_error", 0)
    with pytest.raises(openai.APIStatusError) as e:
        list(client(gw).chat.completions.create(model="m", messages=MESSAGES, stream=True))
    assert e.value.status_code == 502
    assert "the model is overloaded right now" in e.value.message
    assert "ended the stream early" not in e.value.message
    assert faults.hits["whole_json_error"] - before == 2  # an upstream's failure: retried once
    assert e.value.response.headers["x-accord-attempts"] == "2"


def test_anthropic_passthrough_names_a_whole_reply_and_relays_an_error_body(faults, gateway_factory):
    gw = gateway_factory(config(faults.url("whole_json"), adapter="anthropic/claude-sonnet-4-5") + f"""
  - name: e
    model: anthropic/claude-sonnet-4-5
    api_base: {faults.url("whole_json_error")}
    api_key: k1
""")
    c = anthropic.Anthropic(base_url=gw.url, api_key="x", max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as e, \
            c.messages.stream(model="m", max_tokens=10, messages=MESSAGES) as s:
        list(s)
    assert "answered a streaming request with a non-stream (JSON) reply" in e.value.message
    with pytest.raises(anthropic.APIStatusError) as e, \
            c.messages.stream(model="e", max_tokens=10, messages=MESSAGES) as s:
        list(s)
    assert "the model is overloaded right now" in e.value.message
    assert e.value.response.headers["x-accord-attempts"] == "2"  # in Anthropic's shape too


# ------------------------------------------------------------------------------------- not HTTP at all
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_reply_that_is_not_http_is_named(stream, faults, gateway_factory):
    gw = gateway_factory(config(faults.url("not_http")))
    with pytest.raises(openai.APIStatusError) as e:
        r = client(gw).chat.completions.create(model="m", messages=MESSAGES, stream=stream)
        if stream:
            list(r)
    assert e.value.status_code == 502
    assert "answered with something that is not HTTP" in e.value.message
    assert "could not be reached" not in e.value.message and "SSH" not in e.value.message


# ------------------------------------------------------------------------------------- attempts on errors
def test_error_responses_say_how_many_attempts_were_made(faults, gateway_factory):
    gw = gateway_factory(config(faults.url("500"), "  fallbacks: {m: [n]}") + f"""
  - name: n
    model: openai/other
    api_base: {faults.url("503")}
    api_key: k2
""")
    with pytest.raises(openai.InternalServerError) as e:
        client(gw).chat.completions.create(model="m", messages=MESSAGES)
    assert e.value.response.headers["x-accord-attempts"] == "4"  # two on m, then two on its fallback n
    r = httpx.post(f"{gw.url}/v1/chat/completions", json={"model": "m", "messages": MESSAGES, "stream": True})
    assert r.status_code == 502 and r.headers["x-accord-attempts"] == "4"


def test_anthropic_passthrough_frames_events_whose_lines_end_with_cr(upstream, gateway_factory):
    """The SSE spec lets lines end with CR alone; the passthrough cuts, reads and rewrites such events too."""
    events = [{"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
                                                    "model": "claude-sonnet-4-5", "content": [],
                                                    "usage": {"input_tokens": 9, "output_tokens": 1}}},
              {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
              {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}},
              {"type": "content_block_stop", "index": 0},
              {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}},
              {"type": "message_stop"}]
    upstream.reply(raw=b"".join(f"event: {e['type']}\rdata: {json.dumps(e)}\r\r".encode() for e in events))
    gw = gateway_factory(config(upstream.url, adapter="anthropic/claude-sonnet-4-5"))
    c = anthropic.Anthropic(base_url=gw.url, api_key="x", max_retries=0)
    with c.messages.stream(model="m", max_tokens=10, messages=MESSAGES) as s:
        final = s.get_final_message()
    assert final.content[0].text == "Hello" and final.model == "m" and final.usage.output_tokens == 2


# ------------------------------------------------------------------------------------------ compressed replies
def test_a_gzip_reply_is_read_whole_once_inflated(faults, gateway_factory):
    """Its content-length counts the compressed bytes: the answer is the inflated body, all of it."""
    gw = gateway_factory(config(faults.url("gzip")))
    reply = client(gw).chat.completions.create(model="m", messages=MESSAGES)
    assert reply.choices[0].message.content == "z" * 5000


def test_a_gzip_reply_that_inflates_past_the_limit_is_refused_by_name(faults, gateway_factory):
    """A few KB on the wire, 3 MB inflated: the limit holds for what it inflates to."""
    gw = gateway_factory(config(faults.url("gzip_bomb"), "  max_response_mb: 1"))
    with pytest.raises(openai.APIStatusError) as e:
        client(gw).chat.completions.create(model="m", messages=MESSAGES)
    assert e.value.status_code == 502
    assert "sent a response over 1 MB (settings.max_response_mb)" in e.value.message
