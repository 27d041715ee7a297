"""OpenAI chat -> Gemini generateContent and back, as pure functions (the adapter in gemini.py does the I/O).

Both directions are here (Gemini -> OpenAI serves round trips and, one day, Gemini-shaped clients).
Streams are in `translate_gemini_stream.py`, embeddings in `translate_gemini_embed.py`.
"""

from __future__ import annotations

import mimetypes
import uuid
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

BUDGETS = {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576, "xhigh": 32768}
# the thinkingBudget each family accepts (ai.google.dev/gemini-api/docs/thinking): (lowest, highest, 0 turns it
# off); the first matching prefix wins, so flash-lite comes before flash. A budget outside is refused with a 400.
BUDGET_RANGES = (("gemini-2.5-flash-lite", (512, 24_576, True)), ("gemini-2.5-flash", (1, 24_576, True)),
                 ("gemini-2.5-pro", (128, 32_768, False)))
LEVELS_PRO = {"none": "low", "minimal": "low", "low": "low", "medium": "high", "high": "high", "xhigh": "high"}
LEVELS_FLASH = {"none": "minimal", "minimal": "minimal", "low": "low", "medium": "medium", "high": "high",
                "xhigh": "high"}
FINISH = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter", "RECITATION": "content_filter",
          "BLOCKLIST": "content_filter", "PROHIBITED_CONTENT": "content_filter", "SPII": "content_filter",
          "IMAGE_SAFETY": "content_filter"}
FINISH_REASON = {"stop": "STOP", "length": "MAX_TOKENS", "content_filter": "SAFETY", "tool_calls": "STOP"}
# Google's documented stand-in for a function call made without a signature (another model's, or a client
# that dropped it): Gemini 3 refuses function calls in the current turn that carry none.
SKIP_SIGNATURE = "skip_thought_signature_validator"


# ---------------------------------------------------------------------------------------- OpenAI -> Gemini
@client_input
def to_gemini(body: dict, info: ModelInfo, *, signatures_required: bool = False, model: str = "") -> dict:
    """Translate an OpenAI chat body (deployment defaults already merged). Unknown OpenAI params are dropped."""
    system, contents = _contents(body.get("messages") or [], signatures_required)
    out: dict[str, Any] = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": [{"text": t} for t in system]}
    functions, native = function_tools(body.get("tools"))
    tools = [{"functionDeclarations": [_declaration(t["function"]) for t in functions]}] if functions else []
    tools += native  # Gemini's own tools ({"googleSearch": {}}, ...) pass through
    if tools:
        out["tools"] = tools
        config = _calling_config(body.get("tool_choice"))
        if config:
            out["toolConfig"] = {"functionCallingConfig": config}
    gc = _generation_config(body, info, model or info.id)
    if gc:
        out["generationConfig"] = gc
    return out


def _contents(msgs: list, signatures_required: bool) -> tuple[list[str], list[dict]]:
    system: list[str] = []
    contents: list[dict] = []
    names: dict[str, str] = {}  # tool call id -> function name, which a functionResponse must give
    for m in msgs:
        if not isinstance(m, dict):
            raise BadRequest("each message must be an object", param="messages")
        role = m.get("role")
        if role in ("system", "developer"):
            text = text_of(m.get("content"))
            if text:
                system.append(text)
            continue
        if role == "user":
            parts = _user_parts(m.get("content"))
        elif role == "assistant":
            role, parts = "model", _model_parts(m, names)
        elif role == "tool":
            role, parts = "user", _function_response(m, names)
        else:
            raise BadRequest(f"unsupported message role {role!r}", param="messages")
        if not parts:
            continue
        if contents and contents[-1]["role"] == role:  # Gemini wants user and model turns to alternate
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    if signatures_required:
        for c in contents:
            calls = [p for p in c["parts"] if "functionCall" in p]
            if c["role"] == "model" and calls and not any("thoughtSignature" in p for p in calls):
                calls[0]["thoughtSignature"] = SKIP_SIGNATURE
    return system, contents


