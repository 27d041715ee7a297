"""Review findings: read from each model's answer (leniently: models wrap JSON in prose and fences, and
name fields their own way), merged across models (same file, overlapping lines, like titles: the same
finding), and judged under a stated policy. Pure.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from . import cluster

SEVERITIES = ("critical", "high", "medium", "low")
RANK = {s: i for i, s in enumerate(SEVERITIES)}
_SYNONYMS = {"blocker": "critical", "severe": "critical", "error": "high", "major": "high", "important": "high",
             "moderate": "medium", "warning": "medium", "minor": "low", "info": "low", "nit": "low",
             "trivial": "low", "style": "low", "suggestion": "low"}
TITLE_THRESHOLD = 0.3  # lexical cosine of title (+ why) words at which two findings in one place are one
LINE_SLACK = 3  # lines apart that still count as the same place (models cite a hunk's lines loosely)
DEFAULT_POLICY = "fail on any critical finding, or a high one found by at least 2 models"


@dataclass
class Finding:
    severity: str
    title: str
    file: str = ""
    start: int | None = None
    end: int | None = None
    why: str = ""
    fix: str = ""
    models: list[str] = field(default_factory=list)  # who found it (Accord's own checks: "accord")
    severities: dict[str, str] = field(default_factory=dict)  # what each of them called it

    @property
    def where(self) -> str:
        if not self.file:
            return "(general)"
        if self.start is None:
            return self.file
        return f"{self.file}:{self.start}" + (f"-{self.end}" if self.end and self.end != self.start else "")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "found_by": len(self.models)}


# ------------------------------------------------------------------------------------------------ reading
def parse(text: str) -> tuple[list[Finding], dict[str, Any], str | None]:
    """(findings, the other top-level fields, why unreadable or None) from one model's answer."""
    data = first_json(text)
    if data is None:
        if re.search(r"\bno (?:issues|findings|problems)\b", text, re.I) and len(text) < 400:
            return [], {}, None
        return [], {}, "no JSON findings in the answer"
    extra: dict[str, Any] = {}
    if isinstance(data, dict):
        items = next((data[k] for k in ("findings", "issues", "problems", "comments") if isinstance(data.get(k), list)),
                     None)
        extra = {k: v for k, v in data.items() if k not in ("findings", "issues", "problems", "comments")}
        if items is None:
            items = [data] if "title" in data or "issue" in data else []
    elif isinstance(data, list):
        items = data
    else:
        return [], {}, "the JSON is neither a list of findings nor an object with `findings`"
    out = [f for f in (_finding(x) for x in items if isinstance(x, dict)) if f is not None]
    if items and not out:
        return [], extra, "findings without a title or description"
    return out, extra, None


def first_json(text: str) -> Any:
    """The first JSON value in `text`: a fenced block, else the outermost braces or brackets."""
    for block in re.findall(r"```(?:json)?\s*\n(.*?)```", text, re.S):
        try:
            return json.loads(block)
        except ValueError:
            continue
    for opener, closer in (("{", "}"), ("[", "]")):
        start, end = text.find(opener), text.rfind(closer)
        if 0 <= start < end:
            try:
                return json.loads(text[start:end + 1])
            except ValueError:
                continue
    return None


def severity(raw: Any) -> str:
    s = str(raw or "").strip().lower()
    s = _SYNONYMS.get(s, s)
    return s if s in RANK else "medium"


def _int(v: Any) -> int | None:
    try:
        n = int(str(v).strip().lstrip("L"))
    except (TypeError, ValueError):
        return None
    return n if n > 0 else None


