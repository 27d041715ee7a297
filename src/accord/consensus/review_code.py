"""Code review by a panel: every model reads every piece of the change in parallel and returns findings as
JSON; Accord merges the same finding across models, adds its own deterministic checks for a pre-commit
review, and gives a verdict under a stated policy. What no model could read is named, never dropped quietly.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import commit_checks, findings
from .diff import FileDiff, Piece, pending, pieces, read_change, repository
from .files import Rules, read_inputs
from .runner import Engine, OnEvent, Run
from .types import Answer, InputError, Member, Request

if TYPE_CHECKING:
    from ..config import Config

MAX_PIECES = 8  # calls per model; a change past MAX_PIECES × the file budget is reviewed in part, and says so
MIN_PIECE_TOKENS = 500

SYSTEM = """You review code (a unified diff of a change, and/or whole files) as a senior engineer. Report real problems only: bugs, security holes, \
data loss, races, broken error handling, missing validation, wrong behaviour, clear maintainability traps. \
No praise, no restating the change, no style nits unless they hide a bug.
Answer with JSON only, in one ```json block:
{"findings": [{"severity": "critical|high|medium|low", "file": "path as in the diff", "line_start": 12, \
"line_end": 14, "title": "short name of the problem", "why": "what goes wrong and when", \
"fix": "the suggested fix"}]%s}
Line numbers are those of the new file (the + side of the hunk headers). Use an empty list when you find \
nothing. critical: exploitable or data-losing; high: a real bug users will hit; medium: a likely bug or \
risky gap; low: minor."""
PRECOMMIT_EXTRA = """, "intent": {"matches": true, "note": "does the change do what its author says, and only that?"}"""
PRECOMMIT_NOTE = """
This change is about to be committed. Also look for half-done work, debug leftovers, secrets in the code, \
and code changed without its tests."""


@dataclass
class Review:
    """The outcome: verdict under the policy, merged findings, and what each model did."""

    verdict: str  # pass | fail | unclear
    policy: str
    findings: list[findings.Finding]
    target: str  # what was reviewed, in words
    status: str = "done"  # done | partial (some panelists failed or were unreadable) | failed
    panel: list[dict[str, Any]] = field(default_factory=list)  # {"model", "status", "error", "unreadable"}
    unreviewed: list[str] = field(default_factory=list)  # files no model read (in whole or in part)
    intent: list[dict[str, Any]] = field(default_factory=list)  # {"model", "matches", "note"}
    notes: list[str] = field(default_factory=list)
    pieces: int = 1
    thread_id: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    repo: str | None = None
    fail_on: str | None = None
    files: list[str] = field(default_factory=list)  # every file the review covered

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "policy": self.policy, "status": self.status, "target": self.target,
                "findings": [f.to_dict() for f in self.findings], "panel": self.panel,
                "unreviewed": self.unreviewed, "intent": self.intent, "notes": self.notes, "pieces": self.pieces,
                "thread_id": self.thread_id, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "cost": round(self.cost, 6)}


@dataclass
class Ask:
    """What to review and how: from the MCP tool or the CLI."""

    panel: list[Member]
    path: str | None = None  # a repository (or a folder in one)
    diff: str | None = None  # staged | unstaged | <rev> | <a>...<b>; None with path: the pending change
    files: list[str] | None = None
    intent: str | None = None
    precommit: bool = False
    fail_on: str | None = None
    focus: str | None = None
    thread_id: str | None = None  # continue this thread: its turns go before the change
    history: list[dict] = field(default_factory=list)


class NothingToReview(InputError):
    """An empty change: an error for a person asking, a pass for a hook (`git commit --allow-empty`)."""


_FILE_HEADER = re.compile(r"(?m)^--- FILE: (.+?) ---\n")
_CUT = re.compile(r"^(?:trimmed|left out) (/.+?)(?: to \d+ characters of|: )")  # read_files' notes


def _split_read(text: str) -> list[FileDiff]:
    """read_inputs' text back into one entry per file."""
    heads = list(_FILE_HEADER.finditer(text))
    return [FileDiff(m.group(1), text[m.start():heads[i + 1].start() if i + 1 < len(heads) else len(text)])
            for i, m in enumerate(heads)]


async def gather(cfg: Config, ask: Ask
                 ) -> tuple[list[FileDiff], str, list[str], list[FileDiff], str | None, list[str]]:
    """(what to review, in words what it is, notes, the change's files (for the checks), the repository, the
    files that could be read only in part or not at all)."""
    rules = Rules.from_config(cfg)
    notes: list[str] = []
    items: list[FileDiff] = []
    changed: list[FileDiff] = []
    target: list[str] = []
    repo = None
    partly: list[str] = []  # files read_inputs trimmed or left out: not wholly reviewed
    if ask.fail_on is not None and ask.fail_on not in findings.RANK:
        raise InputError(f"fail_on must be one of {', '.join(findings.SEVERITIES)}, not {ask.fail_on!r}")
    if ask.diff is not None or ask.precommit or (ask.path and not ask.files):
        if not ask.path:
            raise InputError("path is needed to review a git change: the absolute path of the repository")
        top = await asyncio.to_thread(repository, ask.path, rules)
        repo = str(top)
        spec = ask.diff if ask.diff else await asyncio.to_thread(pending, top)
        change = await asyncio.to_thread(read_change, top, spec, rules)
        notes += change.notes
        changed = change.files
        items += change.files
        target.append(f"the {spec} change in {top}" if spec in ("staged", "unstaged") else f"{spec} in {top}")
        if not change.files:
            notes.append(f"the {spec} change in {top} is empty" + (" (nothing reviewable)" if change.notes else ""))
    if ask.files:
        budget = max(cfg.mcp.file_tokens, MIN_PIECE_TOKENS) * MAX_PIECES
        text, _images, file_notes = await read_inputs(ask.files, None, budget, rules)
        notes += file_notes
        partly += [m.group(1) for m in map(_CUT.match, file_notes) if m]
        if any(n.startswith("left out the rest") or "more files skipped or left out" in n for n in file_notes):
            partly.append("(more files: see the notes)")
        read = _split_read(text)
        items += read
        names = [f.path for f in read]
        target.append(f"{len(read)} file(s) ({', '.join(names[:5])}{', ...' if len(names) > 5 else ''})")
    if not items:
        if ask.path or ask.diff:
            raise NothingToReview(f"nothing to review: {'; '.join(notes) or 'the change is empty'} (stage the change, "
                             "or name a revision or range in diff, or give files)")
        raise InputError("nothing to review: give path (a git repository) with diff, and/or files")
    return items, " and ".join(target), notes, changed, repo, partly


def _messages(ask: Ask, target: str, piece: Piece, n: int, i: int) -> list[dict]:
    system = SYSTEM % (PRECOMMIT_EXTRA if ask.precommit else "") + (PRECOMMIT_NOTE if ask.precommit else "")
    head = [f"Review {target}."]
    if ask.intent:
        head.append(f"The author's stated intent: {ask.intent}")
    if ask.focus:
        head.append(f"Focus on: {ask.focus}")
    if n > 1:
        what = f"{piece.paths[0]}, part {piece.part}" if piece.part else ", ".join(piece.paths)
        head.append(f"The change is in {n} pieces, each reviewed on its own; this is piece {i} of {n} ({what}). "
                    "Report only what you can see here.")
    return [{"role": "system", "content": system}, *ask.history,
            {"role": "user", "content": "\n".join(head) + "\n\n```\n" + piece.text + "\n```"}]


async def review(engine: Engine, cfg: Config, ask: Ask, on_event: OnEvent | None = None, *,
                 tool: str = "review") -> Review:
    """Run the panel over every piece; never raises for a model's failure (it shows in `panel`)."""
    c = cfg.consensus
    items, target, notes, changed, repo, partly = await gather(cfg, ask)
    req = Request(question=f"Review {target}", panel=ask.panel, thinking=None, concurrency=c.concurrency,
                  per_model_timeout=c.per_model_timeout, timeout=c.timeout, max_tokens=c.max_tokens,
                  token_budget=c.token_budget, cost_budget=c.cost_budget)
    engine.check(req)
    budget = max(cfg.mcp.file_tokens, MIN_PIECE_TOKENS)
    parts = await asyncio.to_thread(pieces, items, budget)
    unreviewed: list[str] = list(partly)
    if len(parts) > MAX_PIECES:
        left = parts[MAX_PIECES:]
        parts = parts[:MAX_PIECES]
        sent = {p for piece in parts for p in piece.paths}
        over = list(dict.fromkeys(p for piece in left for p in piece.paths))
        unreviewed += over
        notes.append(f"the change is larger than {MAX_PIECES} pieces of {budget} tokens (mcp.file_tokens): "
                     f"not reviewed: {', '.join(over)}" + (
                         " (in part: " + ", ".join(p for p in over if p in sent) + ")"
                         if any(p in sent for p in over) else ""))
    labels = engine.labels(req.panel)
    run = Run(req, on_event=on_event, sem=asyncio.Semaphore(req.concurrency) if req.concurrency else None)
    run.calls_planned = len(req.panel) * len(parts)
    tid = None
    if engine.store is not None:
        tid = await engine.store.open(tool, req.question, thread_id=ask.thread_id, panel=labels, timeout=req.timeout)
        await engine.store.add(tid, [{"role": "user", "content": req.question + (
            f"\nintent: {ask.intent}" if ask.intent else "")}])
    n = len(parts)

    def job(m: Member, label: str, i: int, piece: Piece):
        who = label if n == 1 else f"{label} (piece {i}/{n})"
        return engine.ask(run, m.model, _messages(ask, target, piece, n, i), label=who)

    try:
        answers = await asyncio.gather(*(job(m, labels[k], i, p) for k, m in enumerate(req.panel)
                                         for i, p in enumerate(parts, start=1)))
    except asyncio.CancelledError:
        await engine.cancelled(tid, run)
        raise
    out = _judge(ask, labels, parts, list(answers), changed, notes, unreviewed, target)
    out.repo = repo
    out.thread_id = tid
    await run.emit("finished", None, f"{out.verdict} ({out.status})")
    if engine.store is not None and tid is not None:
        rows = [{"role": "panel", "model": a.model, "stance": None, "content": a.content, "reasoning": a.reasoning,
                 "status": a.status, "error": a.error, "prompt_tokens": a.prompt_tokens,
                 "completion_tokens": a.completion_tokens, "cost": a.cost, "latency": a.latency} for a in answers]
        rows.append({"role": "chair", "model": "accord", "content": markdown(out, 10**9)})
        await engine.store.add(tid, rows)
        summary = out.to_dict()
        await engine.store.finish(tid, status="failed" if out.status == "failed" else out.status, result=summary,
                                  prompt_tokens=out.prompt_tokens, completion_tokens=out.completion_tokens,
                                  cost=out.cost)
    return out


def _judge(ask: Ask, labels: list[str], parts: list[Piece], answers: list[Answer], changed: list[FileDiff],
           notes: list[str], unreviewed: list[str], target: str) -> Review:
    n = len(parts)
    found: dict[str, list[findings.Finding]] = {}
    read_piece = [False] * n
    panel: list[dict[str, Any]] = []
    intent: list[dict[str, Any]] = []
    for k, label in enumerate(labels):
        mine = answers[k * n:(k + 1) * n]
        errors = [f"piece {i + 1}: {a.status}: {a.error}" if n > 1 else f"{a.status}: {a.error}"
                  for i, a in enumerate(mine) if not a.ok]
        unreadable: list[str] = []
        items: list[findings.Finding] = []
        for i, a in enumerate(mine):
            if not a.ok:
                continue
            got, extra, why = findings.parse(a.content)
            if why:
                unreadable.append(f"piece {i + 1}: {why}" if n > 1 else why)
                continue
            read_piece[i] = True
            items += got
            said = extra.get("intent")
            if ask.precommit and isinstance(said, dict) and "matches" in said:
                intent.append({"model": label, "matches": bool(said["matches"]), "note": str(said.get("note") or "")})
                if said["matches"] is False:
                    items.append(findings.Finding("high", "the change does not match its stated intent", why=str(
                        said.get("note") or "")))
        found[label] = items
        if len(errors) == n:
            status = "failed"
        elif len(unreadable) == n:
            status = "unreadable"
        else:
            status = "partial" if errors or unreadable else "ok"
        panel.append({"model": label, "status": status, "error": "; ".join(errors) or None,
                      "unreadable": "; ".join(unreadable) or None, "findings": len(items)})
    if ask.precommit:
        found[commit_checks.BY] = commit_checks.check(changed)
    merged = findings.merge(found)
    for i, ok in enumerate(read_piece):
        if not ok:
            unreviewed += [p for p in parts[i].paths if p not in unreviewed]
    if any(not ok for ok in read_piece):
        notes.append("no model gave a readable review of: " + ", ".join(
            p for i, ok in enumerate(read_piece) if not ok for p in parts[i].paths))
    complete = not unreviewed
    answered = sum(1 for p in panel if p["status"] == "ok")
    status = "done" if answered == len(panel) else ("failed" if not any(read_piece) else "partial")
    return Review(verdict=findings.verdict(merged, ask.fail_on, complete), policy=findings.policy(ask.fail_on),
                  findings=merged, target=target, status=status, panel=panel, unreviewed=unreviewed,
                  intent=intent, notes=notes, pieces=n, fail_on=ask.fail_on,
                  files=list(dict.fromkeys([*(p for piece in parts for p in piece.paths), *unreviewed])),
                  prompt_tokens=sum(a.prompt_tokens for a in answers),
                  completion_tokens=sum(a.completion_tokens for a in answers), cost=sum(a.cost for a in answers))


# ------------------------------------------------------------------------------------------------ output
def _finding_md(f: findings.Finding) -> str:
    who = ", ".join(f.models)
    lines = [f"- **{f.severity}** {f.where}: {f.title} — found by {len(f.models)} ({who})"]
    if f.why:
        lines.append(f"  why: {f.why}")
    if f.fix:
        lines.append(f"  fix: {f.fix}")
    return "\n".join(lines)


def markdown(r: Review, budget: int) -> str:
    """The review within `budget` tokens: verdict, policy and panel first; findings in order while they fit,
    the rest counted (they are stored whole in the thread)."""
    from .. import tokens
    from .report import trim

    fails = len(findings.failing(r.findings, r.fail_on))
    head = [f"# Review: {r.verdict.upper()}" + (f" ({r.status})" if r.status != "done" else ""),
            f"{r.target}; policy: {r.policy}; {len(r.findings)} finding(s), {fails} failing"]
    counts = {s: sum(1 for f in r.findings if f.severity == s) for s in findings.SEVERITIES}
    head[-1] += " (" + ", ".join(f"{n} {s}" for s, n in counts.items() if n) + ")" if r.findings else ""
    if r.unreviewed:
        head.append("**not reviewed:** " + ", ".join(r.unreviewed))
    panel = []
    for p in r.panel:
        line = f"- {p['model']}: {p['status']}, {p['findings']} finding(s)"
        if p["error"]:
            line += f"; {p['error']}"
        if p["unreadable"]:
            line += f"; unreadable answer: {p['unreadable']}"
        panel.append(line)
    if r.intent:
        panel += [f"- intent ({i['model']}): {'matches' if i['matches'] else 'does NOT match'}"
                  + (f" — {i['note']}" if i["note"] else "") for i in r.intent]
    foot = []
    if r.notes:
        foot.append("## Notes\n" + "\n".join(f"- {n}" for n in dict.fromkeys(r.notes)))
    foot.append(f"thread: {r.thread_id} (every answer stored; see the threads tool)" if r.thread_id else
                f"{r.prompt_tokens + r.completion_tokens} tokens, ${r.cost:.4f}")
    top = "\n\n".join([*head, "## Panel\n" + "\n".join(panel)])
    tail = "\n\n".join(foot)
    limit = tokens.room(budget)
    left = limit - tokens.count(top) - tokens.count(tail) - 40
    shown: list[str] = []
    for f in r.findings:
        text = _finding_md(f)
        n = tokens.count(text) + 1
        if n > left:
            break
        shown.append(text)
        left -= n
    body = "## Findings\n" + ("\n".join(shown) if r.findings else "none")
    if len(shown) < len(r.findings):
        body += f"\n- ... and {len(r.findings) - len(shown)} more (less severe) in thread {r.thread_id}"
    return trim("\n\n".join([top, body, tail]), limit, r.thread_id)

