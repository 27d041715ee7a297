"""Gemini streamGenerateContent responses -> OpenAI `chat.completion.chunk`s, one at a time (no I/O).

Each SSE event is a whole GenerateContentResponse holding the new parts; the last carries `finishReason`.
Function calls arrive whole, so each becomes one tool-call delta with its complete arguments.
"""

from __future__ import annotations

from .base import Usage
from .translate_gemini import finish_from, tool_call, usage_from
from .translate_openai import ChunkWriter


class GeminiStream:
    """Feed it each event's JSON; it returns the chunks to send and keeps finish reason and usage."""

    def __init__(self, model: str) -> None:
        self.out = ChunkWriter(model)
        self.finish: str | None = None
        self.usage: Usage | None = None
        self._calls = 0

    def feed(self, data: dict) -> list[dict]:
        usage = usage_from(data.get("usageMetadata"))
        if usage is not None:  # counts are cumulative: the latest wins
            self.usage = usage
        candidates = data.get("candidates") or []
        if not candidates:
            if (data.get("promptFeedback") or {}).get("blockReason"):
                self.finish = "content_filter"
                return [self.out.chunk({"content": ""}, self.finish)]
            return [self.out.chunk({"content": ""})] if not self.out.started else []
        cand = candidates[0]
        chunks: list[dict] = []
        for part in (cand.get("content") or {}).get("parts") or ():
            if not isinstance(part, dict):
                continue
            if "functionCall" in part:
                chunks.append(self.out.chunk({"tool_calls": [tool_call(part, self._calls)]}))
                self._calls += 1
            elif part.get("text"):
                key = "reasoning_content" if part.get("thought") else "content"
                chunks.append(self.out.chunk({key: part["text"]}))
        reason = cand.get("finishReason")
        if reason:
            self.finish = finish_from(reason, self._calls > 0)
            chunks.append(self.out.chunk({}, self.finish))
        elif not chunks and not self.out.started:
            chunks.append(self.out.chunk({"content": ""}))
        return chunks
