"""Who the engine and the MCP tools call models through: a Router, whose deployments are the configured models or
(with `mcp.endpoint` set) the models a remote OpenAI-compatible endpoint lists (consensus/remote.py). Either way
every call gets the router's retries, time-outs, streaming and usage rows."""

from __future__ import annotations

from typing import Any, Protocol

from ..catalog import ModelInfo
from ..errors import NotFound
from ..providers.assemble import OnText, assemble
from ..providers.thinking import temperature_note, thinking_params
from .types import InputError


class ModelCaller(Protocol):
    def names(self) -> list[str]: ...

    def canonical(self, name: str) -> str:
        """The served name `name` refers to; InputError with close matches when none."""
        ...

    def info(self, name: str) -> ModelInfo: ...

    def aliases(self, name: str) -> list[str]: ...

    def controls(self, name: str, thinking: str | None, temperature: float | None) -> tuple[dict, list[str]]:
        """Request fields for a thinking level and temperature on this model, and notes on what was ignored."""
        ...

    async def complete(self, name: str, body: dict, on_text: OnText | None = None) -> tuple[dict, Any]:
        """One whole answer (a `chat.completion`); `on_text`, when given, receives its text as it arrives."""
        ...


class LocalModels:
    """The in-process Router; with `allow` (a virtual key's allow-list), only the models it allows are named,
    chosen (the chair) or called (fallbacks included). `served_by`: where the router's models are (a remote
    endpoint's URL), so an unknown name's error points there rather than at this config."""

    def __init__(self, router: Any, allow: Any = None, served_by: str | None = None) -> None:
        self.router = router
        self.allow = allow
        self.served_by = served_by

    def names(self) -> list[str]:
        return [n for n in self.router.names() if self.info(n).mode == "chat" and (self.allow is None
                                                                                   or self.allow(n))]

    def canonical(self, name: str) -> str:
        try:
            return self.router.canonical(name, self.allow)
        except NotFound as e:
            if self.served_by is None:
                raise InputError(e.message) from None
            hint = e.message.partition(" is not served here")[2]
            raise InputError(f"model `{name}` is not served by {self.served_by}{hint}") from None

    def info(self, name: str) -> ModelInfo:
        return self.router.info(name)

    def aliases(self, name: str) -> list[str]:
        return [a for a, n in self.router.aliases.items() if n == name]

    def controls(self, name: str, thinking: str | None, temperature: float | None) -> tuple[dict, list[str]]:
        dep = self.router.group(name)[0]
        body, note = thinking_params(dep, thinking)
        notes = [note] if note else []
        if temperature is not None:
            t = temperature_note(dep, temperature)
            if t:
                notes.append(t)
            else:
                body["temperature"] = temperature
        return body, notes

    async def complete(self, name: str, body: dict, on_text: OnText | None = None) -> tuple[dict, Any]:
        """Always streamed from the upstream and assembled: DashScope refuses thinking calls made without
        streaming, and a stream brings the router's first-token and idle time-outs and live text."""
        chunks, call = await self.stream(name, body)
        data = await assemble(chunks, on_text)
        if "usage" not in data and call.usage is not None:
            data["usage"] = call.usage.as_openai()
        return data, call

    async def embed(self, name: str, body: dict) -> tuple[dict, Any]:
        """Embeddings through the router (so the call is balanced, retried and metered like any other)."""
        return await self.router.embed(name, body, self.allow)

    async def stream(self, name: str, body: dict) -> tuple[Any, Any]:
        """Chunks (JSON bytes) as they arrive, usage at the end."""
        return await self.router.stream(name, {**body, "stream": True, "stream_options": {"include_usage": True}},
                                        self.allow)
