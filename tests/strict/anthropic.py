"""The Anthropic Messages API's documented request rules and error shapes, for the strict fake.

Pages cited below (fetched for this file):
  MESSAGES  https://docs.claude.com/en/api/messages
  THINKING  https://docs.claude.com/en/docs/build-with-claude/extended-thinking
  TOOLS     https://docs.claude.com/en/docs/agents-and-tools/tool-use/implement-tool-use
  ERRORS    https://docs.claude.com/en/api/errors
  VERSIONS  https://docs.claude.com/en/api/versioning
  STREAMING https://docs.claude.com/en/docs/build-with-claude/streaming
"""

from __future__ import annotations

import re

import orjson

from fakes import Reply

from . import Refused, Rule

SIGNATURE = "fake-signature"  # what tests/fakes.py signs every thinking block with
_thoughts: set[str] = set()  # thinking texts this fake has answered with (their signature covers them)

# ERRORS: "400 invalid_request_error, 401 authentication_error, 403 permission_error, 404 not_found_error,
# 413 request_too_large, 429 rate_limit_error, 500 api_error, 529 overloaded_error"
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
               529: "overloaded_error"}
TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")  # MESSAGES: tool_use.id / tool_result.tool_use_id pattern
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")  # TOOLS: custom tool name pattern
# MESSAGES: the request body's fields; anything else is "Extra inputs are not permitted"
FIELDS = {"model", "messages", "max_tokens", "system", "metadata", "stop_sequences", "stream", "temperature",
          "top_p", "top_k", "tools", "tool_choice", "thinking", "service_tier", "container", "mcp_servers",
          "context_management", "output_config"}  # output_config: {effort}, the effort beta Claude Code sends
BLOCKS = {"user": {"text", "image", "document", "tool_result", "search_result"}, "system": {"text"},
          "assistant": {"text", "tool_use", "thinking", "redacted_thinking", "server_tool_use",
                        "web_search_tool_result"}}
IMAGE_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp"}  # MESSAGES: image source media_type


def bad(message: str) -> Refused:
    return Refused(400, "invalid_request_error", message)


def error_reply(r: Refused, retry_after: int = 3) -> Reply:
    """ERRORS: "Errors are always returned as JSON, with a top-level error object that always includes a type
    and message value", plus a request-id header; 429 carries retry-after (rate limits page)."""
    headers = {"request-id": "req_fake01"}
    if r.status == 429:
        headers["retry-after"] = str(retry_after)
    return Reply(status=r.status, headers=headers,
                 error={"type": "error", "error": {"type": r.kind, "message": r.message}, "request_id": "req_fake01"})


def error(status: int, message: str = "", retry_after: int = 3) -> Reply:
    """A scripted error of the documented shape for `status` (e.g. 429, 529)."""
    kind = ERROR_TYPES[status]
    return error_reply(Refused(status, kind, message or kind.replace("_", " ")), retry_after)


def issued(reply: Reply) -> None:
    if reply.reasoning:
        _thoughts.add(reply.reasoning)


def _body(rec: dict) -> dict:
    return rec["json"] if isinstance(rec["json"], dict) else {}


def _blocks(m: dict) -> list[dict]:
    c = m.get("content")
    return [{"type": "text", "text": c}] if isinstance(c, str) else c if isinstance(c, list) else []


def _thinking_on(body: dict) -> bool:
    return (body.get("thinking") or {}).get("type") == "enabled"


# ------------------------------------------------------------------------------------------------- rules
# VERSIONS: "When making API requests, you must send an anthropic-version request header"
def version_header(rec: dict) -> None:
    if not rec["headers"].get("anthropic-version"):
        raise bad("anthropic-version: header is required")


# ERRORS / MESSAGES (x-api-key header): a missing key is authentication_error
def api_key(rec: dict) -> None:
    if not rec["headers"].get("x-api-key") and not rec["headers"].get("authorization"):
        raise Refused(401, "authentication_error", "x-api-key header is required")


