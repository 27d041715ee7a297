"""OpenAI Responses requests to chat completions, and chat completions back to Responses objects.

Every upstream speaks chat completions, so `POST /v1/responses` is a bridge. What a plain bridge loses, this one
keeps: the upstream's `reasoning_content` becomes a `reasoning` output item, and a reasoning item sent back in
`input` becomes `reasoning_content` (plus Anthropic's signed thinking blocks and Gemini's thought signatures) on
the assistant turn it preceded, which DeepSeek and Kimi refuse tool-call turns without. That state rides in the
item's `encrypted_content` (an opaque blob, as OpenAI's own is), because Codex sends back that field and
`summary`, not `content`. Pure: no I/O.
"""

from __future__ import annotations

import base64
import functools
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson

from ..errors import BadRequest
from .base import Usage

T = TypeVar("T")
BLOB = "accord.r1."  # marks reasoning state Accord wrote into `encrypted_content`
# Responses fields that have no chat-completions meaning, or that only change what Accord returns: not sent on
IGNORED = frozenset({"include", "store", "metadata", "previous_response_id", "prompt_cache_key", "client_metadata",
                     "truncation", "service_tier", "max_tool_calls", "safety_identifier", "prompt_cache_retention",
                     "background", "stream_options", "top_logprobs"})


def client_input(translate: Callable[..., T]) -> Callable[..., T]:
    """A body of the wrong shape (a number where an item belongs, ...) is the client's mistake: a 400 saying so."""

    @functools.wraps(translate)
    def guarded(*args: Any, **kwargs: Any) -> T:
        try:
            return translate(*args, **kwargs)
        except (TypeError, AttributeError, KeyError, IndexError, ValueError) as e:
            raise BadRequest(f"the request does not have the shape of an OpenAI Responses request "
                             f"({e.__class__.__name__}: {str(e)[:200]})", code="invalid_request_shape") from None

    return guarded


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


@dataclass
class Bridge:
    """What the answer's shape depends on: which chat tool names were custom or namespaced tools."""

    custom: set[str] = field(default_factory=set)  # custom (free-form) tools, sent upstream as {"input": str}
    namespace: dict[str, str] = field(default_factory=dict)  # tool name -> its namespace
    include_blob: bool = False  # the client asked for reasoning.encrypted_content


# ------------------------------------------------------------------------------------------------ requests
@client_input
def to_chat(body: dict, history: list[dict] | None = None) -> tuple[dict, list[dict], Bridge]:
    """The chat body for a Responses request; the conversation without instructions (history + this input), which
    is what a later `previous_response_id` continues; and the Bridge for shaping the answer."""
    for unsupported, why in (("background", "background responses"), ("conversation", "the Conversations API"),
                             ("prompt", "stored prompts")):
        if body.get(unsupported):
            raise BadRequest(f"`{unsupported}` is not supported: Accord serves no {why}; send the input itself",
                             param=unsupported)
    inp = body.get("input")
    if isinstance(inp, str):
        items: list = [{"type": "message", "role": "user", "content": inp}]
    elif isinstance(inp, list):
        items = inp
    elif inp is None and history:
        items = []
    else:
        raise BadRequest("`input` must be a string or a list of input items", param="input")
    conversation = [*(history or ()), *input_messages(items)]
    if not conversation:
        raise BadRequest("`input` is empty: send a string or at least one message", param="input")
    messages = list(conversation)
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        messages.insert(0, {"role": "system", "content": instructions})
    elif instructions not in (None, ""):
        raise BadRequest("`instructions` must be a string", param="instructions")

    bridge = Bridge(include_blob="reasoning.encrypted_content" in (body.get("include") or ()))
    chat: dict[str, Any] = {"model": body.get("model"), "messages": messages}
    tools = _tools(body.get("tools"), bridge)
    if tools:
        chat["tools"] = tools
        choice = _tool_choice(body.get("tool_choice"), tools)
        if choice is not None:
            chat["tool_choice"] = choice
        if isinstance(body.get("parallel_tool_calls"), bool):
            chat["parallel_tool_calls"] = body["parallel_tool_calls"]
    for k in ("temperature", "top_p", "user"):
        if body.get(k) is not None:
            chat[k] = body[k]
    if body.get("max_output_tokens") is not None:
        chat["max_tokens"] = body["max_output_tokens"]
    effort = (body.get("reasoning") or {}).get("effort")
    if effort:
        chat["reasoning_effort"] = effort
    fmt = _response_format((body.get("text") or {}).get("format"))
    if fmt is not None:
        chat["response_format"] = fmt
    if body.get("stream"):
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return chat, conversation, bridge


