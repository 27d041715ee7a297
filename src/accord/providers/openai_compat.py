"""The OpenAI chat-completions wire protocol, spoken by most vendors (see vendors.py for the rows).

The hot path: the client's body is sent on with `model` replaced and the deployment's defaults merged; the
upstream's response bytes (streamed chunks included) go back as they are, read only for usage and the like.
"""

from __future__ import annotations

from contextlib import aclosing
from contextvars import ContextVar
from typing import TYPE_CHECKING

import orjson
from msgspec import UNSET

from ..errors import UpstreamError
from .assemble import as_chunks, assemble
from .base import Call, Chunks, Usage, bad_upstream_json, estimate_tokens, need_key, upstream_error
from .event_views import chat_chunk, chunk_head
from .http import Pools, post, read_json, sse_decoded

if TYPE_CHECKING:
    from ..config import Deployment

_JSON = "application/json"
# DashScope's thinking_budget (tokens) per reasoning effort: Qwen has its own switch and budget, and ignores
# OpenAI's reasoning_effort; capped by half the model's max output (at least 1,024)
QWEN_BUDGETS = {"minimal": 1_024, "low": 2_048, "medium": 8_192, "high": 16_384, "xhigh": 32_768}


# The client's `messages` and their JSON, as the gateway serialized them while checking the body's nesting
# (gateway/body.py keeps them when writing them again would cost more): sent as they are while the body still
# holds that very list, instead of serializing ~0.5 MB again (0.38 ms for a 100k-token agent history;
# bench/README.md, "Hot path"). A vendor edit builds a new list
# (`_strip_old_reasoning`, `_developer_as_system`, every translation), so the identity check sees it; nothing
# edits a client's messages in place. A list, [messages, their JSON], emptied by `drop_client_messages` once the
# attempts are over: the variable lives in the request's context, as long as its task, and a stream's task lives
# as long as the stream, which must not hold ~1 MB of a request for minutes.
CLIENT_MESSAGES: ContextVar[list | None] = ContextVar("accord_client_messages", default=None)


def client_json(body: dict) -> memoryview | None:
    """The JSON of `body["messages"]` when it is still the list the client sent and that list's JSON was kept
    (CLIENT_MESSAGES); else None."""
    known = CLIENT_MESSAGES.get()
    if not known or body.get("messages") is not known[0]:
        return None
    view: memoryview = known[1]
    return view


def drop_client_messages() -> None:
    """No attempt will send the client's messages again (a stream is open): let go of them and their JSON, in
    every copy of the request's context (a task made for a time-out has its own)."""
    known = CLIENT_MESSAGES.get()
    if known:
        known.clear()


def without_messages(body: dict) -> bytes:
    """The body's other fields as a JSON object, to which kept messages JSON is joined."""
    return orjson.dumps({k: v for k, v in body.items() if k != "messages"})


def messages_key(rest: bytes) -> bytes:
    """What goes between `rest` (without its closing brace) and the kept messages JSON."""
    return b',"messages":' if len(rest) > 2 else b'"messages":'


def encode(body: dict) -> bytes:
    """The body as JSON, the client's messages reused when they are unchanged (CLIENT_MESSAGES)."""
    known = client_json(body)
    if known is None:
        return orjson.dumps(body)
    rest = without_messages(body)
    return b"".join((rest[:-1], messages_key(rest), known, b"}"))


def openai_effort(model: str, effort: str) -> tuple[str, str | None]:
    """A reasoning effort as this OpenAI reasoning model accepts it (tests/strict/openai_family.py cites the
    rules), and a note when it had to go higher than asked."""
    if effort == "xhigh":  # none of the o-series or gpt-5 models takes it
        return "high", None
    if effort in ("none", "minimal"):
        # gpt-5.1 and later turn reasoning off with "none" and refuse gpt-5's "minimal"
        if model.startswith("gpt-5."):
            return ("none" if effort == "none" else "low"), None
        # gpt-5, -mini, -nano know "minimal"; the o-series refuse it (400) and go no lower than "low"
        if model.startswith("gpt-5"):
            return "minimal", None
        return "low", "cannot stop thinking; used the lowest effort"
    return effort, None


