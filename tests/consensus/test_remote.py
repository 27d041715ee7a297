"""`accord mcp` with `mcp.endpoint` set (another Accord, a LiteLLM proxy as the tools' model source): the
endpoint's models are router deployments, so a call to them is retried, streamed and left in usage like any
other; an unknown name or an endpoint that is down is a tool error that says what to fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakes import free_port
from mcp import Client, StdioServerParameters

ACCORD = str(Path(sys.executable).parent / "accord")
KEY = "remote-secret-key"


def config(tmp_path: Path, endpoint: str, key: str | None = KEY) -> Path:
    cfg = tmp_path / "accord.yaml"
    key_line = f"  endpoint_key: {key}\n" if key else ""
    cfg.write_text(f"""
settings:
  num_retries: 1
  retry_backoff: 0
models:
  - {{name: local, model: openai/gpt-4o-mini, api_base: "http://127.0.0.1:9/v1", api_key: k}}
mcp:
  endpoint: {endpoint}
{key_line}""")
    return cfg


def server(cfg: Path, tmp_path: Path) -> Client:
    return Client(StdioServerParameters(command=ACCORD, args=["mcp", "--config", str(cfg)],
                                        env={"XDG_DATA_HOME": os.environ["XDG_DATA_HOME"], "HOME": str(tmp_path)}))


@pytest.fixture
def remote(upstream) -> Iterator:
    upstream.models = ["deepseek-chat", "kimi-k2-0905-preview", "qwen3-max"]
    try:
        yield upstream
    finally:
        upstream.models = ["fake-model"]


def chats(upstream) -> list[dict]:
    return [r for r in upstream.requests if r["path"].endswith("/chat/completions")]


async def test_a_remote_call_is_retried_streamed_and_in_usage(remote, tmp_path: Path):
    remote.reply(status=500, error={"error": {"message": "overloaded, try again"}})  # the first attempt only
    cfg = config(tmp_path, f"{remote.url}/v1")
    async with server(cfg, tmp_path) as client:
        r = await client.call_tool("chat", {"prompt": "hi", "model": "deepseek-chat"})
        assert not r.is_error, r.content[0].text
        text = r.content[0].text
        # the endpoint says thinking in its own upstream's terms: the effort goes as it is (not Qwen's fields)
        r = await client.call_tool("chat", {"prompt": "hi", "model": "qwen3-max", "thinking": "off"})
        assert not r.is_error, r.content[0].text
        sent = chats(remote).pop()["json"]
        assert sent["reasoning_effort"] == "none" and "enable_thinking" not in sent
    assert text.startswith("Hello from the fake upstream.")
    calls = chats(remote)[:-1]
    assert len(calls) == 2  # the 500 was retried
    for c in calls:  # streamed, with the endpoint's key
        assert c["json"]["stream"] is True and c["json"]["stream_options"] == {"include_usage": True}
        assert c["json"]["model"] == "deepseek-chat" and c["headers"]["authorization"] == f"Bearer {KEY}"
    tid = text.rsplit("thread ", 1)[1].split()[0]
    out = subprocess.run([ACCORD, "usage", "-c", str(cfg), "--thread", tid, "--json"], capture_output=True,
                         text=True, timeout=60, env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)["calls"]
    assert sorted(c["status"] for c in rows) == [200, 502]
    assert {(c["model"], c["route"]) for c in rows} == {("deepseek-chat", "mcp")}
    ok = next(c for c in rows if c["status"] == 200)
    assert ok["stream"] and ok["prompt_tokens"] > 0 and ok["completion_tokens"] > 0 and ok["spend"] > 0
    assert KEY not in out.stdout


async def test_unknown_names_and_an_endpoint_that_is_down_are_clear_tool_errors(remote, tmp_path: Path):
    async with server(config(tmp_path, f"{remote.url}/v1"), tmp_path) as client:
        r = await client.call_tool("chat", {"prompt": "hi", "model": "deepseek-chta"})
        assert r.is_error
        assert (f"model `deepseek-chta` is not served by {remote.url}/v1; did you mean deepseek-chat"
                in r.content[0].text)
        r = await client.call_tool("chat", {"prompt": "hi", "model": "kimi"})  # a catalog alias of a listed model
        assert not r.is_error and chats(remote)[-1]["json"]["model"] == "kimi-k2-0905-preview"

    down = f"http://user:{KEY}@127.0.0.1:{free_port()}/v1"
    async with server(config(tmp_path, down, key=None), tmp_path) as client:  # the server starts all the same
        v = await client.call_tool("version", {})
        assert not v.is_error and "models via remote endpoint http://****@127.0.0.1:" in v.content[0].text
        assert "cannot reach" in v.content[0].text and KEY not in v.content[0].text
        for tool, args in (("chat", {"prompt": "hi"}), ("consensus", {"question": "Ship?"}),
                           ("listmodels", {})):
            r = await client.call_tool(tool, args)
            text = r.content[0].text
            assert r.is_error and "cannot reach the MCP endpoint http://****@127.0.0.1:" in text, text
            assert "fix mcp.endpoint" in text and KEY not in text and "Traceback" not in text
