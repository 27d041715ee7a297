"""Pull a comparable answer (a number, a choice, yes/no, a JSON field) out of a model's free text. Pure.

The answer a model *states* wins: the first value on its `ANSWER:` line ("2737 (= 391 × 7)" is 2737), else
what the text says the answer is ("the answer is **19034**", `\\boxed{..}`, "答案是 42"), never merely the last
number it happens to mention. Numbers are exact (ints and Fractions, never floats), so answers that differ
in the 20th digit stay different. An answer that states none, or two ("2737 or 2738"), is unreadable, and
`read` says why."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

FORMATS = ("number", "choice", "yesno")

# `ANSWER:` / `Final answer:` / `答案：` / `最终答案是`: the value after the last such marker on its line
MARKER = re.compile(r"(?im)(?:\b(?:final\s+)?answer\s*[*_]*\s*[:：]|(?:最终)?答案\s*[*_]*\s*(?:[:：]|是|为))"
                    r"[*_\s]*(.+?)\s*$")
# places where prose states its answer: \boxed{}, "the answer is", "答案是"
BOXED = re.compile(r"\\boxed\s*\{((?:[^{}]|\{[^{}]*\})*)\}")
STATED = re.compile(
    r"(?i)(?:\b(?:final\s+|correct\s+|right\s+)?(?:answer|result|total|solution|(?:correct\s+)?(?:option|choice))"
    r"\s*(?:is|would\s+be|will\s+be|comes\s+to|equals|=|:)|(?:最终)?(?:答案|结果)\s*(?:是|为|[:：])|"
    r"\bI\s+(?:choose|pick|select|go\s+with|answer)|选(?:择)?)\s*(.+)")
BOLD = re.compile(r"\*\*([^*\n]{1,80})\*\*")

# --------------------------------------------------------------------------------------------- numbers
_FULLWIDTH = {0xFF10 + i: ord("0") + i for i in range(10)} | {0x2212: ord("-"), 0x2012: ord("-"),
                                                               0xFF0D: ord("-"), 0xFE63: ord("-")}
_SUP = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")
_GROUP = "[,\u00a0\u2009\u202f' ]"  # thousands separators: comma, no-break, thin, narrow no-break, quote, space
_NUM = (rf"(?:\d{{1,3}}(?:{_GROUP}\d{{3}})+(?!\d)|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?")
_CURRENCY = r"[$€£¥₹]|US\$|USD\s|EUR\s|GBP\s"
# one value: sign, currency, number, then optionally a power, a ×10^n, a /denominator, a percent sign
VALUE = re.compile(
    rf"(?<![\w.])(?P<sign>[-+]?)\s?(?:{_CURRENCY})?\s?(?P<num>{_NUM})"
    rf"(?:\s*(?:\^|\*\*)\s*\{{?(?P<pow>[-+]?\d+)\}}?|(?P<sup>[⁰¹²³⁴⁵⁶⁷⁸⁹⁻]+)"
    rf"|\s*[x×·*]\s*10\s*(?:\^|\*\*)\s*\{{?(?P<sci>[-+]?\d+)\}}?"
    rf"|\s*(?:/|⁄)\s*(?P<den>\d+)(?![\d.]))?"
    rf"(?P<pct>\s*%|\s+percent\b)?(?!\w)")
ALTERNATIVE = re.compile(r"(?i)^\s*(?:or|either|and/or|/|或者?|还是)\s*$")
MAX_EXPONENT = 10000  # beyond this a "number" is not an answer anyone can compare (nor cheap to compute)
_EXPR = re.compile(r"^[\d\s.+\-*/^×÷()⁄]+$")


@dataclass
class Reading:
    """What was read: `value` (a canonical string, None when unreadable) and, when unreadable, why."""

    value: str | None
    why: str = ""


def _clean(text: str) -> str:
    return (text or "").translate(_FULLWIDTH)


def exact(d: Decimal | int) -> Fraction:
    """A decimal as an exact Fraction; ValueError past MAX_EXPONENT ("1e999999999" would take forever)."""
    if isinstance(d, Decimal) and (not d.is_finite() or abs(d.as_tuple().exponent) > MAX_EXPONENT):  # type: ignore[arg-type]
        raise ValueError(str(d))
    return Fraction(d)


def _value(m: re.Match) -> Fraction:
    digits = re.sub(_GROUP, "", m["num"])
    v = exact(Decimal(digits))
    if m["pow"] is not None or m["sup"]:
        e = int(m["pow"] if m["pow"] is not None else m["sup"].translate(_SUP))
        if abs(e) > MAX_EXPONENT or (not v and e < 0):
            raise ValueError(m.group(0).strip())
        v = v ** e
    if m["sci"] is not None:
        if abs(int(m["sci"])) > MAX_EXPONENT:
            raise ValueError(m.group(0).strip())
        v *= Fraction(10) ** int(m["sci"])
    if m["den"] is not None and int(m["den"]):
        v /= int(m["den"])
    return -v if m["sign"] == "-" else v


def canonical(v: Fraction, percent: bool = False) -> str:
    """A readable, exact, unique string for a value: `2737`, `0.5`, `1/3`, `1e400`, `45%`."""
    suffix = "%" if percent else ""
    if v.denominator == 1:
        n = v.numerator
        s = str(n)
        zeros = len(s) - len(s.rstrip("0"))
        if len(s) > 21 and zeros > 6:  # a huge round number: mantissa and exponent, still exact
            return f"{s[:len(s) - zeros]}e{zeros}{suffix}"
        return s + suffix
    d = v.denominator
    while d % 2 == 0:
        d //= 2
    while d % 5 == 0:
        d //= 5
    if d == 1:  # terminates: a decimal
        text = format(Decimal(v.numerator) / Decimal(v.denominator), "f")
        if len(text) <= 24:
            return text + suffix
        m = Decimal(v.numerator) / Decimal(v.denominator)
        return format(m.normalize(), "e").replace("e+", "e").replace(".e", "e") + suffix
    return f"{v.numerator}/{v.denominator}{suffix}"


def _evaluate(expr: str) -> Fraction | None:
    """A plain arithmetic expression ("2^53+1", "391*7", "1/2") evaluated exactly; None if it is not one."""
    toks = re.findall(r"\d+(?:\.\d+)?|\.\d+|\*\*|[-+*/^×÷()⁄]", expr)
    if not toks or "".join(toks) != re.sub(r"\s+", "", expr):
        return None
    pos = 0

    def peek() -> str | None:
        return toks[pos] if pos < len(toks) else None

    def take() -> str:
        nonlocal pos
        pos += 1
        return toks[pos - 1]

    def atom() -> Fraction:
        t = take()
        if t in "+-":
            v = atom()
            return -v if t == "-" else v
        if t == "(":
            v = total()
            if take() != ")":
                raise ValueError
            return v
        return Fraction(Decimal(t))

    def power() -> Fraction:
        base = atom()
        if peek() in ("^", "**"):
            take()
            e = power()
            if e.denominator != 1 or abs(e) > MAX_EXPONENT or (not base and e < 0):
                raise ValueError
            return base ** int(e)
        return base

    def product() -> Fraction:
        v = power()
        while peek() in ("*", "/", "×", "÷", "⁄"):
            op = take()
            r = power()
            v = v * r if op in "*×" else v / r
        return v

    def total() -> Fraction:
        v = product()
        while peek() in ("+", "-"):
            op = take()
            v = v + product() if op == "+" else v - product()
        return v

    try:
        v = total()
    except (ValueError, ZeroDivisionError, IndexError, OverflowError):
        return None
    return v if pos == len(toks) else None


def stated_number(text: str) -> Reading:
    """The number a phrase states: its first value ("2737 (= 391 × 7)" is 2737), or the whole phrase
    evaluated when it is plain arithmetic ("2^53+1"); "2737 or 2738" is ambiguous."""
    text = _clean(text).strip().strip("*_`$\\").strip()
    text = re.sub(r"\\(?:text|mathrm)\{([^{}]*)\}", r"\1", text).replace("\\%", "%").replace("\\,", "")
    if not text:
        return Reading(None, "no number stated")
    head = re.split(r"[=(\[,;:]|\s—|\s-\s|\.\s|\.$|(?<![\d\s])\s+(?![\d^*+/×-])", text, maxsplit=1)[0]
    if _EXPR.match(head) and re.search(r"\d", head) and re.search(r"\d\s*[-+*/^×÷⁄]|\*\*", head):
        v = _evaluate(head.replace("×", "*").replace("÷", "/").replace("⁄", "/"))
        if v is not None:
            return Reading(canonical(v))
    found = list(VALUE.finditer(text))
    if not found:
        return Reading(None, "no number stated")
    first = found[0]
    if len(found) > 1 and ALTERNATIVE.match(text[first.end():found[1].start()]):
        return Reading(None, f"ambiguous: {first.group(0).strip()} or {found[1].group(0).strip()}")
    try:
        return Reading(canonical(_value(first), bool(first["pct"])))
    except (ValueError, ArithmeticError):
        return Reading(None, f"not a value that can be compared: {first.group(0).strip()}")


def number(text: str) -> str | None:
    return stated_number(text).value


# --------------------------------------------------------------------------------------------- yes / no
YES = {"yes", "y", "true", "correct", "agree", "approve", "affirmative", "是", "对", "是的", "正确"}
NO = {"no", "n", "false", "incorrect", "disagree", "reject", "negative", "否", "不", "不是", "不对", "错误"}
_WORD = re.compile(r"(?i)\b(yes|no|true|false|correct|incorrect|agree|disagree|approve|reject|affirmative|"
                   r"negative)\b(?P<after>\s*[^\s]?)|(不是|不对|错误|是的|正确|是|否|对)")
# "no" that is not an answer: "no doubt", "no way to know"... (a word follows it); "not yes"
_ANSWER_END = re.compile(r"^\s*(?:[,.!;:—\-)\]*_`，。！；：]|$)")


def stated_yesno(text: str, *, loose: bool = False) -> Reading:
    """The yes or no a phrase states. A yes/no word counts when it stands as an answer (followed by
    punctuation or the end, as in "No doubt about it: yes"), or, `loose`, anywhere; both ("yes or no") is
    ambiguous."""
    text = _clean(text)
    if re.search(r"(?i)\byes\s*(?:or|and|/)\s*no\b|\bno\s*(?:or|and|/)\s*yes\b", text):
        return Reading(None, "ambiguous: yes and no")
    for m in _WORD.finditer(text):
        word = (m.group(1) or m.group(3)).lower()
        if not loose:
            rest = text[m.end(1) if m.group(1) else m.end(3):]
            if not _ANSWER_END.match(rest):
                continue
        if m.group(1) and re.search(r"(?i)\bnot\s+$", text[:m.start()]):
            word = "no" if word in YES else "yes"
        if word in YES:
            return Reading("yes")
        if word in NO:
            return Reading("no")
    if not loose and re.match(r"(?i)^\s*(?:definitely|certainly|absolutely)?\s*not\b", text):
        return Reading("no")
    return Reading(None, "no yes or no stated")


def yesno(text: str) -> str | None:
    return stated_yesno(text).value


# --------------------------------------------------------------------------------------------- choices
_LETTER = r"[A-J]"
CHOICE_AT_START = re.compile(rf"^[\s*_`\\{{\[]*(?:(?:option|choice|answer|选项)\s*[:：]?\s*)?\(?({_LETTER})\b"
                             rf"(?:\)|\]|[.:：]|\s|$|[*_`}}])", re.I)
CHOICE_NAMED = re.compile(rf"(?i)\b(?:option|choice)\s*\(?({_LETTER})\b|\(({_LETTER})\)")


def stated_choice(text: str) -> Reading:
    """The letter a phrase states: "(B)", "B) ...", "Option B", "**B**"; "B or C" is ambiguous."""
    text = _clean(text).strip()
    m = CHOICE_AT_START.match(text)
    if m and (m.group(1).isupper() or re.match(r"^[\s*_`(]*[a-j](?:\)|[.:]?\s*$)", text)):
        letter = m.group(1).upper()
        other = re.match(rf"(?i)^[\s*_`(]*{letter}\)?\s*(?:or|/|或)\s*\(?({_LETTER})\b", text)
        if other:
            return Reading(None, f"ambiguous: {letter} or {other.group(1).upper()}")
        return Reading(letter)
    m = CHOICE_NAMED.search(text)
    if m:
        return Reading((m.group(1) or m.group(2)).upper())
    return Reading(None, "no choice stated")


def choice(text: str) -> str | None:
    return stated_choice(text).value


# --------------------------------------------------------------------------------------------- JSON
def json_field(text: str, path: str) -> Reading:
    """A field (dotted path) of the last JSON object in the text that has it: strings compared without case,
    numbers exactly (2 and 2.0 are the same), anything else as compact JSON."""
    blobs = _json_blobs(_clean(text or ""))
    if not blobs:
        return Reading(None, "no JSON object")
    bad = 0
    for blob in reversed(blobs):
        try:
            value = json.loads(blob, parse_float=Decimal)
        except ValueError:
            bad += 1
            continue
        for key in path.split("."):
            if isinstance(value, dict) and key in value:
                value = value[key]
            elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
                value = value[int(key)]
            else:
                value = None
                break
        if value is None:
            continue
        if isinstance(value, bool):
            return Reading("true" if value else "false")
        if isinstance(value, int | Decimal):
            try:
                return Reading(canonical(exact(value)))
            except ValueError:
                return Reading(None, f"`{path}` is not a value that can be compared")
        if isinstance(value, str):
            return Reading(normalize(value))
        return Reading(json.dumps(value, sort_keys=True, default=str))
    return Reading(None, f"no JSON object has the field `{path}`" + (f" ({bad} not valid JSON)" if bad else ""))


def _json_blobs(text: str) -> list[str]:
    """Every top-level {...} in the text, braces inside JSON strings ignored."""
    out, depth, start, in_str, esc = [], 0, -1, False, False
    for i, ch in enumerate(text):
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
            continue
        if ch == '"' and depth:
            in_str, esc = True, False
        elif ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                out.append(text[start:i + 1])
    return out


# --------------------------------------------------------------------------------------------- reading
def normalize(value: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[*_`\"'.!。]+$", "", value.strip().strip("*_`\"'"))).lower()


def marked(text: str) -> str | None:
    """The value after the last `ANSWER:` (or `FINAL ANSWER:`, `答案：`) marker, if any."""
    found = MARKER.findall(_clean(text or ""))
    return found[-1].strip().strip("*_`").strip() if found else None


def _stated_places(text: str) -> list[str]:
    """Where the text states its answer, strongest last: bold phrases, "the answer is ...", \\boxed{}."""
    places = [m.group(1) for m in BOLD.finditer(text)]
    places += [m.group(1) for m in STATED.finditer(text)]
    places += [m.group(1) for m in BOXED.finditer(text)]
    return places


READERS = {"number": stated_number, "choice": stated_choice, "yesno": stated_yesno}


def read(text: str, fmt: str | None = None) -> Reading:
    """The answer in `fmt` (number | choice | yesno | json:<field> | None: whatever the ANSWER line says)."""
    text = _clean(text or "")
    if fmt and fmt.startswith("json:"):
        line = marked(text)
        if line and "{" in line:
            r = json_field(line, fmt[5:])
            if r.value is not None:
                return r
        return json_field(text, fmt[5:])
    line = marked(text)
    if fmt in READERS:
        reader = READERS[fmt]
        if line is not None:
            r = reader(line)
            if r.value is not None or r.why.startswith("ambiguous"):
                return r
        for place in reversed(_stated_places(text)):
            r = reader(place)
            if r.value is not None or r.why.startswith("ambiguous"):
                return r
        whole = text.strip()
        if line is None and len(whole.split()) <= 3 and len(whole) <= 40 and "\n" not in whole:  # the whole reply is the answer ("42", "(B)", "Yes.")
            r = reader(whole)
            if r.value is not None or r.why.startswith("ambiguous"):
                return r
        if fmt == "yesno":  # models lead with their position: the first sentence's standalone yes/no
            r = stated_yesno(re.split(r"(?<=[.!?。])\s|\n", whole, maxsplit=1)[0])
            if r.value is not None:
                return r
            r = stated_yesno(whole)
            if r.value is not None or r.why.startswith("ambiguous"):
                return r
        what = {"number": "number", "choice": "choice", "yesno": "yes or no"}[fmt]
        if line is not None:
            return Reading(None, f"the ANSWER line ({line[:40]!r}) states no {what}")
        return Reading(None, f"no {what} stated")
    if line is None:
        boxed = [m.group(1) for m in BOXED.finditer(text)]
        if boxed:
            line = boxed[-1]
        else:
            return Reading(None, "no ANSWER line")
    short = re.sub(r"\s*\(.*\)\s*$", "", line)
    if len(short) <= 24:
        for reader in (stated_yesno, stated_number):
            r = reader(short)
            if r.value is not None:
                return r
    return Reading(normalize(line)) if normalize(line) else Reading(None, "empty ANSWER line")


def extract(text: str, fmt: str | None = None) -> str | None:
    """The answer's canonical string, or None when unreadable (see `read` for why)."""
    return read(text, fmt).value
