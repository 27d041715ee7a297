"""Wire-protocol adapters. The registry maps a vendor row's `adapter` to the object that speaks it."""

from __future__ import annotations

import importlib

from .base import Call, Provider, Usage
from .openai_compat import OpenAICompatible

REGISTRY: dict[str, Provider] = {"openai": OpenAICompatible()}
# adapters imported on first use, so start-up pays only for the protocols configured
LAZY: dict[str, str] = {
    "anthropic": "accord.providers.anthropic:Anthropic",
    "gemini": "accord.providers.gemini:Gemini",
    "azure": "accord.providers.azure:AzureOpenAI",
}


def get(adapter: str) -> Provider:
    p = REGISTRY.get(adapter)
    if p is None:
        module, _, cls = LAZY[adapter].partition(":")
        p = REGISTRY[adapter] = getattr(importlib.import_module(module), cls)()
    return p


__all__ = ["LAZY", "REGISTRY", "Call", "Provider", "Usage", "get"]
