"""Anthropic Messages stream events -> OpenAI `chat.completion.chunk`s, one event at a time (no I/O)."""

from __future__ import annotations

from typing import Any

from .base import Usage
from .translate_anthropic import FINISH, usage_from
from .translate_openai import ChunkWriter

# the HTTP status an `error` event stands for, so it maps like the same error before the stream
ERROR_STATUS = {"invalid_request_error": 400, "authentication_error": 401, "permission_error": 403,
                "not_found_error": 404, "request_too_large": 413, "rate_limit_error": 429, "api_error": 500,
                "overloaded_error": 529}


class AnthropicStream:
    """Feed it each event's JSON; it returns the chunks to send and keeps finish reason, usage and `done`."""

    def __init__(self, model: str) -> None:
        self.out = ChunkWriter(model)
        self.finish: str | None = None
        self.done = False  # message_stop seen
        self._usage: dict[str, Any] = {}
        self._tools: dict[int, int] = {}  # content block index -> OpenAI tool call index
        self._thought: dict[Any, str] = {}  # thinking block index -> its text so far (signed at its end)

    @property
    def usage(self) -> Usage | None:
        return usage_from(self._usage) if self._usage else None

    def feed(self, ev: dict) -> list[dict]:
        kind = ev.get("type")
        if kind == "message_start":
            msg = ev.get("message") or {}
            self._take_usage(msg.get("usage"))
            return [self.out.chunk({"content": ""})]
        if kind == "content_block_start":
            return self._block_start(ev.get("index"), ev.get("content_block") or {})
        if kind == "content_block_delta":
            return self._delta(ev.get("index"), ev.get("delta") or {})
        if kind == "message_delta":
            self._take_usage(ev.get("usage"))
            reason = (ev.get("delta") or {}).get("stop_reason")
            if reason:
                self.finish = FINISH.get(reason, "stop")
                return [self.out.chunk({}, self.finish)]
            return []
        if kind == "message_stop":
            self.done = True
        return []  # ping, content_block_stop, and event types added after this was written

    def _take_usage(self, u: Any) -> None:
        if isinstance(u, dict):  # message_delta's counts are cumulative: the latest wins
            self._usage.update({k: v for k, v in u.items() if isinstance(v, int)})

    def _block_start(self, index: Any, block: dict) -> list[dict]:
        kind = block.get("type")
        if kind == "tool_use":
            n = self._tools[index] = len(self._tools)
            call = {"index": n, "id": block.get("id"), "type": "function",
                    "function": {"name": block.get("name"), "arguments": ""}}
            return [self.out.chunk({"tool_calls": [call]})]
        if kind == "text" and block.get("text"):
            return [self.out.chunk({"content": block["text"]})]
        if kind == "thinking":
            self._thought[index] = block.get("thinking") or ""
            if block.get("thinking"):
                return [self.out.chunk({"reasoning_content": block["thinking"]})]
        if kind == "redacted_thinking":
            return [self.out.chunk({"thinking_blocks": [block]})]
        return []

    def _delta(self, index: Any, delta: dict) -> list[dict]:
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            return [self.out.chunk({"content": delta["text"]})]
        if kind == "thinking_delta" and delta.get("thinking"):
            self._thought[index] = self._thought.get(index, "") + delta["thinking"]
            return [self.out.chunk({"reasoning_content": delta["thinking"]})]
        if kind == "signature_delta" and delta.get("signature"):
            # the signed block, whole (LiteLLM's `thinking_blocks`): without it a streamed answer's thinking cannot
            # go back with its tool calls, and Claude then refuses to think while continuing them
            block = {"type": "thinking", "thinking": self._thought.get(index, ""), "signature": delta["signature"]}
            return [self.out.chunk({"thinking_blocks": [block]})]
        if kind == "input_json_delta" and delta.get("partial_json") and index in self._tools:
            call = {"index": self._tools[index], "function": {"arguments": delta["partial_json"]}}
            return [self.out.chunk({"tool_calls": [call]})]
        return []  # citations_delta: nothing an OpenAI client reads
