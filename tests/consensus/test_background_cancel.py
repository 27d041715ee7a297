"""Every kind of background run (consensus, review, precommit, debug, planner) ends `cancelled` when cancelled at
any point -- at once, before its thread handling starts; while a model is asked; while the answers are grouped
after the asking -- and `interrupted` when the server stops under it. Driven through the official MCP client on
the server's tools, with a run registry as the gateway's /mcp has."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_background import call, run_id

from accord.config import parse
from accord.consensus.background import Runs
from accord.mcp.server import build
from accord.mcp.state import State
from fakes import Reply
from gitkit import finding, findings_reply, git, make_repo, write
from mcp import Client
from panelkit import UPSTREAM, panel_config
from waiting import async_wait_for

TOOLS = ("consensus", "review", "precommit", "debug", "planner")
EMBEDDINGS = "  - {{name: emb, model: openai/text-embedding-3-small, api_base: {url}/v1, api_key: k6}}\n"


def arguments(tool: str, repo: Path) -> dict:
    return {"consensus": {"question": "Ship on Friday?"}, "review": {"path": str(repo), "diff": "staged"},
            "precommit": {"path": str(repo), "intent": "quote the name"}, "debug": {"symptoms": "timeouts under load"},
            "planner": {"task": "rename a column"}}[tool] | {"background": True}


def staged_change(tmp_path: Path) -> Path:
    repo = make_repo(tmp_path / "repo", {"app.py": "def f(db, name):\n    return db.execute('SELECT 1')\n"})
    write(repo, {"app.py": "def f(db, name):\n    return db.execute(f\"SELECT '{name}'\")\n"})
    git(repo, "add", "app.py")
    return repo


def answering(upstream, kimi: threading.Event | None = None, embeddings: threading.Event | None = None) -> None:
    """Every model answers with a finding (readable as a review; anything else reads it as prose); kimi only
    once `kimi` is set, embeddings only once `embeddings` is set."""
    text = findings_reply([finding("high", "app.py", 2, 2, "SQL injection in f()")]).content

    def reply(req: dict) -> Reply:
        if req["path"].endswith("/embeddings"):
            return Reply(hold=embeddings.is_set if embeddings else None)
        held = kimi is not None and req["json"].get("model") == UPSTREAM["kimi"]
        return Reply(content=text, hold=kimi.is_set if held else None)

    upstream.responder = reply


@contextlib.asynccontextmanager
async def server(cfg: str) -> AsyncIterator[tuple[Client, State]]:
    state = State.create(parse(cfg), runs=Runs())
    await state.start()
    try:
        async with Client(build(state)) as client:
            yield client, state
    finally:
        assert state.runs is not None
        await state.runs.close()
        await state.close()


@pytest.mark.parametrize("tool", TOOLS)
async def test_a_run_cancelled_at_once_ends_cancelled(tool, upstream, tmp_path):
    """Cancelled as soon as it is started: before its own thread handling (reading the change, reopening its
    thread) has begun. It used to stay `running` for ever."""
    repo = staged_change(tmp_path)
    gate = threading.Event()
    answering(upstream, kimi=gate)
    try:
        async with server(panel_config(upstream.url)) as (client, _state):
            rid = run_id(await call(client, tool, arguments(tool, repo)))
            text = await call(client, "threads", {"id": rid, "cancel": True})
            assert f"({tool}, cancelled)" in text
    finally:
        gate.set()


@pytest.mark.parametrize("tool", TOOLS)
async def test_a_run_cancelled_while_a_model_is_asked_ends_cancelled(tool, upstream, tmp_path):
    repo = staged_change(tmp_path)
    gate = threading.Event()
    answering(upstream, kimi=gate)
    try:
        async with server(panel_config(upstream.url)) as (client, _state):
            rid = run_id(await call(client, tool, arguments(tool, repo)))
            await async_wait_for(lambda: any(r["json"].get("model") == UPSTREAM["kimi"] for r in upstream.requests),
                                 "kimi's request to reach the provider")
            assert f"({tool}, cancelled)" in await call(client, "threads", {"id": rid, "cancel": True})
    finally:
        gate.set()


async def test_a_consensus_cancelled_while_its_answers_are_grouped_ends_cancelled(upstream, tmp_path):
    """After the asking, the answers are grouped by an embedding model: a cancel then used to leave the run
    `running`."""
    gate = threading.Event()
    answering(upstream, embeddings=gate)
    cfg = panel_config(upstream.url).replace("consensus:", EMBEDDINGS.format(url=upstream.url) + "consensus:", 1)
    cfg = cfg.replace("consensus:\n", "consensus:\n  embedding_model: emb\n", 1)
    try:
        async with server(cfg) as (client, _state):
            rid = run_id(await call(client, "consensus", arguments("consensus", tmp_path)))
            await async_wait_for(lambda: any(r["path"].endswith("/embeddings") for r in upstream.requests),
                                 "the answers to be sent for grouping")
            assert "(consensus, cancelled)" in await call(client, "threads", {"id": rid, "cancel": True})
    finally:
        gate.set()


async def test_runs_in_flight_when_the_server_stops_end_interrupted(upstream, tmp_path):
    repo = staged_change(tmp_path)
    gate = threading.Event()
    answering(upstream, kimi=gate)
    try:
        async with server(panel_config(upstream.url)) as (client, state):
            ids = {tool: run_id(await call(client, tool, arguments(tool, repo))) for tool in TOOLS}
            await async_wait_for(lambda: sum(r["json"].get("model") == UPSTREAM["kimi"] for r in upstream.requests)
                                 >= len(TOOLS), "kimi to be asked by every run")
            assert state.runs is not None
            await state.runs.close()  # what the server does as it stops
            for tool, rid in ids.items():
                assert f"({tool}, interrupted)" in await call(client, "threads", {"id": rid})
    finally:
        gate.set()


async def test_a_foreground_consensus_cancelled_while_its_answers_are_grouped_ends_cancelled(upstream, tmp_path):
    """The same moment without `background`: the caller's task is cancelled (a client gone, Ctrl-C) while the
    engine groups the answers; the thread ends `cancelled`, not `running`."""
    import asyncio

    from accord.consensus import ask

    gate = threading.Event()
    answering(upstream, embeddings=gate)
    cfg = panel_config(upstream.url).replace("consensus:", EMBEDDINGS.format(url=upstream.url) + "consensus:", 1)
    cfg = cfg.replace("consensus:\n", "consensus:\n  embedding_model: emb\n", 1)
    state = State.create(parse(cfg))
    await state.start()
    try:
        await state.ready()
        asked = await ask.consensus(state.cfg, state.engine, "Ship on Friday?")
        task = asyncio.ensure_future(ask.run(state.engine, asked))
        await async_wait_for(lambda: any(r["path"].endswith("/embeddings") for r in upstream.requests),
                             "the answers to be sent for grouping")
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert [t["status"] for t in await state.engine.store.recent()] == ["cancelled"]
    finally:
        gate.set()
        await state.close()