def _thinking(dep: Deployment, body: dict, param: str) -> None:
    """Say the client's `reasoning_effort` in the vendor's own terms (the only table for it on this wire)."""
    effort = body.get("reasoning_effort")
    if not isinstance(effort, str) or not dep.info.thinking:
        return
    if param == "reasoning_effort":
        body["reasoning_effort"] = openai_effort(dep.model, effort)[0]
    elif param == "enable_thinking" and "enable_thinking" not in body:
        del body["reasoning_effort"]
        if effort == "none":
            body["enable_thinking"] = False
        else:
            cap = max(1_024, dep.info.max_output_tokens // 2)
            body["enable_thinking"] = True
            body["thinking_budget"] = min(QWEN_BUDGETS.get(effort, QWEN_BUDGETS["medium"]), cap)


def prepare(dep: Deployment, body: dict) -> dict:
    """Apply the deployment's defaults, model id, extra body and vendor quirks to a client body (in place).

    Each quirk below is one a vendor's documentation demands; tests/strict/openai_family.py enforces the rule
    it answers and tests/providers/test_vendors.py fails without it."""
    if dep.params:
        for k, v in dep.params.items():
            body.setdefault(k, v)
    body["model"] = dep.model
    if dep.extra_body:
        body.update(dep.extra_body)
    q = dep.vendor.quirks
    if q:
        tmax = q.get("temperature_max")
        t = body.get("temperature")
        # Moonshot answers 400 for a temperature above 1 ("range [0, 1]", platform.moonshot.ai/docs/api/chat);
        # OpenAI clients may send up to 2
        if tmax is not None and isinstance(t, (int, float)) and t > tmax:
            body["temperature"] = tmax
        # Moonshot refuses tool_choice "required" (platform.moonshot.ai/docs/api/chat: none, auto or a named
        # function); "auto" still lets the model call the tools
        if q.get("no_tool_choice_required") and body.get("tool_choice") == "required":
            body["tool_choice"] = "auto"
        # DeepSeek refuses reasoning sent back outside a tool-call turn (and needs it inside one):
        # api-docs.deepseek.com/guides/reasoning_model ("Multi-round Conversation") and guides/thinking_mode
        if q.get("strip_reasoning"):
            body["messages"] = _strip_old_reasoning(body.get("messages"))
        # DeepSeek knows only the system/user/assistant/tool roles (api-docs.deepseek.com/api/create-chat-
        # completion); OpenAI's newer clients say "developer"
        if q.get("no_developer_role"):
            body["messages"] = _developer_as_system(body.get("messages"))
        # OpenAI reasoning models refuse some efforts per model (platform.openai.com/docs/api-reference/chat/
        # create, reasoning_effort); Qwen says thinking with its own two fields (alibabacloud.com/help/en/
        # model-studio/deep-thinking: enable_thinking, thinking_budget)
        if q.get("thinking_param"):
            _thinking(dep, body, q["thinking_param"])
        # OpenAI reasoning models refuse max_tokens and want max_completion_tokens (platform.openai.com/docs/
        # api-reference/chat/create: max_tokens "is not compatible with o-series models")
        if q.get("max_completion_tokens") and dep.info.thinking and "max_tokens" in body:
            body.setdefault("max_completion_tokens", body.pop("max_tokens"))
    # models with a fixed temperature (OpenAI reasoning models) answer 400 for temperature and top_p
    # (platform.openai.com/docs/guides/reasoning: sampling parameters are not supported)
    if not dep.info.temperature:
        body.pop("temperature", None)
        body.pop("top_p", None)
    return body


def must_stream(dep: Deployment, body: dict) -> bool:
    """DashScope answers 400 to a non-streaming call with thinking on, or to a thinking-only model
    (alibabacloud.com/help/en/model-studio/deep-thinking: "thinking mode only supports incremental output")."""
    q = dep.vendor.quirks
    if not q.get("thinking_needs_stream"):
        return False
    return body.get("enable_thinking") is True or any(tag in dep.model for tag in q.get("stream_only_models", ()))


def _strip_old_reasoning(messages: object) -> object:
    """DeepSeek's reasoning model refuses `reasoning_content` in history (400), except on the assistant
    messages that made tool calls, where its thinking mode requires it back (400 when missing)."""
    if not isinstance(messages, list):
        return messages
    if not any(isinstance(m, dict) and "reasoning_content" in m and not m.get("tool_calls") for m in messages):
        return messages
    return [
        {k: v for k, v in m.items() if k != "reasoning_content"}
        if isinstance(m, dict) and "reasoning_content" in m and not m.get("tool_calls") else m
        for m in messages
    ]


def _developer_as_system(messages: object) -> object:
    if not isinstance(messages, list) or not any(isinstance(m, dict) and m.get("role") == "developer"
                                                 for m in messages):
        return messages
    return [{**m, "role": "system"} if isinstance(m, dict) and m.get("role") == "developer" else m for m in messages]


def headers(dep: Deployment) -> dict:
    h = {"Content-Type": _JSON, "Accept": _JSON}
    if dep.api_key:
        h["Authorization"] = f"Bearer {dep.api_key}"
    if dep.headers:
        h.update(dep.headers)
    return h


class OpenAICompatible:
    def url(self, dep: Deployment, path: str) -> str:
        return f"{dep.api_base}/{path}"

    def headers(self, dep: Deployment) -> dict:
        return headers(dep)

    async def complete(self, dep: Deployment, body: dict, call: Call, pools: Pools) -> dict:
        need_key(dep)
        prepare(dep, body)
        if must_stream(dep, body):
            chunks = await self.stream(dep, {**body, "stream": True, "stream_options": {"include_usage": True}},
                                       call, pools)
            data = await assemble(chunks)
            if "usage" not in data and call.usage is not None:
                data["usage"] = call.usage.as_openai()
            return data
        body.pop("stream_options", None)  # OpenAI: "only set this when you set stream: true" (chat/create)
        resp = await post(pools, dep, self.url(dep, "chat/completions"), encode(body), self.headers(dep),
                          pools.timeout(dep.timeout, stream=False))
        data = await read_json(resp, dep)
        choices = data.get("choices")
        if not isinstance(choices, list):
            raise bad_upstream_json(dep)
        usage = Usage.from_openai(data.get("usage"))
        if usage is None:
            usage = Usage(estimate_tokens(body.get("messages")), estimate_tokens(choices), estimated=True)
            data["usage"] = usage.as_openai()
        call.usage = usage
        if choices and isinstance(choices[0], dict):
            call.finish_reason = choices[0].get("finish_reason")
        return data

    async def stream(self, dep: Deployment, body: dict, call: Call, pools: Pools) -> Chunks:
        need_key(dep)
        prepare(dep, body)
        opts = body.get("stream_options")
        client_wants_usage = isinstance(opts, dict) and bool(opts.get("include_usage"))
        body["stream_options"] = {**(opts if isinstance(opts, dict) else {}), "include_usage": True}
        resp = await post(pools, dep, self.url(dep, "chat/completions"), encode(body), self.headers(dep),
                          pools.timeout(dep.timeout, stream=True, stream_timeout=dep.stream_timeout), call=call)
        return self._relay(resp, dep, call, client_wants_usage)

    async def _relay(self, resp, dep: Deployment, call: Call, want_usage: bool) -> Chunks:
        """Pass each chunk on as the upstream's own bytes; each is read (event_views.chat_chunk: its finish
        reason, usage and any in-band error, the rest validated but never built, so a chunk of megabytes costs
        no string of megabytes) to catch malformed output, in-band errors, the finish reason and usage."""
        done = False
        last = b""
        async with aclosing(sse_decoded(resp, dep, call, chat_chunk, whole=as_chunks)) as events:
            async for data, chunk in events:
                if chunk is None:  # [DONE]
                    done = True
                    break
                call.chunks += 1
                last = data
                choices = chunk.choices
                if chunk.error is not UNSET and not choices:
                    raise upstream_error(dep, 502, data)
                if choices:
                    for c in choices:
                        if c.finish_reason:
                            call.finish_reason = c.finish_reason
                usage = chunk.usage
                if usage:
                    call.usage = Usage.from_openai(usage)
                    if not want_usage:
                        if not choices:
                            continue  # the usage-only chunk the client did not ask for
                        whole = orjson.loads(data)  # rare: usage riding on a chunk with choices
                        del whole["usage"]
                        yield orjson.dumps(whole)
                        continue
                yield data
        if not done and call.finish_reason is None:
            raise UpstreamError(f"{dep.vendor.label or dep.vendor.name} ({dep.id}) ended the stream early "
                                "(no [DONE], no finish_reason): the answer is incomplete")
        if call.usage is None:
            call.usage = Usage(call.prompt_estimate, call.chunks, estimated=True)
            if want_usage:  # the upstream ignored include_usage (llama-cpp-python, older vLLM): estimate, as
                # complete() does, rather than leave the client without the usage chunk it asked for
                head = chunk_head(last)
                yield orjson.dumps({"id": head.id, "object": "chat.completion.chunk", "created": head.created,
                                    "model": head.model, "choices": [], "usage": call.usage.as_openai()})

    async def embed(self, dep: Deployment, body: dict, call: Call, pools: Pools) -> dict:
        need_key(dep)
        body["model"] = dep.model
        if dep.extra_body:
            body.update(dep.extra_body)
        resp = await post(pools, dep, self.url(dep, "embeddings"), orjson.dumps(body), self.headers(dep),
                          pools.timeout(dep.timeout, stream=False))
        data = await read_json(resp, dep)
        if not isinstance(data.get("data"), list):
            raise bad_upstream_json(dep)
        u = data.get("usage") or {}
        call.usage = Usage(int(u.get("prompt_tokens") or estimate_tokens(body.get("input"))), 0,
                           estimated="prompt_tokens" not in u)
        return data
