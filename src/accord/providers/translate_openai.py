"""The OpenAI side of translating to and from native wire formats, shared by the Anthropic and Gemini adapters.

Pure functions: reading an OpenAI chat body (text of a content, data URLs, tool-call arguments, limits) and
building OpenAI `chat.completion` responses and `chat.completion.chunk`s. No I/O here, so the translation
can be tested exhaustively without a server.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from ..errors import BadRequest
from .base import Usage

if TYPE_CHECKING:
    from ..config import Deployment

T = TypeVar("T")


def client_input(translate: Callable[..., T]) -> Callable[..., T]:
    """For a translation of a client's body: a body of the wrong shape (a number where a message belongs, a
    tool call that is a string, ...) is the client's mistake and gets a 400 saying so, never a 500."""

    @functools.wraps(translate)
    def guarded(*args: Any, **kwargs: Any) -> T:
        try:
            return translate(*args, **kwargs)
        except (TypeError, AttributeError, KeyError, IndexError, ValueError) as e:
            raise BadRequest(f"the request does not have the shape of an OpenAI chat request "
                             f"({e.__class__.__name__}: {str(e)[:200]})", code="invalid_request_shape") from None

    return guarded


def with_defaults(dep: Deployment, body: dict) -> dict:
    """The client body over the deployment's default params (a copy: the router may retry elsewhere)."""
    merged = {**dep.params, **body} if dep.params else dict(body)
    if not dep.info.temperature:
        merged.pop("temperature", None)
    return merged


def deep_merge(base: dict, extra: dict) -> dict:
    """`extra_body` over a native body: nested objects (generationConfig, thinking) merge, values replace."""
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            deep_merge(base[k], v)
        else:
            base[k] = v
    return base


def wants_usage(body: dict) -> bool:
    opts = body.get("stream_options")
    return isinstance(opts, dict) and bool(opts.get("include_usage"))


# ------------------------------------------------------------------------------------ reading a chat body
def text_of(content: Any) -> str:
    """The text of a message content (a string, or a list of parts of which the text ones count)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text") or p.get("refusal") or "" for p in content
                       if isinstance(p, dict) and p.get("type") in ("text", "refusal"))
    return str(content)


def parts_of(content: Any) -> list[dict]:
    """A message content as a list of parts, a plain string becoming one text part."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list):
        return [p if isinstance(p, dict) else {"type": "text", "text": str(p)} for p in content]
    raise BadRequest("message content must be a string or a list of content parts", param="messages")


def image_url_of(part: dict) -> str:
    img = part.get("image_url")
    url = img.get("url") if isinstance(img, dict) else img
    if not isinstance(url, str) or not url:
        raise BadRequest("an image_url part needs image_url.url", param="messages")
    return url


def parse_data_url(url: str) -> tuple[str, str] | None:
    """`data:image/png;base64,AAAA` -> ("image/png", "AAAA"); None for any other URL."""
    if not url.startswith("data:"):
        return None
    head, sep, data = url[5:].partition(",")
    if not sep or not head.endswith(";base64"):
        raise BadRequest("data URLs must be base64 encoded (data:<type>;base64,...)", param="messages")
    return head[: -len(";base64")] or "application/octet-stream", data


def data_url(mime: str, data: str) -> str:
    return f"data:{mime};base64,{data}"


def tool_arguments(tc: dict) -> dict:
    """The arguments of an assistant tool call, as the object native formats want."""
    fn = tc.get("function") or {}
    raw = fn.get("arguments")
    if raw is None or raw == "":
        return {}
    if isinstance(raw, dict):
        return raw
    try:
        args = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest(f"tool call {tc.get('id')!r} has arguments that are not valid JSON",
                         param="messages") from None
    if not isinstance(args, dict):
        raise BadRequest(f"tool call {tc.get('id')!r} has arguments that are not a JSON object", param="messages")
    return args


def arguments_json(args: Any) -> str:
    return orjson.dumps(args if args is not None else {}).decode()


def max_tokens_of(body: dict) -> int | None:
    value = body.get("max_completion_tokens") or body.get("max_tokens")
    return int(value) if isinstance(value, (int, float)) and value > 0 else None


def stop_list(stop: Any) -> list[str] | None:
    if isinstance(stop, str):
        return [stop] if stop else None
    if isinstance(stop, list):
        return [s for s in stop if isinstance(s, str) and s] or None
    return None


def effort_of(body: dict) -> str | None:
    """OpenAI's `reasoning_effort`, or the Responses-style `reasoning: {effort}`."""
    effort = body.get("reasoning_effort")
    if effort is None and isinstance(body.get("reasoning"), dict):
        effort = body["reasoning"].get("effort")
    return effort if isinstance(effort, str) else None


def function_tools(tools: Any) -> tuple[list[dict], list[dict]]:
    """Split `tools` into OpenAI function definitions and native tools passed through as given."""
    functions: list[dict] = []
    native: list[dict] = []
    for t in tools if isinstance(tools, list) else ():
        if not isinstance(t, dict):
            continue
        if isinstance(t.get("function"), dict):
            functions.append(t)
        else:
            native.append(t)
    return functions, native


def forced_function(tool_choice: Any) -> str | None:
    if isinstance(tool_choice, dict):
        fn = tool_choice.get("function")
        if isinstance(fn, dict) and fn.get("name"):
            return str(fn["name"])
    return None


# ----------------------------------------------------------------------------------- building responses
def new_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def completion(model: str, message: dict, finish: str, usage: Usage, cid: str | None = None) -> dict:
    return {
        "id": cid or new_id(), "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage.as_openai(),
    }


class ChunkWriter:
    """Builds the `chat.completion.chunk`s of one stream, sharing id and timestamp; the first carries the role."""

    def __init__(self, model: str) -> None:
        self.id = new_id()
        self.model = model
        self.created = int(time.time())
        self.started = False

    def chunk(self, delta: dict, finish: str | None = None) -> dict:
        if not self.started:
            self.started = True
            delta = {"role": "assistant", **delta}
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    def usage_chunk(self, usage: Usage) -> dict:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "choices": [], "usage": usage.as_openai()}
