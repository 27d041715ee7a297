"""The MCP server over its real transports: `accord mcp` as a stdio subprocess, streamable HTTP at /mcp on a
running gateway (authenticated), and the tools pointed at a remote OpenAI-compatible endpoint."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import httpx2
from mcp.client.streamable_http import streamable_http_client
from test_server import TOOL_NAMES

from accord.config import parse
from accord.mcp.server import build
from accord.mcp.state import State
from conftest import MASTER_KEY
from fakes import Reply
from mcp import Client, StdioServerParameters
from panelkit import UPSTREAM, panel_config, question, responder

ACCORD = str(Path(sys.executable).parent / "accord")


def scripted(upstream) -> list[str]:
    """In a consensus, each panelist answers once the one before it is reported done (in the progress messages
    returned, which run_consensus fills), so the order of the progress is known without racing latencies."""
    seen: list[str] = []
    order = ["deepseek", "qwen", "kimi"]

    def reply(m: str, req: dict) -> Reply:
        name = next((n for n, up in UPSTREAM.items() if up == m), m)
        if "Ship on Friday?" not in question(req) or name not in order:
            return Reply(content=f"{m}: yes")
        before = order[:order.index(name)]
        return Reply(content=f"{m}: yes", hold=lambda: all(any(s.split(":")[0] == b and ": done in" in s
                                                                   for s in seen) for b in before))

    upstream.responder = responder(reply)
    return seen


async def run_consensus(client: Client, seen: list[str]) -> tuple[str, list[str]]:
    async def progress(p, total, message):
        seen.append(message)

    r = await client.call_tool("consensus", {"question": "Ship on Friday?"}, progress_callback=progress)
    assert not r.is_error, r.content[0].text
    return r.content[0].text, seen


def check_progress(seen: list[str]) -> None:
    events = [m for m in seen if not m.startswith("working")]
    assert events[0].startswith("asking 3 models")
    done = [m.split(":")[0] for m in events if ": done in" in m]
    assert done[:3] == ["deepseek", "qwen", "kimi"] and events[-1].startswith("finished")


async def test_stdio_subprocess(upstream, tmp_path: Path):
    seen = scripted(upstream)
    cfg = tmp_path / "accord.yaml"
    cfg.write_text(panel_config(upstream.url))
    params = StdioServerParameters(command=ACCORD, args=["mcp", "--config", str(cfg)],
                                   env={"XDG_DATA_HOME": str(tmp_path / "data"), "HOME": str(tmp_path)})
    async with Client(params) as client:
        names = [t.name for t in (await client.list_tools()).tools]
        assert "consensus" in names and "chat" in names
        out, seen = await run_consensus(client, seen)
        assert "# Consensus (synthesize): done" in out
        check_progress(seen)
        r = await client.call_tool("chat", {"prompt": "hi", "model": "q"})
        assert r.content[0].text.startswith("qwen3-max: yes")
    assert (tmp_path / "data" / "accord" / "accord.db").is_file()  # threads stored where XDG says


async def test_streamable_http_on_the_gateway_with_auth(upstream, gateway_factory):
    seen = scripted(upstream)
    gw = gateway_factory(panel_config(upstream.url, master_key=MASTER_KEY))
    denied = httpx.post(f"{gw.url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                        headers={"Accept": "application/json, text/event-stream"})
    assert denied.status_code == 401 and "API key" in denied.json()["error"]["message"]
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {MASTER_KEY}"},
                              timeout=httpx2.Timeout(30, read=300))
    async with http, Client(streamable_http_client(f"{gw.url}/mcp", http_client=http)) as client:
        assert [t.name for t in (await client.list_tools()).tools] == TOOL_NAMES  # the same tools as over stdio
        out, seen = await run_consensus(client, seen)
        assert "# Consensus (synthesize): done" in out
        check_progress(seen)
    # the gateway's own API still answers beside /mcp
    assert httpx.get(f"{gw.url}/v1/models", headers={"Authorization": f"Bearer {MASTER_KEY}"}).status_code == 200


async def test_tools_on_a_remote_endpoint(upstream, gateway_factory):
    seen = scripted(upstream)
    remote = gateway_factory(panel_config(upstream.url, master_key=MASTER_KEY))
    cfg = parse(panel_config("http://127.0.0.1:9", f"  endpoint: {remote.url}/v1\n  endpoint_key: {MASTER_KEY}\n"))
    state = State.create(cfg)
    await state.start()
    try:
        async with Client(build(state)) as client:
            listed = (await client.call_tool("listmodels", {})).content[0].text
            assert "deepseek" in listed and "kimi" in listed
            r = await client.call_tool("chat", {"prompt": "hi", "model": "kimi"})
            assert r.content[0].text.startswith("kimi-k2-0905-preview: yes")
            out, _ = await run_consensus(client, seen)
            assert "done" in out and "qwen:against" in out
    finally:
        await state.close()
    assert upstream.last["headers"]["authorization"].startswith("Bearer k")  # the remote used its own keys
