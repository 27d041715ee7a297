"""`accord claude`: registering Accord's MCP server with Claude Code, by its files and through its CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from servers import need

ACCORD = shutil.which("accord", path=str(Path(sys.executable).parent)) or "accord"
EXE = str(Path(ACCORD).absolute())
TIMEOUTS = {"MCP_TIMEOUT": "30000", "MCP_TOOL_TIMEOUT": "900000"}


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([ACCORD, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


@pytest.fixture
def config(tmp_path: Path) -> Path:
    p = tmp_path / "accord.yaml"  # the cwd: found as ./accord.yaml
    p.write_text("models:\n  - name: local\n    model: openai/llama\n    api_base: http://127.0.0.1:9/v1\n"
                 "    api_key: none\n")
    return p


def read(p: Path) -> dict:
    return json.loads(p.read_text())


def test_project_scope_writes_mcp_json_and_merges(home, config, tmp_path):
    (tmp_path / ".mcp.json").write_text(json.dumps({"mcpServers": {"other": {"command": "x", "args": []}},
                                                    "note": "kept"}))
    (tmp_path / ".claude").mkdir()
    (tmp_path / ".claude" / "settings.json").write_text(json.dumps(
        {"permissions": {"allow": ["Bash(ls)"]}, "env": {"FOO": "1", "MCP_TOOL_TIMEOUT": "60000"}}))
    r = run("claude", "install", "--scope", "project", "--no-cli")
    assert r.returncode == 0, r.stderr
    data = read(tmp_path / ".mcp.json")
    assert data["note"] == "kept" and data["mcpServers"]["other"] == {"command": "x", "args": []}
    assert data["mcpServers"]["accord"] == {"type": "stdio", "command": EXE,
                                            "args": ["mcp", "--config", str(config.resolve())], "env": {}}
    settings = read(tmp_path / ".claude" / "settings.json")
    assert settings["permissions"] == {"allow": ["Bash(ls)"]}
    assert settings["env"] == {"FOO": "1", **TIMEOUTS}
    assert "undo: accord claude uninstall --scope project" in r.stdout
    assert not (home / ".claude.json").exists()


def test_user_scope_merges_claude_json(home, tmp_path):
    (home / ".claude.json").write_text(json.dumps({
        "numStartups": 7, "mcpServers": {"pal": {"command": "pal-mcp"}, "accord": {"command": "old"}},
        "projects": {"/somewhere": {"allowedTools": ["x"]}}}))
    os.chmod(home / ".claude.json", 0o600)
    (home / ".claude").mkdir()
    (home / ".claude" / "settings.json").write_text(json.dumps({"env": {"MCP_TOOL_TIMEOUT": "3600000"},
                                                                "model": "opus"}))
    r = run("claude", "install", "--no-cli", "--keep-pal")  # default scope user; no config: plain `accord mcp`
    assert r.returncode == 0, r.stderr
    data = read(home / ".claude.json")
    assert data["numStartups"] == 7 and data["projects"] == {"/somewhere": {"allowedTools": ["x"]}}
    assert data["mcpServers"]["pal"] == {"command": "pal-mcp"} and "--keep-pal" in r.stdout
    assert data["mcpServers"]["accord"] == {"type": "stdio", "command": EXE, "args": ["mcp"], "env": {}}
    assert (home / ".claude.json").stat().st_mode & 0o777 == 0o600
    settings = read(home / ".claude" / "settings.json")
    assert settings == {"env": {"MCP_TOOL_TIMEOUT": "3600000", "MCP_TIMEOUT": "30000"}, "model": "opus"}
    assert not (tmp_path / ".mcp.json").exists()


def test_install_replaces_pals_entry_keeping_a_backup(home, config, tmp_path):
    """After `accord import`, Claude Code runs one server: PAL's entry (the uvx `bash -c` launcher of PAL's README,
    here under another name, and one for this folder) goes, the file's previous state stays in a backup."""
    setup = json.loads((Path(__file__).parents[1] / "data" / "replaced_setup" / "mcp.json").read_text())
    cwd = str(tmp_path.absolute())
    before = {"numStartups": 7, "mcpServers": {"multi-model": setup["mcpServers"]["pal"],
                                               "github": setup["mcpServers"]["github"]},
              "projects": {cwd: {"mcpServers": {"zen": {"command": "python", "args": ["server.py"]}}},
                           "/elsewhere": {"mcpServers": {"pal": {"command": "pal-mcp-server"}}}}}
    (home / ".claude.json").write_text(json.dumps(before, ensure_ascii=False))
    os.chmod(home / ".claude.json", 0o600)
    (tmp_path / ".mcp.json").write_text(json.dumps({"mcpServers": {"pal-mcp-server": {"command": "uvx"}}}))
    r = run("claude", "install", "--no-cli")
    assert r.returncode == 0, r.stderr
    data = read(home / ".claude.json")
    assert set(data["mcpServers"]) == {"github", "accord"} and data["projects"][cwd]["mcpServers"] == {}
    assert data["projects"]["/elsewhere"]["mcpServers"] == {"pal": {"command": "pal-mcp-server"}}  # not this folder
    backups = list(home.glob(".claude.json.before-accord-*"))
    assert len(backups) == 1 and read(backups[0]) == before and backups[0].stat().st_mode & 0o777 == 0o600
    assert f"replaced PAL's entry `multi-model`, `zen` in {home / '.claude.json'}" in r.stdout
    assert f"backup of the file before: {backups[0]}" in r.stdout
    assert "PAL is still registered as `pal-mcp-server`" in r.stdout and "--scope project" in r.stdout
    assert read(tmp_path / ".mcp.json")["mcpServers"] == {"pal-mcp-server": {"command": "uvx"}}  # shared: only said
    r = run("claude", "install", "--no-cli")  # again: nothing of PAL's left here, no second backup
    assert r.returncode == 0 and "replaced PAL" not in r.stdout
    assert len(list(home.glob(".claude.json.before-accord-*"))) == 1


