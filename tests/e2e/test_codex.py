"""The real Codex CLI (`codex exec`) running on Accord's /v1/responses, with a fake DeepSeek upstream: the agent
loop (a tool call, Codex runs it, the result goes back, a text answer) completes, streamed, offline."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from conftest import MASTER_KEY
from fakes import FakeUpstream, Reply
from servers import need


def codex_binary() -> str:
    return need("codex", how="npm install -g @openai/codex; .ci/run does")


def test_codex_exec_runs_a_tool_loop_on_a_thinking_model(tmp_path: Path, home: Path, gateway_factory):
    codex = codex_binary()
    with FakeUpstream(vendor="deepseek") as deepseek:  # refuses a tool turn sent back without its reasoning

        def respond(req: dict) -> Reply:
            results = [m for m in req["json"].get("messages") or () if m.get("role") == "tool"]
            if results:
                return Reply(reasoning="The file answered.", content="The note says: " + results[-1]["content"])
            return Reply(reasoning="I should read the note.", content="", tool_calls=[
                {"id": "call_cat", "type": "function",
                 "function": {"name": "exec_command", "arguments": json.dumps({"cmd": "cat note.txt"})}}])

        deepseek.responder = respond
        gw = gateway_factory(f"""
settings: {{master_key: {MASTER_KEY}, num_retries: 0}}
models:
  - {{name: deepseek-reasoner, model: deepseek/deepseek-reasoner, api_base: "{deepseek.url}", api_key: sk-ds}}
""")
        work = tmp_path / "work"
        work.mkdir()
        (work / "note.txt").write_text("pineapple-42\n")
        codex_home = home / ".codex"
        codex_home.mkdir()
        (codex_home / "config.toml").write_text(f"""
model = "deepseek-reasoner"
model_provider = "accord"

[model_providers.accord]
name = "Accord"
base_url = "{gw.url}/v1"
env_key = "ACCORD_API_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0
""")
        env = {**os.environ, "HOME": str(home), "CODEX_HOME": str(codex_home), "ACCORD_API_KEY": MASTER_KEY}
        r = subprocess.run([codex, "exec", "--json", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox",
                            "-C", str(work), "What does note.txt say?"], capture_output=True, text=True, timeout=300,
                           env=env, stdin=subprocess.DEVNULL)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        events = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
        items = [e["item"] for e in events if e.get("type") == "item.completed"]
        ran = [i for i in items if i.get("type") == "command_execution"]
        assert ran and "cat note.txt" in ran[0]["command"] and "pineapple-42" in ran[0]["aggregated_output"]
        said = [i["text"] for i in items if i.get("type") == "agent_message"]
        assert said and "pineapple-42" in said[-1]
        assert events[-1]["type"] == "turn.completed"
        calls = [q for q in deepseek.requests if q["path"].endswith("/chat/completions")]
        assert [q.get("refused") for q in calls] == [None, None]
        assert all(q["json"]["stream"] for q in calls)  # Codex streams; so does the bridge
        turn = next(m for m in calls[1]["json"]["messages"] if m.get("tool_calls"))
        assert turn["reasoning_content"] == "I should read the note."  # came back from Codex, in its blob