def _user_parts(content: Any) -> list[dict]:
    parts: list[dict] = []
    for p in parts_of(content):
        kind = p.get("type")
        if kind == "text":
            if p.get("text"):
                parts.append({"text": p["text"]})
        elif kind == "image_url":
            parts.append(_media(image_url_of(p)))
        elif kind == "file":
            f = p.get("file") or {}
            ref = f.get("file_data") or f.get("file_id")
            if not isinstance(ref, str):
                raise BadRequest("a file part needs file.file_data (a data URL) or file.file_id", param="messages")
            parts.append(_media(ref))
        elif kind == "input_audio":
            audio = p.get("input_audio") or {}
            parts.append({"inlineData": {"mimeType": f"audio/{audio.get('format') or 'wav'}",
                                         "data": audio.get("data") or ""}})
        else:
            raise BadRequest(f"Gemini models do not accept {kind!r} content parts", param="messages")
    return parts


def _media(url: str) -> dict:
    parsed = parse_data_url(url)
    if parsed:
        return {"inlineData": {"mimeType": parsed[0], "data": parsed[1]}}
    ref: dict[str, str] = {"fileUri": url}
    mime = mimetypes.guess_type(url.split("?", 1)[0])[0]
    if mime:
        ref["mimeType"] = mime
    return {"fileData": ref}


def _model_parts(m: dict, names: dict[str, str]) -> list[dict]:
    # reasoning_content is not sent back: Gemini keeps its thinking state in signatures, not in thought text
    text = text_of(m.get("content"))
    parts: list[dict] = [{"text": text}] if text else []
    for tc in m.get("tool_calls") or ():
        fn = tc.get("function") or {}
        names[str(tc.get("id"))] = fn.get("name") or ""
        part: dict[str, Any] = {"functionCall": {"name": fn.get("name"), "args": tool_arguments(tc)}}
        sig = ((tc.get("extra_content") or {}).get("google") or {}).get("thought_signature")
        if sig:
            part["thoughtSignature"] = sig
        parts.append(part)
    return parts


def _function_response(m: dict, names: dict[str, str]) -> list[dict]:
    tid = m.get("tool_call_id")
    name = names.get(str(tid)) or m.get("name")
    if not name:
        raise BadRequest(f"tool message {tid!r} answers no tool call of an earlier assistant message; "
                         "Gemini needs the function's name", param="messages")
    content = m.get("content")
    parts: list[dict] = [{"functionResponse": {"name": name, "response": {"output": text_of(content)}}}]
    if isinstance(content, list):  # images a tool returned follow its response
        parts += [_media(image_url_of(p)) for p in content if isinstance(p, dict) and p.get("type") == "image_url"]
    return parts


def _declaration(fn: dict) -> dict:
    out: dict[str, Any] = {"name": fn.get("name")}
    if fn.get("description"):
        out["description"] = fn["description"]
    params = fn.get("parameters")
    if isinstance(params, dict) and params.get("properties"):
        out["parametersJsonSchema"] = params  # full JSON Schema: no rewriting into Gemini's OpenAPI subset
    return out


def _calling_config(choice: Any) -> dict | None:
    name = forced_function(choice)
    if name:
        return {"mode": "ANY", "allowedFunctionNames": [name]}
    mode = {"auto": "AUTO", "none": "NONE", "required": "ANY"}.get(choice) if isinstance(choice, str) else None
    return {"mode": mode} if mode else None


def _generation_config(body: dict, info: ModelInfo, model: str) -> dict:
    gc: dict[str, Any] = {}
    limit = max_tokens_of(body)
    if limit:
        gc["maxOutputTokens"] = limit
    for src, dst in (("temperature", "temperature"), ("top_p", "topP"), ("top_k", "topK"), ("seed", "seed")):
        if body.get(src) is not None:
            gc[dst] = body[src]
    stops = stop_list(body.get("stop"))
    if stops:
        gc["stopSequences"] = stops
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        gc["responseMimeType"] = "application/json"
        schema = (fmt.get("json_schema") or {}).get("schema")
        if schema:
            gc["responseJsonSchema"] = schema
    effort = effort_of(body)
    if effort and (info.thinking or not info.known):
        gc["thinkingConfig"] = thinking_config(effort, model)
    return gc


