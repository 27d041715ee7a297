"""`accord consensus` and `accord threads` through the real entry point (a subprocess, as a user runs it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fakes import Reply
from panelkit import chair_json, panel_config, pick, responder

ACCORD = str(Path(sys.executable).parent / "accord")


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([ACCORD, *args], capture_output=True, text=True, timeout=timeout, env=dict(os.environ))


def test_consensus_json_then_threads(upstream, tmp_path: Path):
    upstream.responder = responder(
        lambda m, r: Reply(status=500) if m == "gpt-4o-mini" else Reply(content=f"{m} says 7. ANSWER: 7"),
        chair=Reply(content=chair_json(["deepseek", "kimi"])))
    cfg = tmp_path / "accord.yaml"
    cfg.write_text(panel_config(upstream.url))
    r = run("consensus", "-c", str(cfg), "--json", "-m", "deepseek", "-m", "q:against", "-m", "kimi", "-m", "fast",
            "--mode", "vote", "--answer-format", "number", "What is 3+4?")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["status"] == "partial" and data["vote"]["winner"] == "7" and data["agreement"] == 1.0
    assert [a["model"] for a in data["answers"]] == ["deepseek", "qwen", "kimi", "gpt"]
    assert data["answers"][3]["status"] == "failed" and "500" in data["answers"][3]["error"]
    tid = data["thread_id"]

    listed = run("threads", "-c", str(cfg))
    assert listed.returncode == 0 and tid in listed.stdout and "consensus/vote" in listed.stdout
    shown = run("threads", "-c", str(cfg), tid)
    assert "deepseek-chat says 7" in shown.stdout and "failed" in shown.stdout
    assert run("threads", "-c", str(cfg), "nope").returncode == 2


def test_consensus_live_view_and_synthesis(upstream, tmp_path: Path):
    said = {"deepseek-chat": "Go: the tests pass.", "qwen3-max": "Wait for the audit first.",
            "kimi-k2-0905-preview": "Go, the tests pass."}
    upstream.responder = responder(lambda m, r: Reply(content=said[m], delay=0.1),
                                   chair=Reply(content=chair_json(["deepseek", "kimi"], "Go ahead.")))
    cfg = tmp_path / "accord.yaml"
    cfg.write_text(panel_config(upstream.url))
    r = run("consensus", "-c", str(cfg), "Should we ship?")  # the default panel from the config
    assert r.returncode == 0, r.stderr
    assert "Go ahead." in r.stdout and "Recommendation" in r.stdout and "agreement 0.67" in r.stdout
    assert "done in" in r.stderr  # the live rows (to stderr, so stdout stays the result)


def test_consensus_bad_input_is_a_clear_error(upstream, tmp_path: Path):
    cfg = tmp_path / "accord.yaml"
    cfg.write_text(panel_config(upstream.url))
    r = run("consensus", "-c", str(cfg), "-m", "nope", "q")
    assert r.returncode == 2 and "model `nope` is not served here" in r.stderr and "Traceback" not in r.stderr
    r = run("consensus", "-c", str(cfg), "-f", "/etc/passwd", "q")
    assert r.returncode == 2 and "system folder /etc" in r.stderr


def test_consensus_select_json_names_the_pick_the_chair_and_the_status(upstream, tmp_path: Path):
    said = {"deepseek-chat": "Use PostgreSQL for the store because it handles concurrent writers.",
            "deepseek-reasoner": "SQLite is enough here; keep it embedded and simple.",
            "gpt-4o-mini": "x"}
    upstream.responder = responder(lambda m, r: Reply(status=500) if m == "gpt-4o-mini" else Reply(content=said[m]),
                                   select=lambda m, r: pick(r, "SQLite", "Simple and enough."))
    cfg = tmp_path / "accord.yaml"
    cfg.write_text(panel_config(upstream.url))
    r = run("consensus", "-c", str(cfg), "--json", "--mode", "select", "-m", "deepseek", "-m", "r1", "-m", "gpt",
            "Which store?")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["mode"] == "select" and data["recommendation"] == said["deepseek-reasoner"]
    assert data["selected"] == {"label": "r1", "model": "r1", "reason": "Simple and enough.", "by": "chair qwen"}
    assert data["chair_choice"]["model"] == "qwen" and data["chair_choice"]["family"] == "dashscope"
    assert data["status"] == "partial" and data["reasons"] == [{"code": "panel_partial",
                                                                "text": "2 of 3 models answered"}]
    assert [g["size"] for g in data["clusters"]["groups"]] == [1, 1] and data["agreement"] == 0.5


def test_consensus_debate_json_keeps_first_answers_and_votes_final_only_when_asked(upstream, tmp_path: Path):
    first = {"deepseek-chat": "2737", "qwen3-max": "2737", "kimi-k2-0905-preview": "2738"}

    def panel(m, req):
        said = "2738" if "panel discussion" in req["json"]["messages"][-1]["content"] else first[m]
        return Reply(content=f"391 × 7\nANSWER: {said}")

    upstream.responder = responder(panel)
    cfg = tmp_path / "accord.yaml"
    cfg.write_text(panel_config(upstream.url))
    base = ("consensus", "-c", str(cfg), "--json", "-m", "deepseek", "-m", "qwen", "-m", "kimi", "--mode", "debate",
            "--answer-format", "number")
    r = run(*base, "391*7?")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert [a["content"][-4:] for a in data["answers"]] == ["2737", "2737", "2738"]
    assert [a["content"][-4:] for a in data["rounds"][0]] == ["2738", "2738", "2738"]
    assert data["vote"]["winner"] == "2737" and data["debate"]["vote_over"] == "first"
    assert [c["model"] for c in data["debate"]["changes"]] == ["deepseek", "qwen"]
    r = run(*base, "--vote-final", "391*7?")
    data = json.loads(r.stdout)
    assert data["vote"]["winner"] == "2738" and data["agreement"] == 1.0 and data["debate"]["vote_over"] == "final"