# MESSAGES: the body's fields are model, messages, max_tokens, ...; others are refused
def known_fields(rec: dict) -> None:
    extra = sorted(set(_body(rec)) - FIELDS)
    if extra:
        raise bad(f"{extra[0]}: Extra inputs are not permitted")


# MESSAGES: "max_tokens integer required ... The maximum number of tokens to generate before stopping", >= 1
def max_tokens(rec: dict) -> None:
    mt = _body(rec).get("max_tokens")
    if not isinstance(mt, int) or isinstance(mt, bool) or mt < 1:
        raise bad("max_tokens: Field required (an integer >= 1)")


# MESSAGES: "system: System prompt" is a top-level string or list of text blocks; "there is no 'system' role
# for input messages in the Messages API"; messages roles are user | assistant
def roles(rec: dict) -> None:
    body = _body(rec)
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise bad("messages: at least one message is required")
    # the `mid-conversation-system-...` beta (which Claude Code sends) allows system turns among the messages
    mid_system = "mid-conversation-system" in rec["headers"].get("anthropic-beta", "")
    allowed = ("user", "assistant", "system") if mid_system else ("user", "assistant")
    for i, m in enumerate(msgs):
        if not isinstance(m, dict) or m.get("role") not in allowed:
            raise bad(f"messages.{i}.role: Input should be 'user' or 'assistant'")
    system = body.get("system")
    if system is not None and not isinstance(system, str) and not (
            isinstance(system, list) and all(isinstance(b, dict) and b.get("type") == "text" for b in system)):
        raise bad("system: Input should be a string or a list of text blocks")


# MESSAGES: "Our models are trained to operate on alternating user and assistant conversational turns ... the
# first message must always use the user role" (a trailing assistant turn is a prefill)
def alternation(rec: dict) -> None:
    msgs = _body(rec)["messages"]
    if msgs[0]["role"] != "user":
        raise bad("messages: first message must use the \"user\" role")
    for i in range(1, len(msgs)):
        if msgs[i]["role"] == msgs[i - 1]["role"]:
            raise bad(f"messages.{i}: roles must alternate between \"user\" and \"assistant\"")


# MESSAGES: content blocks by role; "text content blocks must be non-empty"; image media types
def content_blocks(rec: dict) -> None:
    for i, m in enumerate(_body(rec)["messages"]):
        blocks = _blocks(m)
        if not blocks:
            raise bad(f"messages.{i}: all messages must have non-empty content")
        for j, b in enumerate(blocks):
            kind = b.get("type") if isinstance(b, dict) else None
            if kind not in BLOCKS[m["role"]]:
                raise bad(f"messages.{i}.content.{j}.type: {kind!r} is not allowed in a {m['role']} message")
            if kind == "text" and not (isinstance(b.get("text"), str) and b["text"].strip()):
                raise bad(f"messages.{i}.content.{j}: text content blocks must contain non-whitespace text")
            if kind == "image":
                src = b.get("source") or {}
                if src.get("type") == "base64" and src.get("media_type") not in IMAGE_TYPES:
                    raise bad(f"messages.{i}.content.{j}.source.media_type: must be one of {sorted(IMAGE_TYPES)}")


