"""`accord init`: the wizard through a pseudo-terminal (as a person answers it), and flags mode."""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pexpect
import pytest
import yaml

ACCORD = shutil.which("accord", path=str(Path(sys.executable).parent)) or "accord"


def run(*args: str, env: dict | None = None, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([ACCORD, *args], capture_output=True, text=True, timeout=60, input=input,
                          env={**os.environ, **(env or {})})


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    saved = os.environ.copy()  # config.load() puts the env file's keys into os.environ
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def ollama() -> Iterator[str]:
    """A stand-in for a local Ollama: just GET /api/tags."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"models": [{"name": "llama3.1:8b"}, {"name": "qwen3:4b"}]}).encode()
            self.send_response(200 if self.path == "/api/tags" else 404)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def cfg_dir() -> Path:
    return Path(os.environ["XDG_CONFIG_HOME"]) / "accord"


def load_written(folder: Path):
    from accord.config import load

    return load(folder / "accord.yaml")


def spawn(*args: str) -> tuple[pexpect.spawn, io.StringIO]:
    screen = io.StringIO()
    child = pexpect.spawn(ACCORD, ["init", *args], env=dict(os.environ), encoding="utf-8", timeout=20,
                          dimensions=(50, 200))
    child.logfile_read = screen
    return child, screen


def answer(child: pexpect.spawn, prompt: str, reply: str) -> None:
    child.expect_exact(prompt)
    child.sendline(reply)


def finish(child: pexpect.spawn) -> int:
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus


# ---------------------------------------------------------------------------------------------- the wizard
def test_wizard_writes_config_and_private_env(ollama):
    child, screen = spawn()
    answer(child, "Providers to add", "1, kimi, ollama")
    answer(child, "use the mainland-China endpoint?", "n")
    answer(child, "DeepSeek API key (DEEPSEEK_API_KEY; input hidden", "sk-deepseek-wizard-secret")
    answer(child, "Kimi (Moonshot) API key (MOONSHOT_API_KEY; input hidden", "sk-kimi-wizard-secret")
    answer(child, "Ollama address", ollama)
    child.expect_exact("llama3.1:8b, qwen3:4b")  # offered from GET /api/tags
    answer(child, "Ollama models", "qwen3:4b")
    answer(child, "Default consensus panel", "deepseek-reasoner, kimi-k2-thinking, qwen3:4b")
    answer(child, "Run Claude Code itself on one of these models?", "claude-opus")
    child.expect_exact("`claude-opus` is not one of the models")
    answer(child, "Run Claude Code itself on one of these models?", "Kimi-K2-Thinking")
    assert finish(child) == 0, screen.getvalue()
    shown = screen.getvalue()
    assert "sk-deepseek-wizard-secret" not in shown and "sk-kimi-wizard-secret" not in shown  # hidden input
    assert "wrote" in shown and "accord service install" in shown

    folder = cfg_dir()
    text = (folder / "accord.yaml").read_text()
    env_text = (folder / "env").read_text()
    assert stat.S_IMODE((folder / "env").stat().st_mode) == 0o600
    assert "sk-deepseek-wizard-secret" not in text and "sk-kimi-wizard-secret" not in text
    assert "DEEPSEEK_API_KEY=sk-deepseek-wizard-secret" in env_text
    assert "MOONSHOT_API_KEY=sk-kimi-wizard-secret" in env_text
    master = next(ln.split("=", 1)[1] for ln in env_text.splitlines() if ln.startswith("ACCORD_MASTER_KEY="))
    assert len(master) > 30 and master not in text

    data = yaml.safe_load(text)
    assert data["settings"]["master_key"] == "${ACCORD_MASTER_KEY}"
    assert data["consensus"]["panel"] == ["deepseek-reasoner", "kimi-k2-thinking", "qwen3:4b"]
    by_name = {m["name"]: m for m in data["models"]}
    assert by_name["deepseek-reasoner"] == {"name": "deepseek-reasoner", "model": "deepseek/deepseek-reasoner",
                                            "api_key": "${DEEPSEEK_API_KEY}", "aliases": ["deepseek-r1", "r1"]}
    assert by_name["kimi-k2-thinking"]["model"] == "moonshot/kimi-k2-thinking"
    assert by_name["kimi-k2-thinking"]["api_key"] == "${MOONSHOT_API_KEY}"
    assert by_name["qwen3:4b"] == {"name": "qwen3:4b", "model": "ollama/qwen3:4b", "api_base": f"{ollama}/v1"}
    assert "llama3.1:8b" not in by_name

    cfg = load_written(folder)
    assert cfg.settings.master_key == master
    deps = {d.name: d for d in cfg.deployments}
    assert deps["deepseek-chat"].api_key == "sk-deepseek-wizard-secret"
    assert deps["kimi-k2-thinking"].vendor.name == "moonshot"
    assert cfg.consensus.panel == ["deepseek-reasoner", "kimi-k2-thinking", "qwen3:4b"]
    r = run("config", "check", "--config", str(folder / "accord.yaml"))
    assert r.returncode == 0 and "ok:" in r.stdout, r.stderr
    # and Claude Code now runs on the model picked, through `accord serve` at the config's address
    claude_env = json.loads((Path(os.environ["HOME"]) / ".claude" / "settings.json").read_text())["env"]
    assert claude_env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:4000"
    assert claude_env["ANTHROPIC_AUTH_TOKEN"] == master
    assert {claude_env[v] for v in ("ANTHROPIC_MODEL", "ANTHROPIC_DEFAULT_OPUS_MODEL",
                                    "ANTHROPIC_DEFAULT_SONNET_MODEL", "ANTHROPIC_DEFAULT_HAIKU_MODEL")} \
        == {"kimi-k2-thinking"}


def test_wizard_rerun_adds_keeps_and_asks_before_writing(ollama):
    first = run("init", "--provider", "deepseek", "--key", "deepseek=sk-ds-first", "--panel", "deepseek-reasoner")
    assert first.returncode == 0, first.stderr
    folder = cfg_dir()
    before_yaml, before_env = (folder / "accord.yaml").read_text(), (folder / "env").read_text()

    # a person says no at the end: nothing changes
    child, screen = spawn()
    child.expect_exact("(configured)")
    answer(child, "Providers to add", "openai")
    answer(child, "OpenAI API key (OPENAI_API_KEY; input hidden", "sk-openai-new")
    answer(child, "Default consensus panel", "")  # Enter keeps the current panel
    answer(child, "Update ", "n")
    assert finish(child) == 0, screen.getvalue()
    assert (folder / "accord.yaml").read_text() == before_yaml and (folder / "env").read_text() == before_env

    # and yes: OpenAI is added, DeepSeek stays, the DeepSeek key can be kept with Enter
    child, screen = spawn()
    answer(child, "Providers to add", "openai, deepseek")
    answer(child, "OpenAI API key (OPENAI_API_KEY; input hidden", "sk-openai-new")
    answer(child, "DeepSeek API key (DEEPSEEK_API_KEY; Enter keeps the current one)", "")
    answer(child, "Default consensus panel", "deepseek-reasoner, gpt-5")
    answer(child, "Update ", "y")
    answer(child, "Run Claude Code itself on one of these models?", "")  # Enter: no
    assert finish(child) == 0, screen.getvalue()
    data = yaml.safe_load((folder / "accord.yaml").read_text())
    names = [m["name"] for m in data["models"]]
    assert names[:2] == ["deepseek-chat", "deepseek-reasoner"] and "gpt-5" in names
    assert data["consensus"]["panel"] == ["deepseek-reasoner", "gpt-5"]
    env_text = (folder / "env").read_text()
    assert "DEEPSEEK_API_KEY=sk-ds-first" in env_text and "OPENAI_API_KEY=sk-openai-new" in env_text
    old_master = next(ln for ln in before_env.splitlines() if ln.startswith("ACCORD_MASTER_KEY="))
    assert old_master in env_text.splitlines()  # the master key is not regenerated
    assert stat.S_IMODE((folder / "env").stat().st_mode) == 0o600
    load_written(folder)


def test_wizard_reprompts_and_offers_keys_from_the_environment(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "sk-gemini-in-shell")
    child, screen = spawn()
    answer(child, "Providers to add", "deepsek")
    child.expect_exact("unknown: deepsek")
    answer(child, "Providers to add", "anthropic gemini")
    answer(child, "Anthropic API key", "")  # skipped: the models are written, the key is added later
    answer(child, "Use GEMINI_API_KEY from your environment for Google Gemini?", "y")
    answer(child, "Default consensus panel", "")
    answer(child, "Run Claude Code itself on one of these models?", "")
    assert finish(child) == 0, screen.getvalue()
    assert not (Path(os.environ["HOME"]) / ".claude").exists()
    data = yaml.safe_load((cfg_dir() / "accord.yaml").read_text())
    assert all("api_key" not in m for m in data["models"] if m["model"].startswith("anthropic/"))
    assert {m["api_key"] for m in data["models"] if m["model"].startswith("gemini/")} == {"${GEMINI_API_KEY}"}
    assert data["consensus"]["panel"] == ["claude-opus-4-5", "gemini-3-pro-preview"]
    env_text = (cfg_dir() / "env").read_text()
    assert "ANTHROPIC_API_KEY" not in env_text and "GEMINI_API_KEY=sk-gemini-in-shell" in env_text


# ----------------------------------------------------------------------------------------------- flags mode
def test_flags_mode_writes_catalog_models_and_panel(tmp_path):
    folder = tmp_path / "somewhere"
    r = run("init", "--dir", str(folder), "-p", "deepseek,gemini", "--provider", "qwen-cn",
            "--key", "deepseek=sk-flag-ds", "--panel", "deepseek-reasoner,gemini-2.5-pro,qwen3-max:against",
            env={"GEMINI_API_KEY": "sk-gemini-from-env"})
    assert r.returncode == 0, r.stderr
    assert "GEMINI_API_KEY from the environment" in r.stdout
    assert "no key for Qwen" in r.stderr
    assert not (cfg_dir() / "accord.yaml").exists()
    data = yaml.safe_load((folder / "accord.yaml").read_text())
    env_text = (folder / "env").read_text()
    assert "DEEPSEEK_API_KEY=sk-flag-ds" in env_text and "GEMINI_API_KEY=sk-gemini-from-env" in env_text
    assert "sk-" not in (folder / "accord.yaml").read_text()
    by_name = {m["name"]: m for m in data["models"]}
    from accord import catalog

    for vendor, prefix in (("deepseek", "deepseek"), ("gemini", "gemini"), ("dashscope", "dashscope-cn")):
        chat = [m.id for m in catalog.for_vendor(vendor) if m.mode == "chat"]
        assert chat and all(by_name[n]["model"] == f"{prefix}/{n}" for n in chat)
    assert "text-embedding-004" not in by_name
    assert by_name["gemini-2.5-pro"]["api_key"] == "${GEMINI_API_KEY}"
    assert "api_key" not in by_name["qwen3-max"]  # no key yet: Accord falls back to DASHSCOPE_API_KEY
    assert data["consensus"]["panel"] == ["deepseek-reasoner", "gemini-2.5-pro", "qwen3-max:against"]
    cfg = load_written(folder)
    assert {d.vendor.name for d in cfg.deployments} == {"deepseek", "gemini", "dashscope-cn"}


def test_flags_rerun_needs_yes_and_keeps_hand_edits(tmp_path):
    assert run("init", "-p", "deepseek", "--key", "deepseek=sk-1").returncode == 0
    path = cfg_dir() / "accord.yaml"
    data = yaml.safe_load(path.read_text())
    data["settings"]["port"] = 4100
    data["models"].append({"name": "local", "model": "openai/llama", "api_base": "http://localhost:8000/v1",
                           "api_key": "none", "capabilities": {"context_window": 8192}})
    path.write_text(yaml.safe_dump(data))
    edited = path.read_text()

    r = run("init", "-p", "openrouter", "--openrouter-model", "x-ai/grok-4", "--key", "openrouter=sk-or")
    assert r.returncode == 2 and "--yes" in r.stderr and "Traceback" not in r.stderr
    assert path.read_text() == edited

    r = run("init", "-p", "openrouter", "--openrouter-model", "x-ai/grok-4", "--openrouter-model",
            "deepseek/deepseek-chat", "--key", "openrouter=sk-or", "--yes")
    assert r.returncode == 0, r.stderr
    after = yaml.safe_load(path.read_text())
    by_name = {m["name"]: m for m in after["models"]}
    assert after["settings"]["port"] == 4100
    assert by_name["local"]["capabilities"] == {"context_window": 8192}
    assert by_name["grok-4"] == {"name": "grok-4", "model": "openrouter/x-ai/grok-4",
                                 "api_key": "${OPENROUTER_API_KEY}"}
    assert by_name["openrouter-deepseek-chat"]["model"] == "openrouter/deepseek/deepseek-chat"  # name taken
    assert "deepseek-reasoner" in after["consensus"]["panel"]
    assert "OPENROUTER_API_KEY=sk-or" in (cfg_dir() / "env").read_text()
    load_written(cfg_dir())

    r = run("init", "-p", "openrouter", "--openrouter-model", "x-ai/grok-4", "--yes")
    assert r.returncode == 0 and "Nothing to change" in r.stdout


def test_flags_ollama_from_tags(ollama):
    r = run("init", "-p", "ollama", "--ollama-host", ollama)
    assert r.returncode == 0, r.stderr
    data = yaml.safe_load((cfg_dir() / "accord.yaml").read_text())
    assert [m["model"] for m in data["models"]] == ["ollama/llama3.1:8b", "ollama/qwen3:4b"]
    assert data["models"][0]["api_base"] == f"{ollama}/v1"
    cfg = load_written(cfg_dir())
    assert cfg.deployments[0].api_base == f"{ollama}/v1"


@pytest.mark.parametrize(("args", "message"), [
    (("-p", "deepsek"), "unknown provider `deepsek`"),
    (("-p", "deepseek", "--panel", "gpt-9"), "no model named gpt-9"),
    (("-p", "deepseek", "--key", "deepseek"), "PROVIDER=KEY"),
    (("-p", "deepseek", "--key", "nosuch=sk"), "unknown provider"),
    (("-p", "ollama", "--ollama-host", "http://127.0.0.1:9"), "no Ollama models given"),
    ((), "no providers given"),
])
def test_flag_errors_are_one_line(args, message):
    r = run("init", *args)
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    assert not (cfg_dir() / "accord.yaml").exists()


def test_existing_bad_files_are_named(tmp_path):
    folder = cfg_dir()
    folder.mkdir(parents=True)
    (folder / "accord.yaml").write_text("models: [\n")
    r = run("init", "-p", "deepseek", "--yes")
    assert r.returncode == 2 and "not valid YAML" in r.stderr and "Traceback" not in r.stderr
    (folder / "accord.yaml").write_text("model_list: []\n")
    r = run("init", "-p", "deepseek", "--yes")
    assert r.returncode == 2 and "accord import" in r.stderr
