"""A remote OpenAI-compatible endpoint (`mcp.endpoint`: another Accord, a LiteLLM proxy) as the MCP tools' model
source: one ordinary router deployment per model it lists at GET {endpoint}/models. So a call to it is balanced,
retried, timed out and streamed by the Router, and leaves a usage row, as a call to any configured model does."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING, Any

from .. import catalog
from ..config import Deployment
from ..errors import AccordError, UpstreamError
from ..providers.vendors import GATEWAY
from ..redaction import shown_url

if TYPE_CHECKING:
    from ..config import Config
    from ..router import Router

LIST_TIMEOUT = 30.0  # seconds for GET /models: a list, not an answer


def shown(endpoint: str) -> str:
    """The endpoint as errors and tools name it: any `user:password@` shown as `****@`."""
    return shown_url(endpoint.rstrip("/"))


async def router_for(cfg: Config) -> Router:
    """A Router over the endpoint's models, under the config's settings (retries, time-outs, limits)."""
    from ..router import Router

    assert cfg.mcp.endpoint
    deps = deployments(cfg.mcp.endpoint, cfg.mcp.endpoint_key,
                       await listed(cfg.mcp.endpoint, cfg.mcp.endpoint_key, cfg.settings.connect_timeout))
    return Router(dataclasses.replace(cfg, deployments=deps, panels={}))


def deployments(endpoint: str, key: str | None, entries: list[dict]) -> list[Deployment]:
    """One deployment per listed model. An entry naming a `root` (Accord lists its aliases so) becomes an alias
    of that model, not a model of its own; a catalog model keeps its catalog aliases (`kimi`) where no listed
    name has them."""
    ids = {e["id"] for e in entries}
    out: dict[str, Deployment] = {}
    for name in dict.fromkeys(e["id"] for e in entries if e.get("root") not in ids):
        info = catalog.info_for(name, GATEWAY.name)
        out[name] = Deployment(id=name, name=name, vendor=GATEWAY, model=name, api_base=endpoint.rstrip("/"),
                               api_key=key, info=info)
    taken = set(out)
    for e in entries:
        if e["id"] not in out and e.get("root") in out and e["id"] not in taken:
            dep = out[e["root"]]
            dep.aliases = (*dep.aliases, e["id"])
            taken.add(e["id"])
    for dep in out.values():
        extra = tuple(a for a in dep.info.aliases if a not in taken)
        taken.update(extra)
        dep.aliases = (*dep.aliases, *extra)
    return list(out.values())


async def listed(endpoint: str, key: str | None, connect_timeout: float) -> list[dict]:
    """GET {endpoint}/models: its entries (each with a string `id`); UpstreamError saying what went wrong."""
    import aiohttp
    import orjson

    from ..providers.base import scrub, with_url_credentials
    from ..providers.openai_compat import headers

    probe = Deployment(id="mcp.endpoint", name="mcp.endpoint", vendor=GATEWAY, model="", api_base=endpoint.rstrip("/"),
                       api_key=key, info=catalog.UNKNOWN)
    where = shown(endpoint)
    url = f"{probe.api_base}/models"
    timeout = aiohttp.ClientTimeout(total=LIST_TIMEOUT, connect=connect_timeout)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as http, http.get(
                url, headers=with_url_credentials(probe, headers(probe))) as r:
            status, raw = r.status, await r.read()
    except AccordError:
        raise
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as e:
        why = scrub(str(e) or e.__class__.__name__, probe)
        raise UpstreamError(f"cannot reach the MCP endpoint {where} (mcp.endpoint): {why}; start it, or fix "
                            "mcp.endpoint in accord.yaml") from None
    if status >= 400:
        text = scrub(raw[:300].decode("utf-8", "replace"), probe)
        hint = "; check mcp.endpoint_key" if status in (401, 403) else ""
        raise UpstreamError(f"the MCP endpoint {where} answered HTTP {status} to GET /models{hint}: {text}",
                            upstream_status=status)
    try:
        data: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = None
    entries = data.get("data") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise UpstreamError(f"the MCP endpoint {where} did not list its models (GET /models gave no `data` list); "
                            "is mcp.endpoint an OpenAI-compatible base URL, e.g. http://host:4000/v1?")
    found = [e for e in entries if isinstance(e, dict) and isinstance(e.get("id"), str) and e["id"]]
    if not found:
        raise UpstreamError(f"the MCP endpoint {where} lists no models: configure some there")
    return found
