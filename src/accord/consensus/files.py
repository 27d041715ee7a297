"""Read the files and images a caller names, safely.

A tool's caller is a model or a repository's content as much as a person, so every file actually read — named
directly or found by walking a folder — is resolved (links followed) and checked: never in a system folder,
never one of Accord's own files (config, env file, data, database), inside the allowed roots when they are
set. Only regular files are opened (a FIFO or device would block or never end), without following a link
swapped in after the check, and the opened file is checked again. Reads are bounded by the remaining file
budget, so memory never grows past it, and run off the event loop with a deadline (`read_inputs`), so a slow
file system stalls nobody else. What a folder read leaves out is said in the notes, file by file.
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import itertools
import os
import stat
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .. import tokens
from ..config import config_dir
from ..store.paths import data_dir, database_url, sqlite_file
from .types import InputError

if TYPE_CHECKING:
    from ..config import Config

SYSTEM_DIRS = ("/etc", "/proc", "/sys", "/dev", "/boot", "/root", "/run", "/var/run", "/var/lib", "/usr/sbin",
               "/sbin", "/bin", "/lib", "/lib64", "/private/etc", "/private/var/db", "/System", "/Library/Keychains")
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
               ".webp": "image/webp"}
MAX_IMAGE_BYTES = 10 * 1024 * 1024
SKIP_DIRS = {".git", "node_modules", "__pycache__", ".venv", "venv", ".mypy_cache", ".pytest_cache", "dist", "build"}
READ_SECONDS = 30.0  # for all of one call's files and images; past it the rest is left out
MAX_NOTES = 100  # per call; past it the rest are counted, not listed
CHUNK = 1 << 16
# O_NONBLOCK: opening a FIFO swapped in after the check returns at once instead of waiting for a writer.
# O_NOFOLLOW: a link swapped in for the checked (resolved) path is refused, not followed.
OPEN_FLAGS = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
              | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0))

NOT_REGULAR = "not a regular file (a pipe, socket or device)"
PROTECTED = "one of Accord's own files (config, env file, data or database), never readable"


class Skip(Exception):
    """Why one file is not read; a note for a file found in a folder, an error for a file named directly."""


class OutOfTime(Exception):
    """The call's deadline for reading passed (not an OSError: a file system's own time-out is a Skip)."""


class Budget:
    """What is left of the file budget, in real tokens (accord.tokens), so a Chinese file costs what it
    costs. The one place that turns the configured tokens into how much to read."""

    BYTES_PER_TOKEN = 16  # read at most this many bytes per token of room: a token is rarely longer, and
    #                       the text is cut by tokens afterwards, so this only bounds memory

    def __init__(self, left: int) -> None:
        self.left = left

    def room(self, header: str) -> int:
        """Tokens of file text that still fit after `header`."""
        return self.left - tokens.count(header)

    def read_limit(self, room: int) -> int:
        """The most bytes worth reading for `room` tokens."""
        return max(room, 0) * self.BYTES_PER_TOKEN

    def cut(self, text: str, room: int) -> tuple[str, bool]:
        """`text` within `room` tokens, and whether it was cut."""
        if tokens.fits(text, room):
            return text, False
        return tokens.truncate(text, room), True

    def spend(self, *texts: str) -> None:
        self.left -= sum(tokens.count(t) for t in texts)


class Rules:
    """Where reads may go. `protected` (Accord's own config folder, env file, data folder and database) is
    never readable, whatever `allowed_roots` says; files and folders alike, by path and, for hard links, by
    identity."""

    def __init__(self, allowed_roots: Sequence[str] = (), protected: Sequence[str | os.PathLike] = ()) -> None:
        self.allowed_roots = tuple(allowed_roots)
        self.roots = tuple(_real(r) for r in allowed_roots)
        self.protected = tuple(_real(p) for p in protected)
        self.protected_ids = _identities(self.protected)

    @classmethod
    def from_config(cls, cfg: Config) -> Rules:
        return cls(cfg.mcp.allowed_roots, protected_paths(cfg))

    def refusal(self, real: str) -> str | None:
        """Why the resolved path `real` may not be read, or None."""
        for d in SYSTEM_DIRS:
            if _inside(real, d):
                return f"in the system folder {d}"
        if any(_inside(real, p) for p in self.protected):
            return PROTECTED
        if self.roots and not any(_inside(real, r) for r in self.roots):
            return f"outside the allowed roots ({', '.join(self.allowed_roots)})"
        return None


def protected_paths(cfg: Config) -> list[Path]:
    """Accord's own files, wherever this config put them: the config folder and file, the env file (loaded, or
    where it would be), the data folder and the SQLite database with its journal files."""
    out = [config_dir(), data_dir(cfg.settings)]
    if cfg.path is not None:
        out += [cfg.path, cfg.path.parent / "env"]
    if cfg.env_file is not None:
        out.append(cfg.env_file)
    db = sqlite_file(database_url(cfg.settings))
    if db is not None:
        out += [db] + [Path(f"{db}{end}") for end in ("-wal", "-shm", "-journal")]
    return out


def _real(p: str | os.PathLike) -> str:
    return os.path.realpath(os.path.expanduser(p))


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _identities(paths: Sequence[str]) -> frozenset[tuple[int, int]]:
    """(device, inode) of the protected files and of the files directly in the protected folders."""
    ids: set[tuple[int, int]] = set()
    for p in paths:
        try:
            st = os.stat(p)
            if stat.S_ISDIR(st.st_mode):
                with os.scandir(p) as entries:
                    for e in itertools.islice(entries, 1000):
                        if e.is_file(follow_symlinks=False):
                            s = e.stat(follow_symlinks=False)
                            ids.add((s.st_dev, s.st_ino))
            else:
                ids.add((st.st_dev, st.st_ino))
        except OSError:
            continue
    return frozenset(ids)


def _fd_path(fd: int) -> str | None:
    """Where an open file really is (Linux /proc, macOS F_GETPATH), to check it after opening."""
    try:
        import fcntl

        if hasattr(fcntl, "F_GETPATH"):
            return os.fsdecode(fcntl.fcntl(fd, fcntl.F_GETPATH, bytes(1024)).rstrip(b"\0"))
    except (ImportError, OSError):
        return None
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None


def _check_time(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise OutOfTime


def _open(path: str, rules: Rules) -> tuple[int, os.stat_result]:
    """An fd for the regular file `path` resolves to, checked before and after opening; or Skip."""
    real = os.path.realpath(path)
    why = rules.refusal(real)
    if why:
        raise Skip(f"a link to a file {why}" if real != os.path.abspath(path) else why)
    try:
        if not stat.S_ISREG(os.lstat(real).st_mode):  # before opening: a device is never even opened
            raise Skip(NOT_REGULAR)
        fd = os.open(real, OPEN_FLAGS)
    except FileNotFoundError:
        raise Skip("missing (a broken link?)") from None
    except OSError as e:
        raise Skip(_why(e)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Skip(NOT_REGULAR)
        if (st.st_dev, st.st_ino) in rules.protected_ids:
            raise Skip(PROTECTED)
        where = _fd_path(fd)
        if where is not None and where != real and rules.refusal(where):
            raise Skip("changed while being opened (a folder on its path was swapped)")
        return fd, st
    except BaseException:
        os.close(fd)
        raise


def _read(fd: int, limit: int, deadline: float | None) -> bytes:
    """At most `limit` + 1 bytes, so a caller knows whether there was more without holding it."""
    chunks: list[bytes] = []
    got = 0
    while got <= limit:
        _check_time(deadline)
        chunk = os.read(fd, min(CHUNK, limit + 1 - got))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _text(path: str, room: int, rules: Rules, deadline: float | None) -> tuple[str, int, bool]:
    """(text, size in bytes, trimmed): the file's UTF-8 text, at most `room` characters of it."""
    fd, st = _open(path, rules)
    try:
        data = _read(fd, max(room, 0), deadline)
    except OSError as e:
        raise Skip(_why(e)) from None
    finally:
        os.close(fd)
    if b"\x00" in data[:8192]:
        raise Skip("a binary file")
    trimmed = len(data) > room
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(data[:room], final=not trimmed)
    except UnicodeDecodeError:
        raise Skip("not UTF-8 text") from None
    return text, max(st.st_size, len(data)), trimmed


