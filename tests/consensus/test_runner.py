"""The engine against scripted fake models over real HTTP: parallel fan-out, partial results, timeouts,
budgets, isolation of concurrent runs, the stored thread; and, where only the answers matter, against the
in-memory fake model (tests/fakemodel.py): every mode, stances, and what each call was sent."""

from __future__ import annotations

import asyncio

import pytest

from accord.config import parse
from accord.consensus.callers import LocalModels
from accord.consensus.runner import Engine
from accord.consensus.types import InputError, Member, Request
from accord.errors import UpstreamError
from accord.router import Router
from accord.store.db import Database
from accord.store.threads import ThreadStore
from fakemodel import FakeModels, Sent, script
from fakes import Reply
from panelkit import UPSTREAM, chair_json, choice, panel_config, question, responder


@pytest.fixture
def models() -> FakeModels:
    """The panel config's five models, in memory: no sockets, a call history to assert on."""
    return FakeModels(UPSTREAM, aliases={"q": "qwen", "fast": "gpt"})


def seats(*specs: str) -> list[Member]:
    return [Member.parse(s) for s in specs]


async def test_five_model_panel_runs_in_parallel(engine, upstream):
    # the fake holds every panel answer until all five asks are in flight at once (so they ran concurrently:
    # a panel asked one by one would never get there), then answers them last seat first
    order = ["deepseek-reasoner", "gpt-4o-mini", "kimi-k2-0905-preview", "qwen3-max", "deepseek-chat"]
    public = {"deepseek-chat": "deepseek", "qwen3-max": "qwen", "kimi-k2-0905-preview": "kimi",
              "gpt-4o-mini": "gpt", "deepseek-reasoner": "r1"}
    events = []

    def turn(m: str):
        before = [("done", public[x]) for x in order[:order.index(m)]]
        return lambda: upstream.peak_in_flight >= 5 and all(ev in events for ev in before)

    upstream.responder = responder(lambda m, r: Reply(content=f"{m} answer", hold=turn(m)),
                                   chair=Reply(content=chair_json(["deepseek", "qwen"])))

    async def on_event(ev):
        events.append((ev.kind, ev.model))

    r = await engine.run(Request("Ship it?", seats("deepseek", "qwen", "kimi", "gpt", "r1")), on_event)
    assert r.status == "done" and all(a.ok for a in r.answers)
    assert upstream.peak_in_flight == 5  # parallel: the whole panel was asked at once
    assert r.chair is not None and r.chair.model == "qwen"  # highest score (17; r1 ties, qwen sits first)
    assert r.chair_agreement == pytest.approx(0.4)  # the chair names 2 supporters of 5 asked
    assert r.clusters["groups"][0] == {"members": ["deepseek", "r1"], "size": 2}  # "deepseek-… answer" twice
    assert r.agreement == pytest.approx(0.4) and len(r.clusters["groups"]) == 4
    assert r.recommendation == "Do it." and "## Disagreement" in r.synthesis and r.risks == ["lock-in"]
    starts = [m for k, m in events if k == "start"]
    dones = [m for k, m in events if k == "done"]
    assert sorted(starts) == sorted(["deepseek", "qwen", "kimi", "gpt", "r1"])
    assert dones[:5] == ["r1", "gpt", "kimi", "qwen", "deepseek"]  # reported as they finish, not in seat order
    assert events[-3:] == [("chair", "chair qwen"), ("done", "chair qwen"), ("finished", None)]


async def test_sequential_setting_runs_one_at_a_time(engine, upstream):
    upstream.responder = responder(lambda m, r: Reply(content="ok", delay=0.05))  # wait-ok: room to overlap
    r = await engine.run(Request("q", seats("deepseek", "qwen", "kimi"), mode="vote", concurrency=1))
    assert r.status == "done" and len(upstream.requests) == 3
    assert upstream.peak_in_flight == 1  # never two asks at once


