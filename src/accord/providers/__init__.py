"""Wire-protocol adapters. The registry maps a vendor row's `adapter` to the object that speaks it."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import Provider

REGISTRY: dict[str, Provider] = {}
# adapters imported on first use: reading a config (every CLI command) never loads the HTTP client
LAZY: dict[str, str] = {
    "openai": "accord.providers.openai_compat:OpenAICompatible",
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


__all__ = ["LAZY", "REGISTRY", "get"]
