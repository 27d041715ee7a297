"""Claude Code running on Accord's models: the `env` block `accord claude install --gateway` writes into a
Claude Code settings file, and the record that lets `uninstall --gateway` remove exactly that.

Claude Code takes settings-file `env` values literally (a `${VAR}` there is not expanded), so the token is
written as it is; it goes only into files that are not shared (the user's ~/.claude/settings.json or the
project's settings.local.json), and a file that gets one is made readable by its owner only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from .claude_config import read_json, write_json

BASE_URL, TOKEN, MODEL = "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_MODEL"
# Claude Code's model slots: /model's opus, sonnet and haiku choices, and the model it uses for background work
SLOTS = {"opus": "ANTHROPIC_DEFAULT_OPUS_MODEL", "sonnet": "ANTHROPIC_DEFAULT_SONNET_MODEL",
         "haiku": "ANTHROPIC_DEFAULT_HAIKU_MODEL"}
SMALL_FAST = "ANTHROPIC_SMALL_FAST_MODEL"  # the background model's variable before the slots existed
VARS = (BASE_URL, TOKEN, MODEL, *SLOTS.values(), SMALL_FAST)
RECORD = "claude-gateway.json"


def values(url: str, token: str, model: str, slots: Mapping[str, str | None]) -> dict[str, str]:
    """The env block: every slot not given runs on `model`."""
    out = {BASE_URL: url.rstrip("/"), TOKEN: token, MODEL: model}
    for slot, var in SLOTS.items():
        out[var] = slots.get(slot) or model
    out[SMALL_FAST] = out[SLOTS["haiku"]]
    return out


def _record_path(data_dir: Path) -> Path:
    return data_dir / RECORD


def _load(data_dir: Path) -> dict:
    p = _record_path(data_dir)
    try:
        data = json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}
    except (OSError, ValueError):
        data = {}
    return data if isinstance(data, dict) else {}


def _save(data_dir: Path, data: dict) -> None:
    p = _record_path(data_dir)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.chmod(tmp, 0o600)  # it holds the values written, the token among them
    os.replace(tmp, p)


def install(settings: Path, new: dict[str, str], data_dir: Path) -> None:
    """Write `new` into the settings file's env, remembering what each variable held before (kept from the
    first install when installing again), so uninstall can put it back."""
    data = read_json(settings)
    env = data.get("env")
    if not isinstance(env, dict):
        env = data["env"] = {}
    record = _load(data_dir)
    mine = record.get(str(settings), {})
    for var, value in new.items():
        old = env.get(var)
        before = mine[var]["before"] if var in mine and old == mine[var]["wrote"] else old
        mine[var] = {"wrote": value, "before": before}
        env[var] = value
    existed = settings.exists()
    write_json(settings, data)
    if not existed or TOKEN in new:
        os.chmod(settings, 0o600)
    record[str(settings)] = mine
    _save(data_dir, record)


def uninstall(settings: Path, data_dir: Path) -> tuple[list[str], list[str]]:
    """Remove what install wrote (a variable changed since is left alone), putting back what was there
    before. Returns (removed or restored, left as changed)."""
    record = _load(data_dir)
    mine = record.pop(str(settings), None)
    if not mine:
        return [], []
    data = read_json(settings)
    env = env_ if isinstance(env_ := data.get("env"), dict) else {}
    done, kept = [], []
    for var, what in mine.items():
        if env.get(var) != what.get("wrote"):
            if var in env:
                kept.append(var)
            continue
        if what.get("before") is None:
            del env[var]
        else:
            env[var] = what["before"]
        done.append(var)
    if "env" in data and not env:
        del data["env"]
    write_json(settings, data)
    _save(data_dir, record)
    return done, kept


def current(settings: Path) -> dict[str, str]:
    """The gateway variables set in a settings file (empty when it points Claude Code nowhere)."""
    env = read_json(settings).get("env")
    if not isinstance(env, dict) or BASE_URL not in env:
        return {}
    return {k: str(env[k]) for k in VARS if k in env}