async def test_failed_and_slow_models_give_a_partial_result(engine, upstream):
    def panel(m, r):
        if m == "kimi-k2-0905-preview":
            return Reply(status=500)
        if m == "gpt-4o-mini":
            return Reply(content="late", hold=lambda: False)  # answers only after the test (reset lets it go)
        return Reply(content=f"{m}: yes")

    upstream.responder = responder(panel, chair=Reply(content=chair_json(["deepseek", "qwen"])))
    r = await engine.run(Request("q", seats("deepseek", "qwen", "kimi", "gpt"), per_model_timeout=2))
    assert r.status == "partial"
    by = {a.model: a for a in r.answers}
    assert by["kimi"].status == "failed" and "fake error 500" in by["kimi"].error
    assert by["gpt"].status == "timeout" and "within 2 s" in by["gpt"].error
    assert by["deepseek"].ok and by["qwen"].ok and r.synthesis
    assert r.chair_agreement == 1.0  # both who answered support it; the failures show in the status
    assert r.reasons == [{"code": "panel_partial", "text": "2 of 4 models answered"}]
    stored = await engine.store.get(r.thread_id)
    assert stored["status"] == "partial"
    assert {m["model"]: m["status"] for m in stored["messages"] if m["role"] == "panel"} == {
        "deepseek": "ok", "qwen": "ok", "kimi": "failed", "gpt": "timeout"}


async def test_chair_failure_still_returns_the_answers(engine, upstream):
    upstream.responder = responder(lambda m, r: Reply(content="fine"), chair=Reply(status=503))
    r = await engine.run(Request("q", seats("deepseek", "kimi"), chair="gpt"))
    assert r.status == "degraded" and r.chair is not None and not r.chair.ok
    assert any("the chair (gpt) failed" in n and "503" in n for n in r.notes)
    assert all(a.ok for a in r.answers)


async def test_two_runs_at_once_stay_apart(engine, upstream):
    upstream.responder = responder(lambda m, r: Reply(content=f"about {question(r)}: ANSWER: {question(r)[-1]}",
                                                      delay=0.1))
    a, b = await asyncio.gather(
        engine.run(Request("alpha question 1", seats("deepseek", "qwen", "kimi"), mode="vote")),
        engine.run(Request("beta question 2", seats("deepseek", "qwen", "kimi"), mode="vote")),
    )
    assert a.thread_id != b.thread_id
    assert all("alpha" in x.content for x in a.answers) and all("beta" in x.content for x in b.answers)
    assert a.vote["winner"] == "1" and b.vote["winner"] == "2"
    ta, tb = await engine.store.get(a.thread_id), await engine.store.get(b.thread_id)
    assert all("beta" not in m["content"] for m in ta["messages"])
    assert all("alpha" not in m["content"] for m in tb["messages"])


async def test_vote_mode_counts_and_reports_ties(models):
    models.queue("deepseek", "Working...\nANSWER: 42").queue("qwen", "ANSWER: 42").queue("kimi", "ANSWER: 41")
    engine = Engine(models)
    r = await engine.run(Request("6*7?", seats("deepseek", "qwen", "kimi"), mode="vote", answer_format="number"))
    assert r.vote["winner"] == "42" and r.agreement == pytest.approx(0.667, abs=1e-3) and r.chair is None
    assert sorted(models.asked()) == ["deepseek", "kimi", "qwen"]  # no chair in vote mode
    assert all("ANSWER:" in c.system for c in models.calls)  # every seat was asked for the format
    models.queue("deepseek", "ANSWER: 42").queue("qwen", "ANSWER: 40")
    r = await engine.run(Request("6*7?", seats("deepseek", "qwen"), mode="vote", answer_format="number"))
    assert r.vote["winner"] is None and r.vote["tie"] == ["40", "42"] and "tie" in r.recommendation


