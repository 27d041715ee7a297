"""OpenAI Responses requests as chat-completions requests (every upstream speaks chat completions).

What a plain bridge loses, this one keeps: a reasoning item sent back in `input` becomes `reasoning_content`
(plus Anthropic's signed thinking blocks and Gemini's thought signatures) on the assistant turn it preceded,
which DeepSeek and Kimi refuse tool-call turns without. Answers go back the other way in
translate_responses_output.py. Pure: no I/O.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import orjson

from ..errors import BadRequest
from .translate_responses_output import Bridge, reasoning_state

T = TypeVar("T")


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
