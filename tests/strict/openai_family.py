"""The OpenAI-compatible vendors' rules, from their own API documentation (cited above each rule).

A rule takes the request body (and model id) and returns a `Broken` (what the vendor would refuse, and why)
or None. A `Profile` is one vendor: its rules, how it words an error, where its answers put reasoning, and
which usage fields it reports. Rules are deliberately literal: they refuse exactly what the page says is
refused, so a request that passes here is one the real provider accepts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fakes import Reply


@dataclass
class Broken:
    """A request the vendor refuses: its status, message and (OpenAI-style) param/code."""

    message: str
    param: str | None = None
    code: str | None = None
    status: int = 400


Rule = Callable[[str, dict], "Broken | None"]  # (model id, body) -> refusal or None


def _messages(body: dict) -> list[dict]:
    msgs = body.get("messages")
    return [m for m in msgs if isinstance(m, dict)] if isinstance(msgs, list) else []


# ============================================================================ OpenAI's chat format (everyone)
# https://platform.openai.com/docs/api-reference/chat/create — `messages` is required and non-empty.
def messages_required(model: str, body: dict) -> Broken | None:
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        return Broken("[] is too short - 'messages'", "messages", "empty_array")
    return None


def roles(*allowed: str) -> Rule:
    """https://platform.openai.com/docs/api-reference/chat/create — each message's role is one of the
    listed kinds (system, developer, user, assistant, tool, function); other vendors list fewer."""

    def known_roles(model: str, body: dict) -> Broken | None:
        for i, m in enumerate(_messages(body)):
            if m.get("role") not in allowed:
                return Broken(f"Invalid value: '{m.get('role')}'. Supported values are: "
                              f"{', '.join(repr(a) for a in allowed)}.", f"messages[{i}].role", "invalid_value")
        return None

    known_roles.__name__ = f"roles_{'_'.join(allowed)}"
    return known_roles


# https://platform.openai.com/docs/guides/function-calling — the tool results follow the assistant message
# that called the tools, one `tool` message per tool_call_id; a `tool` message answers a preceding call.
def tool_results_follow_calls(model: str, body: dict) -> Broken | None:
    msgs = _messages(body)
    i = 0
    while i < len(msgs):
        m = msgs[i]
        if m.get("role") == "tool":
            return Broken("Invalid parameter: messages with role 'tool' must be a response to a preceeding "
                          "message with 'tool_calls'.", f"messages.[{i}].role")
        if m.get("role") == "assistant" and m.get("tool_calls"):
            wanted = [tc.get("id") for tc in m["tool_calls"] if isinstance(tc, dict)]
            j = i + 1
            while j < len(msgs) and msgs[j].get("role") == "tool":
                if msgs[j].get("tool_call_id") not in wanted:
                    return Broken(f"Invalid parameter: tool_call_id {msgs[j].get('tool_call_id')!r} answers no "
                                  "preceding tool call.", f"messages.[{j}].tool_call_id")
                wanted.remove(msgs[j]["tool_call_id"])
                j += 1
            if wanted:
                return Broken("An assistant message with 'tool_calls' must be followed by tool messages responding "
                              "to each 'tool_call_id'. The following tool_call_ids did not have response messages: "
                              + ", ".join(str(w) for w in wanted), f"messages.[{j}].role")
            i = j
            continue
        i += 1
    return None


# https://platform.openai.com/docs/api-reference/chat/create — tool_choice "is only allowed when tools are
# specified"; stream_options "only set this when you set stream: true".
def options_need_their_switch(model: str, body: dict) -> Broken | None:
    if body.get("tool_choice") is not None and not body.get("tools"):
        return Broken("Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
                      "tool_choice")
    if body.get("stream_options") is not None and not body.get("stream"):
        return Broken("The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options")
    return None


COMMON: tuple[Rule, ...] = (messages_required, tool_results_follow_calls, options_need_their_switch)


# ================================================================================================ DeepSeek
def deepseek_thinks(model: str, body: dict) -> bool:
    """https://api-docs.deepseek.com/guides/thinking_mode — thinking: model deepseek-reasoner, or
    "thinking": {"type": "enabled"}."""
    t = body.get("thinking")
    return model == "deepseek-reasoner" or (isinstance(t, dict) and t.get("type") == "enabled")


# https://api-docs.deepseek.com/guides/thinking_mode ("Not Supported Parameters") — in thinking mode setting
# logprobs or top_logprobs triggers an error (temperature, top_p and the penalties are accepted, no effect).
def deepseek_thinking_no_logprobs(model: str, body: dict) -> Broken | None:
    if deepseek_thinks(model, body):
        for p in ("logprobs", "top_logprobs"):
            if body.get(p) not in (None, False):
                return Broken(f"{p} is not supported in thinking mode", p, "invalid_request_error")
    return None


# https://api-docs.deepseek.com/guides/reasoning_model ("Multi-round Conversation") — "if the
# reasoning_content field is included in the sequence of input messages, the API will return a 400 error";
# the newer thinking_mode page narrows it: outside tool-call turns it is not needed (and ignored). Enforced as
# the older page says, for every assistant message that made no tool call.
def deepseek_no_reasoning_in_history(model: str, body: dict) -> Broken | None:
    for i, m in enumerate(_messages(body)):
        if m.get("role") == "assistant" and "reasoning_content" in m and not m.get("tool_calls"):
            return Broken(f"The reasoning_content of messages[{i}] must be removed before sending it back "
                          "(only a tool-call turn passes it back)", f"messages[{i}].reasoning_content",
                          "invalid_request_error")
    return None


# https://api-docs.deepseek.com/guides/thinking_mode ("Tool Calls") — in thinking mode, the reasoning_content
# of an assistant message that performed tool calls "must be fully passed back to the API in all subsequent
# requests"; "if your code does not correctly pass back reasoning_content, the API will return a 400 error".
def deepseek_tool_turn_keeps_reasoning(model: str, body: dict) -> Broken | None:
    if not deepseek_thinks(model, body):
        return None
    for i, m in enumerate(_messages(body)):
        if m.get("role") == "assistant" and m.get("tool_calls") and not m.get("reasoning_content"):
            return Broken(f"Missing `reasoning_content` field in the assistant message at message index {i}",
                          f"messages[{i}]", "invalid_request_error")
    return None


def deepseek_error(b: Broken) -> dict:
    """https://api-docs.deepseek.com/quick_start/error_codes — 400 invalid format, 422 invalid parameters,
    429 rate limit; the body is OpenAI's error object."""
    return {"error": {"message": b.message, "type": "invalid_request_error", "param": b.param,
                      "code": b.code or "invalid_request_error"}}


