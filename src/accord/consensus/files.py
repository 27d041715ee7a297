"""Read the files and images a caller names, safely: absolute paths only, within the allowed roots when
configured, never into system folders, within a token budget, with clear errors for missing or binary files."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from .types import InputError

SYSTEM_DIRS = ("/etc", "/proc", "/sys", "/dev", "/boot", "/root", "/run", "/var/run", "/var/lib", "/usr/sbin",
               "/sbin", "/bin", "/lib", "/lib64", "/private/etc", "/private/var/db", "/System", "/Library/Keychains")
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
               ".webp": "image/webp"}
MAX_IMAGE_BYTES = 10 * 1024 * 1024
SKIP_DIRS = {".git", "node_modules", "__pycache__", ".venv", "venv", ".mypy_cache", ".pytest_cache", "dist", "build"}


def _inside(path: Path, root: str) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def check_path(raw: str, allowed_roots: list[str] | tuple[str, ...] = ()) -> Path:
    """The resolved path, or InputError saying why it cannot be read."""
    if not raw or not os.path.isabs(raw):
        raise InputError(f"file paths must be absolute (start with /): got {raw!r}")
    given = Path(raw)
    resolved = given.resolve()
    for p in (given, resolved):
        for d in SYSTEM_DIRS:
            if _inside(p, d):
                raise InputError(f"refusing to read {raw}: it is in the system folder {d}")
    if allowed_roots and not any(_inside(resolved, str(Path(r).expanduser().resolve())) for r in allowed_roots):
        raise InputError(f"refusing to read {raw}: it is outside the allowed roots ({', '.join(allowed_roots)})")
    if not resolved.exists():
        raise InputError(f"no such file: {raw}")
    return resolved


def _text(path: Path, raw: str) -> str:
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise InputError(f"{raw} is a binary file; give text files (images go in `images`)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{raw} is not UTF-8 text; give text files (images go in `images`)") from None


def _expand(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    out = []
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
        out += [Path(root) / f for f in sorted(files) if not f.startswith(".")]
    return out


def read_files(paths: list[str], budget_tokens: int, allowed_roots: list[str] | tuple[str, ...] = ()
               ) -> tuple[str, list[str]]:
    """The files' text, each under a header, within `budget_tokens` (4 characters a token); and notes on what
    was trimmed or skipped."""
    budget = budget_tokens * 4
    parts: list[str] = []
    notes: list[str] = []
    for raw in paths:
        root = check_path(raw, allowed_roots)
        for f in _expand(root):
            shown = str(f) if f != root else raw
            try:
                text = _text(f, shown)
            except InputError:
                if f == root:
                    raise
                notes.append(f"skipped {shown}: not text")
                continue
            header = f"--- FILE: {shown} ---\n"
            room = budget - len(header)
            if room <= 200:
                notes.append(f"left out {shown}: the file budget ({budget_tokens} tokens) is used up")
                continue
            if len(text) > room:
                notes.append(f"trimmed {shown} to {room} of {len(text)} characters (file budget)")
                text = text[:room] + "\n[... trimmed]"
            parts.append(header + text)
            budget -= len(header) + len(text)
    return "\n\n".join(parts), notes


def image_urls(images: list[str], allowed_roots: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Images as URLs a vision model takes: data: and http(s) URLs as given, absolute paths read and encoded."""
    out = []
    for raw in images:
        if raw.startswith(("data:image/", "http://", "https://")):
            out.append(raw)
            continue
        path = check_path(raw, allowed_roots)
        mime = IMAGE_TYPES.get(path.suffix.lower())
        if mime is None or not path.is_file():
            raise InputError(f"{raw} is not an image (png, jpg, gif, webp)")
        if path.stat().st_size > MAX_IMAGE_BYTES:
            raise InputError(f"{raw} is larger than {MAX_IMAGE_BYTES // 1024 // 1024} MB")
        out.append(f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}")
    return out
