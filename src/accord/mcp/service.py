"""The long-running `accord serve` as seen from a stdio `accord mcp`: Claude Code starts and stops the stdio
process with each session, so a background run must execute in the service. It is used only when it serves
the same config (its /health/readiness `config_id`, hence the same store) and answers the master key."""

from __future__ import annotations

from typing import Any

import aiohttp

from ..config import Config
from ..consensus.types import InputError

NOT_RUNNING = ("background runs need the Accord service running with this config, to go on after this "
               "session ends: start `accord serve` (or install it with `accord service install`), then try "
               "again; or leave background off")


def _base(cfg: Config) -> str:
    host = cfg.settings.host
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else (f"[{host}]" if ":" in host else host)
    return f"http://{host}:{cfg.settings.port}"


def _headers(cfg: Config) -> dict[str, str]:
    key = cfg.settings.master_key
    return {"Authorization": f"Bearer {key}"} if key else {}


async def _call(cfg: Config, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30, connect=3)) as s, \
            s.request(method, _base(cfg) + path, json=body if method == "GET" else (body or {}),
                      headers=_headers(cfg)) as r:
        return r.status, await r.json(content_type=None)


async def reachable(cfg: Config) -> bool:
    """Whether `accord serve` runs this config (so shares this store) with its database open."""
    try:
        status, data = await _call(cfg, "GET", "/health/readiness")
    except (aiohttp.ClientError, TimeoutError, ValueError, OSError):
        return False
    return status == 200 and isinstance(data, dict) and data.get("config_id") == cfg.identity \
        and data.get("db") == "connected"


def _error(status: int, data: Any) -> InputError:
    msg = ((data or {}).get("error") or {}).get("message") if isinstance(data, dict) else None
    return InputError(f"the Accord service refused ({status}): {msg or 'no reason given'}")


async def start(cfg: Config, request: dict, thread_id: str | None, *, tool: str = "consensus") -> str:
    """Start `tool` (consensus, or a panel tool with its ask as `request`) in the service; the run id."""
    if not await reachable(cfg):
        raise InputError(NOT_RUNNING)
    status, data = await _call(cfg, "POST", "/v1/consensus/runs",
                               {"tool": tool, "request": request, "thread_id": thread_id})
    if status != 200:
        raise _error(status, data)
    return data["id"]


async def cancel(cfg: Config, run_id: str) -> dict:
    if not await reachable(cfg):
        raise InputError(NOT_RUNNING)
    status, data = await _call(cfg, "POST", f"/v1/consensus/runs/{run_id}/cancel")
    if status != 200:
        raise _error(status, data)
    return data
