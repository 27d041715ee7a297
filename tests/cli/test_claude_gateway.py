"""`accord claude install --gateway`: Claude Code's settings env pointing it at Accord, shown by `status`,
removed exactly by `uninstall --gateway`; and the settings it writes run the real `claude` against `accord serve`.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
from test_claude import read, run

from fakes import FakeUpstream, Reply
from servers import need
from serving import serving

MASTER = "sk-accord-gw-master-123456"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    p = tmp_path / "accord.yaml"  # found as ./accord.yaml; its master key comes from the env file beside it
    p.write_text("settings:\n  master_key: ${ACCORD_MASTER_KEY}\n  port: 4321\nmodels:\n"
                 "  - {name: kimi, model: moonshot/kimi-k2-0905-preview, api_key: sk-m-0000}\n"
                 "  - {name: qwen-flash, model: dashscope/qwen-flash, api_key: sk-q-0000, aliases: [fast]}\n")
    (tmp_path / "env").write_text(f"ACCORD_MASTER_KEY={MASTER}\n")
    return p


def test_install_status_and_uninstall_remove_exactly_what_was_written(home, config, tmp_path) -> None:
    settings = home / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text(json.dumps({"model": "opus", "env": {"FOO": "1", "ANTHROPIC_MODEL": "mine"}}))
    r = run("claude", "install", "--gateway", "--model", "kimi", "--haiku", "FAST")
    assert r.returncode == 0, r.stderr
    data = read(settings)
    assert data["model"] == "opus"
    assert data["env"] == {
        "FOO": "1", "ANTHROPIC_BASE_URL": "http://127.0.0.1:4321", "ANTHROPIC_AUTH_TOKEN": MASTER,
        "ANTHROPIC_MODEL": "kimi", "ANTHROPIC_DEFAULT_OPUS_MODEL": "kimi", "ANTHROPIC_DEFAULT_SONNET_MODEL": "kimi",
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": "fast", "ANTHROPIC_SMALL_FAST_MODEL": "fast"}
    assert stat.S_IMODE(settings.stat().st_mode) == 0o600  # it holds a key now
    assert MASTER not in r.stdout and "from ACCORD_MASTER_KEY" in r.stdout

    r = run("claude", "status")
    assert r.returncode == 0
    assert "user     Claude Code runs on http://127.0.0.1:4321: model kimi; opus=kimi, sonnet=kimi, haiku=fast; " \
           "token set" in r.stdout and MASTER not in r.stdout

    # installing again keeps what was there before the first install
    assert run("claude", "install", "--gateway", "--model", "qwen-flash").returncode == 0
    assert read(settings)["env"]["ANTHROPIC_MODEL"] == "qwen-flash"
    # a variable the user changed since is left alone
    data = read(settings)
    data["env"]["ANTHROPIC_DEFAULT_OPUS_MODEL"] = "my-own"
    settings.write_text(json.dumps(data))

    r = run("claude", "uninstall", "--gateway")
    assert r.returncode == 0, r.stderr
    assert "left ANTHROPIC_DEFAULT_OPUS_MODEL" in r.stdout
    assert read(settings) == {"model": "opus", "env": {"FOO": "1", "ANTHROPIC_MODEL": "mine",
                                                       "ANTHROPIC_DEFAULT_OPUS_MODEL": "my-own"}}
    r = run("claude", "uninstall", "--gateway")
    assert r.returncode == 0 and "was not set to run on Accord" in r.stdout


def test_bad_choices_are_refused_with_what_to_do(home, config, tmp_path) -> None:
    r = run("claude", "install", "--gateway")
    assert r.returncode == 2 and "--model NAME (served: kimi, qwen-flash, fast)" in r.stderr
    r = run("claude", "install", "--gateway", "--model", "claude-sonnet-4-5")
    assert r.returncode == 2 and "--model claude-sonnet-4-5: not a model this config serves" in r.stderr
    r = run("claude", "install", "--gateway", "--model", "kimi", "--scope", "project")
    assert r.returncode == 2 and "--scope local" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / ".claude").exists() and not (home / ".claude").exists()
    r = run("claude", "install", "--gateway", "--model", "kimi", "--scope", "local", "--key", "sk-acc-virtual")
    assert r.returncode == 0, r.stderr
    env = read(tmp_path / ".claude" / "settings.local.json")["env"]
    assert env["ANTHROPIC_AUTH_TOKEN"] == "sk-acc-virtual" and "sk-acc-virtual" not in r.stdout


def test_the_written_settings_run_claude_code_on_accord(home, tmp_path) -> None:
    """No variable given to `claude` itself: what `install --gateway` wrote is all it needs."""
    need("claude")
    project = tmp_path / "project"
    project.mkdir()
    (project / "notes.txt").write_text("the secret word is heron\n")
    with FakeUpstream() as fake:
        def answer(rec: dict) -> Reply:
            body = rec["json"]
            last = body["messages"][-1]
            if isinstance(last.get("content"), list) and any(b.get("type") == "tool_result" for b in last["content"]):
                return Reply(content="It says heron." if "heron" in json.dumps(last) else "Nothing.")
            if any(t.get("name") == "Read" for t in body.get("tools") or ()):
                args = json.dumps({"file_path": str(project / "notes.txt")})
                return Reply(content="", tool_calls=[{"id": "toolu_r1", "type": "function",
                                                      "function": {"name": "Read", "arguments": args}}])
            return Reply(content="ok")

        fake.responder = answer
        cfg = tmp_path / "accord.yaml"
        port_cfg = ("settings:\n  master_key: ${ACCORD_MASTER_KEY}\n  port: {port}\nmodels:\n"
                    f"  - {{name: coder, model: anthropic/claude-sonnet-4-5, api_base: {fake.url}, api_key: k-0000}}\n")
        (tmp_path / "env").write_text(f"ACCORD_MASTER_KEY={MASTER}\n")
        cfg.write_text(port_cfg.replace("{port}", "0"))
        with serving(cfg, tmp_path) as (url, _log, _env):
            port = url.rsplit(":", 1)[1]
            cfg.write_text(port_cfg.replace("{port}", port))  # the address install reads from the config
            r = run("claude", "install", "--gateway", "--model", "coder", "--config", str(cfg))
            assert r.returncode == 0, r.stderr
            env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
                   "DISABLE_AUTOUPDATER": "1", "DISABLE_TELEMETRY": "1", "DISABLE_ERROR_REPORTING": "1"}
            out = subprocess.run(["claude", "-p", "What is the secret word in notes.txt?", "--output-format", "json",
                                  "--allowedTools", "Read"], cwd=project, env=env, capture_output=True, text=True,
                                 timeout=300, stdin=subprocess.DEVNULL)
        assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
        result = json.loads(out.stdout)
        assert result["num_turns"] == 2 and "heron" in result["result"]
        assert all(r["json"]["model"] == "claude-sonnet-4-5" for r in fake.requests)  # served as `coder`


def test_init_sets_claude_code_on_a_model_in_flags_mode(home, tmp_path) -> None:
    r = run("init", "--dir", str(tmp_path / "cfg"), "-p", "deepseek", "--key", "deepseek=sk-ds-0000",
            "--claude-code-model", "deepseek-chat")
    assert r.returncode == 0, r.stderr
    env = read(home / ".claude" / "settings.json")["env"]
    assert env["ANTHROPIC_MODEL"] == "deepseek-chat" and env["ANTHROPIC_DEFAULT_HAIKU_MODEL"] == "deepseek-chat"
    master = next(ln.split("=", 1)[1] for ln in (tmp_path / "cfg" / "env").read_text().splitlines()
                  if ln.startswith("ACCORD_MASTER_KEY="))
    assert env["ANTHROPIC_AUTH_TOKEN"] == master and master not in r.stdout


def test_doctor_checks_the_gateway_settings_against_the_running_instance(home, tmp_path) -> None:
    """`accord doctor` reads what `install --gateway` wrote and asks the running `accord serve` about it: the
    address, the token (master key or a virtual key) and every mapped model, each failure with its fix."""
    cfg = tmp_path / "accord.yaml"
    body = ("settings:\n  master_key: ${ACCORD_MASTER_KEY}\n  port: {port}\n  data_dir: " + str(tmp_path / "data")
            + "\nmodels:\n  - {name: coder, model: openai/llama, api_base: 'http://127.0.0.1:9/v1', api_key: none}\n"
            "  - {name: helper, model: openai/small, api_base: 'http://127.0.0.1:9/v1', api_key: none}\n")
    (tmp_path / "env").write_text(f"ACCORD_MASTER_KEY={MASTER}\n")
    (tmp_path / "env").chmod(0o600)
    cfg.write_text(body.replace("{port}", "0"))
    settings = home / ".claude" / "settings.json"
    secrets = [MASTER]

    def doctor(code: int) -> dict:
        r = run("doctor", "--json", "--no-models", "--config", str(cfg))
        assert r.returncode == code and "Traceback" not in r.stderr, r.stdout + r.stderr
        assert not any(s in r.stdout for s in secrets)
        return {c["check"]: c for c in json.loads(r.stdout)["checks"]}

    def set_env(**values: str) -> None:
        data = read(settings)
        data["env"].update(values)
        settings.write_text(json.dumps(data))

    assert "does not run on Accord" in doctor(0)["claude gateway"]["detail"]
    with serving(cfg, tmp_path) as (url, _log, _env):
        port = url.rsplit(":", 1)[1]
        cfg.write_text(body.replace("{port}", port))
        r = run("claude", "install", "--gateway", "--model", "coder", "--haiku", "helper", "--config", str(cfg))
        assert r.returncode == 0, r.stderr
        by = doctor(0)
        assert by["claude gateway (user)"]["status"] == "ok" and url in by["claude gateway (user)"]["detail"]
        assert by["claude gateway token (user)"]["status"] == "ok"
        for model in ("coder", "helper"):
            row = by[f"claude gateway model {model} (user)"]
            assert row["status"] == "ok" and "checked live" in row["detail"], row

        made = run("keys", "create", "--models", "coder", "--config", str(cfg))
        assert made.returncode == 0, made.stderr
        key = made.stdout.strip()
        secrets.append(key)
        set_env(ANTHROPIC_AUTH_TOKEN=key)  # a virtual key that may use coder only
        by = doctor(1)
        assert by["claude gateway token (user)"]["status"] == "ok"
        assert by["claude gateway model coder (user)"]["status"] == "ok"
        helper = by["claude gateway model helper (user)"]
        assert helper["status"] == "fail" and "HTTP 404" in helper["detail"] and "accord keys" in helper["fix"]

        secrets.append("sk-acc-not-a-key-0000")
        set_env(ANTHROPIC_AUTH_TOKEN="sk-acc-not-a-key-0000", ANTHROPIC_DEFAULT_OPUS_MODEL="claude-opus-4-1")
        by = doctor(1)
        token = by["claude gateway token (user)"]
        assert token["status"] == "fail" and "invalid API key" in token["detail"]
        assert "accord claude install --gateway --scope user" in token["fix"]
        opus = by["claude gateway model claude-opus-4-1 (user)"]
        assert opus["status"] == "fail" and "DEFAULT_OPUS_MODEL: not a model this config serves" in opus["detail"]
        assert "served: coder, helper" in opus["detail"] and "--opus NAME" in opus["fix"]

    set_env(ANTHROPIC_BASE_URL="http://127.0.0.1:1")
    by = doctor(1)
    where = by["claude gateway (user)"]
    assert where["status"] == "fail" and f"listens on http://127.0.0.1:{port}" in where["detail"]
    assert "accord claude install --gateway" in where["fix"]
    assert by["claude gateway token (user)"]["status"] == "warn"  # nothing answers there: not checked live
