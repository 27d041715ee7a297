"""The real Claude Code CLI running on Accord (ANTHROPIC_BASE_URL), the whole agent loop, streamed, on both paths:
the fake upstream first answers with a Read tool call (with thinking), Claude Code reads the file in its project
and sends the result back, and the upstream answers with text built from it.

- passthrough: an Anthropic model, against the strict Anthropic fake (which refuses a thinking block whose
  signature did not come back intact);
- translation: DeepSeek's reasoner through its strict fake (which refuses a tool-call turn sent back without
  its reasoning).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import Gateway
from fakes import FakeUpstream, Reply
from servers import need
from strict import StrictUpstream

MASTER = "sk-accord-claude-code"
SECRET_WORD = "pelican"
THOUGHT = "The user wants the file; I will read it."


def responder(project: Path):
    """Read the file when asked; answer from the tool result once it is back; anything else (Claude Code's
    side requests) gets a short text."""

    def answer(rec: dict) -> Reply | None:
        body = rec["json"] if isinstance(rec["json"], dict) else {}
        tools = [t.get("name") or (t.get("function") or {}).get("name") for t in body.get("tools") or ()]
        last = (body.get("messages") or [{}])[-1]
        blocks = last.get("content") if isinstance(last.get("content"), list) else []
        result = [b for b in blocks if isinstance(b, dict) and b.get("type") == "tool_result"]
        if last.get("role") == "tool" or result:
            said = last.get("content") if last.get("role") == "tool" else json.dumps(result)
            return Reply(content=f"The secret word is {SECRET_WORD}." if SECRET_WORD in str(said) else "No file.")
        if "Read" in tools:
            args = json.dumps({"file_path": str(project / "notes.txt")})
            return Reply(reasoning=THOUGHT, content="", tool_calls=[
                {"id": "toolu_read01", "type": "function", "function": {"name": "Read", "arguments": args}}])
        return Reply(content="ok")

    return answer


def run_claude(gw: Gateway, project: Path, home: Path) -> dict:
    claude = need("claude")
    env = {
        "PATH": os.environ.get("PATH", ""), "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
        "ANTHROPIC_BASE_URL": gw.url, "ANTHROPIC_AUTH_TOKEN": MASTER,
        # every model slot Claude Code uses (main, background) mapped onto the served model
        **{v: "coder" for v in ("ANTHROPIC_MODEL", "ANTHROPIC_DEFAULT_OPUS_MODEL", "ANTHROPIC_DEFAULT_SONNET_MODEL",
                                "ANTHROPIC_DEFAULT_HAIKU_MODEL", "ANTHROPIC_SMALL_FAST_MODEL")},
        # no telemetry, update checks, error reports or other traffic beside the model calls
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1", "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
    }
    r = subprocess.run([claude, "-p", "What is the secret word in notes.txt?", "--output-format", "json",
                        "--allowedTools", "Read"], cwd=project, env=env, capture_output=True, text=True,
                       timeout=300, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    return json.loads(r.stdout)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    p = tmp_path / "project"
    p.mkdir()
    (p / "notes.txt").write_text(f"the secret word is {SECRET_WORD}\n")
    return p


@pytest.fixture
def cc_home(tmp_path: Path) -> Path:
    h = tmp_path / "cc-home"
    h.mkdir()
    return h


def loop_requests(fake: FakeUpstream, path: str) -> list[dict]:
    return [r for r in fake.requests if r["path"].endswith(path) and "Read" in json.dumps(r["json"].get("tools"))]


def test_claude_code_runs_on_an_anthropic_upstream_through_accord(project, cc_home, gateway_factory) -> None:
    with StrictUpstream() as fake:
        fake.responder = responder(project)
        gw = gateway_factory(f"""
settings: {{master_key: {MASTER}, num_retries: 0}}
models:
  - {{name: coder, model: anthropic/claude-sonnet-4-5, api_base: {fake.url}, api_key: sk-ant-upstream-0000}}
""")
        out = run_claude(gw, project, cc_home)
        assert out["is_error"] is False and out["num_turns"] == 2
        assert SECRET_WORD in out["result"]
        assert fake.refusals == [], fake.refusals
        first, second = loop_requests(fake, "/v1/messages")[:2]
        assert first["json"]["stream"] is True and second["json"]["stream"] is True
        assert first["headers"]["x-api-key"] == "sk-ant-upstream-0000"
        assert "claude-code" in first["headers"]["anthropic-beta"]  # Claude Code's betas passed on
        turn = second["json"]["messages"]
        sent_back = next(m for m in turn if m["role"] == "assistant")["content"]
        assert [b["type"] for b in sent_back] == ["thinking", "tool_use"]
        assert sent_back[0]["signature"] == "fake-signature" and sent_back[1]["id"] == "toolu_read01"


def test_claude_code_runs_on_an_openai_format_upstream_through_accord(project, cc_home, gateway_factory) -> None:
    with FakeUpstream(vendor="deepseek") as fake:
        fake.responder = responder(project)
        gw = gateway_factory(f"""
settings: {{master_key: {MASTER}, num_retries: 0}}
models:
  - {{name: coder, model: deepseek/deepseek-reasoner, api_base: {fake.url}/v1, api_key: sk-ds-upstream-0000}}
""")
        out = run_claude(gw, project, cc_home)
        assert out["is_error"] is False and out["num_turns"] == 2
        assert SECRET_WORD in out["result"]
        assert all("refused" not in r for r in fake.requests), [r.get("refused") for r in fake.requests]
        first, second = loop_requests(fake, "/chat/completions")[:2]
        assert first["json"]["stream"] is True and second["json"]["stream"] is True
        call_turn = next(m for m in second["json"]["messages"] if m.get("tool_calls"))
        assert call_turn["tool_calls"][0]["id"] == "toolu_read01"
        assert call_turn["reasoning_content"] == THOUGHT  # DeepSeek needs it back on the tool-call turn
        result = next(m for m in second["json"]["messages"] if m["role"] == "tool")
        assert result["tool_call_id"] == "toolu_read01" and SECRET_WORD in result["content"]