async def test_review_mode_anonymizes_and_ranks(models):
    quality = {"deepseek": "QUALITY-LOW", "qwen": "QUALITY-TOP", "kimi": "QUALITY-MID"}

    def review(model: str, sent: Sent) -> str:  # rank by quality, whatever the labels
        blocks = {b.split(":\n", 1)[0].split()[-1]: b for b in sent.last.split("Response ")[1:] if ":\n" in b}
        order = sorted(blocks, key=lambda lab: ("TOP" not in blocks[lab], "MID" not in blocks[lab]))
        return "Fine.\nFINAL RANKING:\n" + "\n".join(f"{i + 1}. Response {x}" for i, x in enumerate(order))

    models.default = script(lambda m, sent: quality[m], review=review, chair=chair_json(["qwen"]))
    r = await Engine(models).run(Request("q", seats("deepseek", "qwen", "kimi"), mode="review", seed=3))
    assert [x["model"] for x in r.ranking] == ["qwen", "kimi", "deepseek"]
    seen_by = {c.model: c.last for c in models.calls if "anonymous responses" in c.last}
    assert sorted(seen_by) == ["deepseek", "kimi", "qwen"]  # each panelist reviewed once
    assert "QUALITY-LOW" not in seen_by["deepseek"]  # a reviewer never sees (nor ranks) its own answer
    assert "QUALITY-TOP" not in seen_by["qwen"]
    assert all("deepseek" not in t and "qwen" not in t for t in seen_by.values())  # anonymous
    chair = models.calls[-1]  # after every answer and review
    assert chair.last.startswith("You chair a panel") and "ANONYMOUS PEER RANKING" in chair.last
    assert r.status == "done" and len(r.reviews) == 3


async def test_debate_mode_shows_others_previous_answers(models):
    for m in ("deepseek", "qwen", "kimi"):
        models.queue(m, f"{m} first take. ANSWER: {'no' if m == 'qwen' else 'yes'}",
                     f"{m} revised after reading others. ANSWER: yes")
    r = await Engine(models).run(Request("q", seats("deepseek", "qwen", "kimi"), mode="debate",
                                         answer_format="yesno"))
    assert len(r.rounds) == 1 and all("first take" in a.content for a in r.answers)  # kept: the first answers
    assert all("revised" in a.content for a in r.rounds[0]) and r.latest() == r.rounds[0]
    assert r.vote["winner"] == "yes" and r.agreement == pytest.approx(0.667, abs=1e-3)  # voted on the first ones
    first, second = models.bodies("qwen")  # each seat asked twice: no more
    assert "panel discussion" not in first["messages"][-1]["content"]
    text = second["messages"][-1]["content"]
    assert "panel discussion" in text and "deepseek first take" in text and "kimi first take" in text
    own, others = text.split("OTHER PANELISTS:")
    assert "qwen first take" in own and "qwen first take" not in others  # its own answer apart from the others'
    assert "[deepseek]\ndeepseek first take" in others and "[kimi]\nkimi first take" in others


async def test_stances_are_honest_prompts(models):
    models.default = lambda m, body: "x"
    await Engine(models).run(Request("q", [Member("deepseek", "for"), Member("qwen", "against"), Member("kimi"),
                                           Member("gpt", stance_prompt="Focus on security only.")], mode="vote"))
    system = {c.model: c.system for c in models.calls}
    assert "case FOR" in system["deepseek"] and "plainly wrong" in system["deepseek"]
    assert "case AGAINST" in system["qwen"] and "plainly right, say so" in system["qwen"]
    assert "Do not force balance" in system["kimi"]
    assert "Focus on security only." in system["gpt"]
    assert sum("Focus on security only." in s for s in system.values()) == 1  # only the seat it was given to


async def test_the_same_model_twice_gets_each_seats_stance_and_each_answer_is_credited_to_its_seat(models):
    def answer(m: str, sent: Sent) -> str:
        return "I argue FOR." if "case FOR" in sent.system else "I argue AGAINST." if "case AGAINST" in \
            sent.system else "No side."

    models.default = script(answer)
    r = await Engine(models).run(Request("q", seats("deepseek:for", "deepseek:against", "kimi")))
    assert models.asked().count("deepseek") == 2
    by = {a.label: a.content for a in r.answers}
    assert by == {"deepseek:for": "I argue FOR.", "deepseek:against": "I argue AGAINST.", "kimi": "No side."}
    chair = models.calls[-1]
    assert chair.last.startswith("You chair a panel")
    assert "[deepseek:for]\nI argue FOR." in chair.last and "[deepseek:against]\nI argue AGAINST." in chair.last


