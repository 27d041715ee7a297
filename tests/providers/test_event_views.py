"""What the stream relays read of an event (providers/event_views.py): the few fields they need, the rest checked
but never built, so an event of megabytes costs no string of megabytes on the event loop. Allocation is
measured (tracemalloc), never time. Then the Anthropic pass-through with one such event, through the SDK."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any

import anthropic
import httpx
import msgspec
import orjson
import pytest

from accord.providers.event_views import chat_chunk, chunk_head, message_event
from conftest import MASTER_KEY
from waiting import wait_for

SIZE = 8 << 20
USAGE = {"prompt_tokens": 4321, "completion_tokens": 1234, "total_tokens": 5555}


def allocated(read: Callable[[bytes], Any], data: bytes) -> tuple[Any, int]:
    """What `read` returns, and the most memory it held at once while reading (bytes)."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        got = read(data)
        return got, tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def big_chunk(text: str, **extra: object) -> bytes:
    return orjson.dumps({"id": "c1", "object": "chat.completion.chunk", "created": 7, "model": "m",
                         "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": "length"}], **extra})


@pytest.mark.parametrize("text", ["x" * SIZE, "漢字 ünï \"q\" \\ \n" * (SIZE // 16)], ids=["ascii", "utf-8"])
def test_a_chat_chunk_is_read_without_building_its_content(text):
    data = big_chunk(text, usage=USAGE)
    view, peak = allocated(chat_chunk, data)
    assert [c.finish_reason for c in view.choices] == ["length"] and view.usage == USAGE
    assert view.error is msgspec.UNSET
    # parsed whole, the content alone is a string of 8+ MB; read here, at most a 256 KB piece is decoded at a
    # time to check the UTF-8
    assert peak < (64 << 10 if text.isascii() else 2 << 20), peak
    assert (chunk_head(data).id, chunk_head(data).created, chunk_head(data).model) == ("c1", 7, "m")


def test_an_anthropic_event_is_read_without_building_its_text():
    data = orjson.dumps({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta",
                                                                              "text": "y" * SIZE}})
    view, peak = allocated(message_event, data)
    assert view is not None and view.type == "content_block_delta" and view.delta.stop_reason is None
    assert peak < 64 << 10, peak
    stop = message_event(b'{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":3}}')
    assert stop is not None and stop.delta.stop_reason == "end_turn" and stop.usage == {"output_tokens": 3}


@pytest.mark.parametrize("raw, choices, finish, error", [
    (b'{"choices": [1, {"finish_reason": "stop"}]}', 2, "stop", msgspec.UNSET),  # a non-object choice is skipped
    (b'{"choices": "odd"}', 1, None, msgspec.UNSET),  # truthy, as the dict's value was: not a usage-only chunk
    (b'{"choices": null, "error": null}', 0, None, None),  # the key is there: an in-band error
    (b'{"choices": [], "error": {"message": "m"}}', 0, None, {"message": "m"}),
])
def test_shapes_the_typed_view_does_not_take_are_read_as_the_dict_was(raw, choices, finish, error):
    view = chat_chunk(raw)
    assert len(view.choices or ()) == choices and view.error == error
    assert next((c.finish_reason for c in view.choices or () if c.finish_reason), None) == finish


@pytest.mark.parametrize("raw", [b'[{"choices": []}]', b'{"choices": [', b'{"c": "\xff"}', b'{"c": NaN}',
                                 b'{"c": ' + b"[" * 3000 + b"]" * 3000 + b"}", b'{"choices": []} trailing'])
def test_malformed_or_non_object_events_are_refused(raw):
    with pytest.raises(ValueError):
        chat_chunk(raw)
    assert message_event(raw) is None  # the Anthropic relay reads those whole, as before (and lets them pass)


# ----------------------------------------------------------------------- the Anthropic pass-through, big
def test_anthropic_passthrough_relays_a_big_text_delta_byte_for_byte(upstream, gateway_factory):
    text = "ünïcode \"q\" \\ 漢字 " * (3 << 20 >> 4)
    events = [{"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
                                                    "model": "m", "content": [],
                                                    "usage": {"input_tokens": 4321, "output_tokens": 1}}},
              {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
              {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
              {"type": "content_block_stop", "index": 0},
              {"type": "message_delta", "delta": {"stop_reason": "max_tokens"}, "usage": {"output_tokens": 777}},
              {"type": "message_stop"}]
    body = b"".join(b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n" for e in events)
    gw = gateway_factory(f"""
settings:
  master_key: {MASTER_KEY}
  num_retries: 0
models:
  - name: m
    model: anthropic/claude-sonnet-4-5
    api_base: {upstream.url}
    api_key: k1
""")
    c = anthropic.Anthropic(base_url=gw.url, api_key=MASTER_KEY, max_retries=0, timeout=120)
    upstream.reply(raw=body)
    with c.messages.with_streaming_response.create(model="m", max_tokens=10, stream=True,
                                                   messages=[{"role": "user", "content": "hi"}]) as r:
        assert b"".join(r.iter_bytes()) == body
    upstream.reply(raw=body)
    with c.messages.stream(model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]) as s:
        final = s.get_final_message()
    assert final.content[0].text == text and final.stop_reason == "max_tokens"

    def row() -> dict | None:  # Accord read the counts and the stop for its own books
        rows = httpx.get(f"{gw.url}/spend/logs", headers={"Authorization": f"Bearer {MASTER_KEY}"}).json()
        return rows[0] if len(rows) == 2 else None

    got = wait_for(row, "two usage rows")
    assert (got["prompt_tokens"], got["completion_tokens"], got["status"]) == (4321, 777, 200)
