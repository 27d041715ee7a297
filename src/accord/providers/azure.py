"""Azure OpenAI: OpenAI's wire format under per-deployment URLs, an `api-key` header and an api-version."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .openai_compat import OpenAICompatible, headers

if TYPE_CHECKING:
    from ..config import Deployment

DEFAULT_API_VERSION = "2024-10-21"


class AzureOpenAI(OpenAICompatible):
    def url(self, dep: Deployment, path: str) -> str:
        version = dep.api_version or DEFAULT_API_VERSION
        return f"{dep.api_base}/openai/deployments/{dep.model}/{path}?api-version={version}"

    def headers(self, dep: Deployment) -> dict:
        h = headers(dep)
        key = h.pop("Authorization", None)
        if key:
            h["api-key"] = key.removeprefix("Bearer ")
        return h