async def test_the_chair_is_asked_once_after_the_panel_with_every_answer_and_no_failure(models):
    said = {"deepseek": "Use PostgreSQL.", "qwen": "Use SQLite; it is enough.", "kimi": "Use a flat file."}
    models.default = script(lambda m, sent: said[m], chair=chair_json(["deepseek", "qwen"]))
    models.queue("gpt", UpstreamError("gpt is down"))
    r = await Engine(models).run(Request("Which store?", seats("deepseek", "qwen", "kimi", "gpt"), chair="r1"))
    assert r.status == "partial" and r.chair is not None and r.chair.model == "r1"
    assert sorted(models.asked()[:4]) == ["deepseek", "gpt", "kimi", "qwen"] and models.asked()[4:] == ["r1"]
    chair = models.calls[-1]
    assert "Which store?" in chair.last
    for m, text in said.items():  # every panelist's answer, under its label
        assert f"[{m}]\n{text}" in chair.last
    assert "[gpt]" not in chair.last  # a failed seat sends nothing to the chair


async def test_budgets_and_deadline(engine, upstream):
    upstream.responder = responder(lambda m, r: Reply(content="x" * 400, delay=0.05))
    r = await engine.run(Request("q", seats("deepseek", "qwen", "kimi"), mode="vote", token_budget=300))
    assert all(req["json"]["max_tokens"] == 100 for req in upstream.requests)  # 300 shared by 3 seats
    upstream.reset()
    upstream.responder = responder(lambda m, r: Reply(content="x"))
    r = await engine.run(Request("q", seats("qwen", "deepseek"), mode="vote", cost_budget=0.005, max_tokens=1000))
    by = {a.model: a for a in r.answers}
    assert by["qwen"].status == "skipped" and "cost budget" in by["qwen"].error  # 1000 tokens at $6/M > $0.005
    assert by["deepseek"].ok
    upstream.reset()
    upstream.responder = responder(lambda m, r: Reply(content="slow", hold=lambda: False))  # never in time
    r = await engine.run(Request("q", seats("deepseek", "qwen"), timeout=0.3))
    assert r.status == "failed" and upstream.in_flight == 2  # it returned at the deadline, not at the answers
    assert all(a.status == "timeout" and "deadline" in a.error for a in r.answers)


@pytest.mark.parametrize(("req", "msg"), [
    (Request("q", [Member("nope")]), "model `nope` is not served here"),
    (Request("q", [Member("deepseek", "sideways")]), "stance 'sideways'"),
    (Request("q", []), "panel is empty"),
    (Request(" ", [Member("deepseek")]), "question is empty"),
    (Request("q", [Member("deepseek")], mode="poll"), "mode must be one of"),  # type: ignore[arg-type]
])
async def test_bad_input_is_a_clear_error(engine, req, msg):
    with pytest.raises(InputError, match=msg):
        await engine.run(req)


async def test_aliases_resolve_and_thinking_reaches_the_provider(engine, upstream):
    upstream.responder = responder(lambda m, r: Reply(content="x"))
    r = await engine.run(Request("q", [Member("q"), Member("fast")], mode="vote", thinking="high", temperature=0.3))
    assert [a.model for a in r.answers] == ["qwen", "gpt"]
    sent = {x["json"]["model"]: x["json"] for x in upstream.requests}
    assert sent["qwen3-max"]["enable_thinking"] is True and sent["qwen3-max"]["temperature"] == 0.3
    assert "enable_thinking" not in sent["gpt-4o-mini"]
    assert any("cannot think" in n for n in r.answers[1].notes)


