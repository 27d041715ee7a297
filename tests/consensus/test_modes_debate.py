"""Debate that does not just herd (issue 16): the first, independent answers are kept and voted on, every change
of mind is reported with what it moved toward, and a panel talked into one answer is flagged, not trusted."""

from __future__ import annotations

import pytest

from accord.consensus.report import markdown
from accord.consensus.types import Member, Request
from fakes import Reply
from panelkit import chair_json, kind, responder

SEATS = [Member("deepseek"), Member("qwen"), Member("kimi")]
LABELS = ["deepseek", "qwen", "kimi"]


def scripted(first: dict[str, str], later: dict[str, str]):
    """Panelists answering `first` on their own and `later` (by upstream id) in every debate round."""
    def panel(m: str, req: dict) -> Reply:
        value = later.get(m, first[m]) if kind(req) == "debate" else first[m]
        return Reply(content=f"Working it out: 391 × 7.\nANSWER: {value}")
    return responder(panel)


# deepseek and qwen are right on their own; kimi is wrong but persuasive, and the debate herds them onto its answer
FIRST = {"deepseek-chat": "2737", "qwen3-max": "2737", "kimi-k2-0905-preview": "2738"}
HERD = {"deepseek-chat": "2738", "qwen3-max": "2738"}


async def test_a_herding_debate_votes_on_the_first_answers_and_says_it_herded(engine, upstream):
    upstream.responder = scripted(FIRST, HERD)
    r = await engine.run(Request("391*7?", SEATS, mode="debate", answer_format="number", rounds=2))
    assert [a.content.endswith("2737") for a in r.answers] == [True, True, False]  # the first answers, kept
    assert len(r.rounds) == 2 and all(a.content.endswith("2738") for a in r.rounds[-1])
    assert r.vote["winner"] == "2737" and r.agreement == pytest.approx(0.667, abs=1e-3)
    d = r.debate
    assert d["vote_over"] == "first" and d["final_vote"]["counts"] == {"2738": 3}
    assert d["positions"] == {"deepseek": ["2737", "2738", "2738"], "qwen": ["2737", "2738", "2738"],
                              "kimi": ["2738", "2738", "2738"]}
    assert [c["text"] for c in d["changes"]] == ["round 2: deepseek moved from 2737 to 2738 (kimi's answer)",
                                                 "round 2: qwen moved from 2737 to 2738 (kimi's answer)"]
    assert "from 0.67 to 1.00 (unanimous on 2738)" in d["herding"] and d["herding"] in r.notes
    out = markdown(r, LABELS, 10**6)
    assert "## Vote (first, independent answers)\nwinner: 2737" in out
    assert "first, independent answers: 2737: 2, 2738: 1 (agreement 0.67)" in out
    assert "after round 3: 2738: 3 (agreement 1.00)" in out
    assert "- round 2: qwen moved from 2737 to 2738 (kimi's answer)" in out
    assert "### deepseek (first answer)" in out and "### deepseek (round 3)" in out


async def test_the_final_answers_are_voted_on_only_when_asked(engine, upstream):
    upstream.responder = scripted(FIRST, HERD)
    r = await engine.run(Request("391*7?", SEATS, mode="debate", answer_format="number", final_vote=True))
    assert r.vote["winner"] == "2738" and r.agreement == 1.0 and r.debate["vote_over"] == "final"
    assert r.debate["first_vote"]["counts"] == {"2737": 2, "2738": 1}  # the disagreement stays visible
    assert any("the first, independent answers disagreed (2737: 2, 2738: 1)" in n for n in r.notes)
    assert "## Vote (final answers)" in markdown(r, LABELS, 10**6)


async def test_a_change_of_mind_says_what_it_moved_toward(engine, upstream):
    upstream.responder = scripted(FIRST, {"kimi-k2-0905-preview": "2737"})
    r = await engine.run(Request("391*7?", SEATS, mode="debate", answer_format="number"))
    assert [c["text"] for c in r.debate["changes"]] == ["round 2: kimi moved from 2738 to 2737 (the majority)"]
    upstream.responder = scripted(FIRST, {"deepseek-chat": "2736"})
    r = await engine.run(Request("391*7?", SEATS, mode="debate", answer_format="number"))
    assert r.debate["changes"][0]["toward"] == "a new answer" and r.vote["winner"] == "2737"
    upstream.responder = scripted({**FIRST, "kimi-k2-0905-preview": "2737"}, {})
    r = await engine.run(Request("391*7?", SEATS, mode="debate", answer_format="number"))
    assert r.debate["changes"] == [] and not r.debate["herding"]
    assert "- no one changed their answer" in markdown(r, LABELS, 10**6)


async def test_a_free_text_debate_measures_agreement_on_the_first_answers_and_the_chair_reads_the_last(
        engine, upstream):
    first = {"deepseek-chat": "Use PostgreSQL: it is durable and scales to many writers.",
             "qwen3-max": "Use PostgreSQL, durable and it scales to many writers.",
             "kimi-k2-0905-preview": "SQLite is enough for one process; keep it simple."}

    def panel(m: str, req: dict) -> Reply:
        if kind(req) == "debate":
            return Reply(content="Revised: use PostgreSQL, durable and it scales to many writers.")
        return Reply(content=first[m])

    upstream.responder = responder(panel, chair=Reply(content=chair_json(["deepseek", "qwen", "kimi"])))
    r = await engine.run(Request("Which store?", SEATS, mode="debate"))
    assert r.agreement == pytest.approx(0.667, abs=1e-3) and r.chair_agreement == 1.0  # first answers vs chair
    assert r.clusters["groups"][0]["members"] == ["deepseek", "qwen"]
    chair_req = next(x for x in upstream.requests if kind(x) == "chair")
    assert "Revised:" in chair_req["json"]["messages"][-1]["content"]
    assert "SQLite is enough" not in chair_req["json"]["messages"][-1]["content"]
    out = markdown(r, LABELS, 10**6)
    assert "### kimi (first answer)\nSQLite is enough" in out and "### kimi (round 2)\nRevised:" in out


async def test_a_seat_that_failed_sits_out_the_rounds_and_is_stored_as_such(engine, upstream):
    def panel(m: str, req: dict) -> Reply:
        if m == "kimi-k2-0905-preview":
            return Reply(status=500, error={"error": {"message": "down"}})
        return Reply(content="ANSWER: 2738" if kind(req) == "debate" else f"ANSWER: {FIRST[m]}")

    upstream.responder = responder(panel)
    r = await engine.run(Request("391*7?", SEATS, mode="debate", answer_format="number"))
    assert r.status == "partial" and [a.status for a in r.rounds[0]] == ["ok", "ok", "skipped"]
    assert r.debate["positions"] == {"deepseek": ["2737", "2738"], "qwen": ["2737", "2738"]}
    assert r.vote["counts"] == {"2737": 2} and r.debate["final_vote"]["counts"] == {"2738": 2}
    assert all(a.part is not None for a in [*r.answers, *r.rounds[0]])  # every answer stored in the thread
