"""Where the setup Accord replaces keeps its files, for `accord import` with no arguments.

LiteLLM's proxy reads the config given with `--config` (its docs run `litellm --config config.yaml` in the
folder that holds it, and load `.env` from there). PAL reads `.env` and `conf/custom_models.json` from the
folder it runs in (its clone), or the `env` of its Claude Code entry (a uvx install: `.mcp.json` or
`~/.claude.json`, per its README). Each candidate is checked by its content, as `accord import` does.
"""

from __future__ import annotations

from pathlib import Path

from .importer import ImportProblem, detect


def _litellm_configs(home: Path, cwd: Path) -> list[Path]:
    return [cwd / "config.yaml", cwd / "litellm_config.yaml", cwd / "litellm" / "config.yaml",
            home / ".config" / "litellm" / "config.yaml", home / "litellm" / "config.yaml",
            home / ".litellm" / "config.yaml"]


def _claude_files(home: Path, cwd: Path) -> list[Path]:
    return [home / ".claude.json", cwd / ".mcp.json", home / ".claude" / "settings.json"]


def _pal_dirs(home: Path) -> list[Path]:
    return [home / ".pal", home / ".zen", home / "pal-mcp-server", home / "zen-mcp-server"]


def _kind(path: Path) -> str | None:
    try:
        return detect(str(path), path.read_text(encoding="utf-8"))[0] if path.is_file() else None
    except (ImportProblem, OSError, UnicodeDecodeError):
        return None


def find(home: Path, cwd: Path) -> list[tuple[Path, str]]:
    """(file, what it is) for each file of the replaced setup found here."""
    found: list[tuple[Path, str]] = []
    seen: set[Path] = set()

    def add(path: Path, what: str) -> None:
        if path.resolve() not in seen:
            seen.add(path.resolve())
            found.append((path, what))

    for p in _litellm_configs(home, cwd):
        if _kind(p) == "litellm":
            add(p, "LiteLLM's config")
            if _kind(p.parent / ".env") in ("litellm-env", "env", "pal-env"):
                add(p.parent / ".env", "LiteLLM's env file, beside its config")
            break
    for p in _claude_files(home, cwd):
        if _kind(p) == "claude-mcp":
            add(p, "Claude Code's MCP config, with PAL's entry")
    for d in _pal_dirs(home):
        env = d / ".env"
        if _kind(env) in ("pal-env", "env"):
            add(env, "PAL's .env")
        for models in (d / "custom_models.json", d / "conf" / "custom_models.json"):
            if _kind(models) == "pal-models":
                add(models, "PAL's custom models")
    return found


def searched(home: Path, cwd: Path) -> list[Path]:
    """Every place looked at (for the message when nothing is found)."""
    return [*_litellm_configs(home, cwd), *_claude_files(home, cwd), *(d / ".env" for d in _pal_dirs(home))]
