"""Writing accord.yaml (readable: sections in a fixed order, short lists and maps inline) and the env file
(mode 0600, existing lines kept in place)."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from typing import Any

SECTION_ORDER = ("settings", "models", "consensus", "mcp")
MODEL_KEY_ORDER = ("name", "model", "api_base", "api_key", "aliases")
_SAFE_ENV_VALUE = re.compile(r"^[A-Za-z0-9_./:@+=,%~-]*$")


def new_master_key() -> str:
    return "sk-accord-" + secrets.token_urlsafe(24)


class _Block(dict):
    """A mapping always written as an indented block (sections, model entries)."""


def render_yaml(data: dict, header: str = "") -> str:
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def represent_list(dumper: yaml.SafeDumper, value: list) -> Any:
        flow = all(isinstance(v, (str, int, float, bool)) or v is None for v in value)
        return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)

    def represent_dict(dumper: yaml.SafeDumper, value: dict) -> Any:
        small = len(value) <= 4 and all(
            isinstance(v, (str, int, float, bool)) and len(str(v)) < 40 for v in value.values())
        return dumper.represent_mapping("tag:yaml.org,2002:map", value.items(), flow_style=small and bool(value))

    def represent_block(dumper: yaml.SafeDumper, value: dict) -> Any:
        return dumper.represent_mapping("tag:yaml.org,2002:map", value.items(), flow_style=False)

    Dumper.add_representer(list, represent_list)
    Dumper.add_representer(dict, represent_dict)
    Dumper.add_representer(_Block, represent_block)

    def dump(obj: Any) -> str:
        return yaml.dump(obj, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=110,
                         default_flow_style=False)

    parts = [header.rstrip() + "\n"] if header else []
    keys = [k for k in SECTION_ORDER if k in data] + [k for k in data if k not in SECTION_ORDER]
    for key in keys:
        value = data[key]
        if key == "models":
            chunk = "models:\n" + "".join(_indent(dump([_Block(_ordered(m))])) for m in value) if value else "models: []\n"
        elif isinstance(value, dict):
            chunk = f"{key}:\n" + _indent(dump(_Block(value))) if value else f"{key}: {{}}\n"
        else:
            chunk = dump({key: value})
        parts.append(chunk)
    return "\n".join(parts)


def _indent(text: str) -> str:
    return "".join(f"  {line}" if line.strip() else line for line in text.splitlines(keepends=True))


def _ordered(model: dict) -> dict:
    first = {k: model[k] for k in MODEL_KEY_ORDER if k in model}
    return {**first, **{k: v for k, v in model.items() if k not in first}}


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (0600), also when it already existed with wider rights."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, 0o600)


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def env_line(key: str, value: str) -> str:
    if _SAFE_ENV_VALUE.match(value):
        return f"{key}={value}"
    return f"{key}='{value}'" if "'" not in value else f'{key}="{value}"'


def merge_env(existing: str, values: dict[str, str]) -> str:
    """`existing` with each KEY=... line of `values` replaced in place, new keys appended."""
    lines = existing.splitlines()
    todo = dict(values)
    for i, raw in enumerate(lines):
        line = raw.strip()
        if line.startswith("export "):
            line = line[7:].lstrip()
        key = line.partition("=")[0].strip()
        if line and not line.startswith("#") and key in todo:
            lines[i] = env_line(key, todo.pop(key))
    if not lines:
        lines = ["# Accord's secrets: loaded by `accord` itself (and by its service); keep this file private."]
    lines.extend(env_line(k, v) for k, v in todo.items())
    return "\n".join(lines) + "\n"


def update_env_file(path: Path, values: dict[str, str]) -> None:
    existing = path.read_text(encoding="utf-8") if path.is_file() else ""
    write_private(path, merge_env(existing, values))
