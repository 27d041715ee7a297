"""The `debug` and `planner` MCP tools through the official MCP client, with each model's answer scripted on
the fake upstream: hypotheses merged with votes, plans merged by the chair, partial results, continuations."""

from __future__ import annotations

import json

from test_review import by_model, connect, text

from accord import tokens
from fakes import Reply


def hypotheses(*items: tuple[str, str, str, str]) -> Reply:
    """A model's answer as models write it: prose around a fenced JSON block."""
    return Reply(content="My analysis:\n```json\n" + json.dumps({"hypotheses": [
        {"hypothesis": h, "likelihood": lk, "evidence": ev, "next_check": nc} for h, lk, ev, nc in items]}) + "\n```")


POOL = ("The database connection pool is exhausted under load", "high", "timeouts start at 50 concurrent users",
        "check pg_stat_activity for idle in transaction")
POOL_2 = ("Connection pool exhausted: connections leak from the pool", "0.7", "the pool size is 10",
          "log pool checkouts and returns")
DNS = ("DNS resolution of the database host is slow", "low", "", "time getent hosts db")
GC = ("Long garbage collection pauses", "medium", "memory grows", "enable GC logging")


async def test_debug_merges_hypotheses_with_votes_and_carries_checks_back(upstream):
    upstream.responder = by_model({
        "deepseek-chat": hypotheses(POOL, DNS),
        "qwen3-max": hypotheses(GC, POOL_2),
        "kimi-k2-0905-preview": hypotheses(POOL),
    })
    async with connect(upstream) as c:
        seen: list[str] = []

        async def progress(p, total, message):
            seen.append(message)

        r = await c.call_tool("debug", {"symptoms": "requests time out after a minute under load",
                                        "logs": "TimeoutError: QueuePool limit of size 10 overflow 0 reached"},
                              progress_callback=progress)
        assert not r.is_error, text(r)
        out = text(r)
        assert out.startswith("# Debug: 3 hypotheses from 3 models")
        items = [x for x in out.splitlines() if x[:2] in ("1.", "2.", "3.")]
        assert items[0].startswith("1. **The database connection pool is exhausted") and "3/3 votes" in items[0]
        assert all(m in items[0] for m in ("deepseek", "qwen", "kimi")) and "likelihood high" in items[0]
        assert "2/3" not in out and items[1].startswith("2. **Long garbage") and "1/3 votes (qwen)" in items[1]
        assert items[2].startswith("3. **DNS")  # one vote each: the likelier first
        assert "next check: check pg_stat_activity" in out and "next check: log pool checkouts" in out
        assert {m.split(":")[0] for m in seen if "done in" in m} == {"deepseek", "qwen", "kimi"}
        sent = upstream.requests[0]["json"]["messages"]
        assert "QueuePool limit" in sent[-1]["content"] and "next_check" in sent[0]["content"]
        tid = out.split("thread: ")[1].split()[0]
        assert "Long garbage collection pauses" in text(await c.call_tool("threads", {"id": tid}))

        upstream.reset()
        upstream.responder = lambda req: hypotheses(POOL)
        r = await c.call_tool("debug", {"symptoms": "still timing out", "continuation_id": tid,
                                        "checks": "pg_stat_activity shows 10 connections idle in transaction"})
        assert f"thread: {tid}" in text(r)
        msgs = upstream.requests[0]["json"]["messages"]
        assert msgs[1]["role"] == "user" and "requests time out" in msgs[1]["content"]
        assert msgs[2]["role"] == "assistant" and "# Debug: 3 hypotheses" in msgs[2]["content"]
        assert "RESULTS OF THE CHECKS SO FAR:\npg_stat_activity shows 10" in msgs[-1]["content"]


async def test_debug_gives_partial_results_when_models_fail_and_an_error_when_all_do(upstream):
    upstream.responder = by_model({
        "deepseek-chat": hypotheses(POOL),
        "qwen3-max": Reply(content="Probably the database, hard to say."),
        "kimi-k2-0905-preview": Reply(status=500),
    })
    async with connect(upstream) as c:
        out = text(await c.call_tool("debug", {"symptoms": "requests time out"}))
        assert out.startswith("# Debug: 1 hypotheses from 3 models (partial)")
        assert "- deepseek: ok, 1 hypotheses" in out
        assert "- qwen: unreadable: no JSON hypotheses in the answer" in out
        assert "- kimi: failed:" in out and "500" in out
        upstream.responder = lambda req: Reply(status=500)
        r = await c.call_tool("debug", {"symptoms": "requests time out"})
        assert r.is_error and "no model gave readable hypotheses" in text(r)
        r = await c.call_tool("debug", {"symptoms": "  "})
        assert r.is_error and "symptoms are empty" in text(r)


