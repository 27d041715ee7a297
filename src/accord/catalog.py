"""Known models and what they can do, so nobody types capabilities by hand.

Figures are the vendors' published ones (prices in US dollars per million tokens). Config overrides any field
of any model (`capabilities:` in accord.yaml, `model_info:` in a LiteLLM config); a model not listed here still
works with the conservative defaults of `UNKNOWN`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class ModelInfo:
    id: str
    vendor: str = ""
    context_window: int = 32_768
    max_output_tokens: int = 4_096
    thinking: bool = False  # can reason before answering (always, or on request)
    vision: bool = False
    tools: bool = True
    json_mode: bool = True
    temperature: bool = True  # accepts a temperature
    input_price: float = 0.0  # $ per million input tokens
    output_price: float = 0.0  # $ per million output tokens
    cache_read_price: float | None = None  # $ per million input tokens read from the provider's cache (None: input)
    cache_write_price: float | None = None  # $ per million input tokens written to it (None: input price)
    max_price: float | None = None  # $ one request to it may cost at most (its worst case); set in config
    intelligence: int = 10  # 1-20, for choosing chairs and `auto`
    mode: str = "chat"  # chat | embedding
    aliases: tuple[str, ...] = ()
    description: str = ""
    known: bool = True

    def cost(self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0,
             cache_write_tokens: int = 0) -> float:
        """What a call costs as the provider bills it. `prompt_tokens` counts every input token, those read from
        and written to the cache included (how Usage normalizes every vendor); `completion_tokens` includes
        reasoning, which every vendor bills as output."""
        read = self.input_price if self.cache_read_price is None else self.cache_read_price
        write = self.input_price if self.cache_write_price is None else self.cache_write_price
        fresh = max(0, prompt_tokens - cached_tokens - cache_write_tokens)
        return (fresh * self.input_price + cached_tokens * read + cache_write_tokens * write
                + completion_tokens * self.output_price) / 1_000_000

    def with_overrides(self, overrides: dict) -> ModelInfo:
        """Apply config overrides; unknown names are ignored here (config validation names them)."""
        valid = {f.name for f in fields(self)}
        clean: dict[str, Any] = {k: (tuple(v) if k == "aliases" else v) for k, v in overrides.items() if k in valid}
        return replace(self, **clean) if clean else self


OVERRIDABLE = tuple(f.name for f in fields(ModelInfo) if f.name not in {"id", "vendor", "known"})

UNKNOWN = ModelInfo(id="", known=False, description="not in the catalog: conservative defaults")

# (id, context, max_output, thinking, vision, tools, price_in, price_out, score, aliases, description, extra)
_ROWS: dict[str, list[tuple]] = {
    "deepseek": [
        ("deepseek-chat", 128_000, 8_192, False, False, True, 0.28, 0.42, 15, ("deepseek", "deepseek-v3"),
         "DeepSeek V3.2, non-thinking mode", {}),
        ("deepseek-reasoner", 128_000, 65_536, True, False, True, 0.28, 0.42, 17, ("deepseek-r1", "r1"),
         "DeepSeek V3.2, thinking mode", {"temperature": False}),
    ],
    "dashscope": [
        ("qwen3-max", 262_144, 65_536, True, False, True, 1.2, 6.0, 17, ("qwen-max", "qwen"),
         "Qwen3 Max, Alibaba's flagship", {}),
        ("qwen-plus", 1_000_000, 32_768, True, False, True, 0.4, 1.2, 14, ("qwen3-plus",),
         "Qwen Plus; thinking on request", {}),
        ("qwen-flash", 1_000_000, 32_768, True, False, True, 0.05, 0.4, 11, ("qwen-turbo",),
         "Qwen Flash: fast and cheap", {}),
        ("qwen3-235b-a22b-thinking-2507", 131_072, 32_768, True, False, True, 0.7, 8.4, 16,
         ("qwen3-thinking", "qwen-thinking"), "Qwen3 235B, thinking only (stream-only upstream)", {}),
        ("qwen3-235b-a22b-instruct-2507", 131_072, 32_768, False, False, True, 0.7, 2.8, 15, ("qwen3-instruct",),
         "Qwen3 235B instruct", {}),
        ("qwen3-coder-plus", 1_000_000, 65_536, False, False, True, 1.0, 5.0, 16, ("qwen-coder",),
         "Qwen3 Coder", {}),
        ("qwen3-vl-plus", 262_144, 32_768, True, True, True, 0.2, 1.6, 14, ("qwen-vl",), "Qwen3 VL, vision", {}),
    ],
    "moonshot": [
        ("kimi-k2-0905-preview", 262_144, 32_768, False, False, True, 0.6, 2.5, 16, ("kimi", "kimi-k2"),
         "Kimi K2", {}),
        ("kimi-k2-turbo-preview", 262_144, 32_768, False, False, True, 1.15, 8.0, 16, ("kimi-turbo",),
         "Kimi K2, fast", {}),
        ("kimi-k2-thinking", 262_144, 65_536, True, False, True, 0.6, 2.5, 17, ("kimi-thinking",),
         "Kimi K2 thinking", {"temperature": False}),
    ],
    "openai": [
        ("gpt-5.1", 400_000, 128_000, True, True, True, 1.25, 10.0, 19, (), "GPT-5.1", {"temperature": False}),
        ("gpt-5", 400_000, 128_000, True, True, True, 1.25, 10.0, 19, ("gpt5",), "GPT-5", {"temperature": False}),
        ("gpt-5-mini", 400_000, 128_000, True, True, True, 0.25, 2.0, 16, (), "GPT-5 mini", {"temperature": False}),
        ("gpt-5-nano", 400_000, 128_000, True, True, True, 0.05, 0.4, 12, (), "GPT-5 nano", {"temperature": False}),
        ("gpt-4.1", 1_047_576, 32_768, False, True, True, 2.0, 8.0, 16, (), "GPT-4.1", {}),
        ("gpt-4.1-mini", 1_047_576, 32_768, False, True, True, 0.4, 1.6, 13, (), "GPT-4.1 mini", {}),
        ("gpt-4o", 128_000, 16_384, False, True, True, 2.5, 10.0, 14, (), "GPT-4o", {}),
        ("gpt-4o-mini", 128_000, 16_384, False, True, True, 0.15, 0.6, 11, (), "GPT-4o mini", {}),
        ("o3", 200_000, 100_000, True, True, True, 2.0, 8.0, 18, (), "o3 reasoning", {"temperature": False}),
        ("o4-mini", 200_000, 100_000, True, True, True, 1.1, 4.4, 16, (), "o4-mini reasoning",
         {"temperature": False}),
        ("text-embedding-3-small", 8_191, 0, False, False, False, 0.02, 0.0, 5, (), "embeddings",
         {"mode": "embedding", "json_mode": False}),
        ("text-embedding-3-large", 8_191, 0, False, False, False, 0.13, 0.0, 6, (), "embeddings",
         {"mode": "embedding", "json_mode": False}),
    ],
    "anthropic": [
        ("claude-opus-4-5", 200_000, 64_000, True, True, True, 5.0, 25.0, 20, ("opus",), "Claude Opus 4.5", {}),
        ("claude-sonnet-4-5", 200_000, 64_000, True, True, True, 3.0, 15.0, 19, ("sonnet",),
         "Claude Sonnet 4.5", {}),
        ("claude-haiku-4-5", 200_000, 64_000, True, True, True, 1.0, 5.0, 16, ("haiku",), "Claude Haiku 4.5", {}),
        ("claude-opus-4-1", 200_000, 32_000, True, True, True, 15.0, 75.0, 19, (), "Claude Opus 4.1", {}),
        ("claude-sonnet-4-0", 200_000, 64_000, True, True, True, 3.0, 15.0, 17, ("claude-sonnet-4",),
         "Claude Sonnet 4", {}),
    ],
    "gemini": [
        ("gemini-3-pro-preview", 1_048_576, 65_536, True, True, True, 2.0, 12.0, 20, ("gemini-3-pro",),
         "Gemini 3 Pro (preview)", {}),
        ("gemini-2.5-pro", 1_048_576, 65_536, True, True, True, 1.25, 10.0, 18, ("gemini-pro", "gemini"),
         "Gemini 2.5 Pro", {}),
        ("gemini-2.5-flash", 1_048_576, 65_536, True, True, True, 0.3, 2.5, 15, ("gemini-flash",),
         "Gemini 2.5 Flash", {}),
        ("gemini-2.5-flash-lite", 1_048_576, 65_536, True, True, True, 0.1, 0.4, 12, ("gemini-flash-lite",),
         "Gemini 2.5 Flash-Lite", {}),
        ("text-embedding-004", 2_048, 0, False, False, False, 0.0, 0.0, 5, (), "embeddings",
         {"mode": "embedding", "json_mode": False}),
    ],
    "zhipu": [
        ("glm-4.6", 200_000, 128_000, True, False, True, 0.6, 2.2, 16, ("glm",), "GLM-4.6", {}),
    ],
    "xai": [
        ("grok-4", 256_000, 64_000, True, True, True, 3.0, 15.0, 18, ("grok",), "Grok 4", {"temperature": True}),
    ],
    "mistral": [
        ("mistral-large-latest", 131_072, 32_768, False, True, True, 2.0, 6.0, 15, ("mistral-large",),
         "Mistral Large", {}),
    ],
}

# Cache prices, $ per million input tokens: (read, write); write None = billed as ordinary input. Sources:
# - DeepSeek, https://api-docs.deepseek.com/quick_start/pricing: V3.2 input cache hit $0.028 (miss $0.28);
#   no write surcharge (the cache is built on disk as a side effect).
# - Qwen (DashScope), https://www.alibabacloud.com/help/en/model-studio/context-cache: implicit cache hits are
#   billed at 20% of the input price; implicit writes at the input price.
# - Moonshot, https://platform.moonshot.ai/docs/pricing/chat: K2 models, cache hit $0.15.
# - OpenAI, https://platform.openai.com/docs/pricing: "cached input" (GPT-5 family 10% of input, GPT-4.1 / o3 /
#   o4-mini 25%, GPT-4o 50%); writes free.
# - Anthropic, https://docs.claude.com/en/docs/build-with-claude/prompt-caching#pricing: reads 0.1x the base
#   input price, 5-minute writes 1.25x.
# - Gemini, https://ai.google.dev/gemini-api/docs/pricing: "context caching price" (prompts <= 200k tokens);
#   implicit caching has no write charge (explicit caches bill storage per hour, outside a request).
# - Zhipu, https://docs.z.ai/guides/overview/pricing: GLM-4.6 cached input $0.11.
# - xAI, https://docs.x.ai/docs/models: Grok 4 cached input $0.75.
_CACHE: dict[str, tuple[float, float | None]] = {
    "deepseek-chat": (0.028, None), "deepseek-reasoner": (0.028, None),
    "qwen3-max": (0.24, None), "qwen-plus": (0.08, None), "qwen-flash": (0.01, None),
    "qwen3-235b-a22b-thinking-2507": (0.14, None), "qwen3-235b-a22b-instruct-2507": (0.14, None),
    "qwen3-coder-plus": (0.2, None), "qwen3-vl-plus": (0.04, None),
    "kimi-k2-0905-preview": (0.15, None), "kimi-k2-turbo-preview": (0.15, None), "kimi-k2-thinking": (0.15, None),
    "gpt-5.1": (0.125, None), "gpt-5": (0.125, None), "gpt-5-mini": (0.025, None), "gpt-5-nano": (0.005, None),
    "gpt-4.1": (0.5, None), "gpt-4.1-mini": (0.1, None), "gpt-4o": (1.25, None), "gpt-4o-mini": (0.075, None),
    "o3": (0.5, None), "o4-mini": (0.275, None),
    "claude-opus-4-5": (0.5, 6.25), "claude-sonnet-4-5": (0.3, 3.75), "claude-haiku-4-5": (0.1, 1.25),
    "claude-opus-4-1": (1.5, 18.75), "claude-sonnet-4-0": (0.3, 3.75),
    "gemini-3-pro-preview": (0.2, None), "gemini-2.5-pro": (0.125, None), "gemini-2.5-flash": (0.03, None),
    "gemini-2.5-flash-lite": (0.01, None),
    "glm-4.6": (0.11, None), "grok-4": (0.75, None),
}


def _build() -> dict[str, ModelInfo]:
    out: dict[str, ModelInfo] = {}
    for vendor, rows in _ROWS.items():
        for mid, ctx, mot, think, vis, tools, pin, pout, score, aliases, desc, extra in rows:
            out[mid] = ModelInfo(
                id=mid, vendor=vendor, context_window=ctx, max_output_tokens=mot, thinking=think, vision=vis,
                tools=tools, input_price=pin, output_price=pout, intelligence=score, aliases=aliases,
                description=desc, cache_read_price=_CACHE.get(mid, (None, None))[0],
                cache_write_price=_CACHE.get(mid, (None, None))[1], **extra,
            )
    return out


MODELS: dict[str, ModelInfo] = _build()


def lookup(model_id: str) -> ModelInfo | None:
    """Find a model by its upstream id; tolerates a vendor prefix (`deepseek/deepseek-chat`, OpenRouter ids)
    and a date or tag suffix (`claude-sonnet-4-5-20250929`, `qwen3-max:latest`)."""
    mid = model_id.lower()
    if mid in MODELS:
        return MODELS[mid]
    tail = mid.rsplit("/", 1)[-1].split(":", 1)[0]
    if tail in MODELS:
        return MODELS[tail]
    # dated snapshots: strip a trailing -YYYYMMDD or -YYYY-MM-DD
    parts = tail.split("-")
    for cut in (1, 3):
        if len(parts) > cut and all(p.isdigit() for p in parts[-cut:]):
            base = "-".join(parts[:-cut])
            if base in MODELS:
                return MODELS[base]
    return None


def info_for(model_id: str, vendor: str = "", overrides: dict | None = None) -> ModelInfo:
    found = lookup(model_id)
    info = found if found is not None else replace(UNKNOWN, id=model_id, vendor=vendor)
    return info.with_overrides(overrides) if overrides else info


def for_vendor(vendor: str) -> list[ModelInfo]:
    return [m for m in MODELS.values() if m.vendor == vendor]


__all__ = ["MODELS", "OVERRIDABLE", "UNKNOWN", "ModelInfo", "for_vendor", "info_for", "lookup"]
