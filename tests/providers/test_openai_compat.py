"""The OpenAI-compatible stream relay (providers/openai_compat.py) with one event of megabytes, through the
`openai` SDK: the bytes go on as they came, and what the relay reads of them (finish reason, usage, an in-band
error, malformed output) is read as from a small chunk, though the event's content is never built
(providers/event_views.py; what it allocates is asserted in test_event_views.py)."""

from __future__ import annotations

import httpx
import openai
import orjson
import pytest

from conftest import MASTER_KEY
from waiting import wait_for

MSG = [{"role": "user", "content": "write a lot"}]
SIZE = 3 << 20
# escapes, quotes, multi-byte UTF-8 (two and three bytes): a relay that decodes a string wrongly shows here
TEXT = ('ünïcode "quoted" \\ back\nslash 漢字 \t ' * (SIZE // 30))[:SIZE]
USAGE = {"prompt_tokens": 4321, "completion_tokens": 1234, "total_tokens": 5555}


def chunk(delta: dict | None = None, finish: str | None = None, **extra: object) -> dict:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {"id": "chatcmpl-big", "object": "chat.completion.chunk", "created": 7, "model": "gpt-4o-mini",
            "choices": choices, **extra}


def sse(*events: dict | bytes) -> bytes:
    return b"".join(b"data: " + (e if isinstance(e, bytes) else orjson.dumps(e)) + b"\n\n" for e in events)


ROLE = chunk({"role": "assistant", "content": ""})
DONE = b"[DONE]"


def client(gw) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=MASTER_KEY, max_retries=0, timeout=120)


def stream(gw, **kw: object) -> list:
    return list(client(gw).chat.completions.create(model="gpt-test", messages=MSG, stream=True, **kw))


def text_of(chunks: list) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def usage_row(gw, prompt_tokens: int) -> dict:
    def row() -> dict | None:
        rows = httpx.get(f"{gw.url}/spend/logs", headers={"Authorization": f"Bearer {MASTER_KEY}"}).json()
        return next((r for r in rows if r["prompt_tokens"] == prompt_tokens), None)

    return wait_for(row, f"a usage row with {prompt_tokens} prompt tokens")


def test_a_multi_megabyte_event_is_relayed_byte_for_byte(gateway, upstream):
    body = sse(ROLE, chunk({"content": TEXT}), chunk({}, "stop"), chunk(usage=USAGE), DONE)
    upstream.reply(raw=body)
    with client(gateway).chat.completions.with_streaming_response.create(
            model="gpt-test", messages=MSG, stream=True, stream_options={"include_usage": True}) as r:
        got = b"".join(r.iter_bytes())
    assert len(body) > SIZE and got == body
    upstream.reply(raw=body)
    chunks = stream(gateway, stream_options={"include_usage": True})
    assert text_of(chunks) == TEXT and chunks[-1].usage.prompt_tokens == 4321


def test_a_finish_reason_in_a_big_event_ends_the_stream(gateway, upstream):
    """No [DONE] after it: only the finish reason read from the big event tells a whole answer from one cut
    short ("ended the stream early")."""
    upstream.reply(raw=sse(ROLE, chunk({"content": TEXT}, "length")))
    chunks = stream(gateway)
    assert text_of(chunks) == TEXT
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["length"]


@pytest.mark.parametrize("where", ["on the big chunk", "in a usage-only chunk"])
def test_usage_is_read_and_left_out_when_the_client_did_not_ask(where, gateway, upstream):
    big = chunk({"content": TEXT}, "stop", **({"usage": USAGE} if where == "on the big chunk" else {}))
    upstream.reply(raw=sse(ROLE, big, *([] if where == "on the big chunk" else [chunk(usage=USAGE)]), DONE))
    chunks = stream(gateway)
    assert text_of(chunks) == TEXT
    assert all(c.usage is None for c in chunks) and all(c.choices for c in chunks)
    row = usage_row(gateway, 4321)  # Accord read the upstream's counts for its own books
    assert row["completion_tokens"] == 1234 and row["status"] == 200


def test_an_in_band_error_after_a_big_event_is_raised(gateway, upstream):
    error = {"error": {"message": "the upstream fell over mid-answer", "type": "server_error"}}
    upstream.reply(raw=sse(ROLE, chunk({"content": TEXT}), error))
    got = ""
    with pytest.raises(openai.APIError, match="the upstream fell over mid-answer"):
        for c in client(gateway).chat.completions.create(model="gpt-test", messages=MSG, stream=True):
            got += c.choices[0].delta.content or "" if c.choices else ""
    assert got == TEXT  # what came before the error went on whole


def _malformed(kind: str) -> bytes:
    good = orjson.dumps(chunk({"content": "a" * SIZE}))
    if kind == "cut short":
        return good[:-1]
    if kind == "not UTF-8":  # inside the content, which the relay does not build: still checked
        return good.replace(b"aaaa", b"a\xff\xfea", 1)
    if kind == "not an object":
        return b"[" + good + b"]"
    # nested deeper than any JSON parser here follows, inside the content
    return good[:-1] + b', "deep": ' + b"[" * 5000 + b"]" * 5000 + b"}"


@pytest.mark.parametrize("kind", ["cut short", "not UTF-8", "not an object", "nested too deep"])
def test_a_malformed_big_event_is_named(kind, gateway, upstream):
    upstream.reply(raw=sse(_malformed(kind), DONE))
    with pytest.raises(openai.APIStatusError) as e:
        stream(gateway)
    assert e.value.status_code == 502
    assert "sent a malformed stream event" in e.value.message
