"""Reading answers as the model meant them (issue 16): the answer a reply *states* is read, exactly; a reply
that states none, or two, is unreadable and never a vote."""

from __future__ import annotations

import pytest

from accord.consensus import extract, rank
from accord.consensus.runner import Engine
from accord.consensus.types import Member, Request
from accord.consensus.vote import plurality
from accord.errors import UpstreamError
from fakemodel import FakeModels, Sent, kind, script
from fakes import Reply
from panelkit import UPSTREAM, chair_json, responder

U = None  # unreadable

SHAPES = [
    # ---- numbers: the ANSWER line states the answer
    ("Let me think... 6*7.\nANSWER: 42", "number", "42"),
    ("ANSWER: 2737 (= 391 × 7)", "number", "2737"),
    ("ANSWER: 1/2", "number", "0.5"),
    ("ANSWER: .5", "number", "0.5"),
    ("ANSWER: 0.50", "number", "0.5"),
    ("ANSWER: 1/3", "number", "1/3"),
    ("ANSWER: 10^3", "number", "1000"),
    ("ANSWER: 10**3", "number", "1000"),
    ("ANSWER: 2^53", "number", "9007199254740992"),
    ("ANSWER: 2^53+1", "number", "9007199254740993"),
    ("ANSWER: 1.5 × 10^3", "number", "1500"),
    ("ANSWER: 2737 or 2738", "number", U),
    ("ANSWER: either 12 or 13", "number", U),
    ("ANSWER: −42", "number", "-42"),
    ("ANSWER: -42", "number", "-42"),
    ("ANSWER: 2 737", "number", "2737"),
    ("ANSWER: 2\u2009737", "number", "2737"),
    ("ANSWER: 2\u00a0737", "number", "2737"),
    ("ANSWER: 1,234,567", "number", "1234567"),
    ("ANSWER: 12345678901234567890", "number", "12345678901234567890"),
    ("ANSWER: 1e400", "number", "1e400"),
    ("ANSWER: 1.5e3", "number", "1500"),
    ("ANSWER: 2^99999", "number", U),
    ("ANSWER: 0^-1", "number", U),
    ("ANSWER: 1e999999999", "number", U),
    ("ANSWER: 10^-3", "number", "0.001"),
    ("ANSWER: 45%", "number", "45%"),
    ("ANSWER: 45 percent", "number", "45%"),
    ("ANSWER: $1,250.00", "number", "1250"),
    ("ANSWER: €3.50", "number", "3.5"),
    ("ANSWER: **19034**", "number", "19034"),
    ("ANSWER: $\\boxed{7}$", "number", "7"),
    ("ANSWER: ４２", "number", "42"),
    ("Final answer: 3.5", "number", "3.5"),
    ("**Final answer:** 3.5", "number", "3.5"),
    ("I'll keep mine.\nANSWER: 42 (B said 41, but 6*7 is 42; C's 40 is off by 2)", "number", "42"),
    # ---- numbers: no number on the ANSWER line, or no ANSWER line: what the text states
    ("So the answer is **19034**. I verified it 2 ways.", "number", "19034"),
    ("The total is $1,250.00 in all.", "number", "1250"),
    ("We get \\boxed{144} after 3 steps.", "number", "144"),
    ("Working: 12 * 12 = 144, check with 2 methods.\n\n**144**", "number", "144"),
    ("391*7 is what we need.\nANSWER: unknown", "number", U),
    ("I cannot compute this with 3 tries.", "number", U),
    ("42", "number", "42"),
    ("答案：42", "number", "42"),
    ("计算得 6 乘 7，最终答案是 42。", "number", "42"),
    ("结果为 1/4", "number", "0.25"),
    # ---- yes / no
    ("No doubt about it: yes", "yesno", "yes"),
    ("Yes, it is safe.", "yesno", "yes"),
    ("ANSWER: No", "yesno", "no"),
    ("No. It leaks memory.", "yesno", "no"),
    ("There is no way it is safe, so no.\nANSWER: no", "yesno", "no"),
    ("No question, yes. It holds.", "yesno", "yes"),
    ("Reasoning... no problem there.\nANSWER: Yes", "yesno", "yes"),
    ("ANSWER: yes or no, it depends", "yesno", U),
    ("It depends on the workload.", "yesno", U),
    ("ANSWER: not yes", "yesno", "no"),
    ("The answer is yes.", "yesno", "yes"),
    ("答案：是", "yesno", "yes"),
    ("最终答案是否。", "yesno", "no"),
    ("ANSWER: True", "yesno", "yes"),
    # ---- choices
    ("I pick (C) because...", "choice", "C"),
    ("The answer is b.", "choice", "B"),
    ("The answer is B", "choice", "B"),
    ("reasoning...\nANSWER: D", "choice", "D"),
    ("ANSWER: (B)", "choice", "B"),
    ("ANSWER: B) 12 apples", "choice", "B"),
    ("ANSWER: Option B", "choice", "B"),
    ("ANSWER: **C**", "choice", "C"),
    ("ANSWER: B or C", "choice", U),
    ("Option A is tempting but wrong. I go with option C.", "choice", "C"),
    ("A) 1  B) 2  C) 3 — all plausible; I cannot tell.", "choice", U),
    ("\\boxed{D}", "choice", "D"),
    ("最终答案是 B", "choice", "B"),
    ("答案：C", "choice", "C"),
    ("(A)", "choice", "A"),
    # ---- JSON
    ('Result: ```json\n{"verdict": "Approve", "n": 2}\n```', "json:verdict", "approve"),
    ('{"a": {"b": [1, 2]}}', "json:a.b", "[1, 2]"),
    ('```json\n{"meta": {"x": 1}, "n": 2.0}\n```', "json:n", "2"),
    ('{"n": 12345678901234567890}', "json:n", "12345678901234567890"),
    ('{"n": 0.1}', "json:n", "0.1"),
    ('{"ok": true}', "json:ok", "true"),
    ('{"n": 1e999999999}', "json:n", U),
    ('{"note": "a } brace", "v": "x"}', "json:v", "x"),
    ('{"note": "say \\"}\\" {", "v": "y"}', "json:v", "y"),
    ('ANSWER: {"v": 3}\nearlier draft {"v": 4}', "json:v", "3"),
    ('{"other": 1}', "json:v", U),
    ("no json at all", "json:v", U),
    # ---- no format: whatever the ANSWER line says
    ("Paris is lovely.\nANSWER: Paris.", None, "paris"),
    ("no marker here", None, U),
    ("ANSWER: Yes", None, "yes"),
    ("ANSWER: 2737 (= 391 × 7)", None, "2737"),
]


