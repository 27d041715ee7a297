"""Local coding-agent CLIs as panel seats: a tiny fake agent (a Python script printing JSON) run headless as a
configured command, its answer read like any model's; a missing, slow or broken CLI is that seat's failure."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from test_debug_planner import POOL, hypotheses
from test_review import by_model, connect, text

from accord.config import parse
from accord.errors import ConfigError
from panelkit import panel_config

AGENT = """import json, sys
prompt = sys.argv[1] if len(sys.argv) > 1 else sys.stdin.read()
with open(sys.argv[0] + ".seen", "a") as f:
    f.write(json.dumps({"prompt": prompt, "argv": sys.argv[1:]}) + "\\n")
answer = {"hypotheses": [{"hypothesis": "The database connection pool is exhausted under load",
                          "likelihood": "high", "evidence": "seen by the agent", "next_check": "agent check"}]}
print(json.dumps({"type": "result", "result": "```json\\n" + json.dumps(answer) + "\\n```", "usage": {}}))
"""


def agent(tmp_path: Path, name: str, body: str = AGENT) -> Path:
    script = tmp_path / f"{name}.py"
    script.write_text(body)
    return script


def agents_yaml(entries: dict[str, dict]) -> str:
    return "agents:\n" + "".join(f"  {n}: {json.dumps(e)}\n" for n, e in entries.items())


def seen(script: Path) -> list[dict]:
    return [json.loads(x) for x in Path(f"{script}.seen").read_text().splitlines()]


async def test_an_agent_cli_sits_on_the_panel_like_a_model(upstream, tmp_path: Path):
    arg, stdin = agent(tmp_path, "arg-agent"), agent(tmp_path, "stdin-agent")
    extra = agents_yaml({
        "claude-cli": {"command": sys.executable, "args": [str(arg), "{prompt}"], "answer": "json:result",
                       "cwd": str(tmp_path)},
        "piped": {"command": sys.executable, "args": [str(stdin)], "answer": "json:result"}})
    upstream.responder = by_model({"deepseek-chat": hypotheses(POOL)})
    async with connect(upstream, extra) as c:
        r = await c.call_tool("debug", {"symptoms": "requests time out under load", "models":
                                        ["deepseek", "claude-cli", "piped"]})
        assert not r.is_error, text(r)
        out = text(r)
        assert "1. **The database connection pool is exhausted under load** — 3/3 votes (deepseek, claude-cli, piped)" \
            in out
        assert "next check: agent check" in out and "- claude-cli: ok, 1 hypotheses" in out
        [call] = seen(arg)
        assert "requests time out under load" in call["prompt"] and call["argv"][0] == call["prompt"]
        assert "INSTRUCTIONS:\nYou debug a problem" in call["prompt"]  # the whole conversation as one prompt
        [piped] = seen(stdin)
        assert piped["argv"] == [] and "requests time out under load" in piped["prompt"]  # given on stdin


async def test_a_missing_slow_or_broken_cli_is_that_seats_failure(upstream, tmp_path: Path):
    slow = agent(tmp_path, "slow", "import time\ntime.sleep(120)  # wait-ok: an agent that never answers\n")
    broken = agent(tmp_path, "broken", "import sys\nsys.stderr.write('not logged in')\nsys.exit(3)\n")
    text_out = agent(tmp_path, "plain", "print('not json at all')\n")
    extra = agents_yaml({
        "ghost": {"command": "no-such-agent-cli-accord"},
        "slow": {"command": sys.executable, "args": [str(slow), "{prompt}"], "timeout": 0.5},
        "broken": {"command": sys.executable, "args": [str(broken)]},
        "plain": {"command": sys.executable, "args": [str(text_out)], "answer": "json:result"}})
    upstream.responder = by_model({"deepseek-chat": hypotheses(POOL)})
    async with connect(upstream, extra) as c:
        r = await c.call_tool("debug", {"symptoms": "it times out", "models":
                                        ["deepseek", "ghost", "slow", "broken", "plain"]})
        assert not r.is_error, text(r)
        out = text(r)
        assert out.startswith("# Debug: 1 hypotheses from 5 models (partial)")
        assert "- ghost: failed: agent ghost: no-such-agent-cli-accord not found on PATH" in out
        assert "- slow: failed: agent slow gave no answer within 0.5 s (agents.slow.timeout)" in out
        assert "- broken: failed: agent broken exited with status 3: not logged in" in out
        assert "- plain: failed: agent plain: its output is not JSON (answer: json:result)" in out
        r = await c.call_tool("debug", {"symptoms": "x" * 300_000, "models": ["deepseek", "slow"]})
        assert "- slow: failed: agent slow: cannot run" in text(r) and "leave {prompt} out of args" in text(r)
        r = await c.call_tool("debug", {"symptoms": "it times out", "models": ["ghost"]})
        assert r.is_error and "not found on PATH" in text(r)


def test_agents_are_validated_with_clear_errors(upstream):
    with pytest.raises(ConfigError, match=r"answer `xml`: use text .* or json:<field>"):
        parse(panel_config(upstream.url, agents_yaml({"a": {"command": "claude", "answer": "xml"}})))
    with pytest.raises(ConfigError, match="command"):
        parse(panel_config(upstream.url, agents_yaml({"a": {"args": ["-p"]}})))
    with pytest.raises(ConfigError, match="agent `qwen` has the name of a model"):
        parse(panel_config(upstream.url, agents_yaml({"qwen": {"command": "claude"}})))
    cfg = parse(panel_config(upstream.url, agents_yaml({"claude-cli": {
        "command": "claude", "args": ["-p", "{prompt}", "--output-format", "json"], "answer": "json:result"}})))
    assert cfg.agents["claude-cli"].timeout == 300 and cfg.redacted()["agents"]["claude-cli"]["command"] == "claude"
