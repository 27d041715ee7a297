"""The four modes, each a coroutine over the runner's fan-out and the pure strategies."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from .. import tracing
from . import extract, prompts, rank, synthesis, vote
from .select import select
from .strategy import first_answers, messages
from .types import Answer, Result

if TYPE_CHECKING:
    from .strategy import Engine, Run


async def chair(engine: Engine, run: Run, result: Result, extra: str = "") -> None:
    """The chair's critical synthesis of the answers (each seat's last, after a debate; and of the ranking, in
    review mode)."""
    labels = engine.labels(run.req.panel)
    ok = [(labels[i], a) for i, a in enumerate(result.latest()) if a.ok]
    if not ok:
        result.notes.append("no panelist answered, so there is nothing to synthesize")
        return
    name = engine.pick_chair(run.req, result.answers)
    text = prompts.CHAIR.format(question=run.req.question, extra=extra,
                                answers=prompts.labelled([(lab, a.content) for lab, a in ok]))
    msgs = [*run.req.history, {"role": "user", "content": text}]
    if run.req.context:
        msgs[-1]["content"] += f"\n\nCONTEXT THE PANEL WAS GIVEN:\n{run.req.context}"
    a = await engine.ask(run, name, msgs, label=f"chair {name}", event="chair")
    result.chair = a
    if not a.ok:
        result.notes.append(f"the chair ({name}) failed: {a.error}; the panel's answers are returned as they are")
        return
    s = synthesis.parse(a.content, [lab for lab, _ in ok])
    result.synthesis = synthesis.render(s)
    result.recommendation = s.recommendation
    result.points_of_agreement, result.disagreements, result.risks = s.agreement, s.disagreements, s.risks
    if s.parsed:
        result.agreement = s.score  # the share of those who answered (as in a vote); failures show in status
    else:
        result.notes.append("the chair did not reply in the requested structure; its text is returned as is")


async def synthesize(engine: Engine, run: Run) -> Result:
    result = Result(run.req.question, "synthesize", "", await first_answers(engine, run))
    await chair(engine, run, result)
    return result


def tally(engine: Engine, run: Run, answers: list[Answer]) -> dict:
    """The vote over what each answer states; `unreadable` says, per panelist, why none could be read."""
    labels = engine.labels(run.req.panel)
    reads = {labels[i]: extract.read(a.content or a.reasoning or "", run.req.answer_format)
             for i, a in enumerate(answers) if a.ok}
    picked = {lab: r.value for lab, r in reads.items()}
    out = vote.plurality(picked)
    return {"winner": out.winner, "counts": out.counts, "share": round(out.share, 3), "tie": out.tie,
            "answers": picked, "unreadable": out.unreadable,
            "why_unreadable": {lab: r.why for lab, r in reads.items() if r.value is None}}


def settle(result: Result, v: dict) -> None:
    """Agreement, recommendation and notes from a vote, one rule for every mode: agreement is unknown (None)
    when no panelist answered, or none stated a readable answer, and a note says why."""
    answered = any(a.ok for a in result.answers)
    result.agreement = v["share"] if answered and v["counts"] else None
    if not answered:
        result.notes.append("every panelist failed, so agreement is unknown")
    elif not v["counts"]:
        result.notes.append("no answer stated a readable value, so agreement is unknown")
    if v["tie"]:
        result.recommendation = f"tie between {', '.join(v['tie'])}"
    elif v["winner"] is not None:
        result.recommendation = v["winner"]
    for lab, why in v["why_unreadable"].items():
        result.notes.append(f"no answer could be read from {lab}: {why}")


async def vote_mode(engine: Engine, run: Run) -> Result:
    result = Result(run.req.question, "vote", "", await first_answers(engine, run))
    result.vote = tally(engine, run, result.answers)
    settle(result, result.vote)
    return result


async def review(engine: Engine, run: Run) -> Result:
    result = Result(run.req.question, "review", "", await first_answers(engine, run))
    labels = engine.labels(run.req.panel)
    ok = {labels[i]: a for i, a in enumerate(result.answers) if a.ok}
    if len(ok) < 3:
        result.notes.append("peer review needs at least three answers; synthesized without a ranking")
        await chair(engine, run, result)
        return result
    rng = random.Random(run.req.seed)
    candidates = list(ok)
    shown = {r: rank.present(r, candidates, rng) for r in candidates}

    def job(reviewer: str) -> Callable[[], Awaitable[Answer]]:
        pres = shown[reviewer]
        body = "\n\n".join(f"Response {lab}:\n{ok[c].content}" for lab, c in pres.labels.items())
        msgs = [{"role": "user", "content": prompts.REVIEW.format(question=run.req.question, responses=body)}]
        return lambda: engine.ask(run, ok[reviewer].model, msgs, label=f"review by {reviewer}", event="review")

    result.reviews = await engine.fan_out(run, [job(r) for r in candidates])
    rankings = {}
    for reviewer, a in zip(candidates, result.reviews, strict=True):
        if a.ok:
            order = rank.parse_ranking(a.content, list(shown[reviewer].labels))
            if order:
                rankings[reviewer] = [shown[reviewer].labels[x] for x in order]
            else:
                result.notes.append(f"could not read a ranking from {reviewer}'s review")
    if not rankings:
        result.notes.append("no review gave a readable ranking; synthesized without one")
        await chair(engine, run, result)
        return result
    result.ranking = rank.aggregate(rankings, candidates)
    top = rank.leaders(result.ranking)
    if len(top) > 1:
        result.notes.append(f"the peer review tied for first place between {', '.join(top)}: it picks none")
    table = "\n".join(f"{'=' if r['tied'] else ''}{r['place']}. {r['model']} (Borda {r['score']}, "
                      f"mean rank {r['mean_rank']})" for r in result.ranking)
    await chair(engine, run, result, extra=f"\nANONYMOUS PEER RANKING (self-votes excluded):\n{table}\n")
    return result


async def debate(engine: Engine, run: Run) -> Result:
    """Rounds of revision after the first, independent answers, which are kept: agreement and the vote are
    theirs unless the caller asks for the final answers' vote (`final_vote`), since a debate can herd a panel
    onto one answer, right or wrong, without making it more often right."""
    first = await first_answers(engine, run)
    labels = engine.labels(run.req.panel)
    current = list(first)
    rounds: list[list[Answer]] = []
    for rnd in range(2, run.req.rounds + 2):
        live = [i for i, a in enumerate(current) if a.ok]
        if len(live) < 2:
            break
        await run.emit("round", None, f"round {rnd}")

        def job(i: int, current: list[Answer] = current, rnd: int = rnd, live: list[int] = live):
            m = run.req.panel[i]
            msgs, notes = messages(engine, run, m)
            others = prompts.labelled([(labels[j], current[j].content) for j in live if j != i])
            ask = prompts.DEBATE.format(round=rnd, own=current[i].content, others=others)
            if run.req.answer_format:
                ask += "\n\n" + prompts.answer_line(run.req.answer_format)
            msgs += [{"role": "assistant", "content": current[i].content}, {"role": "user", "content": ask}]
            return lambda: engine.ask(run, m.model, msgs, stance=m.stance, label=f"{labels[i]} r{rnd}", notes=notes)

        new = await tracing.debate_round(rnd, engine.fan_out(run, [job(i) for i in live]))
        revised = [Answer(m.model, m.stance, status="skipped", error="no answer to revise in this round")
                   for m in run.req.panel]
        for i, a in zip(live, new, strict=True):
            revised[i] = a
        rounds.append(revised)
        current = [a if a.ok else old for old, a in zip(current, revised, strict=True)]  # a failed one keeps the last
    result = Result(run.req.question, "debate", "", first, rounds=rounds)
    result.debate = minds(labels, run.req.answer_format, first, rounds)
    if run.req.answer_format:
        first_v, final_v = tally(engine, run, first), tally(engine, run, current)
        result.debate.update(first_vote=first_v, final_vote=final_v,
                             vote_over="final" if run.req.final_vote else "first")
        result.vote = final_v if run.req.final_vote else first_v
        settle(result, result.vote)
        result.debate["herding"] = herding(first_v, final_v, bool(rounds))
        if result.debate["herding"]:
            result.notes.append(result.debate["herding"])
    else:
        await chair(engine, run, result)
    return result


def minds(labels: list[str], fmt: str | None, first: list[Answer], rounds: list[list[Answer]]) -> dict:
    """Who held which answer after each round, and every change of mind: from what, toward what (the previous
    round's majority, another panelist's answer, or a new one)."""
    def value(a: Answer) -> str | None:
        return extract.read(a.content or a.reasoning or "", fmt).value

    held = {labels[i]: value(a) for i, a in enumerate(first) if a.ok}
    positions = {lab: [v] for lab, v in held.items()}
    changes = []
    for n, rnd in enumerate(rounds, start=2):
        before = dict(held)
        lead = vote.plurality(before)
        for i, a in enumerate(rnd):
            lab = labels[i]
            if lab not in held:
                continue
            if a.ok:
                held[lab] = value(a)
            old, new = before[lab], held[lab]
            positions[lab].append(new)
            if old == new:
                continue
            holders = [x for x, v in before.items() if x != lab and v == new and new is not None]
            if new is None:
                toward = "no readable answer"
            elif new == lead.winner:
                toward = "the majority" if lead.counts[new] * 2 > len(before) else "the most common answer"
            elif holders:
                toward = f"{', '.join(holders)}'s answer"
            else:
                toward = "a new answer"
            text = f"round {n}: {lab} moved from {old or 'no readable answer'} to {new or 'no readable answer'}"
            changes.append({"round": n, "model": lab, "from": old, "to": new, "toward": toward,
                            "text": text + ("" if new is None else f" ({toward})")})
    return {"vote_over": None, "positions": positions, "changes": changes, "herding": ""}


def herding(first: dict, final: dict, debated: bool) -> str:
    """A warning when the debate made the panel agree more than its independent answers did: agreement
    reached by persuasion is no evidence that the answer is right."""
    if not debated or not first["counts"] or final["share"] <= first["share"]:
        return ""
    was = ", ".join(f"{k}: {n}" for k, n in first["counts"].items())
    now = final["winner"] or "a tie"
    unanimous = len(final["counts"]) == 1 and not final["unreadable"]
    return (f"the debate raised agreement from {first['share']:.2f} to {final['share']:.2f}"
            + (f" (unanimous on {now})" if unanimous else f" (toward {now})")
            + f", but the first, independent answers disagreed ({was}): agreement reached in debate is not "
            "independent evidence")


MODES = {"synthesize": synthesize, "vote": vote_mode, "review": review, "debate": debate, "select": select}
