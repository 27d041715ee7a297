"""Background consensus runs (`background: true`): started over MCP, they outlive the client that started them,
show their progress and partial answers while they run, can be cancelled, and end `interrupted` when the
server stops under them. Driven through the official MCP client (HTTP /mcp and stdio), the HTTP API and the CLI."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import httpx2
from mcp.client.streamable_http import streamable_http_client

from conftest import MASTER_KEY
from fakes import Reply, free_port
from mcp import Client, StdioServerParameters
from panelkit import UPSTREAM, panel_config, responder
from waiting import async_wait_for, wait_for

ADMIN = {"Authorization": f"Bearer {MASTER_KEY}"}
ACCORD = str(Path(sys.executable).parent / "accord")


def gated(upstream) -> threading.Event:
    """kimi answers only once the returned gate is set; the others at once."""
    gate = threading.Event()

    def panel(model: str, req: dict) -> Reply:
        return Reply(content=f"{model}: yes, ship it", hold=gate.is_set if model == UPSTREAM["kimi"] else None)

    upstream.responder = responder(panel)
    return gate


@contextlib.asynccontextmanager
async def mcp_http(url: str) -> AsyncIterator[Client]:
    http = httpx2.AsyncClient(headers=ADMIN, timeout=httpx2.Timeout(30, read=300))
    async with http, Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client:
        yield client


async def call(client: Client, tool: str, args: dict) -> str:
    r = await client.call_tool(tool, args)
    assert not r.is_error, r.content[0].text
    return r.content[0].text


def run_id(text: str) -> str:
    m = re.search(r"Started background run ([0-9a-f-]{36})", text)
    assert m, text
    return m.group(1)


async def test_background_run_outlives_its_client_and_shows_progress(upstream, gateway_factory):
    gate = gated(upstream)
    gw = gateway_factory(panel_config(upstream.url, master_key=MASTER_KEY))
    async with mcp_http(gw.url) as first:
        rid = run_id(await call(first, "consensus", {"question": "Ship on Friday?", "background": True}))
    # the client that started it is gone; a new one sees it running, with the answers so far
    async with mcp_http(gw.url) as second:
        async def progress() -> str | None:
            text = await call(second, "threads", {"id": rid})
            return text if "deepseek: done" in text and "kimi: asking" in text else None

        text = await async_wait_for(progress, "deepseek's answer while kimi still works")
        assert "(consensus, running)" in text and "deepseek-chat: yes, ship it" in text
    api = httpx.get(f"{gw.url}/v1/consensus/runs/{rid}", headers=ADMIN).json()
    assert api["status"] == "running" and api["live"] and api["result"]["progress"]["kimi"]["state"] == "asking"
    assert httpx.get(f"{gw.url}/v1/consensus/runs/{rid}").status_code == 401
    gate.set()
    async with mcp_http(gw.url) as third:
        async def finished() -> str | None:
            text = await call(third, "threads", {"id": rid})
            return text if "(consensus, done)" in text else None

        text = await async_wait_for(finished, "the run to finish")
        assert "## chair" in text and "kimi-k2-0905-preview: yes" in text
    assert httpx.get(f"{gw.url}/v1/consensus/runs/{rid}", headers=ADMIN).json()["result"]["status"] == "done"


async def test_cancel_stops_the_run_and_its_calls(upstream, gateway_factory):
    gate = gated(upstream)
    gw = gateway_factory(panel_config(upstream.url, master_key=MASTER_KEY))
    try:
        async with mcp_http(gw.url) as client:
            rid = run_id(await call(client, "consensus", {"question": "Ship on Friday?", "background": True}))
            await async_wait_for(lambda: _status_has(gw.url, rid, "kimi", "asking"), "kimi to be asked")
            # "asking" is said just before the call: cancel once kimi's request has reached the provider
            await async_wait_for(lambda: any(r["json"].get("model") == UPSTREAM["kimi"] for r in upstream.requests),
                                 "kimi's request to reach the provider")
            text = await call(client, "threads", {"id": rid, "cancel": True})
            assert "(consensus, cancelled)" in text
        rows = wait_for(lambda: [r for r in httpx.get(f"{gw.url}/spend/logs", params={"thread_id": rid},
                                                      headers=ADMIN).json() if r["model"] == "kimi"],
                        "kimi's cancelled call to be recorded")
        assert rows[0]["status"] == 499 and rows[0]["error_type"] == "cancelled"
        again = httpx.post(f"{gw.url}/v1/consensus/runs/{rid}/cancel", json={}, headers=ADMIN).json()
        assert again == {"id": rid, "cancelled": False, "status": "cancelled"}
        assert httpx.get(f"{gw.url}/v1/consensus/runs/nope", headers=ADMIN).status_code == 404
    finally:
        gate.set()


def _status_has(url: str, rid: str, model: str, state: str) -> bool:
    t = httpx.get(f"{url}/v1/consensus/runs/{rid}", headers=ADMIN).json()
    return ((t.get("result") or {}).get("progress") or {}).get(model, {}).get("state") == state


@contextlib.contextmanager
def serve(cfg: Path, env: dict, log: Path) -> Iterator[subprocess.Popen]:
    """`accord serve` for real, on the port its config names (where a stdio `accord mcp` looks for it)."""
    with log.open("ab") as out:
        proc = subprocess.Popen([ACCORD, "serve", "--config", str(cfg)], stdout=out, stderr=subprocess.STDOUT, env=env)
    url = _url(cfg)
    try:
        def up() -> str | None:
            if proc.poll() is not None:
                return "exited"
            return "up" if httpx.get(f"{url}/health/readiness", timeout=1).json().get("db") == "connected" else None

        assert wait_for(up, "accord serve to start") == "up", log.read_text(errors="replace")[-2000:]
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)


def _url(cfg: Path) -> str:
    port = re.search(r"port: (\d+)", cfg.read_text()).group(1)  # type: ignore[union-attr]
    return f"http://127.0.0.1:{port}"


def thread(cfg: Path, env: dict, rid: str) -> dict:
    out = subprocess.run([ACCORD, "threads", rid, "--json", "--config", str(cfg)], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


async def test_stdio_hands_background_runs_to_the_service_and_restart_marks_them_interrupted(upstream, tmp_path):
    gate = gated(upstream)
    cfg = tmp_path / "accord.yaml"
    cfg.write_text(panel_config(upstream.url, master_key=MASTER_KEY).replace(
        "settings:\n", f"settings:\n  port: {free_port()}\n", 1))
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "HOME": str(tmp_path)}
    params = StdioServerParameters(command=ACCORD, args=["mcp", "--config", str(cfg)], env=env)
    log = tmp_path / "serve.log"
    try:
        async with Client(params) as client:  # no service running: the tool says what to start
            r = await client.call_tool("consensus", {"question": "Ship?", "background": True})
            assert r.is_error and "`accord serve`" in r.content[0].text
        with serve(cfg, env, log) as proc:
            async with Client(params) as client:
                first = run_id(await call(client, "consensus", {"question": "Ship?", "background": True}))
            wait_for(lambda: _status_has(_url(cfg), first, "kimi", "asking"), "the service to run it")
            assert thread(cfg, env, first)["status"] == "running"
            proc.kill()  # the service dies with the run in flight
            proc.wait(30)
        with serve(cfg, env, log):  # the restarted service finds it
            assert thread(cfg, env, first)["status"] == "interrupted"
            async with Client(params) as client:
                second = run_id(await call(client, "consensus", {"question": "Ship?", "background": True}))
                wait_for(lambda: _status_has(_url(cfg), second, "kimi", "asking"), "the service to run it")
                text = await call(client, "threads", {"id": second, "cancel": True})  # cancelled in the service
                assert "(consensus, cancelled)" in text
                third = run_id(await call(client, "consensus", {"question": "Ship?", "background": True}))
                wait_for(lambda: _status_has(_url(cfg), third, "kimi", "asking"), "the service to run it")
        # stopped (SIGTERM) with the third run in flight
        assert thread(cfg, env, third)["status"] == "interrupted"
    finally:
        gate.set()
