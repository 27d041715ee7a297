"""A result as markdown within a token budget (MCP results must fit the client's output limit, counted by
`accord.tokens` so it holds in any language): the synthesis and the panel's status first, then the answers
sharing what room is left, each cut with the exact `threads` call that pages on through the stored text."""

from __future__ import annotations

from .. import tokens
from .types import Answer, Result


def more(thread: str, part: int, offset: int = 0) -> str:
    """The `threads` tool call that shows a stored message from `offset` (characters) on."""
    return f'threads(id="{thread}", part={part}, offset={offset})'


def trim(text: str, room: int, thread: str | None = None, part: int | None = None, *, paged: bool = True) -> str:
    """`text` within `room` tokens, note included. Cut, it ends with how much was left out and, for a stored
    message, the call that continues it (from the cut when `text` is the message itself, `paged`, else from
    its start)."""
    if tokens.fits(text, room):
        return text

    def note(cut: int, offset: int) -> str:
        where = f"; full text in thread {thread}" if thread else ""
        if thread and part is not None:
            where += f": {more(thread, part, offset if paged else 0)}"
        return f"\n[... trimmed {cut} characters{where}]"

    keep = tokens.truncate(text, room - tokens.count(note(len(text), len(text))))
    return keep + note(len(text) - len(keep), len(keep))


def status_line(a: Answer, label: str) -> str:
    if a.ok:
        tok = a.prompt_tokens + a.completion_tokens
        return f"- {label}: answered in {a.latency or 0:.1f} s, {tok} tokens" + (f", ${a.cost:.4f}" if a.cost else "")
    return f"- {label}: {a.status}: {a.error}"


def debate_section(r: Result) -> str:
    """How the debate went: the first, independent answers' vote, the final one, and every change of mind."""
    d = r.debate or {}
    lines = []

    def tally(v: dict) -> str:
        return (", ".join(f"{k}: {n}" for k, n in v["counts"].items()) or "none readable") + \
            f" (agreement {v['share']:.2f})"

    if d.get("first_vote"):
        lines.append(f"first, independent answers: {tally(d['first_vote'])}")
        lines.append(f"after round {len(r.rounds) + 1}: {tally(d['final_vote'])}")
    readable = any(v is not None for vs in d.get("positions", {}).values() for v in vs)
    lines += [f"- {c['text']}" for c in d.get("changes", ())] or (
        ["- no one changed their answer"] if readable else ["free-text answers: each round's are below"])
    if d.get("vote_over") == "first":
        lines.append("the vote counts the first answers (ask for final_vote to count the final ones)")
    return "## Debate\n" + "\n".join(lines)


def markdown(r: Result, labels: list[str], budget: int) -> str:
    """The result within `budget` tokens."""
    head = [f"# Consensus ({r.mode}): {r.status}"]
    if r.agreement is not None:
        head[0] += f", agreement {r.agreement:.2f}"
    if r.reasons:
        head.append("**" + " · ".join(x["text"] for x in r.reasons) + "**")
    if r.synthesis:
        head.append(r.synthesis)
    elif r.recommendation:
        head.append(f"**Answer:** {r.recommendation}")
    if r.vote:
        v = r.vote
        counts = ", ".join(f"{k}: {n}" for k, n in v["counts"].items()) or "none"
        over_what = {"first": " (first, independent answers)", "final": " (final answers)"}.get(
            (r.debate or {}).get("vote_over") or "", "")
        head.append(f"## Vote{over_what}\nwinner: {v['winner'] or ('tie ' + ' / '.join(v['tie']) if v['tie'] else 'none')}"
                    f" (share {v['share']:.2f}); counts: {counts}")
    if r.debate is not None and r.rounds:
        head.append(debate_section(r))
    if r.clusters:
        c = r.clusters
        groups = "; ".join(f"{g['size']}: {', '.join(g['members'])}" for g in c["groups"])
        chair = f"; the chair counted {r.chair_agreement:.2f} as supporting it" if r.chair_agreement is not None else ""
        head.append(f"## Agreement\nlargest group of like answers: share {c['agreement']:.2f} ({c['method']}); "
                    f"groups: {groups}{chair}")
    if r.ranking:
        head.append("## Peer ranking (anonymous, self-votes excluded)\n" + "\n".join(
            f"{'=' if x.get('tied') else ''}{x.get('place', i + 1)}. {x['model']}: Borda {x['score']}, "
            f"mean rank {x['mean_rank']}" for i, x in enumerate(r.ranking)))
    panel = [status_line(a, labels[i]) for i, a in enumerate(r.answers)]
    if r.chair is not None:
        panel.append(status_line(r.chair, f"chair {r.chair.model}"))
        if r.chair_choice:
            panel.append(f"- chaired by {r.chair.model} ({r.chair_choice['family']}): {r.chair_choice['reason']}")
    head.append("## Panel\n" + "\n".join(panel))
    notes = [*r.notes, *(f"{a.model}: {n}" for a in r.answers for n in a.notes)]
    foot = []
    if notes:
        foot.append("## Notes\n" + "\n".join(f"- {n}" for n in dict.fromkeys(notes)))
    foot.append(f"thread: {r.thread_id} (continue with continuation_id; stored answers via the threads tool)"
                if r.thread_id else f"{r.prompt_tokens + r.completion_tokens} tokens, ${r.cost:.4f}")
    limit = tokens.room(budget)
    ok = [(labels[i] + (" (first answer)" if r.rounds else ""), a) for i, a in enumerate(r.answers) if a.ok]
    ok += [(f"{labels[i]} (round {n})", a) for n, rnd in enumerate(r.rounds, start=2) for i, a in enumerate(rnd)
           if a.ok]
    answers = "## Answers\n" + "\n\n".join(f"### {lab}\n{a.content}" for lab, a in ok) if ok else ""
    whole = "\n\n".join(x for x in ("\n\n".join(head), answers, "\n\n".join(foot)) if x)
    if tokens.fits(whole, limit):  # without loading the tokenizer when it is short (or the budget huge)
        return whole
    foot_text = trim("\n\n".join(foot), limit // 5, r.thread_id)
    head_text = "\n\n".join(head)
    chair_part = r.chair.part if r.chair is not None else None
    head_text = trim(head_text, max(100, limit * 3 // 5 - tokens.count(foot_text)), r.thread_id, chair_part,
                     paged=False)  # the synthesis first: it may take 60%, the answers share the rest
    sizes = [tokens.count(a.content) for _, a in ok]
    room = limit - tokens.count(head_text) - tokens.count(foot_text) - 8
    while True:
        body = ""
        titles = [f"### {lab}\n" for lab, _ in ok]
        spare = room - tokens.count("## Answers\n") - sum(tokens.count(t) + 2 for t in titles)
        if ok and spare > 100 * len(ok):
            each = tokens.shares(sizes, spare)
            body = "## Answers\n" + "\n\n".join(
                t + trim(a.content, n, r.thread_id, a.part) for t, (_, a), n in zip(titles, ok, each, strict=True))
        out = "\n\n".join(x for x in (head_text, body, foot_text) if x)
        over = tokens.count(out) - limit  # joins can merge a token or two differently: measure the whole
        if over <= 0 or not body:
            return out
        room -= over