def deepseek_usage(usage: dict, model: str, body: dict) -> dict:
    """https://api-docs.deepseek.com/guides/kv_cache — usage reports prompt_cache_hit_tokens and
    prompt_cache_miss_tokens (hit + miss = prompt_tokens); thinking adds completion_tokens_details."""
    given = usage.pop("prompt_tokens_details", None)
    hit = given["cached_tokens"] if given else usage["prompt_tokens"] // 2
    return {**usage, "prompt_cache_hit_tokens": hit, "prompt_cache_miss_tokens": usage["prompt_tokens"] - hit}


# =============================================================================================== DashScope
def dashscope_stream_only_model(model: str) -> bool:
    """https://www.alibabacloud.com/help/en/model-studio/deep-thinking — thinking-only models (the
    `-thinking` snapshots, QwQ, QVQ) "only support streaming output"."""
    return "-thinking" in model or model.startswith(("qwq", "qvq"))


def dashscope_thinks(model: str, body: dict) -> bool:
    return body.get("enable_thinking") is True or dashscope_stream_only_model(model)


# https://www.alibabacloud.com/help/en/model-studio/deep-thinking ("thinking mode only supports incremental
# output") and https://www.alibabacloud.com/help/en/model-studio/error-code (400 invalid_parameter_error).
def dashscope_thinking_streams(model: str, body: dict) -> Broken | None:
    if body.get("stream"):
        return None
    if body.get("enable_thinking") is True:
        return Broken("<400> InternalError.Algo.InvalidParameter: parameter.enable_thinking must be set to false "
                      "for non-streaming calls", "enable_thinking", "invalid_parameter_error")
    if dashscope_stream_only_model(model):
        return Broken("This model only support stream mode, please enable the stream parameter to access the "
                      "model.", "stream", "invalid_parameter_error")
    return None