# TOOLS: tool_use ids match ^[a-zA-Z0-9_-]+$; "tool_result blocks must immediately follow their
# corresponding tool_use blocks" in the next user message, and "must come FIRST in the content array"
def tool_pairing(rec: dict) -> None:
    msgs = _body(rec)["messages"]
    for i, m in enumerate(msgs):
        blocks = _blocks(m)
        if m["role"] == "assistant":
            ids = [b.get("id") for b in blocks if b.get("type") == "tool_use"]
            for tid in ids:
                if not isinstance(tid, str) or not TOOL_ID.match(tid):
                    raise bad(f"messages.{i}.content: tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'"
                              f" (got {tid!r})")
            if not ids:
                continue
            nxt = _blocks(msgs[i + 1]) if i + 1 < len(msgs) else None
            if nxt is None:
                continue  # the request ends on a tool call: the model continues from it
            answered = {b.get("tool_use_id") for b in nxt if b.get("type") == "tool_result"}
            missing = [t for t in ids if t not in answered]
            if missing:
                raise bad(f"messages.{i + 1}: tool_use ids were found without tool_result blocks immediately "
                          f"after: {', '.join(missing)}. Each tool_use block must have a corresponding "
                          "tool_result block in the next message.")
        else:
            results = [b for b in blocks if b.get("type") == "tool_result"]
            if not results:
                continue
            prev = {b.get("id") for b in _blocks(msgs[i - 1]) if b.get("type") == "tool_use"} if i else set()
            for b in results:
                if b.get("tool_use_id") not in prev:
                    raise bad(f"messages.{i}.content: unexpected tool_use_id found in tool_result blocks: "
                              f"{b.get('tool_use_id')}. Each tool_result block must have a corresponding tool_use "
                              "block in the previous message.")
            kinds = [b.get("type") for b in blocks]
            if kinds[:len(results)] != ["tool_result"] * len(results):
                raise bad(f"messages.{i}: tool_result blocks must come FIRST in the content array")