def input_messages(items: list) -> list[dict]:
    """Chat messages from Responses input items. A reasoning item, an assistant message and the function calls
    that follow it are one assistant turn; the reasoning is restored onto that turn."""
    out: list[dict] = []
    turn: dict | None = None  # the assistant turn being built
    signatures: dict[str, str] = {}  # call_id -> Gemini thought signature, from any reasoning blob
    for item in items:
        if isinstance(item, dict) and item.get("type") == "reasoning":
            signatures.update(reasoning_state(item).get("signatures") or {})
    images: list[dict] = []  # images from tool outputs, sent as one user message after the tool results

    def flush_images() -> None:
        if images:
            out.append({"role": "user", "content": list(images)})
            images.clear()

    def open_turn() -> dict:
        nonlocal turn
        if turn is None:
            flush_images()
            turn = {"role": "assistant", "content": None}
            out.append(turn)
        return turn

    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise BadRequest(f"input[{i}] must be an object (a message or an item)", param=f"input[{i}]")
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind == "message":
            role = item.get("role")
            if role == "assistant":
                if turn is not None and turn.get("tool_calls"):
                    turn = None
                t = open_turn()
                text = _text(item.get("content"), i)
                t["content"] = (t["content"] or "") + text if text or t["content"] else t["content"]
                continue
            if role not in ("user", "system", "developer"):
                raise BadRequest(f"input[{i}].role must be user, assistant, system or developer, not {role!r}",
                                 param=f"input[{i}].role")
            turn = None
            flush_images()
            out.append({"role": role, "content": _user_content(item.get("content"), i)})
        elif kind == "reasoning":
            state = reasoning_state(item)
            if not state.get("reasoning_content") and not state.get("thinking_blocks"):
                continue  # signatures only (applied to their calls above), or nothing at all
            if turn is not None and (turn.get("content") or turn.get("tool_calls")):
                turn = None
            t = open_turn()
            if state.get("reasoning_content"):
                t["reasoning_content"] = t.get("reasoning_content", "") + state["reasoning_content"]
            if state.get("thinking_blocks"):
                t.setdefault("thinking_blocks", []).extend(state["thinking_blocks"])
        elif kind in ("function_call", "custom_tool_call"):
            call_id = item.get("call_id")
            if not isinstance(call_id, str) or not call_id:
                raise BadRequest(f"input[{i}].call_id is required", param=f"input[{i}].call_id")
            if kind == "function_call":
                args = item.get("arguments")
                args = args if isinstance(args, str) else orjson.dumps(args or {}).decode()
            else:
                args = orjson.dumps({"input": item.get("input") or ""}).decode()
            call: dict[str, Any] = {"id": call_id, "type": "function",
                                    "function": {"name": item.get("name"), "arguments": args}}
            if call_id in signatures:
                call["extra_content"] = {"google": {"thought_signature": signatures[call_id]}}
            open_turn().setdefault("tool_calls", []).append(call)
        elif kind in ("function_call_output", "custom_tool_call_output"):
            turn = None
            call_id = item.get("call_id")
            if not isinstance(call_id, str) or not call_id:
                raise BadRequest(f"input[{i}].call_id is required", param=f"input[{i}].call_id")
            text, pics = _tool_output(item.get("output"), i)
            images.extend(pics)
            out.append({"role": "tool", "tool_call_id": call_id, "content": text})
        elif kind == "item_reference":
            raise BadRequest(f"input[{i}]: item_reference is not supported; send the item itself, or continue "
                             "with previous_response_id", param=f"input[{i}]")
        else:
            raise BadRequest(f"input[{i}].type {kind!r} is not supported: send messages, reasoning, function_call "
                             "and function_call_output items", param=f"input[{i}].type")
    flush_images()
    return out


def _text(content: Any, i: int) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    texts = []
    for part in content:
        kind = part.get("type")
        if kind in ("output_text", "input_text", "text"):
            texts.append(part.get("text") or "")
        elif kind == "refusal":
            texts.append(part.get("refusal") or "")
        else:
            raise BadRequest(f"input[{i}]: an assistant message cannot hold {kind!r} content",
                             param=f"input[{i}].content")
    return "".join(texts)