def _why(e: OSError) -> str:
    return (e.strerror or e.__class__.__name__).lower()


class _Notes:
    """The notes, at most MAX_NOTES listed; the rest counted in one last note."""

    def __init__(self) -> None:
        self.listed: list[str] = []
        self.more = 0

    def add(self, note: str) -> None:
        if len(self.listed) < MAX_NOTES:
            self.listed.append(note)
        else:
            self.more += 1

    def done(self) -> list[str]:
        more = [f"and {self.more} more files skipped or left out (not listed)"] if self.more else []
        return self.listed + more


def check_path(raw: str, rules: Rules | None = None) -> Path:
    """The resolved path a caller named, or InputError saying why it cannot be read."""
    rules = rules or Rules()
    if not raw or not os.path.isabs(raw):
        raise InputError(f"file paths must be absolute (start with /): got {raw!r}")
    given = os.path.normpath(raw)
    resolved = os.path.realpath(raw)
    for d in SYSTEM_DIRS:
        if _inside(given, d):
            raise InputError(f"refusing to read {raw}: it is in the system folder {d}")
    why = rules.refusal(resolved)
    if why:
        raise InputError(f"refusing to read {raw}: it is {why}")
    if not os.path.exists(resolved):
        raise InputError(f"no such file: {raw}")
    return Path(resolved)


