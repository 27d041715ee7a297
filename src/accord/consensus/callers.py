"""Who the engine and the MCP tools call models through: the in-process Router (default), or a remote
OpenAI-compatible endpoint (another Accord, a LiteLLM proxy) when `mcp.endpoint` is set. Same interface."""

from __future__ import annotations

import difflib
from collections.abc import AsyncIterator
from typing import Any, Protocol

from .. import catalog
from ..catalog import ModelInfo
from ..errors import AccordError, NotFound, UpstreamError, UpstreamTimeout
from ..providers.assemble import OnText, assemble
from ..providers.thinking import effort_for, temperature_note, thinking_params
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
    chosen (the chair) or called (fallbacks included)."""

    def __init__(self, router: Any, allow: Any = None) -> None:
        self.router = router
        self.allow = allow

    def names(self) -> list[str]:
        return [n for n in self.router.names() if self.info(n).mode == "chat" and (self.allow is None
                                                                                   or self.allow(n))]

    def canonical(self, name: str) -> str:
        try:
            return self.router.canonical(name, self.allow)
        except NotFound as e:
            raise InputError(e.message) from None

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


class RemoteModels:
    """A remote OpenAI-compatible endpoint (`mcp.endpoint`, e.g. http://host:4000/v1)."""

    def __init__(self, endpoint: str, key: str | None = None, timeout: float = 600.0) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.key = key
        self.timeout = timeout
        self._names: list[str] = []
        self._session: Any = None

    def _headers(self) -> dict:
        h = {"Content-Type": "application/json"}
        if self.key:
            h["Authorization"] = f"Bearer {self.key}"
        return h

    def _http(self):
        import aiohttp

        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout, connect=10))
        return self._session

    async def load(self) -> RemoteModels:
        """Ask the endpoint which models it serves (GET /models)."""
        try:
            async with self._http().get(f"{self.endpoint}/models", headers=self._headers()) as r:
                data = await r.json(content_type=None)
                if r.status >= 400:
                    raise UpstreamError(f"{self.endpoint}/models answered HTTP {r.status}: {str(data)[:300]}")
        except AccordError:
            raise
        except Exception as e:
            raise UpstreamError(f"cannot reach the MCP endpoint {self.endpoint}: {e.__class__.__name__}: {e}") from None
        self._names = [m["id"] for m in data.get("data", []) if isinstance(m, dict) and "id" in m]
        return self

    def names(self) -> list[str]:
        return [n for n in self._names if self.info(n).mode == "chat"]

    def canonical(self, name: str) -> str:
        if name in self._names:
            return name
        low = {n.lower(): n for n in self._names}
        if name.lower() in low:
            return low[name.lower()]
        known = catalog.lookup(name) or next((m for m in catalog.MODELS.values() if name in m.aliases), None)
        if known is not None and known.id in self._names:
            return known.id
        close = difflib.get_close_matches(name, self._names, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise InputError(f"model `{name}` is not served by {self.endpoint}{hint}")

    def info(self, name: str) -> ModelInfo:
        return catalog.info_for(name)

    def aliases(self, name: str) -> list[str]:
        return []

    def controls(self, name: str, thinking: str | None, temperature: float | None) -> tuple[dict, list[str]]:
        body: dict = {}
        notes = []
        if thinking:
            body["reasoning_effort"] = effort_for(thinking)
            notes.append(f"thinking sent to the remote endpoint as reasoning_effort={body['reasoning_effort']}")
        if temperature is not None:
            body["temperature"] = temperature
        return body, notes

    async def complete(self, name: str, body: dict, on_text: OnText | None = None) -> tuple[dict, Any]:
        """Streamed like the local calls (a LiteLLM proxy in front of DashScope thinking models needs it too);
        an endpoint that answers with one JSON body anyway is read as such."""
        import asyncio

        import orjson

        payload = orjson.dumps({**body, "model": name, "stream": True, "stream_options": {"include_usage": True}})
        try:
            async with self._http().post(f"{self.endpoint}/chat/completions", data=payload,
                                         headers=self._headers()) as r:
                status = r.status
                if status < 400 and r.content_type == "text/event-stream":
                    return await assemble(_sse_payloads(r.content), on_text), None
                raw = await r.read()
        except asyncio.TimeoutError:
            raise UpstreamTimeout(f"{self.endpoint} did not answer for {name} in {self.timeout:.0f} s") from None
        except AccordError:
            raise
        except Exception as e:
            raise UpstreamError(f"cannot reach {self.endpoint}: {e.__class__.__name__}: {e}") from None
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data = None
        if status >= 400 or not isinstance(data, dict):
            msg = (data or {}).get("error", {}).get("message") if isinstance(data, dict) else raw[:300].decode(
                "utf-8", "replace")
            raise UpstreamError(f"{self.endpoint} failed for {name} (HTTP {status}): {msg}", upstream_status=status)
        return data, None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


async def _sse_payloads(content: Any) -> AsyncIterator[bytes]:
    """The `data:` payloads of a server-sent-event stream, up to `[DONE]`."""
    async for line in content:
        if line.startswith(b"data:"):
            data = line[5:].strip()
            if data == b"[DONE]":
                return
            if data:
                yield data