def _part(part: dict, where: str) -> dict:
    kind = part.get("type")
    if kind in ("input_text", "output_text", "text"):
        return {"type": "text", "text": part.get("text") or ""}
    if kind == "input_image":
        url = part.get("image_url")
        if not isinstance(url, str) or not url:
            raise BadRequest(f"{where}: input_image needs `image_url` (an https URL or a data: URL); file_id is not "
                             "supported (Accord has no Files API)", param=where)
        image: dict[str, Any] = {"url": url}
        if part.get("detail") in ("low", "high", "auto"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_file":
        if not part.get("file_data"):
            raise BadRequest(f"{where}: input_file needs `file_data` (base64); file_id and file_url are not "
                             "supported (Accord has no Files API)", param=where)
        return {"type": "file", "file": {k: part[k] for k in ("file_data", "filename") if part.get(k)}}
    if kind == "input_audio":
        return {"type": "input_audio", "input_audio": part.get("input_audio") or {}}
    raise BadRequest(f"{where}: content part type {kind!r} is not supported", param=where)


def _user_content(content: Any, i: int) -> str | list[dict]:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise BadRequest(f"input[{i}].content must be a string or a list of content parts", param=f"input[{i}]")
    parts = [_part(p, f"input[{i}].content[{j}]") for j, p in enumerate(content)]
    if all(p["type"] == "text" for p in parts):  # plain text: what every upstream takes, system messages too
        return "".join(p["text"] for p in parts)
    return parts


def _tool_output(output: Any, i: int) -> tuple[str, list[dict]]:
    """A tool result's text, and its images (chat tool messages carry text only)."""
    if isinstance(output, str):
        return output, []
    if not isinstance(output, list):
        return orjson.dumps(output).decode(), []
    texts, images = [], []
    for j, part in enumerate(output):
        p = _part(part, f"input[{i}].output[{j}]")
        if p["type"] == "text":
            texts.append(p["text"])
        else:
            images.append(p)
    return "".join(texts), images


def _tools(tools: Any, bridge: Bridge, namespace: str | None = None) -> list[dict]:
    """Function and custom tools as chat tools; namespaces flattened. Hosted tools (web_search, file_search,
    ...) are left out: no chat-completions upstream can run them, and leaving one out is the model not using it."""
    out: list[dict] = []
    for t in tools or ():
        kind = t.get("type")
        if kind == "function":
            fn: dict[str, Any] = {"name": t["name"], "parameters": t.get("parameters") or {"type": "object",
                                                                                        "properties": {}}}
            if t.get("description"):
                fn["description"] = t["description"]
            if isinstance(t.get("strict"), bool):
                fn["strict"] = t["strict"]
            out.append({"type": "function", "function": fn})
        elif kind == "custom":
            bridge.custom.add(t["name"])
            desc = t.get("description") or ""
            fmt = t.get("format") or {}
            if fmt.get("type") == "grammar" and fmt.get("definition"):
                desc += f"\n\nThe input must follow this {fmt.get('syntax', '')} grammar:\n{fmt['definition']}"
            out.append({"type": "function", "function": {
                "name": t["name"], "description": desc.strip() or f"the {t['name']} tool",
                "parameters": {"type": "object", "properties": {"input": {"type": "string"}}, "required": ["input"]}}})
        elif kind == "namespace":
            inner = _tools(t.get("tools"), bridge, t.get("name"))
            out += inner
            continue
        else:
            continue
        if namespace:
            bridge.namespace[t["name"]] = namespace
    return out


def _tool_choice(choice: Any, tools: list[dict]) -> Any:
    if choice is None or choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict):
        kind = choice.get("type")
        if kind in ("function", "custom"):
            return {"type": "function", "function": {"name": choice.get("name")}}
        if kind == "allowed_tools":
            names = {t.get("name") for t in choice.get("tools") or ()}
            tools[:] = [t for t in tools if t["function"]["name"] in names]
            return choice.get("mode") or "auto"
    raise BadRequest(f"tool_choice {choice!r} is not supported: use auto, none, required, or a function",
                     param="tool_choice")


def _response_format(fmt: Any) -> dict | None:
    if not isinstance(fmt, dict) or fmt.get("type") in (None, "text"):
        return None
    if fmt["type"] == "json_object":
        return {"type": "json_object"}
    if fmt["type"] == "json_schema":
        schema = {k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}
        return {"type": "json_schema", "json_schema": schema}
    raise BadRequest(f"text.format type {fmt['type']!r} is not supported: use text, json_object or json_schema",
                     param="text.format")


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
            "input_tokens_details": {"cached_tokens": usage.cached_tokens, "cache_write_tokens": 0},
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
    text = body.get("text") if isinstance(body.get("text"), dict) else {}
    reasoning = body.get("reasoning") if isinstance(body.get("reasoning"), dict) else {}
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