@pytest.mark.parametrize(("text", "fmt", "want"), SHAPES)
def test_reads_the_stated_answer(text, fmt, want):
    assert extract.extract(text, fmt) == want
    r = extract.read(text, fmt)
    assert r.value == want, (text, r)
    if want is None:
        assert r.why, "an unreadable answer says why"


def test_the_table_is_large():
    assert len(SHAPES) >= 60


def test_ambiguous_answers_say_so():
    assert extract.read("ANSWER: 2737 or 2738", "number").why == "ambiguous: 2737 or 2738"
    assert "states no number" in extract.read("391*7\nANSWER: unknown", "number").why


# ------------------------------------------------------------------------------------- exact voting
def _vote(texts: list[str], fmt: str = "number"):
    return plurality({f"m{i}": extract.extract(t, fmt) for i, t in enumerate(texts)})


def test_twenty_digit_answers_stay_different():
    v = _vote(["ANSWER: 12345678901234567890", "ANSWER: 12345678901234567891", "ANSWER: 12345678901234567892"])
    assert v.winner is None and len(v.counts) == 3 and v.share == pytest.approx(1 / 3)


def test_two_to_the_53_and_one_more_differ():
    v = _vote(["ANSWER: 9007199254740992", "ANSWER: 9007199254740993", "ANSWER: 2^53+1"])
    assert v.winner == "9007199254740993" and v.counts == {"9007199254740993": 2, "9007199254740992": 1}


def test_same_value_in_different_shapes_agrees():
    v = _vote(["ANSWER: 1/2", "ANSWER: .5", "the answer is **0.50**", "ANSWER: 50%"])
    assert v.winner == "0.5" and v.counts["0.5"] == 3


def test_unreadable_answers_are_not_votes():
    v = _vote(["ANSWER: 7", "391*7\nANSWER: unknown", "ANSWER: 7 or 8"])
    assert v.winner == "7" and v.counts == {"7": 1} and sorted(v.unreadable) == ["m1", "m2"]


# ------------------------------------------------------------------------------------- review
@pytest.mark.parametrize(("text", "want"), [
    ("FINAL RANKING:\n1. Response C (unlike Response D, it is right)\n2. Response A\n3. Response B",
     ["C", "A", "B"]),
    ("FINAL RANKING: C, A, B", ["C", "A", "B"]),
    ("FINAL RANKING: Response B > Response C > Response A", ["B", "C", "A"]),
    ("Final ranking:\n1. **Response A** — better than Response B\n2. Response C: beats Response B\n3. B",
     ["A", "C", "B"]),
    ("FINAL RANKING:\n1) C\n2) B\n3) A", ["C", "B", "A"]),
])
def test_ranking_parser_reads_one_label_per_place(text, want):
    assert rank.parse_ranking(text, ["A", "B", "C", "D"][:4 if "D" in text else 3]) == want


def test_review_ties_are_reported_not_broken_by_seat():
    # a three-way cycle: each candidate is first once, second once
    rows = rank.aggregate({"x": ["y", "z"], "y": ["z", "x"], "z": ["x", "y"]}, ["x", "y", "z"])
    assert all(r["place"] == 1 for r in rows) and all(r["tied"] for r in rows)
    assert rank.leaders(rows) == ["x", "y", "z"]
    # a clear winner is not a tie
    rows = rank.aggregate({"x": ["y", "z"], "y": ["x", "z"], "z": ["y", "x"]}, ["x", "y", "z"])
    assert rows[0]["model"] == "y" and rows[0]["place"] == 1 and not rows[0]["tied"]
    assert rank.leaders(rows) == ["y"]


