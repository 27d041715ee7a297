"""The vendors Accord knows, as data rows.

A new OpenAI-compatible vendor is one row here (and one test). `adapter` names the wire protocol in the
registry (`providers/__init__.py`); `quirks` are read only by the adapters.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Vendor:
    name: str
    adapter: str  # key in providers.REGISTRY
    api_base: str | None  # None: the config must give api_base
    key_env: str | None  # the standard environment variable for its key; None: no key needed
    label: str = ""
    prefixes: tuple[str, ...] = ()  # other model prefixes that mean this vendor (LiteLLM spellings)
    quirks: dict = field(default_factory=dict)
    zero_config: bool = True  # served automatically when key_env is set and no config file exists
    # where the vendor also serves Anthropic's Messages API (POST {anthropic_base}/v1/messages): requests to
    # /v1/messages are passed through there untouched instead of translated to chat completions
    anthropic_base: str | None = None


# quirks understood by the OpenAI-compatible adapter:
#   temperature_max       clamp `temperature` to this value
#   strip_reasoning       drop `reasoning_content` from assistant messages sent back in history
#   no_tool_choice_required   rewrite tool_choice "required" to "auto"
#   thinking_param        how reasoning_effort is said: "enable_thinking" (Qwen), "reasoning_effort" (OpenAI: the
#                         efforts each model accepts), "as_is" (a gateway, which translates it for its own models)
#   no_developer_role     rewrite the "developer" role to "system"
#   max_completion_tokens send max_tokens as max_completion_tokens to thinking models
#   thinking_needs_stream a call with enable_thinking (or to a `stream_only_models` model, by id fragment) is
#                         made streaming and assembled, even when the client asked for one JSON answer
# (why each exists: the comments in openai_compat.prepare; the rules: tests/strict/openai_family.py)
# thinking is enable_thinking + thinking_budget, streamed only (alibabacloud.com/help/en/model-studio/deep-thinking)
_DASHSCOPE = {"thinking_param": "enable_thinking", "thinking_needs_stream": True,
              "stream_only_models": ("-thinking", "qwq", "qvq")}
VENDORS: dict[str, Vendor] = {
    v.name: v
    for v in (
        # reasoning models: per-model efforts, max_completion_tokens (platform.openai.com/docs/guides/reasoning)
        Vendor("openai", "openai", "https://api.openai.com/v1", "OPENAI_API_KEY", "OpenAI",
               quirks={"thinking_param": "reasoning_effort", "max_completion_tokens": True}),
        # the Anthropic-compatible bases: api-docs.deepseek.com/guides/anthropic_api, platform.moonshot.ai
        # (Claude Code guide), alibabacloud.com/help/doc-detail/2980295.html (intl) and help.aliyun.com (China)
        # reasoning_content back only on tool-call turns (api-docs.deepseek.com/guides/thinking_mode); four roles
        Vendor("deepseek", "openai", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY", "DeepSeek",
               quirks={"strip_reasoning": True, "no_developer_role": True},
               anthropic_base="https://api.deepseek.com/anthropic"),
        Vendor("dashscope", "openai", "https://dashscope-intl.aliyuncs.com/compatible-mode/v1", "DASHSCOPE_API_KEY",
               "Qwen (DashScope, international)", prefixes=("qwen", "dashscope-intl"),
               quirks=_DASHSCOPE, anthropic_base="https://dashscope-intl.aliyuncs.com/apps/anthropic"),
        Vendor("dashscope-cn", "openai", "https://dashscope.aliyuncs.com/compatible-mode/v1", "DASHSCOPE_API_KEY",
               "Qwen (DashScope, China)", quirks=_DASHSCOPE, zero_config=False,
               anthropic_base="https://dashscope.aliyuncs.com/apps/anthropic"),
        # temperature in [0, 1], no tool_choice "required" (platform.moonshot.ai/docs/api/chat)
        Vendor("moonshot", "openai", "https://api.moonshot.ai/v1", "MOONSHOT_API_KEY", "Kimi (Moonshot)",
               prefixes=("kimi",), quirks={"temperature_max": 1.0, "no_tool_choice_required": True},
               anthropic_base="https://api.moonshot.ai/anthropic"),
        Vendor("moonshot-cn", "openai", "https://api.moonshot.cn/v1", "MOONSHOT_API_KEY", "Kimi (Moonshot, China)",
               quirks={"temperature_max": 1.0, "no_tool_choice_required": True}, zero_config=False,
               anthropic_base="https://api.moonshot.cn/anthropic"),
        Vendor("openrouter", "openai", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY", "OpenRouter"),
        Vendor("groq", "openai", "https://api.groq.com/openai/v1", "GROQ_API_KEY", "Groq"),
        Vendor("mistral", "openai", "https://api.mistral.ai/v1", "MISTRAL_API_KEY", "Mistral"),
        Vendor("xai", "openai", "https://api.x.ai/v1", "XAI_API_KEY", "xAI", prefixes=("grok",)),
        Vendor("zhipu", "openai", "https://open.bigmodel.cn/api/paas/v4", "ZHIPUAI_API_KEY", "Zhipu GLM",
               prefixes=("zai", "glm")),
        Vendor("siliconflow", "openai", "https://api.siliconflow.cn/v1", "SILICONFLOW_API_KEY", "SiliconFlow"),
        Vendor("together", "openai", "https://api.together.xyz/v1", "TOGETHER_API_KEY", "Together",
               prefixes=("together_ai",)),
        Vendor("fireworks", "openai", "https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY", "Fireworks",
               prefixes=("fireworks_ai",)),
        Vendor("ollama", "openai", "http://localhost:11434/v1", None, "Ollama", prefixes=("ollama_chat",)),
        Vendor("vllm", "openai", None, None, "vLLM", prefixes=("hosted_vllm",)),
        Vendor("lmstudio", "openai", "http://localhost:1234/v1", None, "LM Studio", prefixes=("lm_studio",)),
        Vendor("xinference", "openai", None, None, "Xinference"),
        # OpenAI's reasoning models there too refuse max_tokens (learn.microsoft.com/azure/ai-services/openai/
        # how-to/reasoning: "max_completion_tokens")
        Vendor("azure", "azure", None, "AZURE_API_KEY", "Azure OpenAI", quirks={"max_completion_tokens": True},
               zero_config=False),
        Vendor("anthropic", "anthropic", "https://api.anthropic.com", "ANTHROPIC_API_KEY", "Anthropic"),
        Vendor("gemini", "gemini", "https://generativelanguage.googleapis.com", "GEMINI_API_KEY", "Google Gemini",
               prefixes=("google", "google_ai_studio")),
    )
}

_BY_PREFIX: dict[str, Vendor] = {}
for _v in VENDORS.values():
    _BY_PREFIX[_v.name] = _v
    for _p in _v.prefixes:
        _BY_PREFIX[_p] = _v
# a generic OpenAI-compatible endpoint: `openai/<model>` with any api_base
_BY_PREFIX["custom"] = _BY_PREFIX["openai_compatible"] = VENDORS["openai"]

# another Accord or a LiteLLM proxy as the MCP tools' model source (`mcp.endpoint`): not a `model:` prefix. It
# speaks OpenAI's dialect for every model it serves and says each client field in its own upstream's terms, so
# nothing is rewritten for a model's vendor here (reasoning_effort "none" still turns a hybrid model's thinking off)
GATEWAY = Vendor("openai-compatible", "openai", None, None, "OpenAI-compatible endpoint",
                 quirks={"thinking_param": "as_is"}, zero_config=False)


def base_env(vendor: Vendor) -> str:
    """The variable that moves a vendor's URL (a proxy, a mirror): DEEPSEEK_API_BASE, DASHSCOPE_CN_API_BASE."""
    return vendor.name.upper().replace("-", "_") + "_API_BASE"


def vendor_for_prefix(prefix: str) -> Vendor | None:
    return _BY_PREFIX.get(prefix.lower())


def known_prefixes() -> list[str]:
    return sorted(_BY_PREFIX)