async def test_a_flaky_panel_member_falls_back_through_the_router(upstream, tmp_path):
    """The consensus engine gets the router's reliability for free: kimi's first deployment fails, its
    second answers, and the panel is complete."""
    text = panel_config(upstream.url).replace("num_retries: 0", "num_retries: 2").replace("k3}", "k3, order: 1}")
    head, _, tail = text.partition("consensus:")
    backup = f"  - {{name: kimi, model: openai/kimi-backup, api_base: {upstream.url}/v1, api_key: k6, order: 2}}\n"
    cfg = head + backup + "consensus:" + tail  # a second deployment of `kimi`
    router = Router(parse(cfg))
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/t.db")
    engine = Engine(LocalModels(router), ThreadStore(db))

    def panel(m, r):
        if m == "kimi-k2-0905-preview":
            return Reply(status=503)
        return Reply(content=f"{m}: yes")

    upstream.responder = responder(panel, chair=Reply(content=chair_json(["deepseek", "kimi"])))
    try:
        r = await engine.run(Request("q", seats("deepseek", "kimi")))
    finally:
        await router.close()
        await db.close()
    by = {a.model: a for a in r.answers}
    assert r.status == "done" and by["kimi"].ok and by["kimi"].content.startswith("kimi-backup: yes")
    tried = [q["json"]["model"] for q in upstream.requests]
    assert tried.index("kimi-k2-0905-preview") < tried.index("kimi-backup")  # failed first, then fell back


async def test_answers_stream_in_to_on_delta_before_each_model_is_done(engine, upstream):
    upstream.responder = responder(lambda m, r: Reply(content=f"{m} thinks this is a fine idea", chunk_size=5,
                                                      chunk_delay=0.01),
                                   chair=Reply(content=chair_json(["deepseek", "qwen"])))
    log: list[tuple[str, str, str]] = []

    async def on_event(ev):
        log.append(("event", ev.kind, ev.model or ""))

    async def on_delta(who, text):
        log.append(("delta", who, text))

    r = await engine.run(Request("q", seats("deepseek", "qwen:against")), on_event, on_delta=on_delta)
    assert r.status == "done"
    for label, upstream_id in (("deepseek", "deepseek-chat"), ("qwen:against", "qwen3-max")):
        pieces = [t for kind, who, t in log if kind == "delta" and who == label]
        assert len(pieces) > 3 and "".join(pieces) == f"{upstream_id} thinks this is a fine idea"
        last_delta = max(i for i, e in enumerate(log) if e[0] == "delta" and e[1] == label)
        done = next(i for i, e in enumerate(log) if e == ("event", "done", label))
        assert last_delta < done  # the text arrived while the model was still answering
    by = {a.label: a for a in r.answers}
    assert by["deepseek"].content == "deepseek-chat thinks this is a fine idea"
    assert by["deepseek"].completion_tokens > 0  # usage still known from the stream


# ------------------------------------------------------------------------------- aggregating as the evidence says
PAPERS = {"deepseek-chat": "Use PostgreSQL for the store because it handles concurrent writers.",
          "qwen3-max": "The store should use PostgreSQL: concurrent writers are handled well.",
          "kimi-k2-0905-preview": "SQLite is enough here; keep it embedded and simple."}
PAPERS_ZH = {"deepseek-chat": "应该使用PostgreSQL作为存储，因为它能处理并发写入。",
             "qwen3-max": "存储应该用PostgreSQL，并发写入处理得很好。",
             "kimi-k2-0905-preview": "SQLite就够了，保持嵌入式和简单。"}


async def test_select_mode_picks_the_best_answer_anonymously_and_says_why(models):
    models.default = script(lambda m, sent: PAPERS[UPSTREAM[m]],
                            select=lambda m, sent: choice(sent.last, "SQLite", "Simplest and enough for one process."))
    r = await Engine(models).run(Request("Which store?", seats("deepseek", "qwen", "kimi"), mode="select", seed=5))
    assert r.status == "done" and r.mode == "select"
    assert r.selected == {"label": "kimi", "model": "kimi", "reason": "Simplest and enough for one process.",
                          "by": "chair qwen"}
    assert r.recommendation == PAPERS["kimi-k2-0905-preview"]  # the answer itself, not a new one
    assert r.synthesis.startswith("**Selected: the answer of kimi** (chair qwen: Simplest")
    assert models.asked()[3:] == ["qwen"]  # the panel, then one call to the chair
    shown = models.calls[-1].last
    assert shown.startswith("You judge anonymous answers") and all(p in shown for p in PAPERS.values())
    assert not any(name in shown for name in ("deepseek", "qwen", "kimi"))  # anonymous: letters only