def thinking_config(effort: str, model: str) -> dict:
    """An OpenAI reasoning effort as the model's own thinking control, within what the model accepts."""
    if model.startswith("gemini-3"):  # Gemini 3 takes a level; its Pro knows only low and high
        levels = LEVELS_FLASH if "flash" in model else LEVELS_PRO
        return {"thinkingLevel": levels.get(effort, "high"), "includeThoughts": True}
    budget = BUDGETS.get(effort, BUDGETS["medium"])
    low, high, can_stop = next((r for prefix, r in BUDGET_RANGES if model.startswith(prefix)), (0, budget, True))
    if budget == 0 and can_stop:
        return {"thinkingBudget": 0}
    if budget == 0:  # this model refuses a budget of 0 (it always thinks): the least it takes, thoughts hidden
        return {"thinkingBudget": low}
    return {"thinkingBudget": min(max(budget, low), high), "includeThoughts": True}


# ---------------------------------------------------------------------------------------- Gemini -> OpenAI
def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def tool_call(part: dict, index: int | None = None) -> dict:
    """An OpenAI tool call from a functionCall part; its thought signature rides along as Google's own
    OpenAI-compatible endpoint carries it (`extra_content.google.thought_signature`)."""
    fc = part.get("functionCall") or {}
    call: dict[str, Any] = {"id": fc.get("id") or new_call_id(), "type": "function",
                            "function": {"name": fc.get("name"), "arguments": arguments_json(fc.get("args"))}}
    if index is not None:
        call = {"index": index, **call}
    if part.get("thoughtSignature"):
        call["extra_content"] = {"google": {"thought_signature": part["thoughtSignature"]}}
    return call


def finish_from(reason: str | None, has_calls: bool) -> str:
    if has_calls and reason in (None, "STOP"):
        return "tool_calls"
    return FINISH.get(reason or "STOP", "stop")


def usage_from(u: Any) -> Usage | None:
    """Gemini counts thoughts apart; OpenAI counts reasoning inside completion tokens."""
    if not isinstance(u, dict):
        return None
    thoughts = int(u.get("thoughtsTokenCount") or 0)
    return Usage(prompt_tokens=int(u.get("promptTokenCount") or 0) + int(u.get("toolUsePromptTokenCount") or 0),
                 completion_tokens=int(u.get("candidatesTokenCount") or 0) + thoughts,
                 reasoning_tokens=thoughts, cached_tokens=int(u.get("cachedContentTokenCount") or 0))


def message_from(parts: list) -> dict:
    """An OpenAI assistant message from the parts of a model turn."""
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[dict] = []
    for p in parts:
        if not isinstance(p, dict):
            continue
        if "functionCall" in p:
            calls.append(tool_call(p))
        elif isinstance(p.get("text"), str):
            (thoughts if p.get("thought") else texts).append(p["text"])
    msg: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if thoughts:
        msg["reasoning_content"] = "".join(thoughts)
    if calls:
        msg["tool_calls"] = calls
    return msg


def from_gemini(data: dict, model: str) -> dict:
    """An OpenAI `chat.completion` from a GenerateContentResponse (a blocked prompt has no candidates)."""
    usage = usage_from(data.get("usageMetadata")) or Usage(estimated=True)
    candidates = data.get("candidates") or []
    if not candidates:
        return completion(model, {"role": "assistant", "content": ""}, "content_filter", usage)
    cand = candidates[0]
    msg = message_from((cand.get("content") or {}).get("parts") or [])
    return completion(model, msg, finish_from(cand.get("finishReason"), "tool_calls" in msg), usage)


