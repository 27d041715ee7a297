"""One `chat.completion` built from a stream of `chat.completion.chunk`s.

Why: some upstreams answer only when streamed (DashScope thinking models refuse a non-streaming call), and
the consensus engine streams every call for first-token/idle time-outs and live progress; both still need
the whole answer — content, reasoning, tool calls, finish reason and usage — as one message at the end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import orjson

from ..errors import UpstreamError

OnText = Callable[[str], Awaitable[None]]


class Assembler:
    """Feed it chunks (parsed dicts) in order; `result()` is the `chat.completion` they add up to."""

    def __init__(self) -> None:
        self.id = self.model = None
        self.created = 0
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.tool_calls: dict[int, dict] = {}
        self.finish_reason: str | None = None
        self.usage: dict | None = None

    def add(self, chunk: dict) -> str:
        """Take one chunk; return the answer text it carried (for live display)."""
        self.id = self.id or chunk.get("id")
        self.model = self.model or chunk.get("model")
        self.created = self.created or chunk.get("created") or 0
        if "error" in chunk and not chunk.get("choices"):  # an error sent in-band, mid-stream
            err = chunk["error"]
            raise UpstreamError(f"the stream ended with an error: {err.get('message') if isinstance(err, dict) else err}")
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        text = ""
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            # DeepSeek, DashScope and Moonshot say `reasoning_content`; vLLM and Ollama say `reasoning`
            r = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(r, str) and r:
                self.reasoning.append(r)
            c = delta.get("content")
            if isinstance(c, str) and c:
                self.content.append(c)
                text += c
            for tc in delta.get("tool_calls") or ():
                self._tool_call(tc)
            self.finish_reason = choice.get("finish_reason") or self.finish_reason
        return text

    def _tool_call(self, tc: dict) -> None:
        slot = self.tool_calls.setdefault(int(tc.get("index") or 0),
                                          {"id": None, "type": "function", "function": {"name": "", "arguments": ""}})
        if tc.get("id"):
            slot["id"] = tc["id"]
        fn = tc.get("function") or {}
        if fn.get("name"):
            slot["function"]["name"] += fn["name"]
        if fn.get("arguments"):
            slot["function"]["arguments"] += fn["arguments"]

    def result(self) -> dict:
        message: dict = {"role": "assistant", "content": "".join(self.content) or None}
        if self.reasoning:
            message["reasoning_content"] = "".join(self.reasoning)
        if self.tool_calls:
            message["tool_calls"] = [self.tool_calls[i] for i in sorted(self.tool_calls)]
        out = {"id": self.id or "chatcmpl-accord", "object": "chat.completion", "created": self.created,
               "model": self.model, "choices": [{"index": 0, "message": message,
                                                 "finish_reason": self.finish_reason}]}
        if self.usage is not None:
            out["usage"] = self.usage
        return out


async def assemble(chunks: AsyncIterator[bytes], on_text: OnText | None = None) -> dict:
    """Read a whole stream of chunk payloads (JSON bytes) into one `chat.completion`; `on_text` receives the
    answer text as it arrives."""
    acc = Assembler()
    async for raw in chunks:
        text = acc.add(orjson.loads(raw))
        if text and on_text is not None:
            await on_text(text)
    return acc.result()
