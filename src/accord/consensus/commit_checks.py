"""The checks a pre-commit review can make without a model: in the added lines, key-like strings, debug
leftovers and half-done work; across the change, code changed with no test touched. Deterministic, so they
hold even when every model is down. A secret found is never shown whole: only its first characters.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from ..redaction import MASK, SECRET_KEYS
from .diff import FileDiff, added_lines
from .findings import Finding

BY = "accord"  # the `models` entry of a finding made here

SECRETS = (
    ("an AWS access key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a private key", re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----")),
    ("a GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})\b")),
    ("a Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("an API key (sk-...)", re.compile(r"\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}\b")),
    # `api_key = "..."`, `password: '...'`: the names redaction.py treats as secret, given a literal value
    ("a secret assigned in code", re.compile(
        r"(?i)\b[\w-]*(?:" + "|".join(re.escape(k) for k in SECRET_KEYS) + r")[\w-]*[\"']?\s*[:=]\s*[\"']"
        r"([^\"'\s$<>{}]{8,})[\"']")),
)
DEBUG = (
    re.compile(r"^\s*print\("),
    re.compile(r"\bconsole\.(?:log|debug)\("),
    re.compile(r"\b(?:pdb|ipdb|pudb)\.set_trace\(|^\s*breakpoint\(\)|\bimport i?pdb\b"),
    re.compile(r"^\s*debugger;?\s*$"),
    re.compile(r"\bbinding\.pry\b|\bdbg!\("),
    re.compile(r"\bvar_dump\(|\bdd\("),
)
HALF_DONE = re.compile(r"\b(?:TODO|FIXME|XXX|HACK)\b")
CODE = {".py", ".js", ".ts", ".tsx", ".jsx", ".go", ".rs", ".java", ".kt", ".rb", ".php", ".c", ".cc", ".cpp", ".h",
        ".hpp", ".cs", ".swift", ".scala", ".m", ".mm", ".sh"}
PLACEHOLDER = re.compile(r"(?i)^(?:x+|\*+|changeme|example\w*|your[\w-]*|dummy\w*|test\w*|placeholder\w*|secret)$")


def _is_test(path: str) -> bool:
    p = PurePosixPath(path)
    return any(part in ("test", "tests", "spec", "specs", "__tests__") for part in p.parts[:-1]) or bool(
        re.match(r"^(?:test_.*|.*_test\.\w+|.*\.(?:test|spec)\.\w+|conftest\.py)$", p.name))


def _shown(secret: str) -> str:
    return secret[:4] + MASK


def check(files: list[FileDiff]) -> list[Finding]:
    """Findings from the added lines of `files`, and one for code changed without a test."""
    out: list[Finding] = []
    for f in files:
        test_file = _is_test(f.path)
        for line, text in added_lines(f):
            for what, pattern in SECRETS:
                m = pattern.search(text)
                if m is None:
                    continue
                value = m.group(1) if m.groups() else m.group(0)
                if m.groups() and PLACEHOLDER.match(value):
                    continue
                out.append(Finding("critical", f"possible secret: {what}", f.path, line, line,
                                   f"an added line holds what looks like {what} ({_shown(value)}); committed, it "
                                   "stays in the history", "read it from the environment or a secret store, and "
                                   "rotate it if it was real", [BY], {BY: "critical"}))
                break
            if not test_file and any(p.search(text) for p in DEBUG):
                out.append(Finding("medium", "debug leftover", f.path, line, line,
                                   f"an added line looks like debugging left in: {text.strip()[:80]}",
                                   "remove it, or use the logger", [BY], {BY: "medium"}))
            if HALF_DONE.search(text):
                out.append(Finding("low", "unfinished work marked in the change", f.path, line, line,
                                   f"an added line says the work is not done: {text.strip()[:80]}",
                                   "finish it, or track it in an issue", [BY], {BY: "low"}))
    code = [f.path for f in files if PurePosixPath(f.path).suffix in CODE and not _is_test(f.path)]
    if code and not any(_is_test(f.path) for f in files):
        out.append(Finding("low", "code changed but no test touched", "", None, None,
                           f"{len(code)} code file(s) changed ({', '.join(code[:5])}) and no test file did",
                           "add or update a test that covers the change", [BY], {BY: "low"}))
    return out
