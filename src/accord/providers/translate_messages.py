"""Anthropic Messages in, chat completions out, and back: for serving Anthropic-shaped clients (Claude Code)
from upstreams that speak only OpenAI's chat format. Pure functions; the I/O is in messages.py.

The other direction (calling Claude for an OpenAI client) is translate_anthropic.py, whose id and stop-reason
rules this shares, so a tool id or a stop reason means the same both ways.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from ..errors import BadRequest
from .base import Usage
from .translate_anthropic import STOP_REASON, tool_id
from .translate_openai import arguments_json, client_input, data_url, text_of, tool_arguments

# Anthropic's thinking budget -> the level providers/thinking.py says to each vendor in its own words
LEVELS = ((2_048, "low"), (8_192, "medium"), (16_384, "high"))
TOOL_ERROR = "Error: "  # a failed tool's result (is_error): chat formats have no flag for it, so it is said


EFFORTS = {"low": "low", "medium": "medium", "high": "high", "max": "max"}


def thinking_level(native: dict) -> str | None:
    """The thinking level an Anthropic request asks for (None: it says nothing, the model's default):
    `enabled` says it with a budget; `adaptive` (what Claude Code sends newer models) leaves it to the model,
    at the `output_config.effort` given."""
    th = native.get("thinking")
    if not isinstance(th, dict):
        return None
    if th.get("type") == "disabled":
        return "off"
    if th.get("type") == "adaptive":
        effort = (native.get("output_config") or {}).get("effort") if isinstance(native.get("output_config"),
                                                                                  dict) else None
        return EFFORTS.get(effort, "medium") if isinstance(effort, str) else "medium"
    if th.get("type") != "enabled":
        return None
    budget = th.get("budget_tokens")
    budget = budget if isinstance(budget, int) else 8_192
    return next((level for top, level in LEVELS if budget <= top), "max")


# ---------------------------------------------------------------------------------------- request: in
@client_input
def openai_from_anthropic(native: dict) -> dict:
    """An OpenAI chat body from an Anthropic Messages request. What chat formats cannot carry is dropped:
    cache_control, signatures (thinking goes as `reasoning_content`), server tools, top_k."""
    messages: list[dict] = []
    system = native.get("system")
    if system:
        text = system if isinstance(system, str) else "\n\n".join(
            b.get("text", "") for b in system if isinstance(b, dict) and b.get("type") == "text")
        if text:
            messages.append({"role": "system", "content": text})
    turns = native.get("messages")
    if not isinstance(turns, list):
        raise BadRequest("`messages` must be a list of {role, content}", param="messages")
    for m in turns:
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant", "system"):
            raise BadRequest("each message must be an object with role `user` or `assistant` (or `system`)",
                             param="messages")
        content = m.get("content")
        if m["role"] == "system":  # a system turn mid-conversation (Claude Code's mid-conversation-system beta)
            text = content if isinstance(content, str) else text_of(_parts(content if isinstance(content, list)
                                                                            else []))
            if text:
                messages.append({"role": "system", "content": text})
        elif isinstance(content, str):
            messages.append({"role": m["role"], "content": content})
        elif not isinstance(content, list):
            raise BadRequest("a message's `content` must be a string or a list of blocks", param="messages")
        elif m["role"] == "assistant":
            messages.append(_assistant(content))
        else:
            messages.extend(_user(content))
    out: dict[str, Any] = {"model": native.get("model"), "messages": messages}
    if native.get("max_tokens"):
        out["max_tokens"] = native["max_tokens"]
    for k in ("temperature", "top_p"):
        if k in native:
            out[k] = native[k]
    if native.get("stop_sequences"):
        out["stop"] = native["stop_sequences"]
    meta = native.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("user_id"), str):
        out["user"] = meta["user_id"]
    tools = [_tool(t) for t in native.get("tools") or () if isinstance(t, dict) and t.get("type") in
             (None, "custom") and t.get("name")]
    if tools:
        out["tools"] = tools
        choice = native.get("tool_choice") or {}
        kind = choice.get("type") if isinstance(choice, dict) else None
        if kind:
            out["tool_choice"] = ({"type": "function", "function": {"name": choice.get("name")}} if kind == "tool"
                                  else {"any": "required"}.get(kind, kind))
        if isinstance(choice, dict) and choice.get("disable_parallel_tool_use"):
            out["parallel_tool_calls"] = False
    return out


def _tool(t: dict) -> dict:
    fn: dict[str, Any] = {"name": t["name"], "parameters": t.get("input_schema") or {"type": "object"}}
    if t.get("description"):
        fn["description"] = t["description"]
    return {"type": "function", "function": fn}


def _assistant(blocks: list) -> dict:
    texts, thoughts, calls = [], [], []
    for b in blocks:
        kind = b.get("type") if isinstance(b, dict) else None
        if kind == "text":
            texts.append(b.get("text") or "")
        elif kind == "thinking":
            thoughts.append(b.get("thinking") or "")
        elif kind == "tool_use":
            calls.append({"id": b.get("id"), "type": "function",
                          "function": {"name": b.get("name"), "arguments": arguments_json(b.get("input"))}})
    msg: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if thoughts:  # reasoning models that need their thinking back in tool turns (DeepSeek, Kimi) get it
        msg["reasoning_content"] = "".join(thoughts)
    if calls:
        msg["tool_calls"] = calls
    return msg


def _user(blocks: list) -> list[dict]:
    """One Anthropic user turn -> a tool message per tool_result (first, as chat formats want them right after
    the calls), then a user message with the rest."""
    out: list[dict] = []
    parts: list[dict] = []
    for b in blocks:
        if not isinstance(b, dict):
            raise BadRequest("each content block must be an object", param="messages")
        if b.get("type") == "tool_result":
            c = b.get("content")
            inner = [{"type": "text", "text": c}] if isinstance(c, str) else _parts(c or [])
            prefix = TOOL_ERROR if b.get("is_error") else ""
            if all(p["type"] == "text" for p in inner):
                content: Any = prefix + "\n".join(p["text"] for p in inner)
            else:
                content = ([{"type": "text", "text": prefix.strip()}] if prefix else []) + inner
            out.append({"role": "tool", "tool_call_id": b.get("tool_use_id"), "content": content})
        else:
            parts.extend(_parts([b]))
    if parts:
        only_text = len(parts) == 1 and parts[0]["type"] == "text"
        out.append({"role": "user", "content": parts[0]["text"] if only_text else parts})
    return out


def _parts(blocks: list) -> list[dict]:
    parts = []
    for b in blocks:
        kind = b.get("type") if isinstance(b, dict) else None
        src = b.get("source") or {} if kind else {}
        if kind == "text":
            if b.get("text"):
                parts.append({"type": "text", "text": b["text"]})
        elif kind in ("image", "document"):
            if src.get("type") == "text":  # a plain-text document is text to any model
                parts.append({"type": "text", "text": str(src.get("data") or "")})
                continue
            url = src.get("url") or data_url(src.get("media_type", ""), src.get("data", ""))
            parts.append({"type": "image_url", "image_url": {"url": url}} if kind == "image"
                         else {"type": "file", "file": {"file_data": url}})
        elif kind == "search_result":
            parts.extend(_parts(b.get("content") or []))
    return parts


# --------------------------------------------------------------------------------------- response: out
def message_id(raw: Any) -> str:
    raw = str(raw or "")
    if raw.startswith("msg_"):
        return raw
    return "msg_" + (hashlib.sha1(raw.encode()).hexdigest()[:24] if raw else os.urandom(12).hex())


def usage_block(u: Usage | None) -> dict:
    """Anthropic counts cache reads and writes apart from input_tokens; OpenAI counts them inside prompt_tokens."""
    u = u or Usage()
    return {"input_tokens": max(0, u.prompt_tokens - u.cached_tokens - u.cache_write_tokens),
            "cache_creation_input_tokens": u.cache_write_tokens, "cache_read_input_tokens": u.cached_tokens,
            "output_tokens": u.completion_tokens}


def call_id(raw: Any, n: int) -> str:
    """A tool_use id Anthropic clients accept, the same every time for the same upstream id."""
    return tool_id(raw) if isinstance(raw, str) and raw else f"toolu_accord_{n}"


def anthropic_from_openai(resp: dict, model: str | None = None) -> dict:
    """An Anthropic message from an OpenAI `chat.completion`; `model`: the name the client asked for."""
    choice = (resp.get("choices") or [{}])[0]
    msg = choice.get("message") or {}
    content: list[dict] = [dict(b) for b in msg.get("thinking_blocks") or ()]
    # vLLM/Ollama-like servers say `reasoning`, not `reasoning_content` (as the stream translator already reads)
    thought = msg.get("reasoning_content") or msg.get("reasoning")
    if not content and isinstance(thought, str) and thought:
        content.append({"type": "thinking", "thinking": thought, "signature": ""})
    if msg.get("content"):
        content.append({"type": "text", "text": text_of(msg["content"])})
    for n, tc in enumerate(msg.get("tool_calls") or ()):
        content.append({"type": "tool_use", "id": call_id(tc.get("id"), n),
                        "name": (tc.get("function") or {}).get("name"), "input": tool_arguments(tc)})
    return {
        "id": message_id(resp.get("id")), "type": "message", "role": "assistant",
        "model": model or resp.get("model"), "content": content,
        "stop_reason": STOP_REASON.get(choice.get("finish_reason") or "stop", "end_turn"), "stop_sequence": None,
        "usage": usage_block(Usage.from_openai(resp.get("usage"))),
    }
