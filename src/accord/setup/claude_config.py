"""Claude Code's config files, as Accord reads and merges them (everything else in them is kept).

Where MCP servers live: `.mcp.json` in the project (scope project), `~/.claude.json` top-level `mcpServers`
(scope user) or `~/.claude.json` `projects[<abs cwd>].mcpServers` (scope local). Environment for Claude Code
itself (MCP_TIMEOUT, MCP_TOOL_TIMEOUT) goes in the `env` block of a settings file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

SERVER = "accord"
SCOPES = ("user", "project", "local")
AUTH_HEADER = "Bearer ${ACCORD_MASTER_KEY}"  # the default: the variable `accord init` writes
TIMEOUT_VARS = ("MCP_TIMEOUT", "MCP_TOOL_TIMEOUT")


class ClaudeConfigError(Exception):
    """A file that is not the JSON object Claude Code writes."""


@dataclass(frozen=True)
class Place:
    scope: str
    file: Path  # the JSON file holding the server entry
    keys: tuple[str, ...]  # the path to its `mcpServers` object
    settings: Path  # the settings file whose `env` Claude Code applies in this scope


def place(scope: str, home: Path, cwd: Path) -> Place:
    if scope == "project":
        return Place(scope, cwd / ".mcp.json", ("mcpServers",), cwd / ".claude" / "settings.json")
    if scope == "local":
        return Place(scope, home / ".claude.json", ("projects", str(cwd), "mcpServers"),
                     cwd / ".claude" / "settings.local.json")
    return Place("user", home / ".claude.json", ("mcpServers",), home / ".claude" / "settings.json")


def stdio_entry(command: str, args: list[str]) -> dict:
    return {"type": "stdio", "command": command, "args": args, "env": {}}


def bearer(var: str) -> str:
    """An Authorization value Claude Code fills from its environment (never the key itself in its files)."""
    return f"Bearer ${{{var}}}"


def http_entry(url: str, authorization: str | None = AUTH_HEADER) -> dict:
    entry: dict = {"type": "http", "url": url}
    if authorization:
        entry["headers"] = {"Authorization": authorization}
    return entry


def read_json(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ClaudeConfigError(f"cannot read {path}: {e.__class__.__name__}") from None
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ClaudeConfigError(f"{path}:{e.lineno}: not valid JSON ({e.msg}); fix it first") from None
    if not isinstance(data, dict):
        raise ClaudeConfigError(f"{path}: expected a JSON object")
    return data


def write_json(path: Path, data: dict) -> None:
    """Replace the file atomically, keeping its permissions (~/.claude.json is often 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else None
    tmp = path.with_name(f".{path.name}.accord.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if mode is not None:
        os.chmod(tmp, mode)
    os.replace(tmp, path)


def _servers(data: dict, keys: tuple[str, ...], create: bool) -> dict | None:
    node = data
    for k in keys:
        nxt = node.get(k)
        if not isinstance(nxt, dict):
            if not create:
                return None
            nxt = node[k] = {}
        node = nxt
    return node


def set_server(p: Place, entry: dict, name: str = SERVER) -> None:
    data = read_json(p.file)
    servers = _servers(data, p.keys, create=True)
    assert servers is not None
    servers[name] = entry
    write_json(p.file, data)


def remove_server(p: Place, name: str = SERVER) -> bool:
    data = read_json(p.file)
    servers = _servers(data, p.keys, create=False)
    if not servers or name not in servers:
        return False
    del servers[name]
    write_json(p.file, data)
    return True


def all_servers(data: dict) -> list[tuple[tuple[str, ...], str, dict]]:
    """Every server entry in a Claude Code file, as (path to its `mcpServers`, name, entry): the top level
    (`.mcp.json`, `~/.claude.json` user scope) first, then each project of `~/.claude.json` (local scope)."""
    paths: list[tuple[str, ...]] = [("mcpServers",)]
    projects = data.get("projects")
    if isinstance(projects, dict):
        paths += [("projects", str(k), "mcpServers") for k in projects]
    out = []
    for keys in paths:
        for name, entry in (_servers(data, keys, create=False) or {}).items():
            if isinstance(entry, dict):
                out.append((keys, str(name), entry))
    return out


def remove_servers(file: Path, which: list[tuple[tuple[str, ...], str]]) -> Path | None:
    """Remove these entries from `file`, after copying it to a backup beside it; returns the backup's path
    (None when there was nothing to remove)."""
    import shutil
    import time

    data = read_json(file)
    gone = [(keys, name) for keys, name in which if name in (_servers(data, keys, create=False) or {})]
    if not gone:
        return None
    backup = file.with_name(f"{file.name}.before-accord-{time.strftime('%Y%m%d-%H%M%S')}")
    n = 1
    while backup.exists():
        n += 1
        backup = backup.with_name(f"{file.name}.before-accord-{time.strftime('%Y%m%d-%H%M%S')}-{n}")
    shutil.copy2(file, backup)  # keeps the mode: ~/.claude.json is often 0600
    for keys, name in gone:
        servers = _servers(data, keys, create=False)
        assert servers is not None
        del servers[name]
    write_json(file, data)
    return backup


def get_server(p: Place, name: str = SERVER) -> dict | None:
    servers = _servers(read_json(p.file), p.keys, create=False)
    entry = (servers or {}).get(name)
    return entry if isinstance(entry, dict) else None


def set_env(settings: Path, values: dict[str, str]) -> dict[str, str]:
    """Merge into the settings file's `env`; a larger time-out already there is kept. Returns what is set."""
    data = read_json(settings)
    env = data.get("env")
    if not isinstance(env, dict):
        env = data["env"] = {}
    for k, v in values.items():
        old = str(env.get(k, ""))
        if not (old.isdigit() and v.isdigit() and int(old) > int(v)):
            env[k] = v
    write_json(settings, data)
    return {k: str(env[k]) for k in values}


def timeouts(settings: Path) -> dict[str, str]:
    env = read_json(settings).get("env")
    return {k: str(env[k]) for k in TIMEOUT_VARS if isinstance(env, dict) and k in env}


def describe(entry: dict) -> str:
    if entry.get("type") in ("http", "sse") or "url" in entry:
        return f"{entry.get('type', 'http')} {entry.get('url')}"
    return " ".join([str(entry.get("command", "?")), *map(str, entry.get("args") or [])])
