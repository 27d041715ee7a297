"""Pull a comparable answer (a number, a choice, yes/no, a JSON field) out of a model's free text. Pure."""

from __future__ import annotations

import json
import re

MARKER = re.compile(r"(?im)\b(?:final\s+)?answer\s*[*_]*\s*[:：]\s*(.+?)\s*$")
NUMBER = re.compile(r"[-+]?\$?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?%?")
CHOICE_PATTERNS = (
    re.compile(r"(?i)\banswer\s+is\s*[:(\[]?\s*\(?([A-J])\b"),
    re.compile(r"^\s*\(?([A-J])(?:[).:\]]|\s*$)"),
    re.compile(r"\(([A-J])\)"),
)
BARE_CHOICE = re.compile(r"\b([A-HJ])\b")  # a lone capital letter, not the pronoun I
YES = {"yes", "y", "true", "correct", "agree", "approve"}
NO = {"no", "n", "false", "incorrect", "disagree", "reject"}
FORMATS = ("number", "choice", "yesno")


def marked(text: str) -> str | None:
    """The value after the last `ANSWER:` (or `FINAL ANSWER:`) line, if any."""
    found = MARKER.findall(text or "")
    return found[-1].strip().strip("*_`").strip() if found else None


def number(text: str) -> str | None:
    found = NUMBER.findall(text or "")
    if not found:
        return None
    raw = found[-1].replace(",", "").replace("$", "").rstrip("%")
    try:
        value = float(raw)
    except ValueError:
        return None
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def choice(text: str) -> str | None:
    for pat in CHOICE_PATTERNS:
        m = pat.search(text or "")
        if m:
            return m.group(1).upper()
    bare = BARE_CHOICE.findall(text or "")
    return bare[-1] if bare else None


def yesno(text: str) -> str | None:
    for word in re.findall(r"[A-Za-z]+", (text or "").lower())[:6]:
        if word in YES:
            return "yes"
        if word in NO:
            return "no"
    return None


def json_field(text: str, path: str) -> str | None:
    """A field (dotted path) of the last JSON object in the text, as compact JSON for comparison."""
    for blob in reversed(_json_blobs(text or "")):
        try:
            value = json.loads(blob)
        except ValueError:
            continue
        for key in path.split("."):
            if isinstance(value, dict) and key in value:
                value = value[key]
            elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
                value = value[int(key)]
            else:
                value = None
                break
        if value is not None:
            return value.strip().lower() if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return None


def _json_blobs(text: str) -> list[str]:
    fenced = re.findall(r"```(?:json)?\s*(\{.*?\})\s*```", text, re.S)
    if fenced:
        return fenced
    out, depth, start = [], 0, -1
    for i, ch in enumerate(text):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                out.append(text[start:i + 1])
    return out


def normalize(value: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[*_`\"'.!]+$", "", value.strip().strip("*_`\"'"))).lower()


def extract(text: str, fmt: str | None = None) -> str | None:
    """The answer in `fmt` (number | choice | yesno | json:<field> | None: whatever the ANSWER line says)."""
    if fmt and fmt.startswith("json:"):
        return json_field(text, fmt[5:])
    line = marked(text)
    if fmt == "number":
        return number(line) if line is not None and number(line) is not None else number(text)
    if fmt == "choice":
        return choice(line) if line is not None and choice(line) else choice(text.strip()[-200:])
    if fmt == "yesno":
        return yesno(line) if line is not None and yesno(line) else yesno(text)
    if line is None:
        return None
    for f in (yesno, number):
        v = f(line)
        if v is not None and len(line) <= 24:
            return v
    return normalize(line)