def _walk(top: Path, rules: Rules, notes: _Notes, deadline: float | None) -> Iterator[str]:
    """The files under `top`, in order; hidden and tool folders left out quietly, links to folders and
    folders that may not be read with a note."""
    def unreadable(e: OSError) -> None:
        notes.add(f"skipped the folder {e.filename}: {_why(e)}")

    for where, dirs, files in os.walk(top, onerror=unreadable):  # never follows links to folders
        _check_time(deadline)
        keep = []
        for d in sorted(dirs):
            if d in SKIP_DIRS or d.startswith("."):
                continue
            p = os.path.join(where, d)
            if os.path.islink(p):
                notes.add(f"skipped {p}: a link to a folder (links to folders are not followed)")
                continue
            why = rules.refusal(os.path.realpath(p))
            if why:
                notes.add(f"skipped the folder {p}: {why}")
                continue
            keep.append(d)
        dirs[:] = keep
        yield from (os.path.join(where, f) for f in sorted(files) if not f.startswith("."))


def read_files(paths: list[str], budget_tokens: int, rules: Rules | None = None, *,
               deadline: float | None = None) -> tuple[str, list[str]]:
    """The files' text, each under a header, within `budget_tokens`; and notes on what was trimmed or skipped,
    and why. A file named directly that cannot be read is an InputError; one found in a folder, a note.
    Blocking: call `read_inputs` from async code."""
    rules = rules or Rules()
    budget = Budget(budget_tokens)
    parts: list[str] = []
    notes = _Notes()
    try:
        for raw in paths:
            root = check_path(raw, rules)
            direct = not root.is_dir()
            for f in [str(root)] if direct else _walk(root, rules, notes, deadline):
                _check_time(deadline)
                shown = raw if direct else f
                header = f"--- FILE: {shown} ---\n"
                room = budget.room(header)
                if room <= 50:
                    notes.add(f"left out {shown}: the file budget ({budget_tokens} tokens) is used up")
                    continue
                try:
                    text, size, trimmed = _text(f, budget.read_limit(room), rules, deadline)
                    text, cut = budget.cut(text, room)
                    trimmed = trimmed or cut
                except Skip as e:
                    if direct:
                        text_only = "binary" in str(e) or "UTF-8" in str(e)
                        hint = "; give text files (images go in `images`)" if text_only else ""
                        raise InputError(f"cannot read {raw}: {e}{hint}") from None
                    notes.add(f"skipped {shown}: {e}")
                    continue
                if trimmed:
                    notes.add(f"trimmed {shown} to {len(text)} characters of {size} bytes: too large for the file "
                              f"budget ({budget_tokens} tokens)")
                    text += "\n[... trimmed]"
                parts.append(header + text)
                budget.spend(header, text)
    except OutOfTime:
        notes.add("left out the rest of the files: reading them ran past the time limit")
    return "\n\n".join(parts), notes.done()


def image_urls(images: list[str], rules: Rules | None = None, *, deadline: float | None = None) -> list[str]:
    """Images as URLs a vision model takes: data: and http(s) URLs as given, absolute paths read (under the same
    rules as files, at most MAX_IMAGE_BYTES) and encoded. Blocking: call `read_inputs` from async code."""
    rules = rules or Rules()
    out = []
    for raw in images:
        if raw.startswith(("data:image/", "http://", "https://")):
            out.append(raw)
            continue
        path = check_path(raw, rules)
        mime = IMAGE_TYPES.get(path.suffix.lower())
        if mime is None or path.is_dir():
            raise InputError(f"{raw} is not an image (png, jpg, gif, webp)")
        try:
            fd, st = _open(str(path), rules)
            try:
                if st.st_size > MAX_IMAGE_BYTES:
                    raise Skip(f"too large: over {MAX_IMAGE_BYTES // 1024 // 1024} MB")
                data = _read(fd, MAX_IMAGE_BYTES, deadline)
            finally:
                os.close(fd)
        except Skip as e:
            raise InputError(f"cannot read the image {raw}: {e}") from None
        except OSError as e:
            raise InputError(f"cannot read the image {raw}: {_why(e)}") from None
        except OutOfTime:
            raise InputError(f"reading the image {raw} ran past the time limit") from None
        if len(data) > MAX_IMAGE_BYTES:
            raise InputError(f"cannot read the image {raw}: too large: over {MAX_IMAGE_BYTES // 1024 // 1024} MB")
        out.append(f"data:{mime};base64,{base64.b64encode(data).decode()}")
    return out


async def read_inputs(files: list[str] | None, images: list[str] | None, budget_tokens: int, rules: Rules,
                      seconds: float = READ_SECONDS) -> tuple[str, list[str], list[str]]:
    """(file text, image URLs, notes), read in a worker thread so the event loop (every other request) never
    waits on a file; past `seconds` what is left is left out, and a read stuck in the file system itself is
    abandoned a little later with an error."""
    deadline = time.monotonic() + seconds

    def work() -> tuple[str, list[str], list[str]]:
        text, notes = read_files(files, budget_tokens, rules, deadline=deadline) if files else ("", [])
        return text, image_urls(images or [], rules, deadline=deadline), notes

    if not files and not images:
        return "", [], []
    try:
        return await asyncio.wait_for(asyncio.to_thread(work), seconds + 5)
    except asyncio.TimeoutError:
        raise InputError(f"reading the files took longer than {seconds:g} s (a stuck file system?); name fewer "
                         "or smaller files") from None
