"""The README's quick start, end to end: `accord init`, `accord service install`, `accord claude install`,
then Claude Code's way of starting the registered MCP server, and a `consensus` call through it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from test_main import ACCORD

from fakes import Reply
from mcp import Client, StdioServerParameters
from panelkit import responder


def run(env: dict, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    r = subprocess.run([ACCORD, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=60)
    assert r.returncode == 0, f"accord {' '.join(args)}: {r.stdout}\n{r.stderr}"
    return r


async def test_three_commands_then_claude_code_calls_consensus(tmp_path, upstream):
    home, project = tmp_path / "home", tmp_path / "project"
    home.mkdir()
    project.mkdir()
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "XDG_DATA_HOME": str(home / ".local/share"),
           # the providers' URLs, pointed at the fake (a user would not set these)
           "DEEPSEEK_API_BASE": f"{upstream.url}/v1", "DASHSCOPE_API_BASE": f"{upstream.url}/v1",
           "MOONSHOT_API_BASE": f"{upstream.url}/v1"}
    for k in ("DEEPSEEK_API_KEY", "DASHSCOPE_API_KEY", "MOONSHOT_API_KEY", "ACCORD_CONFIG"):
        env.pop(k, None)

    run(env, project, "init", "--provider", "deepseek,qwen,kimi", "--key", "deepseek=sk-ds-1",
        "--key", "qwen=sk-qw-2", "--key", "kimi=sk-km-3", "--panel", "deepseek-chat,qwen3-max,kimi-k2-0905-preview")
    cfg_dir = home / ".config" / "accord"
    assert (cfg_dir / "accord.yaml").is_file() and oct((cfg_dir / "env").stat().st_mode)[-3:] == "600"
    out = run(env, project, "service", "install", "--platform", "linux", "--no-start").stdout
    assert "accord.service" in out
    run(env, project, "claude", "install", "--scope", "project", "--no-cli")
    entry = json.loads((project / ".mcp.json").read_text())["mcpServers"]["accord"]

    upstream.responder = responder(lambda model, req: Reply(content=f"{model} says yes", delay=0.05))
    server_env = {k: v for k, v in env.items() if k in ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "PATH")
                  or k.endswith("_API_BASE")}
    params = StdioServerParameters(command=entry["command"], args=entry["args"],
                                   env={**server_env, **entry.get("env", {})}, cwd=str(project))
    async with Client(params) as client:
        r = await client.call_tool("consensus", {"question": "Should we ship on Friday?"})
    text = r.content[0].text
    assert not r.is_error, text
    assert "Consensus" in text
    asked = {q["json"]["model"] for q in upstream.requests}
    assert {"deepseek-chat", "qwen3-max", "kimi-k2-0905-preview"} <= asked
    keys = {q["headers"]["authorization"] for q in upstream.requests}
    assert {"Bearer sk-ds-1", "Bearer sk-qw-2", "Bearer sk-km-3"} <= keys  # keys from the env file
