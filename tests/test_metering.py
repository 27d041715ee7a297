"""Every model call leaves a usage row, whichever front-end made it: the CLI (`accord consensus`, `accord ask`),
the MCP tools over stdio (`accord mcp`) and over HTTP (/mcp on the gateway), and the dashboard playground; each
row tagged with its route and thread, and a thread's stored cost is the sum of its rows. Runs that are cancelled
or whose process dies do not stay `running`."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import httpx2
import pytest
from mcp.client.streamable_http import streamable_http_client

from conftest import MASTER_KEY
from fakes import Reply
from mcp import Client, StdioServerParameters
from panelkit import chair_json, panel_config, responder
from waiting import wait_for

ACCORD = str(Path(sys.executable).parent / "accord")
ADMIN = {"Authorization": f"Bearer {MASTER_KEY}"}
PANEL = {"question": "Ship on Friday?", "models": [{"model": "deepseek"}, {"model": "qwen", "stance": "against"}],
         "chair": "kimi"}


def accord(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([ACCORD, *args], capture_output=True, text=True, timeout=timeout, env=dict(os.environ))


def config_file(upstream, tmp_path: Path, database_url: str | None = None) -> Path:
    cfg = tmp_path / "accord.yaml"
    text = panel_config(upstream.url, master_key=MASTER_KEY)
    if database_url:
        text = text.replace("settings:\n", f"settings:\n  database_url: \"{database_url}\"\n", 1)
    cfg.write_text(text)
    return cfg


def thread_usage(cfg: Path, tid: str) -> dict:
    r = accord("usage", "-c", str(cfg), "--thread", tid, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def stored_thread(cfg: Path, tid: str) -> dict:
    r = accord("threads", "-c", str(cfg), tid, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def check_rows(cfg: Path, tid: str, route: str, models: list[str], failed: tuple[str, ...] = (),
               calls: list[dict] | None = None) -> tuple[list[dict], dict]:
    """The thread's calls: one row per model, tagged, priced; the thread's cost is their sum. Returns the calls
    and the stored thread. `calls`: rows already read (no waiting, no second `accord usage`)."""
    if calls is None:
        calls = wait_for(lambda: (u := thread_usage(cfg, tid)["calls"]) and len(u) >= len(models) and u,
                         f"{len(models)} usage rows of thread {tid}")
    assert sorted(c["model"] for c in calls) == sorted(models)
    assert {(c["route"], c["thread_id"]) for c in calls} == {(route, tid)}
    for c in calls:
        if c["model"] in failed:
            assert c["status"] >= 400 and c["error_type"] and c["spend"] == 0
        else:
            assert c["status"] == 200 and c["prompt_tokens"] > 0 and c["completion_tokens"] > 0 and c["spend"] > 0
            assert c["latency_ms"] > 0
    thread = stored_thread(cfg, tid)
    assert thread["cost"] == pytest.approx(sum(c["spend"] for c in calls), abs=1e-6)
    return calls, thread


def test_cli_consensus_and_ask_are_in_usage(upstream, gateway_factory, tmp_path, database_url):
    upstream.responder = responder(lambda m, r: Reply(content=f"{m}: yes"),
                                   chair=Reply(content=chair_json(["deepseek"])))
    cfg = config_file(upstream, tmp_path, database_url)
    r = accord("consensus", "-c", str(cfg), "--json", "-m", "deepseek", "-m", "qwen:against", "--chair", "kimi",
               "Ship on Friday?")
    assert r.returncode == 0, r.stderr
    tid = json.loads(r.stdout)["thread_id"]
    # on disk when the command returned: read at once, no waiting
    calls = thread_usage(cfg, tid)["calls"]
    assert len(calls) == 3
    _, thread = check_rows(cfg, tid, "cli", ["deepseek", "qwen", "kimi"], calls=calls)
    line = next(x for x in accord("threads", "-c", str(cfg)).stdout.splitlines() if x.startswith(tid))
    assert f"${thread['cost']:.4f}" in line  # the list shows what each thread cost

    # `accord serve` on the same config reads the same rows
    gw = gateway_factory(cfg.read_text())
    by_route = wait_for(lambda: httpx.get(f"{gw.url}/usage/summary", params={"thread_id": tid, "group_by": "route"},
                                          headers=ADMIN).json()["data"], "the gateway's summary of the thread")
    assert [(g["route"], g["requests"], g["errors"]) for g in by_route] == [("cli", 3, 0)]
    assert by_route[0]["cost"] == pytest.approx(thread["cost"], abs=1e-6)
    daily = httpx.get(f"{gw.url}/usage/summary", headers=ADMIN).json()["data"]
    assert sum(d["requests"] for d in daily) == 3

    r = accord("ask", "-c", str(cfg), "-m", "gpt", "hi")
    assert r.returncode == 0 and "gpt-4o-mini: yes" in r.stdout, r.stderr
    rows = httpx.get(f"{gw.url}/spend/logs", params={"route": "cli", "model": "gpt"}, headers=ADMIN).json()
    assert len(rows) == 1 and rows[0]["stream"] and rows[0]["status"] == 200 and rows[0]["spend"] > 0


async def test_mcp_over_stdio_writes_to_the_same_store(upstream, tmp_path):
    upstream.responder = responder(lambda m, r: Reply(content=f"{m}: yes"),
                                   chair=Reply(content=chair_json(["deepseek"])))
    cfg = config_file(upstream, tmp_path)
    params = StdioServerParameters(command=ACCORD, args=["mcp", "--config", str(cfg)],
                                   env={"XDG_DATA_HOME": os.environ["XDG_DATA_HOME"], "HOME": str(tmp_path)})
    async with Client(params) as client:
        r = await client.call_tool("consensus", PANEL)
        assert not r.is_error, r.content[0].text
        tid = r.content[0].text.split("thread: ")[1].split()[0]
        r = await client.call_tool("chat", {"prompt": "hi", "model": "gpt"})
        chat_tid = r.content[0].text.rsplit("thread ", 1)[1].split()[0]
    check_rows(cfg, tid, "mcp", ["deepseek", "qwen", "kimi"])
    check_rows(cfg, chat_tid, "mcp", ["gpt"])


async def test_mcp_over_http_counts_every_call_and_a_failed_panelist(upstream, gateway_factory, tmp_path):
    upstream.responder = responder(lambda m, r: Reply(status=500) if m == "qwen3-max" else Reply(content=f"{m}: yes"),
                                   chair=Reply(content=chair_json(["deepseek"])))
    cfg = config_file(upstream, tmp_path)
    gw = gateway_factory(cfg.read_text())
    http = httpx2.AsyncClient(headers=ADMIN, timeout=httpx2.Timeout(30, read=300))
    async with http, Client(streamable_http_client(f"{gw.url}/mcp", http_client=http)) as client:
        r = await client.call_tool("consensus", PANEL)
        assert not r.is_error and "partial" in r.content[0].text, r.content[0].text
        tid = r.content[0].text.split("thread: ")[1].split()[0]
        for tool, args in (("chat", {"prompt": "hi", "model": "gpt"}),
                           ("thinkdeep", {"problem": "why?", "model": "deepseek"}),
                           ("challenge", {"statement": "2+2=5", "model": "kimi"})):
            r = await client.call_tool(tool, args)
            assert not r.is_error, r.content[0].text
            one = r.content[0].text.rsplit("thread ", 1)[1].split()[0]
            check_rows(cfg, one, "mcp", [args["model"]])
    calls, _ = check_rows(cfg, tid, "mcp", ["deepseek", "qwen", "kimi"], failed=("qwen",))
    logs = httpx.get(f"{gw.url}/spend/logs", params={"thread_id": tid}, headers=ADMIN).json()
    assert sorted(x["id"] for x in logs) == sorted(c["id"] for c in calls)


def test_playground_runs_are_in_usage(upstream, gateway_factory, tmp_path):
    upstream.responder = responder(lambda m, r: Reply(content=f"{m}: yes"),
                                   chair=Reply(content=chair_json(["deepseek"])))
    cfg = tmp_path / "accord.yaml"
    cfg.write_text(panel_config(upstream.url, master_key=MASTER_KEY).replace(
        "consensus:\n", "consensus:\n  chair: kimi\n"))
    gw = gateway_factory(cfg.read_text())
    c = httpx.Client(base_url=gw.url, timeout=60)
    assert c.post("/ui/login", json={"username": "admin", "password": MASTER_KEY}).status_code == 200
    token = re.search(r'name="csrf-token" content="([^"]+)"', c.get("/ui/playground").text).group(1)
    r = c.post("/ui/api/consensus", headers={"x-csrf-token": token},
               json={"question": "Ship?", "panel": [{"model": "deepseek"}, {"model": "qwen", "stance": "against"}],
                     "mode": "synthesize"})
    lines = [json.loads(x) for x in r.text.splitlines()]
    result = lines[-1]
    assert result["type"] == "result" and result["status"] == "done", lines[-1]
    check_rows(cfg, result["thread_id"], "ui", ["deepseek", "qwen", "kimi"])


def slow_panel(upstream) -> None:
    """deepseek answers at once; qwen takes far longer than any test waits, so the run is in flight."""
    upstream.responder = responder(
        lambda m, r: Reply(content="late", delay=120) if m == "qwen3-max" else Reply(content=f"{m}: yes"))  # wait-ok


def start_slow_run(upstream, cfg: Path) -> tuple[subprocess.Popen, str]:
    # as from a terminal: Ctrl-C's default disposition, even when this suite runs as a background job (whose
    # children inherit SIGINT ignored, and Python then leaves it ignored); exec keeps SIG_DFL
    as_in_a_terminal = [sys.executable, "-c", "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                        "os.execv(sys.argv[1], sys.argv[1:])"]
    proc = subprocess.Popen([*as_in_a_terminal, ACCORD, "consensus", "-c", str(cfg), "--json", "-m", "deepseek",
                             "-m", "qwen", "--chair", "kimi", "Ship?"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONFAULTHANDLER": "1"})

    def running() -> str | None:
        if not any(r["json"].get("model") == "qwen3-max" for r in upstream.requests):
            return None  # not yet asked: no `accord threads` (a second CLI start) while the run is still starting
        listed = json.loads(accord("threads", "-c", str(cfg), "--json").stdout)
        return next((t["id"] for t in listed if t["status"] == "running"), None)

    try:
        return proc, wait_for(running, "the run to be in flight, waiting for qwen")
    except BaseException:
        proc.kill()
        raise


def _signal_masks(pid: int) -> str:
    """SigBlk/SigIgn/SigCgt of a process (Linux), e.g. to see that SIGINT was inherited as ignored."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return "no /proc"
    return ", ".join(x for x in lines if x.startswith(("SigBlk", "SigIgn", "SigCgt")))