async def test_the_chair_comes_from_another_family_than_the_panel_majority(models):
    models.default = script(lambda m, sent: f"{m} thinks so")
    engine = Engine(models)
    r = await engine.run(Request("q", seats("deepseek", "r1")))  # both DeepSeek: r1 would chair itself
    assert r.chair is not None and r.chair.model == "qwen"  # the best served model of another family
    assert r.chair_choice["model"] == "qwen" and r.chair_choice["family"] == "dashscope"
    assert "panel majority (deepseek, 2 of 2 seats)" in r.chair_choice["reason"]
    from accord.consensus.report import markdown

    text = markdown(r, engine.labels(seats("deepseek", "r1")), 10_000)
    assert "chaired by qwen (dashscope): from another model family" in text
    named = await engine.run(Request("q", seats("deepseek", "r1"), chair="r1"))
    assert named.chair.model == "r1" and "named by the caller" in named.chair_choice["reason"]
    assert models.asked()[-1] == "r1" and models.calls[-1].last.startswith("You chair a panel")


@pytest.mark.parametrize("answers", [PAPERS, PAPERS_ZH], ids=["english", "chinese"])
async def test_agreement_is_the_largest_group_of_like_answers(models, answers):
    models.default = script(lambda m, sent: answers[UPSTREAM[m]], chair=chair_json(["deepseek", "qwen", "kimi"]))
    r = await Engine(models).run(Request("Which store?", seats("deepseek", "qwen", "kimi")))
    assert r.clusters["method"] == "lexical"
    assert r.clusters["groups"] == [{"members": ["deepseek", "qwen"], "size": 2}, {"members": ["kimi"], "size": 1}]
    assert r.agreement == pytest.approx(0.667, abs=1e-3)  # the paraphrases agree, the third does not
    assert r.chair_agreement == 1.0  # the chair's own judgement, reported beside it


async def test_agreement_by_embeddings_when_an_embedding_model_is_configured(upstream, tmp_path):
    extra = f"  - {{name: emb, model: openai/text-embedding-3-small, api_base: {upstream.url}/v1, api_key: k6}}\n"
    cfg = panel_config(upstream.url).replace("consensus:", extra + "consensus:", 1)
    router = Router(parse(cfg))
    try:
        eng = Engine(LocalModels(router))
        upstream.responder = responder(lambda m, r: Reply(content=PAPERS.get(m, "")))
        r = await eng.run(Request("Which store?", seats("deepseek", "qwen", "kimi"), embedding_model="emb"))
    finally:
        await router.close()
    calls = [x for x in upstream.requests if x["path"].endswith("/embeddings")]
    assert not r.notes, r.notes
    assert len(calls) == 1 and calls[0]["json"]["input"] == list(PAPERS.values())
    assert r.clusters["method"] == "embeddings (emb)"  # the fake's vectors are all alike: one group
    assert r.clusters["groups"] == [{"members": ["deepseek", "qwen", "kimi"], "size": 3}] and r.agreement == 1.0
    assert r.clusters["usage"]["model"] == "emb" and r.clusters["usage"]["prompt_tokens"] > 0  # a metered call


