"""Real git repositories for the review tests, made in a test's tmp_path."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from fakes import Reply

IDENTITY = ("-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false",
            "-c", "init.defaultBranch=main")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *IDENTITY, *args], cwd=repo, check=True, capture_output=True, text=True,
                          timeout=30).stdout


def make_repo(path: Path, files: dict[str, str]) -> Path:
    """A repository with `files` committed once."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q")
    write(path, files)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "first")
    return path


def write(repo: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        p = repo / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def finding(severity: str, file: str, start: int, end: int, title: str, why: str = "", fix: str = "") -> dict:
    return {"severity": severity, "file": file, "line_start": start, "line_end": end, "title": title, "why": why,
            "fix": fix}


def findings_reply(items: list[dict], prose: str = "Here is my review.", **extra) -> Reply:
    """A model's answer as models write it: prose around a fenced JSON block."""
    return Reply(content=f"{prose}\n```json\n{json.dumps({'findings': items, **extra})}\n```\n")
