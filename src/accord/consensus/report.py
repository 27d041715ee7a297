"""A result as markdown within a character budget (MCP results must fit the client's output limit): the
synthesis and the panel's status first, then the answers sharing what room is left, trimmed with a pointer
to the stored thread where the full text is kept."""

from __future__ import annotations

from .types import Answer, Result


def trim(text: str, room: int, where: str | None) -> str:
    if len(text) <= room:
        return text
    tail = f"\n[... trimmed {len(text) - room} characters; full text in thread {where}]" if where else \
        f"\n[... trimmed {len(text) - room} characters]"
    return text[:max(0, room - len(tail))] + tail


def status_line(a: Answer, label: str) -> str:
    if a.ok:
        tok = a.prompt_tokens + a.completion_tokens
        return f"- {label}: answered in {a.latency or 0:.1f} s, {tok} tokens" + (f", ${a.cost:.4f}" if a.cost else "")
    return f"- {label}: {a.status}: {a.error}"


def markdown(r: Result, labels: list[str], budget_chars: int) -> str:
    head = [f"# Consensus ({r.mode}): {r.status}"]
    if r.agreement is not None:
        head[0] += f", agreement {r.agreement:.2f}"
    if r.synthesis:
        head.append(r.synthesis)
    elif r.recommendation:
        head.append(f"**Answer:** {r.recommendation}")
    if r.vote:
        v = r.vote
        counts = ", ".join(f"{k}: {n}" for k, n in v["counts"].items()) or "none"
        head.append(f"## Vote\nwinner: {v['winner'] or ('tie ' + ' / '.join(v['tie']) if v['tie'] else 'none')}"
                    f" (share {v['share']:.2f}); counts: {counts}")
    if r.ranking:
        head.append("## Peer ranking (anonymous, self-votes excluded)\n" + "\n".join(
            f"{i + 1}. {x['model']}: Borda {x['score']}, mean rank {x['mean_rank']}" for i, x in enumerate(r.ranking)))
    panel = [status_line(a, labels[i]) for i, a in enumerate(r.answers)]
    if r.chair is not None:
        panel.append(status_line(r.chair, f"chair {r.chair.model}"))
    head.append("## Panel\n" + "\n".join(panel))
    notes = [*r.notes, *(f"{a.model}: {n}" for a in r.answers for n in a.notes)]
    foot = []
    if notes:
        foot.append("## Notes\n" + "\n".join(f"- {n}" for n in dict.fromkeys(notes)))
    foot.append(f"thread: {r.thread_id} (continue with continuation_id; stored answers via the threads tool)"
                if r.thread_id else f"{r.prompt_tokens + r.completion_tokens} tokens, ${r.cost:.4f}")
    head_text, foot_text = "\n\n".join(head), "\n\n".join(foot)
    if len(head_text) + len(foot_text) > budget_chars * 0.8:
        head_text = trim(head_text, max(200, int(budget_chars * 0.8) - len(foot_text)), r.thread_id)
    room = budget_chars - len(head_text) - len(foot_text) - 40
    ok = [(labels[i], a) for i, a in enumerate(r.answers) if a.ok]
    body = ""
    if ok and room > 200:
        each = room // len(ok) - len("### \n\n") - 60
        body = "## Answers\n" + "\n\n".join(f"### {lab}\n{trim(a.content, each, r.thread_id)}" for lab, a in ok)
    return "\n\n".join(x for x in (head_text, body, foot_text) if x)