async def test_degraded_results_say_so_in_the_text_and_as_data(engine, upstream):
    from accord.consensus.report import markdown

    def panel(m, r):
        return Reply(status=500) if m == "gpt-4o-mini" else Reply(content=PAPERS.get(m, "fine"))

    # a panelist failed: partial
    upstream.responder = responder(panel, chair=Reply(content=chair_json(["deepseek"])))
    r = await engine.run(Request("q", seats("deepseek", "qwen", "gpt")))
    assert r.status == "partial" and r.reasons == [{"code": "panel_partial", "text": "2 of 3 models answered"}]
    assert "**2 of 3 models answered**" in markdown(r, engine.labels(seats("deepseek", "qwen", "gpt")), 10_000)
    # review with too few answers: no peer review
    r = await engine.run(Request("q", seats("deepseek", "qwen", "gpt"), mode="review"))
    assert r.status == "degraded" and r.ranking is None
    assert [x["text"] for x in r.reasons] == ["2 of 3 models answered", "no peer review (too few answers)"]
    # the chair failed after a peer review: the best-ranked answer is shown
    def review(model, req):
        text = req["json"]["messages"][-1]["content"]
        blocks = {b.split(":\n", 1)[0].strip(): b for b in text.split("Response ")[1:] if ":\n" in b}
        order = sorted(blocks, key=lambda lab: "SQLite" not in blocks[lab])
        return Reply(content="FINAL RANKING:\n" + "\n".join(f"{i + 1}. Response {x}" for i, x in enumerate(order)))

    upstream.responder = responder(panel, chair=Reply(status=503), review=review)
    r = await engine.run(Request("q", seats("deepseek", "qwen", "kimi"), mode="review", seed=1))
    assert r.status == "degraded" and r.ranking[0]["model"] == "kimi"
    assert r.reasons == [{"code": "chair_failed", "text": "chair failed — showing the best-ranked answer"}]
    assert r.recommendation == PAPERS["kimi-k2-0905-preview"] and r.selected["by"] == "peer ranking"
    # select (and synthesize): the chair failed, the answer from the largest group of like answers is shown
    for mode in ("select", "synthesize"):
        r = await engine.run(Request("q", seats("kimi", "deepseek", "qwen"), mode=mode))
        assert r.status == "degraded", mode
        assert [x["text"] for x in r.reasons] == ["chair failed — showing the answer from the largest cluster"]
        assert r.selected["label"] == "deepseek" and r.recommendation == PAPERS["deepseek-chat"]
        assert "chair failed — showing the answer from the largest cluster" in markdown(
            r, engine.labels(seats("kimi", "deepseek", "qwen")), 10_000)
    # nobody answered
    upstream.responder = responder(lambda m, r: Reply(status=500))
    r = await engine.run(Request("q", seats("deepseek", "qwen", "kimi")))
    assert r.status == "failed" and r.reasons[0] == {"code": "no_answers", "text": "none of 3 models answered"}
    assert r.to_dict()["reasons"][0]["code"] == "no_answers"


# ----------------------------------------------------------------- the MCP tool over the in-memory fake model
async def test_the_mcp_consensus_tool_seats_each_stance_and_shows_the_chair_every_answer(models, tmp_path):
    """Through the official MCP client, in memory end to end: the tool's seats reach the engine as given."""
    from accord.mcp.server import build
    from accord.mcp.state import State
    from mcp import Client

    said = {"deepseek": "Ship it: the tests pass.", "qwen": "Wait: the migration is untested."}
    models.default = script(lambda m, sent: said[m], chair=chair_json(["deepseek"], "Ship after a dry run."))
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/t.db")
    state = State(parse(panel_config("http://127.0.0.1:9")), models, ThreadStore(db))  # the URL is never called
    try:
        async with Client(build(state)) as c:
            r = await c.call_tool("consensus", {"question": "Ship it?", "chair": "gpt", "models": [
                {"model": "deepseek", "stance": "for"}, {"model": "q", "stance": "against"}]})
    finally:
        await db.close()
    assert not r.is_error, r.content[0].text
    assert "Ship after a dry run." in r.content[0].text
    seats = {c.model: c.system for c in models.calls[:2]}
    assert "case FOR" in seats["deepseek"] and "case AGAINST" in seats["qwen"]  # the alias `q` is qwen's seat
    assert models.asked()[2:] == ["gpt"]
    assert all(f"\n{text}" in models.calls[2].last for text in said.values())