def test_a_tie_does_not_favour_the_first_seat():
    # z and x earn the same points and mean rank; z sits first on the panel
    rows = rank.aggregate({"w": ["x", "z", "y"], "y": ["z", "x", "w"], "x": ["z", "y", "w"], "z": ["x", "y", "w"]},
                          ["z", "y", "x", "w"])
    assert rank.leaders(rows) == ["x", "z"]
    assert rows[0]["tied"] and rows[1]["tied"] and rows[0]["place"] == rows[1]["place"] == 1


# ------------------------------------------------------------------------------------- through the engine
@pytest.fixture
def models() -> FakeModels:
    return FakeModels(UPSTREAM)


def seats(*specs: str) -> list[Member]:
    return [Member.parse(s) for s in specs]


async def test_debate_asks_every_round_for_the_answer_line_and_reads_the_stated_one(models):
    first = {"deepseek": "42", "qwen": "41", "kimi": "42"}

    def panel(m: str, sent: Sent) -> str:
        if kind(sent.body) == "debate":  # each keeps its own answer, naming another's number last
            other = "41" if first[m] == "42" else "42"
            return f"I keep mine.\nANSWER: {first[m]} (the other panelist said {other})"
        return f"Working...\nANSWER: {first[m]}"

    models.default = script(panel)
    r = await Engine(models).run(Request("6*7?", seats("deepseek", "qwen", "kimi"), mode="debate",
                                         answer_format="number", rounds=1))
    for c in models.calls:
        assert "ANSWER:" in c.system, kind(c.body)  # the first answers and the revisions are asked for it
        if kind(c.body) == "debate":
            assert "ANSWER:" in c.last
    assert [kind(c.body) for c in models.calls] == ["panel"] * 3 + ["debate"] * 3
    assert r.vote["answers"] == {"deepseek": "42", "qwen": "41", "kimi": "42"}
    assert r.vote["winner"] == "42" and r.agreement == pytest.approx(0.667, abs=1e-3)


async def test_an_answer_only_in_the_reasoning_is_read(engine, upstream):
    def panel(m, req):
        if m == "deepseek-reasoner":
            return Reply(content="", reasoning="6 times 7... so the answer is **42**.")
        return Reply(content="ANSWER: 42")

    upstream.responder = responder(panel)
    r = await engine.run(Request("6*7?", seats("deepseek", "r1", "kimi"), mode="vote", answer_format="number"))
    assert r.answers[1].ok and r.vote["answers"]["r1"] == "42"
    assert r.vote["counts"] == {"42": 3} and r.agreement == 1.0 and r.status == "done"


@pytest.mark.parametrize("mode", ["vote", "debate", "synthesize"])
async def test_agreement_is_unknown_in_every_mode_when_every_panelist_fails(models, mode):
    models.default = lambda m, body: UpstreamError(f"{m} is down")
    r = await Engine(models).run(Request("6*7?", seats("deepseek", "qwen", "kimi"), mode=mode,
                                         answer_format="number"))
    assert len(models.calls) == 3  # nobody answered: no second round, no chair
    assert r.status == "failed" and r.agreement is None
    if mode != "synthesize":
        assert any("every panelist failed" in n for n in r.notes)


async def test_unreadable_answers_make_agreement_unknown_and_say_why(models):
    models.default = lambda m, body: "391*7 is the key.\nANSWER: unknown"
    r = await Engine(models).run(Request("q", seats("deepseek", "qwen", "kimi"), mode="vote",
                                         answer_format="number"))
    assert r.vote["counts"] == {} and r.agreement is None
    assert any("states no number" in n for n in r.notes)


async def test_review_cycle_is_reported_as_a_tie_not_won_by_the_first_seat(models):
    answer = {"deepseek": "ANS-X", "qwen": "ANS-Y", "kimi": "ANS-Z"}
    prefer = {"deepseek": "ANS-Y", "qwen": "ANS-Z", "kimi": "ANS-X"}  # a cycle

    def review(model: str, sent: Sent) -> str:
        blocks = {b.split(":\n", 1)[0].split()[-1]: b for b in sent.last.split("Response ")[1:] if ":\n" in b}
        order = sorted(blocks, key=lambda lab: prefer[model] not in blocks[lab])
        return "FINAL RANKING: " + ", ".join(order)

    models.default = script(lambda m, sent: answer[m], review=review, chair=chair_json(["qwen"]))
    r = await Engine(models).run(Request("q", seats("deepseek", "qwen", "kimi"), mode="review", seed=5))
    assert all(x["place"] == 1 and x["tied"] for x in r.ranking)
    assert any("tied for first place" in n for n in r.notes)
    chair = models.calls[-1]
    assert kind(chair.body) == "chair" and "=1. deepseek" in chair.last
