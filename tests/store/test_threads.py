"""The thread store on a real SQLite file: migrations at start, WAL, threads that survive a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from accord.config import Settings
from accord.store.db import MIGRATIONS, Database, database_url
from accord.store.migrations import HEAD
from accord.store.threads import ThreadNotFound, ThreadStore


def test_head_constant_matches_the_migration_scripts():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD


def test_default_url_follows_xdg_and_settings(tmp_path: Path):
    assert database_url() == f"sqlite+aiosqlite:///{tmp_path}/xdg-data/accord/accord.db"
    assert database_url(Settings(data_dir=str(tmp_path / "d"))).endswith(f"{tmp_path}/d/accord.db")
    assert database_url(Settings(database_url="postgresql://u:p@h/db")) == "postgresql+asyncpg://u:p@h/db"


async def test_threads_survive_a_restart_and_start_is_fast_when_up_to_date(tmp_path: Path):
    url = f"sqlite+aiosqlite:///{tmp_path}/a.db"
    db = Database(url)
    store = ThreadStore(db)
    tid = await store.open("consensus", "Which DB?", mode="vote", panel=["a", "b:against"])
    await store.add(tid, [{"role": "user", "content": "Which DB?"},
                          {"role": "panel", "model": "a", "content": "Postgres", "latency": 1.5, "cost": 0.01},
                          {"role": "panel", "model": "b", "stance": "against", "status": "failed", "error": "boom"},
                          {"role": "chair", "model": "a", "content": "Use Postgres."}])
    await store.finish(tid, status="partial", result={"agreement": 0.5}, prompt_tokens=10, completion_tokens=5,
                       cost=0.01)
    async with db.engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
    await db.close()

    db2 = Database(url)
    from unittest.mock import patch

    with patch("alembic.command.upgrade", side_effect=AssertionError("an up-to-date start ran Alembic")):
        await db2.start()  # one version check, no migration machinery
    store2 = ThreadStore(db2)
    t = await store2.get(tid)
    assert t["status"] == "partial" and t["result"] == {"agreement": 0.5} and t["panel"] == ["a", "b:against"]
    assert [m["role"] for m in t["messages"]] == ["user", "panel", "panel", "chair"]
    assert t["messages"][2]["error"] == "boom" and t["prompt_tokens"] == 10
    # continuing: earlier turns come back as chat history (the chair's synthesis as the answer)
    tid2 = await store2.open("chat", "and then?", thread_id=tid)
    assert tid2 == tid
    await store2.add(tid, [{"role": "user", "content": "and then?"}, {"role": "assistant", "content": "Migrate."}])
    assert await store2.history(tid) == [
        {"role": "user", "content": "Which DB?"}, {"role": "assistant", "content": "Use Postgres."},
        {"role": "user", "content": "and then?"}, {"role": "assistant", "content": "Migrate."}]
    assert [x["id"] for x in await store2.recent()] == [tid]
    try:
        await store2.get("nope")
        raise AssertionError("expected ThreadNotFound")
    except ThreadNotFound:
        pass
    await db2.close()


async def test_concurrent_writers_keep_their_threads_apart(tmp_path: Path):
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/c.db")
    store = ThreadStore(db)

    async def one(i: int) -> str:
        tid = await store.open("chat", f"q{i}")
        for j in range(5):
            await store.add(tid, [{"role": "user", "content": f"{i}-{j}"}])
        return tid

    ids = await asyncio.gather(*(one(i) for i in range(8)))
    for i, tid in enumerate(ids):
        t = await store.get(tid)
        assert [m["content"] for m in t["messages"]] == [f"{i}-{j}" for j in range(5)]
        assert [m["seq"] for m in t["messages"]] == list(range(5))
    await db.close()


async def test_only_runs_of_dead_processes_are_marked_interrupted(database_url: str):
    """Several instances share one database: a start marks the runs whose process is known dead (on this host)
    or whose lease ran out (any host), never a live run of another process or host."""
    import os
    import subprocess
    from datetime import datetime, timedelta, timezone

    from sqlalchemy import update

    from accord.store import runs
    from accord.store.models import Thread

    dead_pid = subprocess.Popen(["true"])
    dead_pid.wait()
    now = datetime.now(timezone.utc)
    owners = {
        "dead pid here": (f"{runs.HOST}:{dead_pid.pid}:0000", None),
        "our pid, an earlier process": (f"{runs.HOST}:{os.getpid()}:not-ours", None),
        "live pid here": (f"{runs.HOST}:{os.getppid()}:0000", None),
        "this process": (runs.owner(), None),
        "other host, lease running": ("elsewhere:1:abcd", now + timedelta(minutes=5)),
        "other host, lease over": ("elsewhere:1:abcd", now - timedelta(seconds=1)),
    }
    db = Database.from_settings(Settings(database_url=database_url))
    store = ThreadStore(db)
    ids = {}
    for what, (owner, lease) in owners.items():
        ids[what] = await store.open("consensus", what)
        async with db.session.begin() as s:
            await s.execute(update(Thread).where(Thread.id == ids[what]).values(owner=owner, lease_until=lease))
    await db.close()

    restarted = Database.from_settings(Settings(database_url=database_url))
    try:
        store = ThreadStore(restarted)
        status = {what: (await store.get(tid))["status"] for what, tid in ids.items()}
    finally:
        await restarted.close()
    assert status == {"dead pid here": "interrupted", "our pid, an earlier process": "interrupted",
                      "live pid here": "running", "this process": "running",
                      "other host, lease running": "running", "other host, lease over": "interrupted"}


async def test_instances_starting_together_on_a_new_database_all_come_up(database_url: str):
    """Several instances (or workers) started at once on a fresh database: one migrates, the others wait for it
    and find the schema up to date — none gives up (PostgreSQL: an advisory lock; SQLite: a file lock)."""
    dbs = [Database.from_settings(Settings(database_url=database_url)) for _ in range(4)]
    try:
        await asyncio.gather(*(db.start() for db in dbs))
        for db in dbs:
            async with db.engine.connect() as conn:
                assert (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar() == HEAD
    finally:
        for db in dbs:
            await db.close()
