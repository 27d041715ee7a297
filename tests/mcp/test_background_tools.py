"""`background: true` on the panel tools past consensus (review/precommit, debug, planner), through the official
MCP client on the gateway's /mcp and on stdio `accord mcp` (which hands the run to the running `accord serve`):
each returns a run id at once, the run outlives the client that started it, a new client fetches its result by
id (threads, GET /v1/consensus/runs/{id}), and cancel stops it."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import httpx
from test_background import ACCORD, _status_has, _url, call, mcp_http, run_id, serve, thread
from test_debug_planner import POOL, hypotheses

from conftest import MASTER_KEY
from fakes import Reply, free_port
from gitkit import finding, findings_reply, git, make_repo, write
from mcp import Client, StdioServerParameters
from panelkit import UPSTREAM, panel_config
from waiting import async_wait_for

ADMIN = {"Authorization": f"Bearer {MASTER_KEY}"}


def held(replies: dict[str, Reply]) -> threading.Event:
    """Each model answers its reply; kimi only once the returned gate is set."""
    gate = threading.Event()
    for model, reply in replies.items():
        if model == UPSTREAM["kimi"]:
            reply.hold = gate.is_set
    return gate


async def finished(url: str, rid: str, title: str) -> str:
    async with mcp_http(url) as client:
        async def done() -> str | None:
            text = await call(client, "threads", {"id": rid})
            return text if title in text else None

        return await async_wait_for(done, f"run {rid} to show {title}")


async def test_review_in_background_outlives_its_client(upstream, gateway_factory, tmp_path: Path):
    repo = make_repo(tmp_path / "repo", {"app.py": "def f(db, name):\n    return db.execute('SELECT 1')\n"})
    write(repo, {"app.py": "def f(db, name):\n    return db.execute(f\"SELECT '{name}'\")\n"})
    git(repo, "add", "app.py")
    sqli = findings_reply([finding("high", "app.py", 2, 2, "SQL injection in f()", "name is interpolated")])
    replies = {UPSTREAM[m]: Reply(content=sqli.content) for m in ("deepseek", "qwen", "kimi")}
    gate = held(replies)
    upstream.responder = lambda req: replies[req["json"]["model"]]
    gw = gateway_factory(panel_config(upstream.url, master_key=MASTER_KEY))
    try:
        async with mcp_http(gw.url) as first:
            rid = run_id(await call(first, "review", {"path": str(repo), "diff": "staged", "background": True}))
        await async_wait_for(lambda: _status_has(gw.url, rid, "kimi", "asking"), "kimi to be asked")
        assert httpx.get(f"{gw.url}/v1/consensus/runs/{rid}", headers=ADMIN).json()["status"] == "running"
    finally:
        gate.set()
    text = await finished(gw.url, rid, "(review, done)")
    assert "SQL injection in f()" in text
    result = httpx.get(f"{gw.url}/v1/consensus/runs/{rid}", headers=ADMIN).json()["result"]
    assert result["verdict"] == "fail" and len(result["findings"]) == 1


async def test_debug_in_background_gives_its_result_to_a_new_client(upstream, gateway_factory):
    replies = {UPSTREAM[m]: hypotheses(POOL) for m in ("deepseek", "qwen", "kimi")}
    gate = held(replies)
    upstream.responder = lambda req: replies[req["json"]["model"]]
    gw = gateway_factory(panel_config(upstream.url, master_key=MASTER_KEY))
    try:
        async with mcp_http(gw.url) as first:
            rid = run_id(await call(first, "debug", {"symptoms": "timeouts under load", "background": True}))
        await async_wait_for(lambda: _status_has(gw.url, rid, "kimi", "asking"), "kimi to be asked")
    finally:
        gate.set()
    text = await finished(gw.url, rid, "(debug, done)")
    assert POOL[0] in text
    result = httpx.get(f"{gw.url}/v1/consensus/runs/{rid}", headers=ADMIN).json()["result"]
    assert result["hypotheses"][0]["text"] == POOL[0] and result["hypotheses"][0]["votes"] == 3


async def test_planner_in_background_can_be_cancelled(upstream, gateway_factory):
    replies = {UPSTREAM[m]: Reply(content="1. Add the column\n2. Backfill") for m in ("deepseek", "qwen", "kimi")}
    gate = held(replies)
    upstream.responder = lambda req: replies[req["json"]["model"]]
    gw = gateway_factory(panel_config(upstream.url, master_key=MASTER_KEY))
    try:
        async with mcp_http(gw.url) as first:
            rid = run_id(await call(first, "planner", {"task": "rename a column", "background": True}))
        await async_wait_for(lambda: _status_has(gw.url, rid, "kimi", "asking"), "kimi to be asked")
        async with mcp_http(gw.url) as second:
            assert "(planner, cancelled)" in await call(second, "threads", {"id": rid, "cancel": True})
        assert httpx.get(f"{gw.url}/v1/consensus/runs/{rid}", headers=ADMIN).json()["status"] == "cancelled"
    finally:
        gate.set()


async def test_background_without_the_service_says_what_to_start(upstream):
    from accord.config import parse
    from accord.mcp.server import build
    from accord.mcp.state import State

    upstream.responder = lambda req: Reply(content="1. Add the column")
    state = State.create(parse(panel_config(upstream.url)))  # as stdio `accord mcp`: no run registry of its own
    await state.start()
    try:
        async with Client(build(state)) as client:
            r = await client.call_tool("planner", {"task": "rename a column", "background": True})
    finally:
        await state.close()
    assert r.is_error and "start `accord serve`" in r.content[0].text
    assert not upstream.requests, "nothing is asked when the run cannot be kept"


def sqli_repo(tmp_path: Path) -> Path:
    repo = make_repo(tmp_path / "repo", {"app.py": "def f(db, name):\n    return db.execute('SELECT 1')\n"})
    write(repo, {"app.py": "def f(db, name):\n    return db.execute(f\"SELECT '{name}'\")\n"})
    git(repo, "add", "app.py")
    return repo


async def test_stdio_hands_panel_tool_runs_to_the_service(upstream, tmp_path: Path):
    repo = sqli_repo(tmp_path)
    sqli = findings_reply([finding("high", "app.py", 2, 2, "SQL injection in f()", "name is interpolated")]).content
    gates: dict[str, threading.Event] = {}

    def reply(req: dict) -> Reply:  # kimi answers each tool once that tool's gate is set
        tool = "planner" if "rename" in str(req["json"]["messages"]) else "review"
        held = req["json"]["model"] == UPSTREAM["kimi"]
        return Reply(content=sqli if tool == "review" else "1. Add the column",
                     hold=gates.setdefault(tool, threading.Event()).is_set if held else None)

    upstream.responder = reply
    cfg = tmp_path / "accord.yaml"
    cfg.write_text(panel_config(upstream.url, master_key=MASTER_KEY).replace(
        "settings:\n", f"settings:\n  port: {free_port()}\n", 1))
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "HOME": str(tmp_path)}
    params = StdioServerParameters(command=ACCORD, args=["mcp", "--config", str(cfg)], env=env)
    review = {"path": str(repo), "diff": "staged", "background": True}
    url = _url(cfg)
    try:
        async with Client(params) as client:  # no service running: the tool says what to start, and asks nothing
            r = await client.call_tool("review", review)
            assert r.is_error and "start `accord serve`" in r.content[0].text
        assert not upstream.requests
        with serve(cfg, env, tmp_path / "serve.log"):
            async with Client(params) as first:
                rid = run_id(await call(first, "review", review))
            # the stdio process that started it is gone; the service runs it
            await async_wait_for(lambda: _status_has(url, rid, "kimi", "asking"), "the service to ask kimi")
            assert httpx.get(f"{url}/v1/consensus/runs/{rid}", headers=ADMIN).json()["live"]
            gates.setdefault("review", threading.Event()).set()
            async with Client(params) as second:
                async def done() -> str | None:
                    text = await call(second, "threads", {"id": rid})
                    return text if "(review, done)" in text else None

                assert "SQL injection in f()" in await async_wait_for(done, "the review to finish")
                result = httpx.get(f"{url}/v1/consensus/runs/{rid}", headers=ADMIN).json()["result"]
                assert result["verdict"] == "fail" and result["findings"][0]["title"] == "SQL injection in f()"

                plan = run_id(await call(second, "planner", {"task": "rename a column", "background": True}))
                await async_wait_for(lambda: _status_has(url, plan, "kimi", "asking"), "the service to ask kimi")
                assert "(planner, cancelled)" in await call(second, "threads", {"id": plan, "cancel": True})
                last = run_id(await call(second, "planner", {"task": "rename a column", "background": True}))
                await async_wait_for(lambda: _status_has(url, last, "kimi", "asking"), "the service to ask kimi")
        # the service stopped (SIGTERM) with the last run in flight
        assert thread(cfg, env, plan)["status"] == "cancelled"
        assert thread(cfg, env, last)["status"] == "interrupted"
    finally:
        for gate in gates.values():
            gate.set()


async def test_the_runs_api_starts_a_panel_tool_and_says_what_is_wrong(upstream, gateway_factory):
    upstream.responder = lambda req: hypotheses(POOL)
    gw = gateway_factory(panel_config(upstream.url, master_key=MASTER_KEY))
    runs = f"{gw.url}/v1/consensus/runs"
    ask = {"panel": [{"model": "deepseek"}, {"model": "q"}], "symptoms": "timeouts under load"}
    bad = httpx.post(runs, json={"tool": "deploy", "request": ask}, headers=ADMIN)
    assert bad.status_code == 400 and "`tool` must be one of consensus, review" in bad.json()["error"]["message"]
    bad = httpx.post(runs, json={"tool": "debug", "request": {**ask, "cwd": "/"}}, headers=ADMIN)
    assert bad.status_code == 400 and "unknown request field(s): cwd" in bad.json()["error"]["message"]
    bad = httpx.post(runs, json={"tool": "debug", "request": {**ask, "panel": [{"model": "nope"}]}}, headers=ADMIN)
    assert bad.status_code == 400 and "nope" in bad.json()["error"]["message"]
    assert not upstream.requests
    rid = httpx.post(runs, json={"tool": "debug", "request": ask}, headers=ADMIN).json()["id"]

    def done() -> dict | None:
        t = httpx.get(f"{runs}/{rid}", headers=ADMIN).json()
        return t if t["status"] == "done" else None

    t = await async_wait_for(done, "the debug run to finish")
    assert t["tool"] == "debug" and t["result"]["hypotheses"][0]["votes"] == 2