def test_ctrl_c_marks_the_run_cancelled_and_its_calls_are_counted(upstream, tmp_path):
    slow_panel(upstream)
    cfg = config_file(upstream, tmp_path)
    proc, tid = start_slow_run(upstream, cfg)
    masks = _signal_masks(proc.pid)  # how the process takes SIGINT, for the message if it never exits
    proc.send_signal(signal.SIGINT)
    try:
        proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)  # PYTHONFAULTHANDLER: every thread's stack on stderr
        _, err = proc.communicate(timeout=60)
        raise AssertionError(f"Ctrl-C did not stop `accord consensus` ({masks}); its stacks:\n{err[-6000:]}") from None
    assert stored_thread(cfg, tid)["status"] == "cancelled"
    calls = {c["model"]: c for c in thread_usage(cfg, tid)["calls"]}
    assert calls["deepseek"]["status"] == 200 and calls["deepseek"]["route"] == "cli"
    assert calls["qwen"]["status"] == 499 and calls["qwen"]["error_type"] == "cancelled"


def test_a_run_whose_process_died_is_interrupted_at_the_next_start(upstream, tmp_path):
    slow_panel(upstream)
    cfg = config_file(upstream, tmp_path)
    proc, tid = start_slow_run(upstream, cfg)
    try:
        assert stored_thread(cfg, tid)["status"] == "running"  # another process starting leaves a live run alone
    finally:
        proc.kill()
        proc.communicate(timeout=60)
    assert stored_thread(cfg, tid)["status"] == "interrupted"
    listed = accord("threads", "-c", str(cfg))
    assert tid in listed.stdout and "interrupted" in listed.stdout


