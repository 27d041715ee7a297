"""The `accord` command through its real entry point (a subprocess, as a user runs it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from fakes import free_port
from waiting import wait_http

ACCORD = shutil.which("accord", path=str(Path(sys.executable).parent)) or "accord"


def run(*args: str, input: str | None = None, env: dict | None = None, timeout: float = 60):
    return subprocess.run([ACCORD, *args], capture_output=True, text=True, input=input, timeout=timeout,
                          env={**os.environ, **(env or {})})


def write_config(tmp_path: Path, upstream_url: str, extra: str = "") -> Path:
    p = tmp_path / "accord.yaml"
    p.write_text(f"""
settings: {{master_key: sk-cli-master}}
models:
  - name: thinker
    model: deepseek/deepseek-reasoner
    api_base: {upstream_url}/v1
    api_key: sk-provider-secret-cli
    aliases: [t]
{extra}""")
    return p


def test_help_lists_commands():
    r = run("--help")
    assert r.returncode == 0
    for cmd in ("serve", "models", "ask", "config"):
        assert cmd in r.stdout


def test_version():
    r = run("--version")
    assert r.returncode == 0 and "accord" in r.stdout


def test_models_table_and_json(tmp_path, upstream):
    write_config(tmp_path, upstream.url)
    r = run("models")
    assert r.returncode == 0, r.stderr
    assert "thinker" in r.stdout and "deepseek" in r.stdout and "128k" in r.stdout
    rows = json.loads(run("models", "--json").stdout)
    assert rows[0]["name"] == "thinker" and rows[0]["thinking"] is True and rows[0]["aliases"] == ["t"]


def test_models_empty_says_how_to_add_one():
    r = run("models")
    assert r.returncode == 0 and "DEEPSEEK_API_KEY" in r.stdout


def test_config_check_ok_and_error(tmp_path, upstream):
    write_config(tmp_path, upstream.url)
    r = run("config", "check")
    assert r.returncode == 0 and "ok:" in r.stdout and "1 models" in r.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("models:\n  - name: x\n    model: deepseek/x\n    temprature: 1\n")
    r = run("config", "check", "--config", str(bad))
    assert r.returncode == 2
    assert "bad.yaml:4" in r.stderr and "temprature" in r.stderr and "Traceback" not in r.stderr


def test_config_show_redacts_secrets(tmp_path, upstream):
    write_config(tmp_path, upstream.url)
    for args in (("config", "show"), ("config", "show", "--json")):
        r = run(*args)
        assert r.returncode == 0, r.stderr
        assert "thinker" in r.stdout
        assert "sk-cli-master" not in r.stdout and "sk-provider-secret-cli" not in r.stdout
        assert "****" in r.stdout


def test_ask_streams_answer_with_reasoning(tmp_path, upstream):
    write_config(tmp_path, upstream.url)
    upstream.reply(reasoning="pondering", content="Forty-two.")
    r = run("ask", "-m", "t", "What is the answer?")
    assert r.returncode == 0, r.stderr
    assert "pondering" in r.stdout and r.stdout.strip().endswith("Forty-two.")
    assert upstream.last["json"]["messages"] == [{"role": "user", "content": "What is the answer?"}]
    r = run("ask", "-m", "t", "--no-reasoning", input="from stdin")
    assert "pondering" not in r.stdout
    assert upstream.last["json"]["messages"][0]["content"] == "from stdin"


def test_ask_errors_are_clear(tmp_path, upstream):
    write_config(tmp_path, upstream.url)
    r = run("ask", "-m", "thinkr", "hi")
    assert r.returncode == 1 and "did you mean" in r.stderr and "Traceback" not in r.stderr
    upstream.default.status = 500  # every retry fails too
    upstream.default.error = {"error": {"message": "exploded with sk-provider-secret-cli"}}
    r = run("ask", "-m", "thinker", "hi")
    assert r.returncode == 1 and "exploded" in r.stderr and "sk-provider-secret-cli" not in r.stderr


def _serve(*args: str, env: dict | None = None) -> tuple[subprocess.Popen, int]:
    port = free_port()
    p = subprocess.Popen([ACCORD, "serve", "--port", str(port), *args], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env or {})})
    try:
        wait_http(f"http://127.0.0.1:{port}/health/liveliness", "accord serve to become healthy", p)
    except AssertionError:
        p.kill()
        raise
    return p, port


def _stop(p: subprocess.Popen) -> str:
    p.terminate()
    out, _ = p.communicate(timeout=15)
    return out


def test_serve_with_config_answers_openai_requests(tmp_path, upstream):
    write_config(tmp_path, upstream.url)
    p, port = _serve()
    try:
        r = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions",
                       headers={"Authorization": "Bearer sk-cli-master"},
                       json={"model": "thinker", "messages": [{"role": "user", "content": "x"}]}, timeout=10)
        assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"]
    finally:
        out = _stop(p)
    assert "1 models: thinker" in out
    assert "sk-provider-secret-cli" not in out and "sk-cli-master" not in out


def test_serve_with_nothing_configured_starts_and_says_how(tmp_path):
    p, port = _serve()
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/v1/models").json() == {"object": "list", "data": []}
    finally:
        out = _stop(p)
    assert "no models yet" in out and "accord init" in out and "loopback" in out


def test_serve_zero_config_from_environment(upstream):
    p, port = _serve(env={"DEEPSEEK_API_KEY": "sk-zero", "DEEPSEEK_API_BASE": f"{upstream.url}/v1"})
    try:
        ids = {m["id"] for m in httpx.get(f"http://127.0.0.1:{port}/v1/models").json()["data"]}
        assert {"deepseek-chat", "deepseek-reasoner"} <= ids
    finally:
        _stop(p)


def test_serve_refuses_public_bind_without_master_key():
    r = run("serve", "--host", "0.0.0.0", "--port", str(free_port()), timeout=20)
    assert r.returncode == 2 and "master key" in r.stderr


def test_serve_with_two_workers_each_reads_the_config(tmp_path, upstream):
    write_config(tmp_path, upstream.url)
    p, port = _serve("--workers", "2")
    try:
        for _ in range(4):
            r = httpx.get(f"http://127.0.0.1:{port}/v1/models", headers={"Authorization": "Bearer sk-cli-master"})
            assert [m["id"] for m in r.json()["data"]] == ["thinker", "t"]
    finally:
        _stop(p)


@pytest.mark.parametrize("args", [("serve", "--port", "notaport"), ("ask",), ("nonexistent",)])
def test_bad_arguments_are_usage_errors(args):
    r = run(*args, input="")
    assert r.returncode == 2 and "Traceback" not in r.stderr
