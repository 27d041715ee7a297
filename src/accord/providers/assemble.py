"""One `chat.completion` built from a stream of `chat.completion.chunk`s, and the way back.

Why: some upstreams answer only when streamed (DashScope thinking models refuse a non-streaming call), and
the consensus engine streams every call for first-token/idle time-outs and live progress; both still need
the whole answer — content, reasoning, tool calls, finish reason and usage — as one message at the end.
The way back (`as_chunks`) is for an upstream that answers a streaming request with one whole reply: the
client still gets the stream it asked for.
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


def as_chunks(completion: dict) -> list[dict] | None:
    """A whole `chat.completion` as the chunks a stream of it would have sent: per choice its message (role,
    content, reasoning, tool calls) then its finish reason, then the usage; None when it is not a completion."""
    choices = completion.get("choices")
    if not isinstance(choices, list) or not all(isinstance(c, dict) and isinstance(c.get("message"), dict)
                                                for c in choices):
        return None
    head = {"id": completion.get("id") or "chatcmpl-accord", "object": "chat.completion.chunk",
            "created": completion.get("created") or 0, "model": completion.get("model")}
    if completion.get("system_fingerprint"):
        head["system_fingerprint"] = completion["system_fingerprint"]
    out: list[dict] = []
    for i, choice in enumerate(choices):
        index = choice.get("index", i)
        delta = {k: v for k, v in choice["message"].items() if v is not None}
        if isinstance(delta.get("tool_calls"), list):  # a streamed tool call says which one it continues
            delta["tool_calls"] = [{"index": n, **tc} if isinstance(tc, dict) else tc
                                   for n, tc in enumerate(delta["tool_calls"])]
        first: dict = {"index": index, "delta": delta, "finish_reason": None}
        if choice.get("logprobs") is not None:
            first["logprobs"] = choice["logprobs"]
        out.append({**head, "choices": [first]})
        out.append({**head, "choices": [{"index": index, "delta": {},
                                         "finish_reason": choice.get("finish_reason") or "stop"}]})
    if isinstance(completion.get("usage"), dict):
        out.append({**head, "choices": [], "usage": completion["usage"]})
    return out