def test_local_scope_and_http_transport(home, config, tmp_path):
    cwd = str(tmp_path.absolute())
    (home / ".claude.json").write_text(json.dumps({"projects": {cwd: {"allowedTools": ["Read"],
                                                                      "mcpServers": {"keep": {"command": "k"}}}}}))
    r = run("claude", "install", "--scope", "local", "--no-cli", "--transport", "http",
            "--url", "http://127.0.0.1:4100/mcp")
    assert r.returncode == 0, r.stderr
    project = read(home / ".claude.json")["projects"][cwd]
    assert project["allowedTools"] == ["Read"] and project["mcpServers"]["keep"] == {"command": "k"}
    assert project["mcpServers"]["accord"] == {"type": "http", "url": "http://127.0.0.1:4100/mcp",
                                               "headers": {"Authorization": "Bearer ${ACCORD_MASTER_KEY}"}}
    assert read(tmp_path / ".claude" / "settings.local.json") == {"env": TIMEOUTS}
    assert "ACCORD_MASTER_KEY" in r.stdout

    r = run("claude", "status")
    assert r.returncode == 0
    assert "local    http http://127.0.0.1:4100/mcp" in r.stdout
    assert "MCP_TIMEOUT=30000, MCP_TOOL_TIMEOUT=900000" in r.stdout

    r = run("claude", "uninstall", "--scope", "local", "--no-cli")
    assert r.returncode == 0 and "removed" in r.stdout
    assert read(home / ".claude.json")["projects"][cwd]["mcpServers"] == {"keep": {"command": "k"}}
    r = run("claude", "status")
    assert r.returncode == 1 and "not registered" in r.stdout


