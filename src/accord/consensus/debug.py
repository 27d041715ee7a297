"""Debugging by a panel: every model reads the symptoms, logs and code and proposes ranked root-cause
hypotheses as JSON (with evidence and the next check to run); Accord merges the same hypothesis across models
and ranks them by votes. A continuation brings back what the checks showed, and the panel narrows down."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from . import cluster
from .asking import PanelRun, panel_lines, request
from .findings import first_json
from .runner import Engine, OnEvent
from .types import Answer, InputError, Member

if TYPE_CHECKING:
    from ..config import Config

MAX_HYPOTHESES = 5  # per model: more is a list of everything, not a ranking
SIMILAR = 0.35  # lexical cosine of two hypotheses' words at which they are one
LIKELIHOOD = {"high": 3, "medium": 2, "low": 1}
_WORDS = {"very high": "high", "likely": "high", "probable": "high", "possible": "medium", "moderate": "medium",
          "unlikely": "low", "very low": "low"}

SYSTEM = f"""You debug a problem as a senior engineer. From the symptoms, logs and code given, propose the most \
likely root causes, most likely first (at most {MAX_HYPOTHESES}). For each: the cause, how likely it is, the evidence for it in \
what you were given, and the one next check that would confirm or rule it out (a command to run, a log line to \
look for, a test to write). Answer with JSON only, in one ```json block:
{{"hypotheses": [{{"hypothesis": "the root cause", "likelihood": "high|medium|low", "evidence": "what points to \
it", "next_check": "what to run or look at"}}]}}
When results of earlier checks are given, drop what they ruled out and build on what they confirmed."""


@dataclass
class Hypothesis:
    text: str
    likelihood: str  # the highest any model gave
    evidence: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)  # who proposed it: its votes
    ranks: dict[str, int] = field(default_factory=dict)  # where each of them put it (1: first)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "votes": len(self.models)}


@dataclass
class Diagnosis:
    hypotheses: list[Hypothesis]
    status: str  # done | partial | failed
    panel: list[str]  # one line per seat
    answers: list[Answer]
    notes: list[str] = field(default_factory=list)
    thread_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "hypotheses": [h.to_dict() for h in self.hypotheses], "panel": self.panel,
                "notes": self.notes, "thread_id": self.thread_id}


@dataclass
class Ask:
    panel: list[Member]
    symptoms: str
    logs: str | None = None
    context: str = ""  # files, already read
    checks: str | None = None  # what the checks suggested earlier showed (a continuation)
    thread_id: str | None = None
    history: list[dict] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------ reading
def parse(text: str) -> tuple[list[Hypothesis], str | None]:
    """(hypotheses in the model's order, why unreadable or None), leniently: models rename fields."""
    data = first_json(text)
    items = data.get("hypotheses", data.get("causes")) if isinstance(data, dict) else data
    if not isinstance(items, list):
        return [], "no JSON hypotheses in the answer"
    out = []
    for x in items[:MAX_HYPOTHESES]:
        if not isinstance(x, dict):
            continue
        what = str(x.get("hypothesis") or x.get("cause") or x.get("root_cause") or x.get("title") or "").strip()
        if not what:
            continue
        check = str(x.get("next_check") or x.get("check") or x.get("next_step") or "").strip()
        evidence = str(x.get("evidence") or x.get("why") or "").strip()
        out.append(Hypothesis(what, likelihood(x.get("likelihood", x.get("confidence"))),
                              [evidence] if evidence else [], [check] if check else []))
    if items and not out:
        return [], "hypotheses without a description"
    return out, None


def likelihood(raw: Any) -> str:
    """high | medium | low, from words or a probability (0..1 or a percentage)."""
    if isinstance(raw, int | float) or (isinstance(raw, str) and raw.strip().rstrip("%").replace(".", "", 1).isdigit()):
        p = float(str(raw).strip().rstrip("%"))
        p = p / 100 if p > 1 else p
        return "high" if p >= 0.6 else "medium" if p >= 0.3 else "low"
    s = str(raw or "").strip().lower()
    s = _WORDS.get(s, s)
    return s if s in LIKELIHOOD else "medium"


# ------------------------------------------------------------------------------------------------ merging
def merge(found: dict[str, list[Hypothesis]]) -> list[Hypothesis]:
    """One hypothesis per meaning, with every model that proposed it; ranked by votes, then likelihood, then
    where the models put it."""
    merged: list[Hypothesis] = []
    vecs: list[Any] = []
    for who, items in found.items():
        for rank, h in enumerate(items, start=1):
            v = cluster.terms(h.text)
            k = next((i for i, m in enumerate(merged) if who not in m.models
                      and cluster.cosine(v, vecs[i]) >= SIMILAR), None)
            if k is None:
                merged.append(Hypothesis(h.text, h.likelihood))
                vecs.append(v)
                k = len(merged) - 1
            same = merged[k]
            if LIKELIHOOD[h.likelihood] > LIKELIHOOD[same.likelihood]:
                same.likelihood = h.likelihood
            same.models.append(who)
            same.ranks[who] = rank
            same.evidence += [e for e in h.evidence if e not in same.evidence]
            same.checks += [c for c in h.checks if c not in same.checks]
    return sorted(merged, key=lambda m: (-len(m.models), -LIKELIHOOD[m.likelihood],
                                         sum(m.ranks.values()) / len(m.ranks)))


# ------------------------------------------------------------------------------------------------ running
def _messages(ask: Ask) -> list[dict]:
    parts = [f"SYMPTOMS:\n{ask.symptoms}"]
    if ask.logs:
        parts.append(f"LOGS:\n```\n{ask.logs}\n```")
    if ask.checks:
        parts.append(f"RESULTS OF THE CHECKS SO FAR:\n{ask.checks}")
    if ask.context:
        parts.append(f"CODE AND FILES:\n{ask.context}")
    return [{"role": "system", "content": SYSTEM}, *ask.history, {"role": "user", "content": "\n\n".join(parts)}]


async def diagnose(engine: Engine, cfg: Config, ask: Ask, on_event: OnEvent | None = None) -> Diagnosis:
    """Ask the panel; a model's failure or unreadable answer shows in `panel`, never raises."""
    if not ask.symptoms.strip():
        raise InputError("symptoms are empty: say what goes wrong (the error, when, what you expected)")
    req = request(cfg, f"Debug: {ask.symptoms.strip()[:200]}", ask.panel)
    asked = ask.symptoms + (f"\n\nresults of the checks: {ask.checks}" if ask.checks else "")
    p = await PanelRun.open(engine, req, tool="debug", thread_id=ask.thread_id, asked=asked, on_event=on_event,
                            calls=len(req.panel))
    msgs = _messages(ask)
    answers = await p.ask_all(lambda m: msgs)
    found: dict[str, list[Hypothesis]] = {}
    counts: dict[str, str] = {}
    unreadable = 0
    for label, a in zip(p.labels, answers, strict=True):
        if not a.ok:
            continue
        got, why = parse(a.content)
        if why:
            a.status, a.error = "unreadable", why
            unreadable += 1
            continue
        found[label] = got
        counts[label] = f"{len(got)} hypotheses"
    merged = merge(found)
    status = "done" if len(found) == len(answers) else "partial" if found else "failed"
    out = Diagnosis(merged, status, panel_lines(p.labels, answers, counts), answers, thread_id=p.tid)
    await p.run.emit("finished", None, status)
    await p.record(answers, final=markdown(out, 10**9), status=status, summary=out.to_dict())
    return out


# ------------------------------------------------------------------------------------------------ output
def markdown(d: Diagnosis, budget: int) -> str:
    """Hypotheses with the most votes first, as many as fit the budget; the rest counted (all are stored)."""
    from .. import tokens
    from .report import trim

    seats = len(d.panel)
    head = f"# Debug: {len(d.hypotheses)} hypotheses from {seats} models" + (
        f" ({d.status})" if d.status != "done" else "")
    panel = "## Panel\n" + "\n".join(d.panel)
    tail = "\n\n".join([*(["## Notes\n" + "\n".join(f"- {n}" for n in d.notes)] if d.notes else []),
                        f"thread: {d.thread_id} (continue with continuation_id and checks: what the checks showed)"
                        if d.thread_id else ""])
    limit = tokens.room(budget)
    left = limit - tokens.count(head) - tokens.count(panel) - tokens.count(tail) - 40
    shown: list[str] = []
    for i, h in enumerate(d.hypotheses, start=1):
        lines = [f"{i}. **{h.text}** — {len(h.models)}/{seats} votes ({', '.join(h.models)}); likelihood "
                 f"{h.likelihood}"]
        lines += [f"   - evidence: {e}" for e in h.evidence]
        lines += [f"   - next check: {c}" for c in h.checks]
        text = "\n".join(lines)
        if tokens.count(text) + 1 > left:
            break
        shown.append(text)
        left -= tokens.count(text) + 1
    body = "## Hypotheses (most votes first)\n" + ("\n".join(shown) if d.hypotheses else "none")
    if len(shown) < len(d.hypotheses):
        body += f"\n- ... and {len(d.hypotheses) - len(shown)} more in thread {d.thread_id}"
    return trim("\n\n".join(x for x in (head, body, panel, tail) if x), limit, d.thread_id)
