"""Chat-completion answers as Responses output items and `response` objects, and the reasoning state they carry.

The reasoning state an upstream needs back (its `reasoning_content`, Anthropic's signed thinking blocks, Gemini's
thought signatures) rides in a reasoning item's `encrypted_content`, an opaque blob as OpenAI's own is, because
clients send back that field (Codex sends it and `summary`, not `content`). It is not encrypted: it holds only
what the client was already shown, or signatures only their vendor can check. Pure: no I/O.
"""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson

from .base import Usage

BLOB = "accord.r1."  # marks reasoning state Accord wrote into `encrypted_content`


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


@dataclass
class Bridge:
    """What the answer's shape depends on: which chat tool names were custom or namespaced tools."""

    custom: set[str] = field(default_factory=set)  # custom (free-form) tools, sent upstream as {"input": str}
    namespace: dict[str, str] = field(default_factory=dict)  # tool name -> its namespace
    include_blob: bool = False  # the client asked for reasoning.encrypted_content



# --------------------------------------------------------------------------------------------- reasoning
def reasoning_blob(state: dict) -> str:
    return BLOB + base64.urlsafe_b64encode(orjson.dumps(state)).decode()


def reasoning_state(item: dict) -> dict:
    """What an upstream needs back from a reasoning item: Accord's blob if it wrote one, else the text."""
    blob = item.get("encrypted_content")
    if isinstance(blob, str) and blob.startswith(BLOB):
        try:
            state = orjson.loads(base64.urlsafe_b64decode(blob[len(BLOB):]))
            if isinstance(state, dict):
                return state
        except (ValueError, orjson.JSONDecodeError):
            pass
    texts = [c.get("text") or "" for c in item.get("content") or () if c.get("type") == "reasoning_text"]
    texts = texts or [s.get("text") or "" for s in item.get("summary") or ()]
    return {"reasoning_content": "".join(texts)} if any(texts) else {}


def reasoning_item(message: dict, bridge: Bridge, item_id: str | None = None) -> dict | None:
    """The reasoning output item for an assistant message, or None when it carries no reasoning state."""
    text = message.get("reasoning_content") or message.get("reasoning")
    state: dict[str, Any] = {}
    if isinstance(text, str) and text:
        state["reasoning_content"] = text
    if message.get("thinking_blocks"):
        state["thinking_blocks"] = message["thinking_blocks"]
    sigs = {tc.get("id"): ((tc.get("extra_content") or {}).get("google") or {}).get("thought_signature")
            for tc in message.get("tool_calls") or ()}
    sigs = {k: v for k, v in sigs.items() if k and v}
    if sigs:
        state["signatures"] = sigs
    if not state:
        return None
    item: dict[str, Any] = {"id": item_id or new_id("rs"), "type": "reasoning", "summary": [],
                            "content": [{"type": "reasoning_text", "text": state.get("reasoning_content", "")}],
                            "status": "completed"}
    # signed state cannot be rebuilt from text: it travels in the blob whether or not the client asked for it
    if bridge.include_blob or "thinking_blocks" in state or sigs:
        item["encrypted_content"] = reasoning_blob(state)
    return item


# ------------------------------------------------------------------------------------------------ answers
def output_items(message: dict, bridge: Bridge) -> list[dict]:
    """Responses output items for one chat assistant message: reasoning, message, then its calls."""
    out: list[dict] = []
    r = reasoning_item(message, bridge)
    if r is not None:
        out.append(r)
    content = message.get("content")
    if isinstance(content, list):
        content = "".join(p.get("text") or "" for p in content if isinstance(p, dict))
    parts: list[dict] = []
    if content:
        parts.append(output_text(content))
    if message.get("refusal"):
        parts.append({"type": "refusal", "refusal": message["refusal"]})
    if parts:
        out.append({"id": new_id("msg"), "type": "message", "role": "assistant", "status": "completed",
                    "content": parts})
    for tc in message.get("tool_calls") or ():
        fn = tc.get("function") or {}
        out.append(call_item(tc.get("id") or new_id("call"), fn.get("name") or "", fn.get("arguments") or "",
                             bridge))
    return out


def output_text(text: str) -> dict:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def call_item(call_id: str, name: str, arguments: str, bridge: Bridge, item_id: str | None = None,
              status: str = "completed") -> dict:
    if name in bridge.custom:
        try:
            value = orjson.loads(arguments).get("input")
        except (orjson.JSONDecodeError, AttributeError):
            value = None
        return {"id": item_id or new_id("ctc"), "type": "custom_tool_call", "call_id": call_id, "name": name,
                "input": value if isinstance(value, str) else arguments, "status": status}
    item = {"id": item_id or new_id("fc"), "type": "function_call", "call_id": call_id, "name": name,
            "arguments": arguments, "status": status}
    if name in bridge.namespace:
        item["namespace"] = bridge.namespace[name]
    return item


def usage_of(usage: Usage | None) -> dict | None:
    if usage is None:
        return None
    return {"input_tokens": usage.prompt_tokens,
            "input_tokens_details": {"cached_tokens": usage.cached_tokens,
                                     "cache_write_tokens": usage.cache_write_tokens},
            "output_tokens": usage.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
            "total_tokens": usage.total_tokens}


def response_object(body: dict, rid: str, output: list[dict], *, status: str = "completed",
                    finish: str | None = None, usage: Usage | None = None, error: dict | None = None,
                    created: float | None = None) -> dict:
    """A `response` object: the request's settings echoed, as OpenAI does, around the output."""
    incomplete = None
    if finish == "length":
        status, incomplete = "incomplete", {"reason": "max_output_tokens"}
    elif finish == "content_filter":
        status, incomplete = "incomplete", {"reason": "content_filter"}
    text = text_ if isinstance(text_ := body.get("text"), dict) else {}
    reasoning = reasoning_ if isinstance(reasoning_ := body.get("reasoning"), dict) else {}
    return {
        "id": rid, "object": "response", "created_at": int(created or time.time()), "status": status,
        "error": error, "incomplete_details": incomplete, "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"), "model": body.get("model"), "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "store": body.get("store", True) is not False, "temperature": body.get("temperature"),
        "text": {"format": {"type": "text"}, **text}, "tool_choice": body.get("tool_choice") or "auto",
        "tools": body.get("tools") or [], "top_p": body.get("top_p"), "truncation": "disabled",
        "usage": usage_of(usage), "user": body.get("user"), "metadata": body.get("metadata") or {},
    }


def from_chat(data: dict, body: dict, rid: str, bridge: Bridge, usage: Usage | None) -> dict:
    """The `response` object for a `chat.completion`."""
    choice = (data.get("choices") or [{}])[0]
    output = output_items(choice.get("message") or {}, bridge)
    return response_object(body, rid, output, finish=choice.get("finish_reason"), usage=usage)
