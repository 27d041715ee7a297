"""MCP file reading under attack (issue 12, item 1): a folder the caller names holds links out of its roots (to
/etc/passwd, /proc/self/status, Accord's own env file and database, a file outside `allowed_roots`), a hard
link to the env file, a FIFO, a socket, a link to /dev/zero and a 400 MB sparse file. Nothing outside the
rules reaches a model, each skipped file is named with why, nothing blocks the gateway, and memory stays
within the file budget. Through the official MCP client against the real server; the deadline directly."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import httpx2
import pytest
from mcp.client.streamable_http import streamable_http_client

from accord.config import load
from accord.mcp.server import build
from accord.mcp.state import State
from conftest import MASTER_KEY
from fakes import Reply
from mcp import Client
from panelkit import panel_config
from waiting import async_wait_for

FAKE_MASTER = "sk-fake-master-key-for-file-tests-7f3a9c"
FAKE_PROVIDER = "sk-fake-provider-key-for-file-tests-2b8e1d"
OUTSIDE_SECRET = "outside-the-roots-secret-5e1f"
PROJECT_TEXT = "def handler():\n    return 42\n"


@pytest.fixture
def setup(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, upstream, monkeypatch: pytest.MonkeyPatch):
    """Accord's config folder ($XDG_CONFIG_HOME/accord) with its env file, a data folder, a project, and a file
    outside the allowed roots (`tmp_path`, which holds the config, the env file and the data folder too)."""
    conf, data, project = tmp_path / "xdg-config" / "accord", tmp_path / "data", tmp_path / "project"
    for d in (conf, data, project):
        d.mkdir(parents=True)
    env = conf / "env"
    env.write_text(f"ACCORD_MASTER_KEY={FAKE_MASTER}\nDEEPSEEK_API_KEY={FAKE_PROVIDER}\n")
    env.chmod(0o600)
    for k, v in (("ACCORD_MASTER_KEY", FAKE_MASTER), ("DEEPSEEK_API_KEY", FAKE_PROVIDER)):
        monkeypatch.setenv(k, v)  # as the env file would set them; restored after the test
    outside = tmp_path_factory.mktemp("elsewhere") / "secret.txt"
    outside.write_text(OUTSIDE_SECRET + "\n")
    (project / "app.py").write_text(PROJECT_TEXT)
    upstream.responder = lambda req: Reply(content="looked")
    return {"tmp": tmp_path, "conf": conf, "env": env, "data": data, "project": project, "outside": outside}


@contextlib.asynccontextmanager
async def connect(upstream, s: dict, mcp_extra: str = "") -> AsyncIterator[tuple[Client, State]]:
    """Accord's MCP server over a config loaded from its file (so it knows its env file and data folder)."""
    text = panel_config(upstream.url, f"  allowed_roots: [{s['tmp']}]\n{mcp_extra}")
    text = text.replace("settings:\n", f"settings:\n  data_dir: {s['data']}\n", 1)
    (s["conf"] / "accord.yaml").write_text(text)
    cfg = load()  # found where `accord init` puts it
    assert cfg.path == s["conf"] / "accord.yaml" and cfg.env_file == s["env"]
    state = State.create(cfg)
    await state.start()
    try:
        async with Client(build(state)) as client:
            yield client, state
    finally:
        await state.close()


async def chat(client: Client, files: list[str], **more) -> tuple[bool, str]:
    r = await client.call_tool("chat", {"prompt": "look", "model": "fast", "files": files, **more})
    return bool(r.is_error), r.content[0].text


def sent(upstream) -> str:
    """Everything the models were sent."""
    return json.dumps([r["json"] for r in upstream.requests])


def first_line(path: str) -> str:
    with open(path) as f:
        return f.readline().strip()


async def test_links_out_of_a_folder_are_skipped_and_named(upstream, setup):
    s, project = setup, setup["project"]
    links = {"passwd": "/etc/passwd", "status": "/proc/self/status", "env.txt": str(s["env"]),
             "outside.txt": str(s["outside"]), "db.sqlite": str(s["data"] / "accord.db")}
    for name, target in links.items():
        os.symlink(target, project / name)
    os.link(s["env"], project / "notes.txt")  # a hard link: the same file under an innocent name
    async with connect(upstream, s) as (client, _):
        assert not (await chat(client, [str(project / "app.py")]))[0]  # the thread store (the database) is made
        upstream.reset()
        upstream.responder = lambda req: Reply(content="looked")
        is_error, out = await chat(client, [str(project)])
    assert not is_error, out
    said = sent(upstream)
    assert "return 42" in said  # the project's own file is read
    secrets = {"master key": FAKE_MASTER, "provider key": FAKE_PROVIDER, "outside file": OUTSIDE_SECRET,
               "/etc/passwd": first_line("/etc/passwd"), "/proc/self/status": "VmRSS", "database": "SQLite format"}
    leaked = [what for what, secret in secrets.items() if secret in said or secret in out]
    assert leaked == []  # names what leaked, never the secret itself
    for name, why in (("passwd", "system folder /etc"), ("status", "system folder /proc"),
                      ("env.txt", "Accord's own files"), ("outside.txt", "outside the allowed roots"),
                      ("db.sqlite", "Accord's own files"), ("notes.txt", "Accord's own files")):
        note = next((line for line in out.splitlines() if f"skipped {project / name}:" in line), None)
        assert note is not None and why in note, (name, out)