# https://www.alibabacloud.com/help/en/model-studio/deep-thinking ("thinking_budget": the maximum length of
# the thinking process, a positive integer) and .../web-search (enable_search: a boolean).
def dashscope_typed_extras(model: str, body: dict) -> Broken | None:
    budget = body.get("thinking_budget")
    if budget is not None and (not isinstance(budget, int) or isinstance(budget, bool) or budget <= 0):
        return Broken("<400> InternalError.Algo.InvalidParameter: thinking_budget should be a positive integer",
                      "thinking_budget", "invalid_parameter_error")
    if "enable_search" in body and not isinstance(body["enable_search"], bool):
        return Broken("<400> InternalError.Algo.InvalidParameter: enable_search must be a boolean",
                      "enable_search", "invalid_parameter_error")
    return None


def dashscope_error(b: Broken) -> dict:
    """https://www.alibabacloud.com/help/en/model-studio/error-code — OpenAI-compatible mode answers with
    OpenAI's error object (code e.g. invalid_parameter_error) plus the request id."""
    return {"error": {"message": b.message, "type": "invalid_request_error", "param": b.param,
                      "code": b.code or "invalid_parameter_error"},
            "id": "chatcmpl-strict-fake", "request_id": "00000000-0000-0000-0000-000000000000"}


def dashscope_usage(usage: dict, model: str, body: dict) -> dict:
    """https://www.alibabacloud.com/help/en/model-studio/context-cache — cached prompt tokens in
    prompt_tokens_details.cached_tokens."""
    return {**usage, "prompt_tokens_details": {"cached_tokens": (usage.get("prompt_tokens_details") or {})
                                                               .get("cached_tokens", 0)}}


# ============================================================================================ Moonshot (Kimi)
def moonshot_thinks(model: str, body: dict) -> bool:
    """https://platform.moonshot.ai/docs/guide/use-kimi-k2-thinking-model — the kimi-k2-thinking models
    always think and return reasoning_content."""
    return "thinking" in model


# https://platform.moonshot.ai/docs/api/chat — temperature: "range [0, 1]".
def moonshot_temperature_range(model: str, body: dict) -> Broken | None:
    t = body.get("temperature")
    if isinstance(t, (int, float)) and not 0 <= t <= 1:
        return Broken(f"invalid temperature: {t}, only 0 <= temperature <= 1 is allowed", "temperature")
    return None


# https://platform.moonshot.ai/docs/api/chat — tool_choice: "none", "auto" or a named function; "required" is
# not supported (thinking models answer "tool_choice 'required' is incompatible with thinking enabled").
def moonshot_no_tool_choice_required(model: str, body: dict) -> Broken | None:
    if body.get("tool_choice") == "required":
        return Broken("tool_choice 'required' is not supported", "tool_choice")
    return None


# https://platform.moonshot.ai/docs/guide/use-kimi-k2-thinking-model — in multi-step tool calls keep each
# assistant message's reasoning_content in the context; a tool-call turn sent back without it is refused.
def moonshot_tool_turn_keeps_reasoning(model: str, body: dict) -> Broken | None:
    if not moonshot_thinks(model, body):
        return None
    for i, m in enumerate(_messages(body)):
        if m.get("role") == "assistant" and m.get("tool_calls") and not m.get("reasoning_content"):
            return Broken(f"thinking is enabled but reasoning_content is missing in assistant tool call message "
                          f"at index {i}", f"messages[{i}]")
    return None