# TOOLS: "Requests which include tool_use or tool_result blocks must define tools"; tool names and schemas;
# tool_choice needs tools
def tools_declared(rec: dict) -> None:
    body = _body(rec)
    tools = body.get("tools")
    used = any(b.get("type") in ("tool_use", "tool_result") for m in body["messages"] for b in _blocks(m))
    if used and not tools:
        raise bad("Requests which include `tool_use` or `tool_result` blocks must define tools.")
    for k, t in enumerate(tools or ()):
        if "type" in t and t["type"] != "custom":
            continue  # server tools (web_search_...) have their own shapes
        if not TOOL_NAME.match(str(t.get("name"))):
            raise bad(f"tools.{k}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
        if (t.get("input_schema") or {}).get("type") != "object":
            raise bad(f"tools.{k}.custom.input_schema.type: Input should be 'object'")
    if body.get("tool_choice") and not tools:
        raise bad("tool_choice may only be specified while providing tools")


# MESSAGES: "temperature number, Ranges from 0.0 to 1.0"; top_p 0-1; top_k >= 0
def sampling_ranges(rec: dict) -> None:
    body = _body(rec)
    t, p = body.get("temperature"), body.get("top_p")
    if t is not None and not 0 <= t <= 1:
        raise bad("temperature: range: 0 <= temperature <= 1")
    if p is not None and not 0 <= p <= 1:
        raise bad("top_p: range: 0 <= top_p <= 1")


# THINKING / MESSAGES: thinking {type: enabled, budget_tokens} "Must be ≥1024 and less than max_tokens"
def thinking_budget(rec: dict) -> None:
    body = _body(rec)
    th = body.get("thinking")
    if th is None:
        return
    # "adaptive": the model decides how much to think (newer models; what Claude Code sends them)
    if not isinstance(th, dict) or th.get("type") not in ("enabled", "disabled", "adaptive"):
        raise bad("thinking.type: Input should be 'enabled', 'disabled' or 'adaptive'")
    if th["type"] == "enabled":
        budget = th.get("budget_tokens")
        if not isinstance(budget, int) or budget < 1024:
            raise bad("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
        if budget >= body["max_tokens"]:
            raise bad("`max_tokens` must be greater than `thinking.budget_tokens`")


# THINKING (feature compatibility): "Thinking isn't compatible with temperature or top_k modifications as well
# as forced tool use. When thinking is enabled, you can set top_p to values between 1 and 0.95."
def thinking_sampling(rec: dict) -> None:
    body = _body(rec)
    if not _thinking_on(body):
        return
    if body.get("temperature") not in (None, 1, 1.0):
        raise bad("`temperature` may only be set to 1 when thinking is enabled")
    if body.get("top_k") is not None:
        raise bad("`top_k` must be unset when thinking is enabled")
    p = body.get("top_p")
    if p is not None and not 0.95 <= p <= 1:
        raise bad("`top_p` must be greater than or equal to 0.95 or unset when thinking is enabled")
    if (body.get("tool_choice") or {}).get("type") in ("any", "tool"):
        raise bad("Thinking may not be enabled when tool_choice forces tool use.")


# THINKING (preserving thinking blocks): thinking blocks sent back must be unmodified with their signature;
# with thinking on, "a final assistant message must start with a thinking block" when it is being continued
# with tool results
def thinking_blocks(rec: dict) -> None:
    body = _body(rec)
    msgs = body["messages"]
    for i, m in enumerate(msgs):
        for j, b in enumerate(_blocks(m)):
            if b.get("type") == "thinking":
                if not b.get("signature"):
                    raise bad(f"messages.{i}.content.{j}.thinking.signature: Field required")
                if b["signature"] != SIGNATURE or b.get("thinking") not in _thoughts:
                    raise bad(f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block")
            if b.get("type") == "redacted_thinking" and not b.get("data"):
                raise bad(f"messages.{i}.content.{j}.redacted_thinking.data: Field required")
    if not _thinking_on(body):
        return
    last = next((k for k in range(len(msgs) - 1, -1, -1) if msgs[k]["role"] == "assistant"), None)
    if last is None:
        return
    continued = last == len(msgs) - 1 or any(b.get("type") == "tool_result" for b in _blocks(msgs[-1]))
    first = _blocks(msgs[last])[0].get("type")
    if continued and first not in ("thinking", "redacted_thinking"):
        raise bad(f"messages.{last}.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
                  f"`{first}`. When `thinking` is enabled, a final `assistant` message must start with a thinking "
                  "block.")


# COUNT (https://docs.claude.com/en/api/messages-count-tokens): its body is model, messages, system, tools,
# tool_choice, thinking, mcp_servers; max_tokens, stream and the sampling fields are not among them
COUNT_FIELDS = {"model", "messages", "system", "tools", "tool_choice", "thinking", "mcp_servers"}


def count_fields(rec: dict) -> None:
    extra = sorted(set(_body(rec)) - COUNT_FIELDS)
    if extra:
        raise bad(f"{extra[0]}: Extra inputs are not permitted")


RULES: list[Rule] = [version_header, api_key, known_fields, max_tokens, roles, alternation, content_blocks,
                     tool_pairing, tools_declared, sampling_ranges, thinking_budget, thinking_sampling,
                     thinking_blocks]


# ---------------------------------------------------------------------------------------------- responses
# STREAMING: "message_start, then content blocks (content_block_start, one or more content_block_delta,
# content_block_stop) for each, then one or more message_delta, then a final message_stop"; ping anywhere; "we
# may occasionally send errors in the event stream", e.g. an overloaded_error, which ends it
ORDER = re.compile(r"message_start( ping)*( content_block_start( ping| content_block_delta)* content_block_stop"
                   r"( ping)*)*( message_delta)+ message_stop")
ORDER_CUT = re.compile(r"message_start( ping)*( content_block_start( ping| content_block_delta)*"
                       r"( content_block_stop)?( ping)*)* error")


def stream(events: list[dict]) -> Reply:
    """A scripted SSE answer, checked to be in the documented order (or cut short by an `error` event)."""
    names = " ".join(e["type"] for e in events)
    if not (ORDER.fullmatch(names) or ORDER_CUT.fullmatch(names)):
        raise AssertionError(f"not a documented Anthropic event order: {names}")
    body = b"".join(f"event: {e['type']}\ndata: ".encode() + orjson.dumps(e) + b"\n\n" for e in events)
    return Reply(raw=body, headers={"content-type": "text/event-stream"})


COUNT_RULES: list[Rule] = [version_header, api_key, count_fields, roles, alternation, content_blocks, tool_pairing,
                           tools_declared]
