"""OpenAI `chat.completion.chunk`s -> Anthropic Messages stream events, one chunk at a time (no I/O).

The events come in the documented order: message_start, ping, then per content block content_block_start,
its deltas (thinking_delta, text_delta, input_json_delta), content_block_stop; then message_delta with the
stop reason and the usage, and message_stop. Reasoning becomes a thinking block, each tool call a tool_use
block whose arguments stream as input_json_delta.
"""

from __future__ import annotations

from typing import Any

import orjson

from .base import Usage
from .translate_anthropic import STOP_REASON
from .translate_messages import call_id, message_id, usage_block


def event(name: str, data: dict) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps({"type": name, **data}) + b"\n\n"


class MessageEvents:
    """Feed it each chunk; it returns the SSE bytes to send. `end()` closes the message."""

    def __init__(self, model: str, input_tokens: int = 0) -> None:
        self.model = model
        self.input_tokens = input_tokens  # an estimate for message_start; the real count rides on message_delta
        self.id: str | None = None
        self.started = False
        self.index = -1  # the open block's index (-1: none yet)
        self.kind: str | None = None  # the open block's type
        self.tools: dict[int, int] = {}  # OpenAI tool call index -> block index
        self.stop: str | None = None

    def start(self, chunk: dict | None = None) -> list[bytes]:
        if self.started:
            return []
        self.started = True
        self.id = message_id((chunk or {}).get("id"))
        msg: dict[str, Any] = {"id": self.id, "type": "message", "role": "assistant", "model": self.model, "content": [],
               "stop_reason": None, "stop_sequence": None,
               "usage": {"input_tokens": self.input_tokens, "cache_creation_input_tokens": 0,
                         "cache_read_input_tokens": 0, "output_tokens": 1}}
        return [event("message_start", {"message": msg}), event("ping", {})]

    def feed(self, chunk: dict) -> list[bytes]:
        out = self.start(chunk)
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta") or {}
            thought = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(thought, str) and thought:
                out += self._open("thinking", {"type": "thinking", "thinking": "", "signature": ""})
                out.append(self._delta({"type": "thinking_delta", "thinking": thought}))
            text = delta.get("content")
            if isinstance(text, str) and text:
                out += self._open("text", {"type": "text", "text": ""})
                out.append(self._delta({"type": "text_delta", "text": text}))
            for tc in delta.get("tool_calls") or ():
                out += self._tool(tc)
            if choice.get("finish_reason"):
                self.stop = STOP_REASON.get(choice["finish_reason"], "end_turn")
        return out

    def end(self, usage: Usage | None, extension: dict | None = None) -> list[bytes]:
        """The closing events. With tool calls made, the stop reason is tool_use whatever the upstream said
        (some say "stop"): that is what makes a client run them. `extension`: Accord's own detail (a panel's),
        carried on message_delta as `accord`."""
        out = self.start() + self._close()
        stop = "tool_use" if self.tools and self.stop in (None, "end_turn") else self.stop or "end_turn"
        u: dict[str, Any] = usage_block(usage) if usage is not None else {"output_tokens": 0}
        delta: dict[str, Any] = {"delta": {"stop_reason": stop, "stop_sequence": None}, "usage": u}
        if extension is not None:
            delta["accord"] = extension
        out.append(event("message_delta", delta))
        out.append(event("message_stop", {}))
        return out

    # ------------------------------------------------------------------------------------------ blocks
    def _open(self, kind: str, block: dict) -> list[bytes]:
        if self.kind == kind and kind != "tool_use":
            return []
        out = self._close()
        self.index += 1
        self.kind = kind
        out.append(event("content_block_start", {"index": self.index, "content_block": block}))
        return out

    def _close(self) -> list[bytes]:
        if self.kind is None:
            return []
        self.kind = None
        return [event("content_block_stop", {"index": self.index})]

    def _delta(self, delta: dict) -> bytes:
        return event("content_block_delta", {"index": self.index, "delta": delta})

    def _tool(self, tc: Any) -> list[bytes]:
        if not isinstance(tc, dict):
            return []
        n = i if isinstance(i := tc.get("index"), int) else len(self.tools)
        fn = tc.get("function") or {}
        out: list[bytes] = []
        if n not in self.tools:  # a new call: its block opens (calls stream one after another)
            block: dict[str, Any] = {"type": "tool_use", "id": call_id(tc.get("id"), len(self.tools)), "name": fn.get("name") or "",
                     "input": {}}
            out += self._open("tool_use", block)
            self.tools[n] = self.index
        args = fn.get("arguments")
        if isinstance(args, str) and args and self.tools[n] == self.index and self.kind == "tool_use":
            out.append(self._delta({"type": "input_json_delta", "partial_json": args}))
        return out