async def test_debug_stays_within_the_output_budget(upstream):
    long = [(f"Cause number {i} in module {m}: " + "very detailed explanation " * 20, "medium", "evidence " * 30,
             "check " * 30) for i, m in enumerate(("alpha", "beta", "gamma", "delta", "epsilon"))]
    upstream.responder = by_model({
        "deepseek-chat": hypotheses(*long[:3]), "qwen3-max": hypotheses(*long[3:]),
        "kimi-k2-0905-preview": hypotheses(POOL, DNS, GC)})
    async with connect(upstream, "  output_tokens: 600\n") as c:
        out = text(await c.call_tool("debug", {"symptoms": "it breaks"}))
        assert tokens.count(out) <= 600
        assert "more in thread" in out and "## Panel" in out


def planning(chair: Reply, drafts: dict[str, Reply]):
    def respond(req: dict) -> Reply:
        if req["json"]["messages"][0]["content"].startswith("You merge plans"):
            return chair
        return drafts[req["json"]["model"]]
    return respond


MERGED = ("## Plan\n1. Add the column\n2. Backfill in batches\n3. Switch reads\n## Risks\n- lock on the big table\n"
          "## Open questions\n- keep the old column?\n## Where the drafts disagreed\n- backfill: A online, C offline")


async def test_planner_merges_the_drafts_and_refines_on_continuation(upstream):
    drafts = {"deepseek-chat": Reply(content="1. Add the column\n2. Backfill online"),
              "qwen3-max": Reply(content="1. Add column\n2. Switch reads"),
              "kimi-k2-0905-preview": Reply(content="1. Take downtime\n2. Backfill offline")}
    upstream.responder = planning(Reply(content=MERGED), drafts)
    async with connect(upstream) as c:
        seen: list[str] = []

        async def progress(p, total, message):
            seen.append(message)

        r = await c.call_tool("planner", {"task": "rename a column in a 1 TB table"}, progress_callback=progress)
        assert not r.is_error, text(r)
        out = text(r)
        assert out.startswith("# Plan\n\n## Plan\n1. Add the column") and "## Where the drafts disagreed" in out
        assert "- deepseek: ok" in out and "- kimi: ok" in out and "merged by" in out
        assert any("writing the synthesis" in m for m in seen)
        chair_req = next(x for x in upstream.requests if x["json"]["messages"][0]["content"].startswith("You merge"))
        shown = chair_req["json"]["messages"][-1]["content"]
        assert "Backfill online" in shown and "Take downtime" in shown and "rename a column" in shown
        tid = out.split("thread: ")[1].split()[0]

        upstream.reset()
        upstream.responder = planning(Reply(content="## Plan\n1. Add the column, no downtime"), drafts)
        out = text(await c.call_tool("planner", {"task": "no downtime allowed", "continuation_id": tid}))
        assert "no downtime" in out and f"thread: {tid}" in out
        msgs = upstream.requests[0]["json"]["messages"]
        assert msgs[2]["role"] == "assistant" and msgs[2]["content"] == MERGED


async def test_planner_without_a_chair_gives_the_drafts_and_with_failed_drafts_says_so(upstream):
    drafts = {"deepseek-chat": Reply(content="1. Add the column"), "qwen3-max": Reply(status=500),
              "kimi-k2-0905-preview": Reply(content="1. Take downtime")}
    upstream.responder = planning(Reply(status=500), drafts)
    async with connect(upstream) as c:
        out = text(await c.call_tool("planner", {"task": "rename a column"}))
        assert out.startswith("# Plan (degraded)")
        assert "### Draft A (deepseek)\n1. Add the column" in out and "### Draft B (kimi)\n1. Take downtime" in out
        assert "- qwen: failed:" in out and "the drafts follow unmerged" in out
        upstream.responder = planning(Reply(content=MERGED), drafts)
        out = text(await c.call_tool("planner", {"task": "rename a column"}))
        assert out.startswith("# Plan (partial)") and "1. Backfill in batches" not in out.split("## Drafts")[1]
        upstream.responder = lambda req: Reply(status=500)
        r = await c.call_tool("planner", {"task": "rename a column"})
        assert r.is_error and "no model drafted a plan" in text(r)


async def test_a_long_plan_stays_within_the_output_budget(upstream):
    drafts = {m: Reply(content="1. step") for m in ("deepseek-chat", "qwen3-max", "kimi-k2-0905-preview")}
    upstream.responder = planning(Reply(content=MERGED + "\n" + "- a long remark about the plan\n" * 400), drafts)
    async with connect(upstream, "  output_tokens: 600\n") as c:
        out = text(await c.call_tool("planner", {"task": "rename a column"}))
        assert tokens.count(out) <= 600 and "trimmed" in out and "## Drafts" in out and "thread: " in out
