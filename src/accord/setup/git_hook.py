"""The git pre-commit hook `accord review --install-hook` writes: a few lines that run `accord review` on the
staged change. Installing never loses a hook someone else wrote (refused without `force`, and then kept as a
backup); uninstalling removes only Accord's own hook (known by its marker line) and puts the backup back."""

from __future__ import annotations

import os
import shlex
import stat
from pathlib import Path

from ..consensus.diff import git

MARKER = "# accord-review-hook"
BACKUP = ".accord-backup"


class HookError(Exception):
    """A hook Accord may not touch, or no repository: the message says what to do."""


def hook_path(repo: Path) -> Path:
    """Where git looks for the pre-commit hook (core.hooksPath honoured; worktrees too)."""
    where = git(repo, "rev-parse", "--git-path", "hooks/pre-commit").strip()
    return (repo / where).resolve() if not os.path.isabs(where) else Path(where)


def script(command: list[str]) -> str:
    return ("#!/bin/sh\n"
            f"{MARKER}: written by `accord review --install-hook`; remove it with `accord review --uninstall-hook`\n"
            "# skip once with `git commit --no-verify`\n"
            f"exec {shlex.join(command)}\n")


def ours(path: Path) -> bool:
    try:
        return MARKER in path.read_text(errors="replace")
    except OSError:
        return False


def install(repo: Path, command: list[str], force: bool = False) -> str:
    """Write the hook; what was done, in words."""
    path = hook_path(repo)
    said = f"installed the pre-commit hook at {path}"
    if path.exists() and not ours(path):
        if not force:
            raise HookError(f"{path} is a pre-commit hook Accord did not write: left as it is. Use --force to "
                            f"replace it (it is kept as {path.name}{BACKUP})")
        backup = path.with_name(path.name + BACKUP)
        if backup.exists():
            raise HookError(f"{backup} already exists: move it away first, so no hook is lost")
        path.rename(backup)
        said += f"; the previous hook is kept as {backup}"
    elif path.exists():
        said = f"updated the pre-commit hook at {path}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(script(command))
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return said


def uninstall(repo: Path) -> str:
    path = hook_path(repo)
    if not path.exists():
        return f"no pre-commit hook at {path}: nothing to remove"
    if not ours(path):
        raise HookError(f"{path} is not Accord's hook: left as it is")
    path.unlink()
    backup = path.with_name(path.name + BACKUP)
    if backup.exists():
        backup.rename(path)
        return f"removed Accord's pre-commit hook and put the previous one back at {path}"
    return f"removed Accord's pre-commit hook at {path}"
