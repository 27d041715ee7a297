"""A git change as text, safely, and cut into pieces a model can read.

The repository path comes from a tool's caller (a model, as much as a person), so it is checked like any file
(`files.check_path`: no system folder, none of Accord's own files, inside `allowed_roots`), and so is the
repository's top folder. Git runs as a subprocess with a timeout and without anything that could run code
the repository chooses: no pager, no external diff driver, no textconv filter, no fsmonitor; `git diff` runs
no hooks. A file in the change that the rules forbid (Accord's own config, say) is left out, with a note.

Splitting never cuts silently: a change is split by file, a file too large for one piece by hunk, a hunk too
large by lines; every piece is within the budget, and the caller decides what it cannot send and says so.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .. import tokens
from .files import Rules, check_path
from .types import InputError

GIT_SECONDS = 30.0
_REV = re.compile(r"^[A-Za-z0-9_./~^@{}+-]+$")
SAFE = ("-c", "core.pager=cat", "-c", "core.fsmonitor=false", "-c", "diff.external=", "-c", "color.ui=false")
DIFF_FLAGS = ("--no-ext-diff", "--no-color", "--no-textconv", "--unified=3")


@dataclass
class FileDiff:
    """One file's part of a change: its path (relative to the repository) and its diff text."""

    path: str
    text: str
    binary: bool = False


