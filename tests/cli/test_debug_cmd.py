"""`accord debug` and `accord plan` through the real entry point, with each model scripted on the fake
upstream: the result on stdout, each model's progress on stderr, exit 2 when no model answered."""

from __future__ import annotations

import json
from pathlib import Path

from test_debug_planner import DNS, MERGED, POOL, hypotheses, planning
from test_review_cmd import run

from fakes import Reply
from panelkit import panel_config


def conf(upstream, tmp_path: Path) -> Path:
    cfg = tmp_path / "accord.yaml"
    cfg.write_text(panel_config(upstream.url))
    return cfg


def test_accord_debug_with_logs_and_json(upstream, tmp_path: Path):
    cfg = conf(upstream, tmp_path)
    log = tmp_path / "error.log"
    log.write_text("TimeoutError: QueuePool limit of size 10 reached\n")
    upstream.responder = lambda req: hypotheses(POOL, DNS)
    r = run("debug", "-c", str(cfg), "--logs", str(log), "requests", "time", "out")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("# Debug: 2 hypotheses from 3 models") and "3/3 votes" in r.stdout
    assert "deepseek: done" in r.stderr
    sent = upstream.requests[0]["json"]["messages"][-1]["content"]
    assert "SYMPTOMS:\nrequests time out" in sent and "QueuePool limit" in sent
    r = run("debug", "-c", str(cfg), "--json", "-m", "deepseek", "it breaks")
    data = json.loads(r.stdout)
    assert data["status"] == "done" and data["hypotheses"][0]["votes"] == 1
    upstream.responder = lambda req: Reply(status=500)
    r = run("debug", "-c", str(cfg), "it breaks")
    assert r.returncode == 2 and "# Debug: 0 hypotheses from 3 models (failed)" in r.stdout


def test_accord_plan_merges_and_continues(upstream, tmp_path: Path):
    cfg = conf(upstream, tmp_path)
    upstream.responder = planning(Reply(content=MERGED), {m: Reply(content="1. step") for m in (
        "deepseek-chat", "qwen3-max", "kimi-k2-0905-preview")})
    r = run("plan", "-c", str(cfg), "rename a column")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("# Plan\n\n## Plan\n1. Add the column") and ": chair" in r.stderr
    tid = r.stdout.split("thread: ")[1].split()[0]
    upstream.reset()
    upstream.responder = planning(Reply(content="## Plan\n1. Online only"), {m: Reply(content="1. step") for m in (
        "deepseek-chat", "qwen3-max", "kimi-k2-0905-preview")})
    r = run("plan", "-c", str(cfg), "--continue", tid, "no downtime")
    assert r.returncode == 0 and "1. Online only" in r.stdout
    assert upstream.requests[0]["json"]["messages"][2]["content"] == MERGED
    r = run("plan", "-c", str(cfg), "--continue", "nope", "x")
    assert r.returncode == 2 and "no thread nope" in r.stderr
