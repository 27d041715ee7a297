"""OpenAI chat <-> Anthropic Messages, as pure functions (the adapter in anthropic.py does the I/O).

OpenAI -> Anthropic for calling Claude, and Anthropic answers -> OpenAI. Streams are in
`translate_anthropic_stream.py`; serving Anthropic-shaped clients from OpenAI-only upstreams (the reverse
direction) is in `translate_messages.py`.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any

from ..errors import BadRequest
from .base import Usage
from .translate_openai import (
    arguments_json,
    client_input,
    completion,
    effort_of,
    forced_function,
    function_tools,
    image_url_of,
    max_tokens_of,
    parse_data_url,
    parts_of,
    stop_list,
    text_of,
    tool_arguments,
)

if TYPE_CHECKING:
    from ..catalog import ModelInfo

THINKING_MIN = 1024  # Anthropic's smallest thinking budget
BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576, "xhigh": 32000}
ANSWER_TOKENS = 8192  # max_tokens when the client gives none (Anthropic requires one), capped by the model's
FINISH = {"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop", "max_tokens": "length",
          "model_context_window_exceeded": "length", "tool_use": "tool_calls", "refusal": "content_filter"}
STOP_REASON = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}
JSON_ONLY = "Respond with a single valid JSON object and nothing else."
TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")  # what Anthropic accepts as tool_use.id / tool_result.tool_use_id


# ------------------------------------------------------------------------------------ OpenAI -> Anthropic
@client_input
def to_anthropic(body: dict, model: str, info: ModelInfo) -> dict:
    """Translate an OpenAI chat body (deployment defaults already merged). Unknown OpenAI params are dropped."""
    system, messages = _messages(body.get("messages") or [])
    out: dict[str, Any] = {"model": model, "messages": messages}
    cap = info.max_output_tokens if info.known and info.max_output_tokens > 0 else None
    asked = max_tokens_of(body)
    answer = asked or min(cap or 4096, ANSWER_TOKENS)

    # thinking: Anthropic's own `thinking` object, or OpenAI's reasoning_effort (what the engine sends too): BUDGETS
    thinking = thinking_ if isinstance(thinking_ := body.get("thinking"), dict) else None
    budget = 0
    if thinking is not None:
        budget = int(thinking.get("budget_tokens") or 0) if thinking.get("type") == "enabled" else 0
    else:
        effort = effort_of(body)
        if effort and effort != "none" and (info.thinking or not info.known):
            budget = BUDGETS.get(effort, BUDGETS["medium"])
    if budget:
        if asked is None:  # OpenAI counts reasoning inside max tokens, so leave room for both
            answer = min(budget + answer, cap) if cap else budget + answer
        if budget >= answer:  # keep room for the answer within the limit
            budget = max(THINKING_MIN, answer // 2)
        thinking = {**(thinking or {}), "type": "enabled", "budget_tokens": budget} if budget < answer else None
    out["max_tokens"] = answer

    functions, native = function_tools(body.get("tools"))
    tools = [_tool(t) for t in functions] + native
    if tools:
        out["tools"] = tools
        choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
        if choice:
            out["tool_choice"] = choice
    else:
        used = _tools_used(messages)
        if used:  # Anthropic refuses tool_use blocks in history unless those tools are declared
            out["tools"] = [{"name": n, "input_schema": {"type": "object"}} for n in used]
            out["tool_choice"] = {"type": "none"}
    if budget and thinking and not _thinking_allowed(messages, out.get("tool_choice")):
        thinking = None
    if thinking:
        out["thinking"] = thinking
    thinking_on = bool(thinking and thinking.get("type") == "enabled")

    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        # Anthropic has no JSON mode: ask for it in the system prompt, with the schema when there is one
        schema = (fmt.get("json_schema") or {}).get("schema")
        note = JSON_ONLY + (f" It must match this JSON schema: {arguments_json(schema)}" if schema else "")
        system.append({"type": "text", "text": note})
    if system:
        cached = any("cache_control" in b for b in system)
        out["system"] = system if cached else "\n\n".join(b["text"] for b in system)

    if not thinking_on:  # with thinking on, Anthropic accepts no temperature or top_k, and top_p only >= 0.95
        if isinstance(body.get("temperature"), (int, float)):
            out["temperature"] = min(float(body["temperature"]), 1.0)  # OpenAI's range is 0-2, Anthropic's 0-1
        if body.get("top_k") is not None:
            out["top_k"] = body["top_k"]
    top_p = body.get("top_p")
    if top_p is not None and (not thinking_on or top_p >= 0.95):
        out["top_p"] = top_p
    stops = stop_list(body.get("stop"))
    if stops:
        out["stop_sequences"] = stops
    if isinstance(body.get("user"), str):
        out["metadata"] = {"user_id": body["user"]}
    return out


def _thinking_allowed(messages: list[dict], tool_choice: dict | None) -> bool:
    """Anthropic refuses thinking with a forced tool, and refuses a trailing assistant turn (a prefill, or a
    tool-use turn being answered) that does not start with a signed thinking block we could not carry."""
    if tool_choice and tool_choice.get("type") in ("any", "tool"):
        return False
    last_assistant = next((m for m in reversed(messages) if m["role"] == "assistant"), None)
    if last_assistant is None:
        return True
    trailing = messages[-1] is last_assistant or any(
        b.get("type") == "tool_result" for b in messages[-1]["content"])
    first = last_assistant["content"][0].get("type")
    return not trailing or first in ("thinking", "redacted_thinking")


def _tools_used(messages: list[dict]) -> list[str]:
    names = (b.get("name") for m in messages if m["role"] == "assistant" for b in m["content"]
             if b.get("type") == "tool_use")
    return list(dict.fromkeys(n for n in names if n))


def _messages(msgs: list) -> tuple[list[dict], list[dict]]:
    system: list[dict] = []
    out: list[dict] = []
    for m in msgs:
        if not isinstance(m, dict):
            raise BadRequest("each message must be an object", param="messages")
        role = m.get("role")
        if role in ("system", "developer"):
            system.extend(_text_blocks(m.get("content")))
            continue
        if role == "user":
            blocks = _user_blocks(m.get("content"))
        elif role == "assistant":
            role, blocks = "assistant", _assistant_blocks(m)
        elif role == "tool":
            role, blocks = "user", [_tool_result(m)]
        else:
            raise BadRequest(f"unsupported message role {role!r}", param="messages")
        if not blocks:
            continue
        if out and out[-1]["role"] == role:  # Anthropic wants user and assistant turns to alternate
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    for m in out:  # tool results must open their user turn
        if m["role"] == "user":
            m["content"].sort(key=lambda b: b.get("type") != "tool_result")
    return system, out


def _text_blocks(content: Any) -> list[dict]:
    blocks = []
    for p in parts_of(content):
        if p.get("type") in ("text", "refusal"):
            text = p.get("text") or p.get("refusal") or ""
            if text:  # Anthropic rejects empty text blocks
                blocks.append({"type": "text", "text": text, **_cache(p)})
    return blocks


def _cache(part: dict) -> dict:
    return {"cache_control": part["cache_control"]} if "cache_control" in part else {}


def _user_blocks(content: Any) -> list[dict]:
    blocks: list[dict] = []
    for p in parts_of(content):
        kind = p.get("type")
        if kind == "text":
            if p.get("text"):
                blocks.append({"type": "text", "text": p["text"], **_cache(p)})
        elif kind == "image_url":
            blocks.append({"type": "image", "source": _source(image_url_of(p)), **_cache(p)})
        elif kind == "file":
            f = p.get("file") or {}
            if not isinstance(f.get("file_data"), str):
                raise BadRequest("Anthropic needs files inline (file.file_data as a data URL)", param="messages")
            blocks.append({"type": "document", "source": _source(f["file_data"]), **_cache(p)})
        else:
            raise BadRequest(f"Anthropic models do not accept {kind!r} content parts", param="messages")
    return blocks


def _source(url: str) -> dict:
    parsed = parse_data_url(url)
    if parsed:
        return {"type": "base64", "media_type": parsed[0], "data": parsed[1]}
    return {"type": "url", "url": url}


def _assistant_blocks(m: dict) -> list[dict]:
    # Signed thinking blocks (`thinking_blocks`, as we return them) go back as they came. A bare
    # `reasoning_content` is dropped: without its signature Anthropic would reject it.
    blocks = [dict(b) for b in m.get("thinking_blocks") or ()
              if isinstance(b, dict) and (b.get("signature") or b.get("type") == "redacted_thinking")]
    blocks += _text_blocks(m.get("content"))
    for tc in m.get("tool_calls") or ():
        fn = tc.get("function") or {}
        blocks.append({"type": "tool_use", "id": tool_id(tc.get("id")), "name": fn.get("name"),
                       "input": tool_arguments(tc)})
    return blocks


def tool_id(raw: Any) -> Any:
    """An id Anthropic accepts, the same for a call and its result: other vendors' ids (Kimi's
    `functions.name:0`) break Anthropic's pattern, so those are cleaned and suffixed with a hash of the original
    to stay distinct. Valid ids (and missing ones) pass as they are."""
    if not isinstance(raw, str) or TOOL_ID.match(raw):
        return raw
    clean = re.sub(r"[^a-zA-Z0-9_-]", "_", raw)
    return f"{clean}_{hashlib.sha1(raw.encode()).hexdigest()[:8]}"


def _tool_result(m: dict) -> dict:
    if not m.get("tool_call_id"):
        raise BadRequest("a tool message needs tool_call_id", param="messages")
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_id(m["tool_call_id"])}
    content = m.get("content")
    if isinstance(content, list) and any(isinstance(p, dict) and p.get("type") == "image_url" for p in content):
        block["content"] = _user_blocks(content)
    elif text_of(content):
        block["content"] = text_of(content)
    return block


def _tool(t: dict) -> dict:
    fn = t["function"]
    out = {"name": fn.get("name"), "input_schema": fn.get("parameters") or {"type": "object", "properties": {}}}
    if fn.get("description"):
        out["description"] = fn["description"]
    return {**out, **_cache(t)}


def _tool_choice(choice: Any, parallel: Any) -> dict | None:
    name = forced_function(choice)
    kind = {"auto": "auto", "none": "none", "required": "any"}.get(choice) if isinstance(choice, str) else None
    out: dict | None = {"type": "tool", "name": name} if name else {"type": kind} if kind else None
    if parallel is False and (out is None or out["type"] != "none"):
        out = {**(out or {"type": "auto"}), "disable_parallel_tool_use": True}
    return out


# ------------------------------------------------------------------------------------ Anthropic -> OpenAI
def usage_from(u: Any) -> Usage | None:
    """Anthropic counts cached input apart; OpenAI counts it inside prompt tokens."""
    if not isinstance(u, dict):
        return None
    read = int(u.get("cache_read_input_tokens") or 0)
    created = int(u.get("cache_creation_input_tokens") or 0)
    return Usage(prompt_tokens=int(u.get("input_tokens") or 0) + read + created,
                 completion_tokens=int(u.get("output_tokens") or 0), cached_tokens=read, cache_write_tokens=created)


def message_from(content: list) -> dict:
    """An OpenAI assistant message from Anthropic content blocks."""
    texts: list[str] = []
    thoughts: list[str] = []
    signed: list[dict] = []
    calls: list[dict] = []
    for b in content:
        kind = b.get("type") if isinstance(b, dict) else None
        if kind == "text":
            texts.append(b.get("text") or "")
        elif kind == "thinking":
            thoughts.append(b.get("thinking") or "")
            signed.append(b)
        elif kind == "redacted_thinking":
            signed.append(b)
        elif kind == "tool_use":
            calls.append({"id": b.get("id"), "type": "function",
                          "function": {"name": b.get("name"), "arguments": arguments_json(b.get("input"))}})
    msg: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if thoughts:
        msg["reasoning_content"] = "".join(thoughts)
    if signed:
        msg["thinking_blocks"] = signed  # sent back as they are, so thinking survives tool use
    if calls:
        msg["tool_calls"] = calls
    return msg


def from_anthropic(data: dict, model: str) -> dict:
    """An OpenAI `chat.completion` from an Anthropic message."""
    usage = usage_from(data.get("usage")) or Usage(estimated=True)
    finish = FINISH.get(data.get("stop_reason") or "end_turn", "stop")
    return completion(model, message_from(data.get("content") or []), finish, usage)