@dataclass
class Change:
    """A change read from a repository: its files, what it was (`staged`, `a...b`, ...) and notes."""

    repo: Path
    spec: str
    files: list[FileDiff] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def git(repo: Path | str, *args: str, timeout: float = GIT_SECONDS) -> str:
    """Git's standard output; InputError with git's own words when it fails or takes too long."""
    env = {k: v for k, v in os.environ.items() if k not in ("GIT_EXTERNAL_DIFF", "GIT_PAGER", "PAGER")}
    env.update(GIT_PAGER="cat", PAGER="cat", GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0", LC_ALL="C")
    try:
        out = subprocess.run(["git", *SAFE, *args], cwd=repo, capture_output=True, timeout=timeout, env=env,
                             stdin=subprocess.DEVNULL, check=False)
    except FileNotFoundError:
        raise InputError("git is not installed (or not on PATH): install git to review a change") from None
    except subprocess.TimeoutExpired:
        raise InputError(f"git {args[0]} took longer than {timeout:g} s in {repo}") from None
    if out.returncode != 0:
        why = out.stderr.decode("utf-8", "replace").strip().splitlines()
        raise InputError(f"git {args[0]} failed in {repo}: {why[-1] if why else f'exit {out.returncode}'}")
    return out.stdout.decode("utf-8", "replace")


def repository(path: str, rules: Rules) -> Path:
    """The top folder of the repository at `path`, checked against the rules like any file."""
    where = check_path(path, rules)
    if not where.is_dir():
        where = where.parent
    try:
        top = git(where, "rev-parse", "--show-toplevel").strip()
    except InputError:
        raise InputError(f"{path} is not in a git repository: give `path` inside one, or review `files`") from None
    return check_path(top, rules)


def diff_args(spec: str) -> list[str]:
    """`staged`, `unstaged`, `<rev>` (the working tree against it), `<a>...<b>` or `<a>..<b>` as git diff
    arguments; a spec that could be read as an option is refused."""
    s = spec.strip()
    if s in ("staged", "cached"):
        return ["--cached"]
    if s in ("unstaged", "working"):
        return []
    if not s or s.startswith("-") or not _REV.match(s):
        raise InputError(f"diff {spec!r}: use staged, unstaged, a revision (HEAD~1) or a range (main...HEAD)")
    return [s]


def read_change(repo: Path, spec: str, rules: Rules) -> Change:
    """The change `spec` in `repo`, split by file, leaving out (with a note) files the rules forbid."""
    args = diff_args(spec)
    text = git(repo, "diff", *DIFF_FLAGS, *args, "--")
    change = Change(repo, spec.strip())
    for f in split_files(text):
        why = rules.refusal(os.path.realpath(repo / f.path))
        if why:
            change.notes.append(f"left out {f.path}: it is {why}")
            continue
        if f.binary:
            change.notes.append(f"left out {f.path}: a binary file")
            continue
        change.files.append(f)
    return change


def pending(repo: Path) -> str:
    """`staged` when anything is staged, else `unstaged`: what `precommit` reviews."""
    staged = git(repo, "diff", "--cached", "--name-only", "--no-ext-diff", "--").strip()
    return "staged" if staged else "unstaged"


_HEADER = re.compile(r"^diff --git (?:\"?a/(.+?)\"?) (?:\"?b/(.+?)\"?)$")


def split_files(text: str) -> list[FileDiff]:
    """A unified diff cut at each `diff --git` line."""
    out: list[FileDiff] = []
    current: list[str] = []
    path = ""

    def close() -> None:
        if current:
            body = "".join(current)
            binary = "\nBinary files " in body or "\nGIT binary patch" in body
            out.append(FileDiff(path, body, binary))

    in_hunk = False
    for line in text.splitlines(keepends=True):
        m = _HEADER.match(line.rstrip("\n"))
        if m:
            close()
            current, path, in_hunk = [line], m.group(2), False
        elif current:
            in_hunk = in_hunk or line.startswith("@@")
            if not in_hunk and line.startswith("+++ b/"):  # exact, where the header line is ambiguous
                path = line[6:].rstrip("\n")
            current.append(line)
    close()
    return out


def added_lines(f: FileDiff) -> list[tuple[int, str]]:
    """(line number in the new file, text) of every added line."""
    out, line = [], 0
    for raw in f.text.splitlines():
        if raw.startswith("@@"):
            m = re.match(r"@@ -\S+ \+(\d+)", raw)
            line = int(m.group(1)) if m else 0
        elif raw.startswith("+") and not raw.startswith("+++"):
            out.append((line, raw[1:]))
            line += 1
        elif not raw.startswith("-"):
            line += 1
    return out


# ---------------------------------------------------------------------------------------------- splitting
@dataclass
class Piece:
    """What one model call reads: whole files' diffs, or one part of one large file's."""

    paths: list[str]
    text: str
    part: str = ""  # "2/3" when it is one part of a file cut in several


def pieces(files: list[FileDiff], budget: int) -> list[Piece]:
    """The files packed into pieces of at most `budget` tokens, in order; a file over the budget cut by hunk
    (a hunk over it, by lines), each part labelled. Nothing is dropped."""
    out: list[Piece] = []
    paths: list[str] = []
    texts: list[str] = []
    used = 0

    def flush() -> None:
        nonlocal paths, texts, used
        if texts:
            out.append(Piece(paths, "".join(texts)))
        paths, texts, used = [], [], 0

    for f in files:
        size = tokens.count(f.text)
        if size > budget:
            flush()
            parts = _cut(f.text, budget)
            out += [Piece([f.path], p, f"{i}/{len(parts)}") for i, p in enumerate(parts, start=1)]
            continue
        if used + size > budget:
            flush()
        paths.append(f.path)
        texts.append(f.text)
        used += size
    flush()
    return out


def _cut(text: str, budget: int) -> list[str]:
    """`text` in parts of at most `budget` tokens: at hunk starts where possible, else at line ends, else
    anywhere (one enormous line)."""
    head, _, rest = text.partition("\n@@")
    units = [head + "\n"] + ["@@" + h for h in rest.split("\n@@")] if rest else text.splitlines(keepends=True)
    if rest:
        units = [u if u.endswith("\n") else u + "\n" for u in units]
    small: list[str] = []
    for u in units:
        if tokens.fits(u, budget):
            small.append(u)
            continue
        for line in u.splitlines(keepends=True):
            while not tokens.fits(line, budget):
                keep = tokens.truncate(line, budget) or line[:1]
                small.append(keep)
                line = line[len(keep):]
            small.append(line)
    parts: list[str] = []
    cur, used = "", 0
    for u in small:
        n = tokens.count(u)
        if cur and used + n > budget:
            parts.append(cur)
            cur, used = "", 0
        cur += u
        used += n
    if cur:
        parts.append(cur)
    return parts
