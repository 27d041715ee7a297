"""`background: true` on the panel tools past consensus (review/precommit, debug, planner), through the official
MCP client on the gateway's /mcp: each returns a run id at once, the run outlives the client that started it, a
new client fetches its result by id (threads, GET /v1/consensus/runs/{id}), and cancel stops it."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx

from conftest import MASTER_KEY
from fakes import Reply
from gitkit import finding, findings_reply, git, make_repo, write
from panelkit import UPSTREAM, panel_config
from test_background_runs import _status_has, call, mcp_http, run_id
from test_debug_planner import POOL, hypotheses
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


async def test_background_without_the_service_says_where_it_runs(upstream):
    from mcp import Client

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
    assert r.is_error and "background `planner` runs only in the Accord service" in r.content[0].text
    assert not upstream.requests, "nothing is asked when the run cannot be kept"