def _lines(x: dict[str, Any]) -> tuple[int | None, int | None]:
    start = _int(x.get("line_start") or x.get("start_line") or x.get("start"))
    end = _int(x.get("line_end") or x.get("end_line") or x.get("end"))
    raw = x.get("lines", x.get("line"))
    if isinstance(raw, list) and raw:
        start, end = start or _int(raw[0]), end or _int(raw[-1])
    elif isinstance(raw, str) and re.match(r"^\s*L?\d+\s*[-–:]\s*L?\d+\s*$", raw):
        a, b = re.split(r"[-–:]", raw.replace("L", ""))
        start, end = start or _int(a), end or _int(b)
    elif raw is not None:
        start = start or _int(raw)
    if start and end and end < start:
        start, end = end, start
    return start, end or start


def _finding(x: dict[str, Any]) -> Finding | None:
    title = str(x.get("title") or x.get("issue") or x.get("summary") or x.get("description") or "").strip()
    why = str(x.get("why") or x.get("description") or x.get("explanation") or x.get("details") or "").strip()
    if not title and not why:
        return None
    start, end = _lines(x)
    file = str(x.get("file") or x.get("path") or x.get("filename") or "").strip().removeprefix("b/")
    return Finding(severity(x.get("severity") or x.get("priority") or x.get("level")), title or why[:80],
                   file.removeprefix("./"), start, end, why if why != title else "",
                   str(x.get("fix") or x.get("suggested_fix") or x.get("suggestion") or "").strip())


# ------------------------------------------------------------------------------------------------ merging
def _same_place(a: Finding, b: Finding) -> bool:
    if _norm(a.file) != _norm(b.file):
        return False
    if a.start is None or b.start is None:
        return True
    return a.start <= (b.end or b.start) + LINE_SLACK and b.start <= (a.end or a.start) + LINE_SLACK


def _norm(path: str) -> str:
    return path.strip().lower().lstrip("/")


def _similar(a: Finding, b: Finding) -> bool:
    ta, tb = cluster.terms(a.title), cluster.terms(b.title)
    if cluster.cosine(ta, tb) >= TITLE_THRESHOLD:
        return True
    return cluster.cosine(ta + cluster.terms(a.why), tb + cluster.terms(b.why)) >= TITLE_THRESHOLD


def merge(found: dict[str, list[Finding]]) -> list[Finding]:
    """One finding per place and meaning, with every model that found it; its severity the highest any of
    them gave. Sorted by severity, then by how many found it, then by place."""
    merged: list[Finding] = []
    for who, items in found.items():
        for f in items:
            same = next((m for m in merged if _same_place(m, f) and _similar(m, f)), None)
            if same is None:
                same = Finding(f.severity, f.title, f.file, f.start, f.end, f.why, f.fix)
                merged.append(same)
            elif RANK[f.severity] < RANK[same.severity]:
                same.severity = f.severity
            if who not in same.models:
                same.models.append(who)
                same.severities[who] = f.severity
            if f.start is not None:
                same.start = min(same.start or f.start, f.start)
                same.end = max(same.end or f.end or f.start, f.end or f.start)
            same.fix = same.fix or f.fix
            same.why = same.why or f.why
    return sorted(merged, key=lambda m: (RANK[m.severity], -len(m.models), m.file, m.start or 0))


# ------------------------------------------------------------------------------------------------ verdict
def policy(fail_on: str | None) -> str:
    if fail_on is None:
        return DEFAULT_POLICY
    if fail_on not in RANK:
        raise ValueError(fail_on)
    return f"fail on any finding of severity {fail_on} or worse"


def failing(findings: list[Finding], fail_on: str | None) -> list[Finding]:
    """The findings that fail the change under the policy."""
    if fail_on is None:
        return [f for f in findings if f.severity == "critical" or (f.severity == "high" and len(f.models) >= 2)]
    return [f for f in findings if RANK[f.severity] <= RANK[fail_on]]


def verdict(findings: list[Finding], fail_on: str | None, complete: bool) -> str:
    """`fail` when the policy says so; else `pass` when every piece was read by at least one model, else
    `unclear` (nobody could say)."""
    if failing(findings, fail_on):
        return "fail"
    return "pass" if complete else "unclear"
