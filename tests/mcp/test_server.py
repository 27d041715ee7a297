"""The MCP server through the official MCP client, in memory, against scripted fake models."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import bpe_openai
import pytest

from accord.config import parse
from accord.mcp.server import build
from accord.mcp.state import State
from fakes import Reply
from mcp import Client
from panelkit import chair_json, kind, panel_config, pick, responder

LATENCY = {"deepseek-chat": 0.1, "qwen3-max": 0.3, "kimi-k2-0905-preview": 0.7, "gpt-4o-mini": 0.05,
           "deepseek-reasoner": 0.05}


@contextlib.asynccontextmanager
async def connect(upstream, extra: str = "") -> AsyncIterator[Client]:
    """Accord's MCP server and the official client, in memory (entered and left in the test's own task)."""
    state = State.create(parse(panel_config(upstream.url, extra)))
    await state.start()
    try:
        async with Client(build(state)) as client:
            yield client
    finally:
        await state.close()


def tokens(s: str) -> int:
    return len(bpe_openai.get_encoding("cl100k_base").encode_ordinary(s))


def text(result) -> str:
    return result.content[0].text


def default_panel(upstream, chair: Reply | None = None):
    upstream.responder = responder(lambda m, r: Reply(content=f"{m} thinks yes. ANSWER: yes", delay=LATENCY[m]),
                                   chair=chair)


TOOL_NAMES = ["consensus", "chat", "thinkdeep", "challenge", "review", "precommit", "debug", "planner", "listmodels",
              "threads", "version"]


async def test_tools_list_is_small_and_complete(upstream):
    async with connect(upstream) as c:
        tools = await c.list_tools()
        size = len(json.dumps(tools.model_dump(by_alias=True, exclude_none=True))) / 4
        assert size <= 3000, size
        assert [t.name for t in tools.tools] == TOOL_NAMES
        assert all("title" not in json.dumps(t.input_schema) for t in tools.tools)
        consensus = next(t for t in tools.tools if t.name == "consensus").input_schema
        assert consensus["properties"]["models"]["items"]["properties"]["stance"]["enum"] == ["for", "against", "neutral"]
    async with connect(upstream, "  disabled_tools: [thinkdeep, challenge]\n") as c2:
        assert "thinkdeep" not in [t.name for t in (await c2.list_tools()).tools]


async def test_consensus_in_one_call_with_progress_in_order(upstream):
    default_panel(upstream)
    async with connect(upstream) as c:
        seen: list[tuple[float, str]] = []

        async def progress(p, total, message):
            seen.append((p, message))

        r = await c.call_tool("consensus", {"question": "Adopt SQLite?"}, progress_callback=progress)
        assert not r.is_error, text(r)
        out = text(r)
        assert out.startswith("# Consensus (synthesize): done, agreement 1.00")  # all three say yes
        assert "the chair counted 0.67 as supporting it" in out  # its supporters: deepseek, kimi of 3
        assert "## Recommendation\nDo it." in out and "### qwen:against" in out and "thread: " in out
        steps = [p for p, _ in seen]
        assert steps == sorted(steps) and len(set(steps)) == len(steps)  # strictly increasing
        msgs = [m for _, m in seen if not m.startswith("working")]
        assert msgs[0] == "asking 3 models (synthesize)"
        assert {m.split(":")[0] for m in msgs[1:4]} == {"deepseek", "qwen", "kimi"} and all("thinking" in m for m in msgs[1:4])
        done = [m.split(":")[0] for m in msgs if ": done in" in m]
        assert done[:3] == ["deepseek", "qwen", "kimi"]  # in latency order
        assert "writing the synthesis" in msgs[-3] and msgs[-1].startswith("finished: done")
        assert any(m.startswith("working") for _, m in seen)  # heartbeat (0.2 s) while kimi takes 0.7 s


async def test_pal_arguments_files_and_continuation(upstream, tmp_path: Path):
    default_panel(upstream)
    src = tmp_path / "app.py"
    src.write_text("def handler():\n    return 42\n")
    async with connect(upstream) as c:
        r = await c.call_tool("consensus", {
            "step": "Is handler() right?", "relevant_files": [str(src)],
            "models": [{"model": "deepseek", "stance": "for"}, {"model": "q", "stance": "against"},
                       {"model": "kimi", "stance_prompt": "Think like an SRE."}, "fast:against"],
        })
        assert not r.is_error, text(r)
        panel_reqs = [x for x in upstream.requests if kind(x) == "panel"]
        assert len(panel_reqs) == 4
        assert all("return 42" in x["json"]["messages"][-1]["content"] for x in panel_reqs)
        assert "Think like an SRE." in next(x for x in panel_reqs if x["json"]["model"] == "kimi-k2-0905-preview"
                                            )["json"]["messages"][0]["content"]
        tid = text(r).split("thread: ")[1].split()[0]
        upstream.reset()
        upstream.reply(content="Follow-up answer.")
        r2 = await c.call_tool("chat", {"prompt": "And the tests?", "model": "fast", "continuation_id": tid})
        assert text(r2).startswith("Follow-up answer.") and f"thread {tid}" in text(r2)
        sent = upstream.last["json"]["messages"]
        assert sent[0] == {"role": "user", "content": "Is handler() right?"}
        assert sent[1]["role"] == "assistant" and "Do it." in sent[1]["content"]  # the synthesis carried over
        shown = text(await c.call_tool("threads", {"id": tid}))
        assert "chair" in shown and "Follow-up answer." in shown and "deepseek-chat thinks yes" in shown
        listed = text(await c.call_tool("threads", {}))
        assert tid in listed and "chat" in listed


async def test_chat_auto_thinkdeep_and_challenge(upstream):
    upstream.responder = lambda req: Reply(content=f"from {req['json']['model']}")
    async with connect(upstream) as c:
        assert text(await c.call_tool("chat", {"prompt": "hi"})).startswith("from deepseek-reasoner")  # auto: top, cheapest
        assert text(await c.call_tool("chat", {"prompt": "hi", "model": "auto"})).startswith("from deepseek-reasoner")
        r = await c.call_tool("thinkdeep", {"problem": "Why is it slow?", "findings": "p99 doubled", "model": "q"})
        assert text(r).startswith("from qwen3-max")
        body = upstream.last["json"]
        assert body["enable_thinking"] is True and body["thinking_budget"] == 16384  # thinkdeep defaults to high
        assert "Investigate" in body["messages"][0]["content"] and "p99 doubled" in body["messages"][-1]["content"]
        r = await c.call_tool("challenge", {"statement": "Python is compiled.", "model": "deepseek", "thinking_mode": "low"})
        assert "do not agree by default" in upstream.last["json"]["messages"][0]["content"]
        assert "note: deepseek cannot think" in text(r)
        r = await c.call_tool("chat", {"prompt": "hi", "model": "kimi", "temperature": 1.7})
        assert upstream.last["json"]["temperature"] == 1.0  # Moonshot's maximum, mapped by the provider quirk


async def test_listmodels_and_version(upstream):
    async with connect(upstream) as c:
        out = text(await c.call_tool("listmodels", {}))
        assert "- qwen (q): score 17, 262k context, thinking" in out and "- gpt (fast)" in out
        assert "default panel: deepseek, qwen:against, kimi" in out
        assert "no apilookup tool: Claude Code has web search" in out  # PAL's users had it: say why it is gone
        version = text(await c.call_tool("version", {}))
        assert "accord" in version and "no apilookup (Claude Code has web search)" in version


@pytest.mark.parametrize(("tool", "args", "msg"), [
    ("consensus", {"question": "q", "models": [{"model": "deepsek"}]}, "did you mean deepseek"),
    ("consensus", {"question": "q", "models": [{"model": "deepseek", "stance": "sideways"}]}, "stance"),
    ("consensus", {"question": "q", "mode": "poll"}, "mode"),
    ("chat", {"prompt": "q", "files": ["relative.py"]}, "absolute"),
    ("chat", {"prompt": "q", "files": ["/etc/shadow"]}, "system folder /etc"),
    ("chat", {"prompt": "q", "files": ["/nonexistent/x.py"]}, "no such file"),
    ("chat", {"prompt": "q", "continuation_id": "nope"}, "no thread nope"),
    ("chat", {"prompt": "q", "thinking": "extreme"}, "thinking"),
])
async def test_bad_input_is_a_tool_error_that_says_what_to_fix(upstream, tool, args, msg):
    async with connect(upstream) as c:
        r = await c.call_tool(tool, args)
        assert r.is_error and msg in text(r) and "Traceback" not in text(r)


async def test_failures_partial_and_total(upstream):
    upstream.responder = responder(lambda m, r: Reply(status=500) if m == "kimi-k2-0905-preview"
                                   else Reply(content="ok"), chair=Reply(content=chair_json(["deepseek"])))
    async with connect(upstream) as c:
        r = await c.call_tool("consensus", {"question": "q"})
        assert not r.is_error and "partial" in text(r) and "- kimi: failed:" in text(r)
        upstream.responder = lambda req: Reply(status=401)
        r = await c.call_tool("consensus", {"question": "q"})
        assert r.is_error and "every panelist failed" in text(r) and "refused the provider key" in text(r)
        r = await c.call_tool("chat", {"prompt": "q", "model": "gpt"})
        assert r.is_error and "gpt failed" in text(r)


async def test_long_answers_are_trimmed_to_the_output_budget_and_kept_whole(upstream):
    long = "word " * 5000
    upstream.responder = responder(lambda m, r: Reply(content=long), chair=Reply(content=chair_json(["deepseek"])))
    async with connect(upstream, "  output_tokens: 1000\n") as c:
        r = await c.call_tool("consensus", {"question": "q"})
        out = text(r)
        assert tokens(out) <= 1000 and "trimmed" in out
        tid = out.split("thread: ")[1].split()[0]
        r = await c.call_tool("chat", {"prompt": "again", "model": "gpt", "continuation_id": tid})
        assert tokens(text(r)) <= 1000 and f"full text in thread {tid}" in text(r)
        from accord.store.db import Database
        from accord.store.threads import ThreadStore

        db = Database.from_settings()
        t = await ThreadStore(db).get(tid)
        await db.close()
        assert all(len(m["content"]) == len(long.strip()) for m in t["messages"] if m["role"] == "panel")


async def test_without_a_configured_panel_the_top_models_sit(upstream):
    upstream.responder = responder(lambda m, r: Reply(content="ok"))
    state = State.create(parse(panel_config(upstream.url).replace('  panel: [deepseek, "qwen:against", kimi]\n', "  mode: synthesize\n")))
    try:
        async with Client(build(state)) as c:
            r = await c.call_tool("consensus", {"question": "q"})
            assert not r.is_error and "asked the top models by score (r1, qwen, kimi)" in text(r)
    finally:
        await state.close()


async def test_select_mode_through_mcp_names_the_pick_and_the_chair(upstream):
    said = {"deepseek-chat": "Use PostgreSQL for the store.", "deepseek-reasoner": "SQLite is enough here.",
            "gpt-4o-mini": "Use PostgreSQL for the store, it scales."}
    upstream.responder = responder(lambda m, r: Reply(content=said[m]), select=lambda m, r: pick(r, "SQLite", "Simple."))
    async with connect(upstream) as c:
        r = await c.call_tool("consensus", {"question": "Which store?", "mode": "select",
                                            "models": ["deepseek", "r1", "gpt"]})
        assert not r.is_error, text(r)
        out = text(r)
        assert out.startswith("# Consensus (select): done, agreement 0.67")  # the two PostgreSQL answers
        assert "**Selected: the answer of r1** (chair qwen: Simple.)\n\nSQLite is enough here." in out
        assert "- chaired by qwen (dashscope): from another model family" in out
        assert "largest group of like answers: share 0.67 (lexical); groups: 2: deepseek, gpt; 1: r1" in out


async def test_consensus_debate_takes_rounds(upstream):
    upstream.responder = responder(lambda m, r: Reply(content=f"{m}: yes.\nANSWER: yes"))
    async with connect(upstream) as c:
        schema = next(t for t in (await c.list_tools()).tools if t.name == "consensus").input_schema
        assert schema["properties"]["rounds"]["maximum"] == 5
        r = await c.call_tool("consensus", {"question": "q", "mode": "debate", "rounds": 2, "answer_format": "yesno"})
        assert not r.is_error and "agreement 1.00" in text(r), text(r)
        assert len([x for x in upstream.requests if kind(x) == "debate"]) == 6  # 3 panelists, 2 rounds
        assert "## Debate" in text(r) and "- no one changed their answer" in text(r)
        assert schema["properties"]["final_vote"]["type"] == "boolean"
        r = await c.call_tool("consensus", {"question": "q", "mode": "debate", "final_vote": True,
                                            "answer_format": "yesno"})
        assert not r.is_error and "## Vote (final answers)" in text(r), text(r)
        r = await c.call_tool("consensus", {"question": "q", "mode": "debate", "rounds": 9})
        assert r.is_error and "rounds" in text(r) and "Traceback" not in text(r)