def gemini_from_openai(resp: dict) -> dict:
    """A GenerateContentResponse from an OpenAI `chat.completion` (the reverse, for round trips)."""
    choice = (resp.get("choices") or [{}])[0]
    msg = choice.get("message") or {}
    parts: list[dict] = []
    if msg.get("reasoning_content"):
        parts.append({"text": msg["reasoning_content"], "thought": True})
    if msg.get("content"):
        parts.append({"text": text_of(msg["content"])})
    for tc in msg.get("tool_calls") or ():
        part: dict[str, Any] = {"functionCall": {"name": (tc.get("function") or {}).get("name"),
                                                 "args": tool_arguments(tc)}}
        sig = ((tc.get("extra_content") or {}).get("google") or {}).get("thought_signature")
        if sig:
            part["thoughtSignature"] = sig
        parts.append(part)
    u = resp.get("usage") or {}
    thoughts = int((u.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0)
    return {
        "candidates": [{"content": {"role": "model", "parts": parts}, "index": 0,
                        "finishReason": FINISH_REASON.get(choice.get("finish_reason") or "stop", "STOP")}],
        "usageMetadata": {"promptTokenCount": int(u.get("prompt_tokens") or 0),
                          "candidatesTokenCount": int(u.get("completion_tokens") or 0) - thoughts,
                          "thoughtsTokenCount": thoughts, "totalTokenCount": int(u.get("total_tokens") or 0)},
        "modelVersion": resp.get("model"),
    }


# ------------------------------------------------------------------------- the reverse: Gemini request in
def openai_from_gemini(native: dict) -> dict:
    """An OpenAI chat body from a generateContent request. Tool call ids are made up (Gemini has none) and
    each functionResponse answers the earliest unanswered call of its name."""
    messages: list[dict] = []
    system = [p.get("text", "") for p in (native.get("systemInstruction") or {}).get("parts") or ()]
    if system:
        messages.append({"role": "system", "content": "\n\n".join(system)})
    pending: list[tuple[str, str]] = []  # (name, id) of calls not answered yet
    for c in native.get("contents") or ():
        parts = c.get("parts") or []
        if c.get("role") == "model":
            msg = message_from(parts)
            pending += [(tc["function"]["name"], tc["id"]) for tc in msg.get("tool_calls") or ()]
            messages.append(msg)
            continue
        content: list[dict] = []
        for p in parts:
            if "functionResponse" in p:
                fr = p["functionResponse"]
                match = next((x for x in pending if x[0] == fr.get("name")), None)
                if match:
                    pending.remove(match)
                messages.append({"role": "tool", "tool_call_id": match[1] if match else new_call_id(),
                                 "content": _output_text(fr.get("response"))})
            elif isinstance(p.get("text"), str):
                content.append({"type": "text", "text": p["text"]})
            elif "inlineData" in p or "fileData" in p:
                d = p.get("inlineData") or {}
                url = (p.get("fileData") or {}).get("fileUri") or f"data:{d.get('mimeType')};base64,{d.get('data')}"
                content.append({"type": "image_url", "image_url": {"url": url}})
        if content:
            only_text = len(content) == 1 and content[0]["type"] == "text"
            messages.append({"role": "user", "content": content[0]["text"] if only_text else content})
    out: dict[str, Any] = {"messages": messages}
    decls = [d for t in native.get("tools") or () for d in t.get("functionDeclarations") or ()]
    if decls:
        out["tools"] = [{"type": "function", "function": {
            "name": d.get("name"), "parameters": d.get("parametersJsonSchema") or d.get("parameters")
            or {"type": "object", "properties": {}}, **({"description": d["description"]} if "description" in d else {}),
        }} for d in decls]
    fc = (native.get("toolConfig") or {}).get("functionCallingConfig") or {}
    if fc.get("allowedFunctionNames"):
        out["tool_choice"] = {"type": "function", "function": {"name": fc["allowedFunctionNames"][0]}}
    elif fc.get("mode"):
        out["tool_choice"] = {"AUTO": "auto", "NONE": "none", "ANY": "required"}.get(fc["mode"], "auto")
    gc = native.get("generationConfig") or {}
    for src, dst in (("maxOutputTokens", "max_tokens"), ("temperature", "temperature"), ("topP", "top_p"),
                     ("topK", "top_k"), ("seed", "seed"), ("stopSequences", "stop")):
        if src in gc:
            out[dst] = gc[src]
    if gc.get("responseMimeType") == "application/json":
        schema = gc.get("responseJsonSchema")
        out["response_format"] = ({"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}
                                  if schema else {"type": "json_object"})
    tc = gc.get("thinkingConfig") or {}
    budget = tc.get("thinkingBudget")
    if isinstance(budget, int):
        out["reasoning_effort"] = next((e for e, b in BUDGETS.items() if budget <= b), "high")
    elif tc.get("thinkingLevel"):
        out["reasoning_effort"] = str(tc["thinkingLevel"]).lower()
    return out


def _output_text(response: Any) -> str:
    if isinstance(response, dict) and set(response) == {"output"} and isinstance(response["output"], str):
        return response["output"]
    return arguments_json(response)