async def test_accords_own_files_are_never_readable_even_inside_allowed_roots(upstream, setup):
    s = setup
    async with connect(upstream, s) as (client, _):
        assert not (await chat(client, [str(s["project"] / "app.py")]))[0]  # the thread store is now made
        db = s["data"] / "accord.db"
        assert db.is_file()
        (s["project"] / "face.png").symlink_to(s["env"])
        for path in (s["env"], db, s["conf"] / "accord.yaml", s["data"], s["conf"]):
            is_error, out = await chat(client, [str(path)])
            assert is_error and "Accord's own files" in out, (path, out)
        is_error, out = await chat(client, [], images=[str(s["project"] / "face.png")])
        assert is_error and "Accord's own files" in out, out
        is_error, out = await chat(client, [str(s["project"] / "face.png")])
        assert is_error and "Accord's own files" in out, out
    assert not any(secret in sent(upstream) for secret in (FAKE_MASTER, FAKE_PROVIDER))


async def test_dev_zero_through_a_link_is_refused_not_read(upstream, setup):
    project = setup["project"]
    (project / "zero.txt").symlink_to("/dev/zero")
    (project / "image.png").symlink_to("/dev/zero")
    async with connect(upstream, setup) as (client, _):
        is_error, out = await chat(client, [str(project)])
        assert not is_error, out
        assert f"skipped {project / 'zero.txt'}: a link to a file in the system folder /dev" in out
        is_error, out = await chat(client, [], images=[str(project / "image.png")])
        assert is_error and "system folder /dev" in out


async def test_a_huge_file_is_read_only_as_far_as_the_budget(upstream, setup):
    project = setup["project"]
    big = project / "huge.log"
    with big.open("w") as f:
        f.write("log line\n" * 4000)
        f.truncate(400 * 1024 * 1024)  # sparse: 400 MB on paper, nothing on disk
    tracemalloc.start()
    try:
        async with connect(upstream, setup, "  file_tokens: 2000\n") as (client, _):
            is_error, out = await chat(client, [str(big)])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert not is_error, out
    assert peak < 64 * 1024 * 1024, f"{peak / 1e6:.0f} MB allocated reading a 400 MB file with an 8 KB budget"
    context = upstream.last["json"]["messages"][-1]["content"]
    assert "log line" in context and len(context) <= 2000 * 4 + 500
    assert f"trimmed {big} to" in out and "of 419430400 bytes: too large for the file budget" in out


async def test_a_fifo_or_socket_in_a_folder_stalls_nothing(upstream, gateway_factory, tmp_path: Path):
    project = tmp_path / "p"
    project.mkdir()
    (project / "app.py").write_text(PROJECT_TEXT)
    fifo, sock_path = project / "pipe", project / "sock"
    os.mkfifo(fifo)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    upstream.responder = lambda req: Reply(content="looked")
    gw = gateway_factory(panel_config(upstream.url, master_key=MASTER_KEY))
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {MASTER_KEY}"},
                              timeout=httpx2.Timeout(30, read=300))
    try:
        async with http, Client(streamable_http_client(f"{gw.url}/mcp", http_client=http)) as client:
            call = asyncio.create_task(chat(client, [str(project)]))
            try:
                async with httpx.AsyncClient() as probe:
                    async def alive() -> bool:
                        return (await probe.get(f"{gw.url}/health/liveliness", timeout=2)).status_code == 200
                    await async_wait_for(alive, "/health/liveliness to answer while the tool reads the folder")
                is_error, out = await call
            finally:
                _unstick(fifo)
                call.cancel()
    finally:
        sock.close()
    assert not is_error, out
    assert "return 42" in sent(upstream)
    for p in (fifo, sock_path):
        assert f"skipped {p}: not a regular file (a pipe, socket or device)" in out, out


def _unstick(fifo: Path) -> None:
    """Let a reader blocked on the FIFO go (only the code before the fix blocks there)."""
    with contextlib.suppress(OSError):
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


def test_reading_stops_at_the_deadline_and_says_so(tmp_path: Path):
    from accord.consensus.files import Rules, read_files  # here: the other tests import only the tools

    (tmp_path / "a.py").write_text("print(1)\n")
    text, notes = read_files([str(tmp_path)], 1000, Rules(), deadline=time.monotonic() - 1)
    assert text == "" and notes == ["left out the rest of the files: reading them ran past the time limit"]


def test_a_project_config_and_its_env_file_are_protected_but_not_the_project(tmp_path: Path, upstream,
                                                                            monkeypatch: pytest.MonkeyPatch):
    """`./accord.yaml` in a project: the config file and the env file beside it are Accord's own; the rest of
    the project stays readable."""
    from accord.consensus.files import Rules, read_files

    monkeypatch.setenv("DEEPSEEK_API_KEY", FAKE_PROVIDER)  # as the env file would; restored after the test
    (tmp_path / "accord.yaml").write_text(panel_config(upstream.url))
    (tmp_path / "env").write_text(f"DEEPSEEK_API_KEY={FAKE_PROVIDER}\n")
    (tmp_path / "app.py").write_text(PROJECT_TEXT)
    text, notes = read_files([str(tmp_path)], 10_000, Rules.from_config(load()))
    assert "return 42" in text and FAKE_PROVIDER not in text and "num_retries" not in text
    assert {n.split(":")[0] for n in notes} >= {f"skipped {tmp_path / 'accord.yaml'}", f"skipped {tmp_path / 'env'}"}


def test_a_folder_of_many_skipped_files_lists_the_first_hundred_and_counts_the_rest(tmp_path: Path):
    from accord.consensus.files import Rules, read_files

    for i in range(150):
        (tmp_path / f"blob{i:03}.bin").write_bytes(b"\x00" * 10)
    text, notes = read_files([str(tmp_path)], 1000, Rules())
    assert text == "" and len(notes) == 101
    assert notes[0] == f"skipped {tmp_path / 'blob000.bin'}: a binary file"
    assert notes[-1] == "and 50 more files skipped or left out (not listed)"
