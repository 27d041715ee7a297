"""The `review` and `precommit` MCP tools through the official MCP client, on real git repositories, with
each model's findings scripted on the fake upstream."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

from accord import tokens
from accord.config import parse
from accord.mcp.server import build
from accord.mcp.state import State
from fakes import Reply
from gitkit import finding, findings_reply, git, make_repo, write
from mcp import Client
from panelkit import panel_config

BASE = "import sqlite3\n\n\ndef find(db, name):\n    return db.execute('SELECT 1')\n"
CHANGED = ("import sqlite3\n\n\ndef find(db, name):\n    q = f\"SELECT * FROM users WHERE name = '{name}'\"\n"
           "    return db.execute(q)\n")


@contextlib.asynccontextmanager
async def connect(upstream, extra: str = "") -> AsyncIterator[Client]:
    state = State.create(parse(panel_config(upstream.url, extra)))
    await state.start()
    try:
        async with Client(build(state)) as client:
            yield client
    finally:
        await state.close()


def text(result) -> str:
    return result.content[0].text


def by_model(replies: dict[str, Reply]):
    return lambda req: replies[req["json"]["model"]]


def staged_repo(tmp_path: Path) -> Path:
    repo = make_repo(tmp_path / "repo", {"app.py": BASE, "README.md": "demo\n"})
    write(repo, {"app.py": CHANGED})
    git(repo, "add", "app.py")
    return repo


async def test_tools_listed_small_with_annotations_and_pal_alias(upstream):
    async with connect(upstream) as c:
        tools = (await c.list_tools()).tools
        names = [t.name for t in tools]
        assert "review" in names and "precommit" in names and "codereview" not in names
        listed = json.dumps([t.model_dump(by_alias=True, exclude_none=True) for t in tools])
        assert tokens.count(listed) < 3000, tokens.count(listed)
        assert {"debug", "planner"} <= set(names)
        for t in tools:  # every tool says what it is, whether it changes anything, and whether it calls out
            a = t.annotations
            assert a is not None and a.title and a.read_only_hint is not None and a.open_world_hint is not None, t.name
        for name in ("review", "precommit", "debug", "planner", "consensus", "chat"):
            a = next(t for t in tools if t.name == name).annotations
            assert a.read_only_hint is True and a.open_world_hint is True, name
        assert next(t for t in tools if t.name == "listmodels").annotations.open_world_hint is False
        r = await c.call_tool("codereview", {"path": "relative/path", "diff": "staged"})
        assert r.is_error and "absolute" in text(r)  # PAL's name reaches the review tool
    async with connect(upstream, "  disabled_tools: [codereview]\n") as c2:
        assert "review" not in [t.name for t in (await c2.list_tools()).tools]


async def test_same_finding_merged_across_models_with_counts_and_verdict(upstream, tmp_path: Path):
    repo = staged_repo(tmp_path)
    upstream.responder = by_model({
        "deepseek-chat": findings_reply([
            finding("high", "app.py", 5, 6, "SQL injection in find()", "name is interpolated into the query",
                    "use a parameter"),
            finding("low", "app.py", 1, 1, "sqlite3 imported but the db is passed in")]),
        "qwen3-max": findings_reply([
            finding("critical", "app.py", 5, 5, "SQL injection via the name parameter", "user input in SQL")]),
        "kimi-k2-0905-preview": findings_reply([
            finding("high", "./app.py", 6, 6, "Injection: SQL query built from name")]),
    })
    async with connect(upstream) as c:
        seen: list[str] = []

        async def progress(p, total, message):
            seen.append(message)

        r = await c.call_tool("review", {"path": str(repo), "diff": "staged"}, progress_callback=progress)
        assert not r.is_error, text(r)
        out = text(r)
        assert out.startswith("# Review: FAIL")
        lines = [x for x in out.splitlines() if x.startswith("- **")]
        assert lines[0].startswith("- **critical** app.py:5-6: SQL injection") and "found by 3" in lines[0]
        assert all(m in lines[0] for m in ("deepseek", "qwen", "kimi"))
        assert lines[1].startswith("- **low** app.py:1:") and "found by 1 (deepseek)" in lines[1]
        assert len(lines) == 2
        assert "policy: fail on any critical finding, or a high one found by at least 2 models" in out
        assert {m.split(":")[0] for m in seen if "done in" in m} == {"deepseek", "qwen", "kimi"}
        sent = [x["json"]["messages"][-1]["content"] for x in upstream.requests]
        assert len(sent) == 3 and all("WHERE name = '{name}'" in s for s in sent)
        tid = out.split("thread: ")[1].split()[0]
        stored = text(await c.call_tool("threads", {"id": tid}))
        assert "SQL injection via the name parameter" in stored  # each model's answer is kept
        upstream.reset()
        upstream.responder = lambda req: findings_reply([])
        r = await c.call_tool("review", {"path": str(repo), "diff": "staged", "continuation_id": tid,
                                         "focus": "I fixed it: look again"})
        assert f"thread: {tid}" in text(r)
        msgs = upstream.requests[0]["json"]["messages"]
        assert msgs[1]["role"] == "user" and msgs[2]["role"] == "assistant" and "# Review: FAIL" in msgs[2]["content"]

        # the policy: two models call it high -> fail by default; fail_on critical with only highs -> pass
        upstream.responder = by_model({
            "deepseek-chat": findings_reply([finding("high", "app.py", 5, 6, "SQL injection in find()")]),
            "qwen3-max": findings_reply([finding("high", "app.py", 5, 5, "SQL injection via name")]),
            "kimi-k2-0905-preview": findings_reply([]),
        })
        assert text(await c.call_tool("review", {"path": str(repo), "diff": "staged"})).startswith("# Review: FAIL")
        out = text(await c.call_tool("review", {"path": str(repo), "diff": "staged", "fail_on": "critical"}))
        assert out.startswith("# Review: PASS") and "found by 2 (deepseek, qwen)" in out
        upstream.responder = by_model({
            "deepseek-chat": findings_reply([finding("high", "app.py", 5, 6, "SQL injection in find()")]),
            "qwen3-max": findings_reply([]), "kimi-k2-0905-preview": findings_reply([])})
        assert text(await c.call_tool("review", {"path": str(repo), "diff": "staged"})).startswith("# Review: PASS")


async def test_a_failed_or_unreadable_panelist_gives_a_partial_review(upstream, tmp_path: Path):
    repo = staged_repo(tmp_path)
    upstream.responder = by_model({
        "deepseek-chat": findings_reply([finding("medium", "app.py", 5, 5, "name is not validated")]),
        "qwen3-max": Reply(content="Looks mostly fine to me, but I would think about the query a bit more."),
        "kimi-k2-0905-preview": Reply(status=500),
    })
    async with connect(upstream) as c:
        out = text(await c.call_tool("review", {"path": str(repo), "diff": "staged"}))
        assert out.startswith("# Review: PASS (partial)")
        assert "- deepseek: ok, 1 finding(s)" in out
        assert "- qwen: unreadable, 0 finding(s); unreadable answer: no JSON findings" in out
        assert "- kimi: failed, 0 finding(s); failed:" in out and "500" in out
        upstream.responder = lambda req: Reply(status=500)
        r = await c.call_tool("review", {"path": str(repo), "diff": "staged"})
        assert r.is_error and "no model could review the change" in text(r)


async def test_a_diff_over_the_budget_is_split_by_file_and_nothing_is_cut(upstream, tmp_path: Path):
    def body(tag: str, n: int) -> str:
        return "".join(f"def {tag}_{i}(x):\n    return x * {i}  # {tag} line {i}\n" for i in range(n))

    repo = make_repo(tmp_path / "repo", {"keep.txt": "x\n"})
    files = {"a.py": body("alpha", 40), "b.py": body("beta", 40), "big.py": body("gamma", 200)}
    write(repo, files)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "feature")
    upstream.responder = lambda req: findings_reply([])
    async with connect(upstream, "  file_tokens: 1000\n") as c:
        out = text(await c.call_tool("review", {"path": str(repo), "diff": "HEAD~1...HEAD", "models": ["deepseek", "kimi"]}))
        assert out.startswith("# Review: PASS"), out
        assert "not reviewed" not in out
        for model in ("deepseek-chat", "kimi-k2-0905-preview"):
            seen = [x["json"]["messages"][-1]["content"] for x in upstream.requests if x["json"]["model"] == model]
            assert len(seen) > 3  # big.py alone is over the budget: it comes in parts
            assert all(tokens.count(s) < 1400 for s in seen)
            everything = "\n".join(seen)
            for tag, n in (("alpha", 40), ("beta", 40), ("gamma", 200)):
                assert all(f"+    return x * {i}  # {tag} line {i}\n" in everything for i in range(n)), tag
            assert any("big.py, part 1/" in s for s in seen)

        # past the number of pieces a model is sent, the files left are named, and there is no verdict
        write(repo, {f"m{i}.py": body(f"more{i}", 40) for i in range(12)})
        git(repo, "add", "-A")
        upstream.reset()
        upstream.responder = lambda req: findings_reply([])
        out = text(await c.call_tool("review", {"path": str(repo), "diff": "staged", "models": ["deepseek"]}))
        assert out.startswith("# Review: UNCLEAR")
        skipped = set(out.split("**not reviewed:** ")[1].split("\n")[0].split(", "))
        sent = "\n".join(x["json"]["messages"][-1]["content"] for x in upstream.requests)
        shown = {f"m{i}.py" for i in range(12) if f"+++ b/m{i}.py" in sent}
        assert skipped and shown and not skipped & shown and skipped | shown == {f"m{i}.py" for i in range(12)}


async def test_precommit_catches_a_planted_secret_and_a_debug_print(upstream, tmp_path: Path):
    repo = make_repo(tmp_path / "repo", {"svc/pay.py": "def charge(amount):\n    return amount\n"})
    secret = "sk-live-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
    write(repo, {"svc/pay.py": "API_KEY = \"" + secret + "\"\n\n\ndef charge(amount):\n"
                               "    print('charging', amount)\n    # TODO: retry\n    return amount\n"})  # unstaged
    upstream.responder = lambda req: findings_reply([], intent={"matches": False, "note": "it adds a key, not retries"})
    async with connect(upstream) as c:
        r = await c.call_tool("precommit", {"path": str(repo / "svc"), "intent": "add retries to charge"})
        out = text(r)
        assert out.startswith("# Review: FAIL"), out
        assert "**critical** svc/pay.py:1: possible secret: an API key" in out and "found by 1 (accord)" in out
        assert secret not in out and "sk-l****" in out
        assert "**medium** svc/pay.py:5: debug leftover" in out
        assert "**low** svc/pay.py:6: unfinished work" in out
        assert "code changed but no test touched" in out
        assert "the change does not match its stated intent" in out and "found by 3" in out
        sent = upstream.requests[0]["json"]["messages"]
        assert "add retries to charge" in sent[-1]["content"] and '"intent"' in sent[0]["content"]


async def test_paths_outside_the_allowed_roots_and_option_like_revisions_are_refused(upstream, tmp_path: Path):
    repo = staged_repo(tmp_path)
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    upstream.responder = lambda req: findings_reply([])
    async with connect(upstream, f"  allowed_roots: [{allowed}]\n") as c:
        r = await c.call_tool("review", {"path": str(repo), "diff": "staged"})
        assert r.is_error and "outside the allowed roots" in text(r)
        r = await c.call_tool("precommit", {"path": str(repo)})
        assert r.is_error and "outside the allowed roots" in text(r)
        r = await c.call_tool("review", {"files": [str(repo / "app.py")]})
        assert r.is_error and "outside the allowed roots" in text(r)
        (allowed / "ok.py").write_text("def ok():\n    return 1\n")
        upstream.reset()
        upstream.responder = lambda req: findings_reply([])
        out = text(await c.call_tool("review", {"files": [str(allowed / "ok.py")], "models": ["deepseek"]}))
        assert out.startswith("# Review: PASS") and "1 file(s)" in out
        assert "return 1" in upstream.last["json"]["messages"][-1]["content"]
    upstream.reset()
    async with connect(upstream) as c:
        r = await c.call_tool("review", {"path": str(repo), "diff": f"--output={tmp_path}/pwned"})
        assert r.is_error and "use staged, unstaged, a revision" in text(r)
        assert not (tmp_path / "pwned").exists() and upstream.requests == []


async def test_many_findings_stay_within_the_output_budget(upstream, tmp_path: Path):
    repo = staged_repo(tmp_path)
    many = [finding("medium" if i % 2 else "high", "app.py", i * 10, i * 10, f"problem number {i} of kind {i * 7}",
                    "a long explanation " * 20) for i in range(1, 60)]
    upstream.responder = lambda req: findings_reply(many)
    async with connect(upstream, "  output_tokens: 1500\n") as c:
        out = text(await c.call_tool("review", {"path": str(repo), "diff": "staged"}))
        assert tokens.count(out) <= 1500
        assert out.startswith("# Review: FAIL") and "59 finding(s)" in out
        assert "more (less severe) in thread" in out and "thread: " in out
        shown = [x for x in out.splitlines() if x.startswith("- **")]
        assert 0 < len(shown) < 59 and all(x.startswith("- **high**") for x in shown)  # most severe first


async def test_findings_are_read_leniently_in_the_shapes_models_write(upstream, tmp_path: Path):
    repo = staged_repo(tmp_path)
    upstream.responder = by_model({
        "deepseek-chat": Reply(content=json.dumps([{"severity": "Major", "path": "app.py", "lines": "6-5",
                                                    "issue": "SQL injection in find"}])),
        "qwen3-max": Reply(content="Two notes.\n" + json.dumps({"issues": [
            {"priority": "blocker", "filename": "b/app.py", "line": 5, "summary": "SQL injection through name"}]})
            + "\nThat is all."),
        "kimi-k2-0905-preview": Reply(content="No issues found."),
    })
    async with connect(upstream) as c:
        out = text(await c.call_tool("codereview", {"path": str(repo), "compare_to": "HEAD", "focus_on": "security"}))
        assert out.startswith("# Review: FAIL")
        [line] = [x for x in out.splitlines() if x.startswith("- **")]
        assert line.startswith("- **critical** app.py:5-6: SQL injection") and "found by 2 (deepseek, qwen)" in line
        assert "- kimi: ok, 0 finding(s)" in out
        assert "Focus on: security" in upstream.last["json"]["messages"][-1]["content"]


async def test_files_too_large_for_every_piece_are_named_not_passed(upstream, tmp_path: Path):
    big = tmp_path / "big.py"
    big.write_text("".join(f"def f{i}(x):\n    return x + {i}\n" for i in range(1500)))
    small = tmp_path / "small.py"
    small.write_text("def ok():\n    return 1\n")
    upstream.responder = lambda req: findings_reply([])
    async with connect(upstream, "  file_tokens: 500\n") as c:
        out = text(await c.call_tool("review", {"files": [str(small), str(big)], "models": ["deepseek"]}))
        assert out.startswith("# Review: UNCLEAR")
        assert f"**not reviewed:** {big}" in out and f"trimmed {big}" in out
        sent = "\n".join(x["json"]["messages"][-1]["content"] for x in upstream.requests)
        assert "return 1" in sent and "return x + 0\n" in sent  # what could be read was reviewed