def test_leaving_the_playground_cancels_the_run(upstream, gateway_factory, tmp_path):
    slow_panel(upstream)
    cfg = config_file(upstream, tmp_path)
    gw = gateway_factory(cfg.read_text())
    c = httpx.Client(base_url=gw.url, timeout=60)
    assert c.post("/ui/login", json={"username": "admin", "password": MASTER_KEY}).status_code == 200
    token = re.search(r'name="csrf-token" content="([^"]+)"', c.get("/ui/playground").text).group(1)
    with c.stream("POST", "/ui/api/consensus", headers={"x-csrf-token": token},
                  json={"question": "Ship?", "panel": [{"model": "deepseek"}, {"model": "qwen"}]}) as r:
        lines = r.iter_lines()
        assert json.loads(next(lines))["type"] == "start"
        wait_for(lambda: any(x["json"].get("model") == "qwen3-max" for x in upstream.requests), "qwen to be asked")
    # the page went away (connection closed)
    listed = wait_for(lambda: [t for t in json.loads(accord("threads", "-c", str(cfg), "--json").stdout)
                               if t["status"] == "cancelled"], "the run marked cancelled")
    calls = {x["model"]: x for x in thread_usage(cfg, listed[0]["id"])["calls"]}
    assert calls["qwen"]["status"] == 499 and calls["qwen"]["route"] == "ui"