def moonshot_error(b: Broken) -> dict:
    """https://platform.moonshot.ai/docs/api/chat ("Error"), https://platform.moonshot.ai/docs/pricing/limits
    — {"error": {"message", "type"}}: invalid_request_error (400), rate_limit_reached_error (429)."""
    kind = "rate_limit_reached_error" if b.status == 429 else "invalid_request_error"
    return {"error": {"message": b.message, "type": kind}}


def moonshot_usage(usage: dict, model: str, body: dict) -> dict:
    """https://platform.moonshot.ai/docs/api/chat — automatic context caching reports `cached_tokens` in usage."""
    given = usage.pop("prompt_tokens_details", None)
    return {**usage, "cached_tokens": given["cached_tokens"] if given else 0}


# ================================================================================================== OpenAI
_EFFORTS = {"o": ("low", "medium", "high"), "gpt-5": ("minimal", "low", "medium", "high"),
            "gpt-5.": ("none", "low", "medium", "high")}


def openai_reasoning_family(model: str) -> str | None:
    """https://platform.openai.com/docs/guides/reasoning — o1, o3, o4-mini, gpt-5 and later reason."""
    if model.startswith("gpt-5."):
        return "gpt-5."
    if model.startswith("gpt-5"):
        return "gpt-5"
    if re.match(r"o\d", model):
        return "o"
    return None


def openai_thinks(model: str, body: dict) -> bool:
    return openai_reasoning_family(model) is not None


# https://platform.openai.com/docs/guides/reasoning ("Reasoning models ... do not support" sampling
# parameters): temperature other than the default 1, top_p, logprobs, presence/frequency penalties.
def openai_reasoning_fixed_sampling(model: str, body: dict) -> Broken | None:
    if not openai_reasoning_family(model):
        return None
    t = body.get("temperature")
    if t is not None and t != 1:
        return Broken(f"Unsupported value: 'temperature' does not support {t} with this model. Only the default (1) "
                      "value is supported.", "temperature", "unsupported_value")
    for p in ("top_p", "logprobs", "top_logprobs", "presence_penalty", "frequency_penalty"):
        if p in body:
            return Broken(f"Unsupported parameter: '{p}' is not supported with this model.", p,
                          "unsupported_parameter")
    return None


# https://platform.openai.com/docs/api-reference/chat/create — max_tokens "is not compatible with o-series
# models"; they take max_completion_tokens.
def openai_reasoning_max_completion_tokens(model: str, body: dict) -> Broken | None:
    if openai_reasoning_family(model) and "max_tokens" in body:
        return Broken("Unsupported parameter: 'max_tokens' is not supported with this model. Use "
                      "'max_completion_tokens' instead.", "max_tokens", "unsupported_parameter")
    return None


# https://platform.openai.com/docs/api-reference/chat/create (reasoning_effort: "o-series models only";
# gpt-5 adds "minimal") and https://platform.openai.com/docs/guides/latest-model (gpt-5.1: "none", no
# "minimal").
def openai_reasoning_effort_values(model: str, body: dict) -> Broken | None:
    effort = body.get("reasoning_effort")
    if effort is None:
        return None
    family = openai_reasoning_family(model)
    if family is None:
        return Broken("Unsupported parameter: 'reasoning_effort' is not supported with this model.",
                      "reasoning_effort", "unsupported_parameter")
    allowed = _EFFORTS[family]
    if effort not in allowed:
        return Broken(f"Unsupported value: 'reasoning_effort' does not support '{effort}' with this model. "
                      f"Supported values are: {', '.join(repr(a) for a in allowed)}.", "reasoning_effort",
                      "unsupported_value")
    return None


def openai_error(b: Broken) -> dict:
    """https://platform.openai.com/docs/guides/error-codes — {"error": {"message", "type", "param", "code"}}."""
    if b.status == 429:
        return {"error": {"message": b.message, "type": "requests", "param": None, "code": "rate_limit_exceeded"}}
    return {"error": {"message": b.message, "type": "invalid_request_error", "param": b.param, "code": b.code}}