def test_without_claude_on_path_the_files_are_written(home, config, tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    r = run("claude", "install", "--scope", "project", env={"PATH": str(empty)})
    assert r.returncode == 0, r.stderr
    assert read(tmp_path / ".mcp.json")["mcpServers"]["accord"]["command"] == EXE
    r = run("claude", "install", "--cli", env={"PATH": str(empty)})
    assert r.returncode == 2 and "npm install -g @anthropic-ai/claude-code" in r.stderr


def test_broken_json_is_one_line_error(home, tmp_path):
    (home / ".claude.json").write_text("{\n  \"mcpServers\": {,\n}")
    r = run("claude", "install", "--no-cli")
    assert r.returncode == 2 and ".claude.json:2: not valid JSON" in r.stderr and "Traceback" not in r.stderr
    r = run("claude", "status")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    r = run("claude", "install", "--scope", "galaxy")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_through_the_real_claude_cli(home, config, tmp_path):
    claude = need("claude", how="npm install -g @anthropic-ai/claude-code; .ci/run does")
    env = {"DISABLE_AUTOUPDATER": "1", "DISABLE_TELEMETRY": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}
    # an `accord` entry already there (e.g. a PAL-era one) is replaced
    subprocess.run([claude, "mcp", "add", "--scope", "user", "accord", "--", "/bin/false"], capture_output=True,
                   timeout=60, env={**os.environ, **env}, stdin=subprocess.DEVNULL)
    r = run("claude", "install", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "via `claude mcp add --scope user accord" in r.stdout
    entry = read(home / ".claude.json")["mcpServers"]["accord"]
    assert entry["command"] == EXE and entry["args"] == ["mcp", "--config", str(config.resolve())]
    assert read(home / ".claude" / "settings.json")["env"] == TIMEOUTS
    listed = subprocess.run([claude, "mcp", "list"], capture_output=True, text=True, timeout=90,
                            env={**os.environ, **env}, stdin=subprocess.DEVNULL)
    line = next((ln for ln in listed.stdout.splitlines() if ln.startswith("accord:")), "")
    assert EXE in line and "Connected" in line, listed.stdout + listed.stderr
    r = run("claude", "uninstall", env=env)
    assert r.returncode == 0 and "accord" not in read(home / ".claude.json").get("mcpServers", {})


def test_http_transport_uses_the_configs_port_and_key_variable(home, tmp_path):
    (tmp_path / "accord.yaml").write_text("settings:\n  port: 4123\n  host: 0.0.0.0\n"
                                          "  master_key: ${MY_ACCORD_KEY}\n")
    r = run("claude", "install", "--scope", "project", "--no-cli", "--transport", "http",
            env={"MY_ACCORD_KEY": "sk-never-written"})
    assert r.returncode == 0, r.stderr
    entry = read(tmp_path / ".mcp.json")["mcpServers"]["accord"]
    assert entry == {"type": "http", "url": "http://127.0.0.1:4123/mcp",
                     "headers": {"Authorization": "Bearer ${MY_ACCORD_KEY}"}}
    assert "export MY_ACCORD_KEY" in r.stdout and "sk-never-written" not in r.stdout + r.stderr

    (tmp_path / "accord.yaml").write_text("general_settings:\n  master_key: os.environ/LITELLM_MASTER_KEY\n"
                                          "model_list: []\n")
    r = run("claude", "install", "--scope", "project", "--no-cli", "--transport", "http",
            env={"LITELLM_MASTER_KEY": "sk-litellm"})
    assert r.returncode == 0, r.stderr
    entry = read(tmp_path / ".mcp.json")["mcpServers"]["accord"]
    assert entry["url"] == "http://127.0.0.1:4000/mcp"
    assert entry["headers"] == {"Authorization": "Bearer ${LITELLM_MASTER_KEY}"}


def test_http_transport_says_when_the_master_key_is_a_literal(home, tmp_path):
    (tmp_path / "accord.yaml").write_text("settings: {port: 4200, master_key: sk-literal-in-the-file}\n")
    r = run("claude", "install", "--scope", "project", "--no-cli", "--transport", "http")
    assert r.returncode == 0, r.stderr
    entry = read(tmp_path / ".mcp.json")["mcpServers"]["accord"]
    assert entry["url"] == "http://127.0.0.1:4200/mcp"
    assert "sk-literal-in-the-file" not in json.dumps(entry) + r.stdout + r.stderr
    assert "written as it is" in r.stdout and "ACCORD_MASTER_KEY" in r.stdout


def test_http_transport_with_mcp_http_off_is_refused(home, tmp_path):
    (tmp_path / "accord.yaml").write_text("mcp: {http: false}\n")
    r = run("claude", "install", "--scope", "project", "--no-cli", "--transport", "http")
    assert r.returncode == 2 and "mcp" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / ".mcp.json").exists()