def openai_usage(usage: dict, model: str, body: dict) -> dict:
    """https://platform.openai.com/docs/api-reference/chat/object — usage.prompt_tokens_details.cached_tokens,
    usage.completion_tokens_details.reasoning_tokens (reasoning itself is never returned)."""
    details = {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0,
               "rejected_prediction_tokens": 0, **(usage.get("completion_tokens_details") or {})}
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
    return {**usage, "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
            "completion_tokens_details": details}


# ============================================================================= generic (vLLM / Ollama-like)
def generic_thinks(model: str, body: dict) -> bool:
    return "r1" in model or "think" in model


def generic_error(b: Broken) -> dict:
    """https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html — vLLM's ErrorResponse:
    {"object": "error", "message", "type", "param", "code"}."""
    return {"object": "error", "message": b.message, "type": "BadRequestError", "param": b.param, "code": b.status}


def generic_usage(usage: dict, model: str, body: dict) -> dict:
    return usage


# ================================================================================================ profiles
@dataclass(frozen=True)
class Profile:
    name: str
    rules: tuple[Rule, ...]
    error: Callable[[Broken], dict]
    thinks: Callable[[str, dict], bool]
    usage: Callable[[dict, str, dict], dict]
    # the answer's field for reasoning: DeepSeek/DashScope/Moonshot "reasoning_content"; vLLM and Ollama
    # "reasoning" (https://docs.vllm.ai/en/latest/features/reasoning_outputs.html); OpenAI never returns it
    reasoning_field: str | None = "reasoning_content"
    # the request paths checked (Anthropic's "/v1/messages" and Gemini's ":generateContent" profiles add theirs)
    paths: tuple[str, ...] = ("/chat/completions",)

    def applies(self, path: str) -> bool:
        return any(p in path for p in self.paths)

    def check(self, body: dict) -> Broken | None:
        model = str(body.get("model", ""))
        for rule in self.rules:
            broken = rule(model, body)
            if broken is not None:
                return broken
        return None


_CHAT_ROLES = roles("system", "user", "assistant", "tool")
PROFILES: dict[str, Profile] = {p.name: p for p in (
    # https://api-docs.deepseek.com/api/create-chat-completion — messages are system, user, assistant or tool
    Profile("deepseek", (*COMMON, _CHAT_ROLES, deepseek_thinking_no_logprobs, deepseek_no_reasoning_in_history,
                         deepseek_tool_turn_keeps_reasoning), deepseek_error, deepseek_thinks, deepseek_usage),
    Profile("dashscope", (*COMMON, roles("system", "developer", "user", "assistant", "tool"),
                          dashscope_thinking_streams, dashscope_typed_extras),
            dashscope_error, dashscope_thinks, dashscope_usage),
    Profile("moonshot", (*COMMON, _CHAT_ROLES, moonshot_temperature_range, moonshot_no_tool_choice_required,
                         moonshot_tool_turn_keeps_reasoning), moonshot_error, moonshot_thinks, moonshot_usage),
    Profile("openai", (*COMMON, roles("system", "developer", "user", "assistant", "tool", "function"),
                       openai_reasoning_fixed_sampling, openai_reasoning_max_completion_tokens,
                       openai_reasoning_effort_values), openai_error, openai_thinks, openai_usage,
            reasoning_field=None),
    Profile("generic", (*COMMON, roles("system", "developer", "user", "assistant", "tool")), generic_error,
            generic_thinks, generic_usage, reasoning_field="reasoning"),
)}


def rate_limited(vendor: str, retry_after: int = 1) -> Reply:
    """The vendor's 429, with Retry-After (DeepSeek: https://api-docs.deepseek.com/quick_start/rate_limit;
    OpenAI: https://platform.openai.com/docs/guides/rate-limits)."""
    p = PROFILES[vendor]
    return Reply(status=429, error=p.error(Broken("Rate limit reached, please retry later", status=429)),
                 headers={"Retry-After": str(retry_after)})


def refusal(profile: Profile, broken: Broken) -> tuple[int, Any]:
    return broken.status, profile.error(broken)
