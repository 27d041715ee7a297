"""`accord import`: a LiteLLM config.yaml, PAL's custom models and PAL's .env become one accord.yaml."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ACCORD = shutil.which("accord", path=str(Path(sys.executable).parent)) or "accord"
DATA = Path(__file__).parents[1] / "data"
LITELLM, PAL_MODELS, PAL_ENV = DATA / "litellm_reference.yaml", DATA / "pal_custom_models.json", DATA / "pal.env"


SETUP = DATA / "replaced_setup"  # the LiteLLM + PAL + Claude Code files of the setup Accord replaces, as written
LITELLM_ENV_KEYS = ("DEEPSEEK_API_KEY", "DASHSCOPE_API_KEY", "MOONSHOT_API_KEY", "LITELLM_MASTER_KEY",
                    "UI_USERNAME", "UI_PASSWORD", "DATABASE_URL")


def run(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([ACCORD, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})}, cwd=cwd)


def clean_check(config: Path, home: Path) -> subprocess.CompletedProcess:
    """`accord config check` with nothing but the env file beside the config: no key from this process."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "XDG_CONFIG_HOME": str(home / "xdg-none")}
    return subprocess.run([ACCORD, "config", "check", "--config", str(config)], capture_output=True, text=True,
                          timeout=60, env=env)


@pytest.fixture
def pal_home(home: Path) -> Path:
    """HOME as PAL's uvx setup leaves it: the custom models file that mcp.json's CUSTOM_MODELS_CONFIG_PATH names."""
    (home / ".pal").mkdir()
    shutil.copy(SETUP / "custom_models.json", home / ".pal" / "custom_models.json")
    return home


@pytest.fixture(autouse=True)
def _restore_environ() -> Iterator[None]:
    saved = os.environ.copy()  # config.load() puts the env file's keys into os.environ
    yield
    os.environ.clear()
    os.environ.update(saved)


def load(path: Path):
    from accord.config import load as load_config

    return load_config(path)


def test_litellm_and_pal_into_one_config(tmp_path):
    out = tmp_path / "out" / "accord.yaml"
    r = run("import", str(LITELLM), str(PAL_MODELS), str(PAL_ENV), "--out", str(out))
    assert r.returncode == 0, r.stderr
    data = yaml.safe_load(out.read_text())
    text = out.read_text()
    assert "litellm_reference.yaml (litellm)" in text and "pal_custom_models.json (pal-models)" in text
    assert "pal.env (pal-env)" in text

    # LiteLLM: settings
    assert data["settings"] == {
        "num_retries": 3, "request_timeout": 600, "drop_params": True,
        "fallbacks": {"deepseek-reasoner": ["deepseek-chat"]}, "routing_strategy": "simple-shuffle",
        "allowed_fails": 3, "cooldown_time": 30, "master_key": "${LITELLM_MASTER_KEY}", "log_level": "info",
    }
    # LiteLLM model_list + model_info, with PAL's capabilities and aliases on top
    reasoner, chat = data["models"]
    assert reasoner == {
        "name": "deepseek-reasoner", "model": "deepseek/deepseek-reasoner",
        "api_base": "${DEEPSEEK_API_BASE:-https://api.deepseek.com/v1}", "api_key": "${DEEPSEEK_API_KEY}",
        "aliases": ["r1", "deepseek/deepseek-reasoner", "ds-r1", "reasoner"],
        "rpm": 480, "extra_body": {"enable_thinking": True}, "id": "dep-1",
        "capabilities": {
            "input_price": 0.27, "output_price": 1.1, "max_output_tokens": 32768, "context_window": 131072,
            "thinking": True, "vision": False, "tools": True, "json_mode": True, "temperature": False,
            "intelligence": 18, "description": "DeepSeek reasoning model",
        },
    }
    assert chat == {
        "name": "deepseek-chat", "model": "deepseek/deepseek-chat",
        "api_base": "${DEEPSEEK_API_BASE:-https://api.deepseek.com/v1}", "api_key": "${DEEPSEEK_API_KEY}",
        "aliases": ["dsc"], "params": {"temperature": 0.3},
        "capabilities": {"context_window": 65536, "max_output_tokens": 8192, "thinking": False, "vision": False,
                         "tools": True, "json_mode": True, "temperature": True, "intelligence": 14,
                         "description": "DeepSeek Chat"},
    }
    # PAL env
    assert data["mcp"] == {"default_model": "deepseek-reasoner",
                           "disabled_tools": ["analyze", "refactor", "testgen", "secaudit", "docgen", "tracer"]}
    # secrets: only in the env file
    env_file = out.parent / "env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert "OPENROUTER_API_KEY=sk-or-pal-test" in env_file.read_text()
    assert "sk-" not in text and "postgresql" not in text
    # the report
    assert "pointed at the LiteLLM proxy being imported" in r.stdout and "one process" in r.stdout
    for skipped in ("litellm_settings.cache:", "litellm_settings.cache_params:", "general_settings.database_url:",
                    "CONVERSATION_TIMEOUT_HOURS=3:", "MAX_CONVERSATION_TURNS=50:",
                    "PAL model deepseek/deepseek-reasoner.max_thinking_tokens:",
                    "PAL model deepseek/deepseek-reasoner.supports_streaming:",
                    "PAL model deepseek-chat: alias `r1` already names another model",
                    "PAL model qwen3-max: no model of that name in the LiteLLM config",
                    "CUSTOM_API_KEY: the LiteLLM proxy's key"):
        assert f"  - {skipped}" in r.stdout, r.stdout
    assert "DEEPSEEK_API_KEY, LITELLM_MASTER_KEY" in r.stdout  # what still has to be set

    os.environ.update({"DEEPSEEK_API_KEY": "sk-ds", "LITELLM_MASTER_KEY": "sk-master"})
    cfg = load(out)
    assert cfg.source == "accord" and cfg.settings.master_key == "sk-master"
    deps = {d.name: d for d in cfg.deployments}
    assert deps["deepseek-reasoner"].api_base == "https://api.deepseek.com/v1"
    assert deps["deepseek-reasoner"].info.context_window == 131072 and deps["deepseek-reasoner"].rpm == 480
    assert cfg.mcp.disabled_tools[0] == "analyze" and cfg.settings.log_level == "info"
    r = run("config", "check", "--config", str(out), env={"DEEPSEEK_API_KEY": "x", "LITELLM_MASTER_KEY": "y"})
    assert r.returncode == 0 and "2 models" in r.stdout, r.stderr


def test_pal_alone_serves_custom_models_from_custom_api_url(tmp_path):
    env = tmp_path / ".env"
    env.write_text("CUSTOM_API_URL=http://gpu-box:8000/v1\nCUSTOM_API_KEY=sk-vllm-secret\n"
                   "CUSTOM_MODEL_NAME=llama3.1:70b\nDEFAULT_MODEL=auto\nLOG_LEVEL=WARN\nSOMETHING_ELSE=1\n")
    r = run("import", str(PAL_MODELS), str(env))  # default output: the config folder
    assert r.returncode == 0, r.stderr
    out = Path(os.environ["XDG_CONFIG_HOME"]) / "accord" / "accord.yaml"
    data = yaml.safe_load(out.read_text())
    by_name = {m["name"]: m for m in data["models"]}
    assert set(by_name) == {"deepseek/deepseek-reasoner", "deepseek-chat", "qwen3-max", "llama3.1:70b"}
    for m in by_name.values():
        assert m["model"] == f"openai/{m['name']}" and m["api_base"] == "http://gpu-box:8000/v1"
        assert m["api_key"] == "${CUSTOM_API_KEY}"
    assert by_name["deepseek-chat"]["aliases"] == ["dsc", "r1"]
    assert by_name["qwen3-max"]["capabilities"] == {"context_window": 262144, "max_output_tokens": 65536,
                                                    "vision": False, "intelligence": 17, "description": "Qwen3 Max"}
    assert data["settings"] == {"log_level": "warning"} and data["mcp"] == {"default_model": "auto"}
    assert "sk-vllm-secret" not in out.read_text()
    assert "CUSTOM_API_KEY=sk-vllm-secret" in (out.parent / "env").read_text()
    assert "  - SOMETHING_ELSE: not a PAL or LiteLLM setting Accord uses" in r.stdout
    cfg = load(out)
    assert {d.api_key for d in cfg.deployments} == {"sk-vllm-secret"}
    assert next(d for d in cfg.deployments if d.name == "deepseek/deepseek-reasoner").aliases == ("ds-r1", "reasoner")


def test_inline_secrets_move_to_env_and_unsupported_entries_are_named(tmp_path):
    src = tmp_path / "config.yaml"
    src.write_text("""
model_list:
  - model_name: gpt
    litellm_params: {model: openai/gpt-4o, api_key: sk-inline-openai, timeout: 30, stream_timeout: "20",
                     max_retries: 1, weight: 2, order: 1, extra_headers: {X-Team: a}, drop_params: true}
    model_info: {max_input_tokens: 100000, supports_vision: true, mode: chat, base_model: gpt-4o}
  - model_name: local-vllm
    litellm_params: {model: hosted_vllm/qwen, api_base: "http://gpu:8000/v1", api_key: sk-inline-vllm}
  - model_name: local-none
    litellm_params: {model: openai/opt, api_base: "http://gpu:8001/v1", api_key: none}
  - model_name: claude-bedrock
    litellm_params: {model: bedrock/anthropic.claude-3, aws_region_name: us-east-1}
  - model_name: any
    litellm_params: {model: "openai/*"}
router_settings: {routing_strategy: usage-based-routing-v2, redis_host: cache, redis_port: 6380,
                  redis_password: os.environ/REDIS_PASSWORD, model_group_alias: {old: nope}}
general_settings: {master_key: sk-inline-master}
environment_variables: {OPENAI_ORG: org-1}
callbacks: [langfuse]
""")
    out = tmp_path / "accord.yaml"
    r = run("import", str(src), "--out", str(out))
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert "sk-inline" not in text
    data = yaml.safe_load(text)
    assert data["models"] == [{
        "name": "gpt", "model": "openai/gpt-4o", "api_key": "${OPENAI_API_KEY}", "timeout": 30,
        "stream_timeout": 20, "max_retries": 1, "weight": 2, "order": 1, "headers": {"X-Team": "a"},
        "capabilities": {"context_window": 100000, "vision": True, "mode": "chat"},
    }, {"name": "local-vllm", "model": "hosted_vllm/qwen", "api_base": "http://gpu:8000/v1",
        "api_key": "${LOCAL_VLLM_API_KEY}"},
       {"name": "local-none", "model": "openai/opt", "api_base": "http://gpu:8001/v1", "api_key": "none"}]
    assert data["settings"] == {"master_key": "${ACCORD_MASTER_KEY}",
                                "redis_url": "redis://:${REDIS_PASSWORD}@cache:6380"}
    env_text = (tmp_path / "env").read_text()
    assert "OPENAI_API_KEY=sk-inline-openai" in env_text and "ACCORD_MASTER_KEY=sk-inline-master" in env_text
    assert "OPENAI_ORG=org-1" in env_text and "LOCAL_VLLM_API_KEY=sk-inline-vllm" in env_text
    assert "=none" not in env_text
    for skipped in ("model_list[3] (claude-bedrock): provider `bedrock` is not supported",
                    "model_list[4] (any): wildcard models are not supported",
                    "model_list[0] (gpt).litellm_params.drop_params:",
                    "model_list[0] (gpt).model_info.base_model:",
                    "router_settings.routing_strategy: input should be",
                    "router_settings.model_group_alias.old: no model group `nope`",
                    "callbacks: not a LiteLLM section"):
        assert f"  - {skipped}" in r.stdout, r.stdout
    os.environ["REDIS_PASSWORD"] = "pw"
    cfg = load(out)
    assert cfg.deployments[0].api_key == "sk-inline-openai" and cfg.settings.redis_url == "redis://:pw@cache:6380"


def test_refuses_to_overwrite_without_yes(tmp_path):
    out = tmp_path / "accord.yaml"
    out.write_text("models: []\n")
    r = run("import", str(LITELLM), "--out", str(out))
    assert r.returncode == 2 and "--yes" in r.stderr and out.read_text() == "models: []\n"
    r = run("import", str(LITELLM), "--out", str(out), "--yes")
    assert r.returncode == 0 and "deepseek-reasoner" in out.read_text()


@pytest.mark.parametrize(("name", "content", "message"), [
    ("bad.json", '{"models": [', "bad.json:1: not valid JSON"),
    ("other.json", '{"servers": []}', "not a PAL custom models file"),
    ("bad.yaml", "model_list: [\n", "bad.yaml:2: not valid YAML"),
    ("accord.yaml", "models: []\nsettings: {}\n", "already an Accord config"),
    ("notes.txt", "hello there\n", "not a LiteLLM config.yaml"),
    ("empty.yaml", "", "the file is empty"),
])
def test_unreadable_inputs_are_one_line_errors(tmp_path, name, content, message):
    f = tmp_path / name
    f.write_text(content)
    r = run("import", str(f), "--out", str(tmp_path / "out.yaml"))
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "out.yaml").exists()


def test_missing_file_and_no_args(tmp_path, home):
    r = run("import", str(tmp_path / "nope.yaml"))
    assert r.returncode == 2 and "no such file" in r.stderr
    r = run("import")  # nothing of the replaced setup in this HOME or folder
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "no FILE given" in r.stderr and "~/.claude.json" in r.stderr and "~/.config/litellm/config.yaml" in r.stderr


# ------------------------------------------------------------------- the setup Accord replaces, file for file
def test_the_replaced_setup_migrates_whole(tmp_path, pal_home):
    """LiteLLM's config.yaml and .env, PAL's custom models, Claude Code's mcp.json: a config that passes
    `config check` with only the env file written beside it, and loads as `accord serve` loads it."""
    out = tmp_path / "out" / "accord.yaml"
    r = run("import", str(SETUP / "config.yaml"), str(SETUP / "litellm.env"), str(SETUP / "mcp.json"),
            "--out", str(out), env={"HOME": str(pal_home)})
    assert r.returncode == 0, r.stderr
    assert "from the environment" not in r.stdout, r.stdout  # nothing left for the user to supply
    header = out.read_text().splitlines()[0]
    assert "litellm.env (litellm-env)" in header and "mcp.json (claude-mcp)" in header
    assert "custom_models.json (pal-models)" in header  # followed from CUSTOM_MODELS_CONFIG_PATH=~/.pal/...
    for secret in ("sk-ds-test", "sk-litellm-master", "ui-pass-test", "pg-secret"):
        assert secret not in out.read_text()

    r = clean_check(out, pal_home)
    assert r.returncode == 0 and "4 models" in r.stdout, r.stdout + r.stderr

    for k in LITELLM_ENV_KEYS:
        os.environ.pop(k, None)
    cfg = load(out)  # as `accord serve` does: the env file beside the config, then the config
    assert {d.name: d.model for d in cfg.deployments} == {
        "deepseek-reasoner": "deepseek-reasoner", "deepseek-chat": "deepseek-chat", "qwen3-max": "qwen3-max",
        "kimi-k2": "kimi-k2-0905-preview"}
    deps = {d.name: d for d in cfg.deployments}
    assert deps["deepseek-chat"].api_key == "sk-ds-test-0123456789abcdef"
    assert deps["qwen3-max"].api_key == "sk-dashscope-test-0123456789"  # a comment after the quoted value
    assert deps["qwen3-max"].api_base == "https://dashscope.aliyuncs.com/compatible-mode/v1"
    assert deps["deepseek-reasoner"].aliases == ("r1", "reasoner")
    assert deps["deepseek-reasoner"].info.context_window == 131072 and not deps["deepseek-reasoner"].info.temperature
    assert cfg.settings.master_key == "sk-litellm-master-test-0123456789"
    assert (cfg.settings.ui_username, cfg.settings.ui_password) == ("admin", "ui-pass-test-0123456789")
    assert cfg.settings.database_url is None  # Accord's own store, apart from LiteLLM's tables
    assert cfg.mcp.default_model == "deepseek-chat"  # DEFAULT_MODEL=custom: CUSTOM_MODEL_NAME
    assert cfg.mcp.disabled_tools == ["analyze", "refactor", "testgen", "secaudit", "docgen", "tracer"]
    assert cfg.mcp.endpoint is None  # CUSTOM_API_URL was the LiteLLM proxy: now one process


def test_claude_mcp_json_is_where_pals_settings_are(tmp_path, pal_home):
    """Claude Code's .mcp.json and ~/.claude.json (per project, PAL recognised by its `bash -c` uvx launcher
    under any name) are read for the PAL entry's env; CUSTOM_MODELS_CONFIG_PATH is followed with `~`."""
    out = tmp_path / "a.yaml"
    r = run("import", str(SETUP / "config.yaml"), str(SETUP / "mcp.json"), "--out", str(out),
            env={"HOME": str(pal_home)})
    assert r.returncode == 0, r.stderr
    data = yaml.safe_load(out.read_text())
    assert data["mcp"]["disabled_tools"][0] == "analyze" and data["mcp"]["default_model"] == "deepseek-chat"
    assert data["models"][0]["capabilities"]["intelligence"] == 18  # from ~/.pal/custom_models.json
    assert "one process" in r.stdout and "PAL's settings read from the `env` of mcpServers.pal" in r.stdout
    assert "apilookup (on in PAL) has no Accord tool" in r.stdout and "web search" in r.stdout
    assert "  - PATH: the program search path (PAL's launcher needed it to find uvx)" in r.stdout
    assert "next: accord claude install" in r.stdout

    pal = json.loads((SETUP / "mcp.json").read_text())["mcpServers"]["pal"]
    pal["env"]["CUSTOM_MODELS_CONFIG_PATH"] = str(pal_home / ".pal" / "custom_models.json")
    claude_json = tmp_path / ".claude.json"
    claude_json.write_text(json.dumps({"numStartups": 3, "projects": {
        "/work/app": {"allowedTools": [], "mcpServers": {"multi-model": pal, "fs": {"command": "npx"}}}}},
        ensure_ascii=False))
    out2 = tmp_path / "b.yaml"
    r = run("import", str(SETUP / "config.yaml"), str(claude_json), "--out", str(out2), env={"HOME": str(pal_home)})
    assert r.returncode == 0, r.stderr
    assert yaml.safe_load(out2.read_text())["mcp"] == data["mcp"]
    assert "projects[/work/app].mcpServers.multi-model" in r.stdout

    claude_json.write_text(json.dumps({"mcpServers": {"fs": {"command": "npx"},
                                                      "pay": {"command": "npx", "args": ["paypal-mcp-server"]}}}))
    r = run("import", str(claude_json), "--out", str(tmp_path / "c.yaml"))
    assert r.returncode == 2 and "no PAL server in it (servers: fs, pay)" in r.stderr


def test_litellm_env_keeps_master_key_and_ui_login_and_says_why_for_the_rest(tmp_path, home):
    out = tmp_path / "accord.yaml"
    r = run("import", str(SETUP / "config.yaml"), str(SETUP / "litellm.env"), "--out", str(out))
    assert r.returncode == 0, r.stderr
    env_text = (tmp_path / "env").read_text()
    for line in ("LITELLM_MASTER_KEY=sk-litellm-master-test-0123456789", "UI_USERNAME=admin",
                 "UI_PASSWORD=ui-pass-test-0123456789", "DASHSCOPE_API_KEY=sk-dashscope-test-0123456789\n"):
        assert line in env_text, env_text
    assert "DATABASE_URL" not in env_text and "LITELLM_SALT_KEY" not in env_text
    assert "the dashboard's login reads them" in r.stdout
    assert "  - general_settings.database_url: LiteLLM's PostgreSQL database holds LiteLLM's own tables" in r.stdout
    assert "--use-litellm-database" in r.stdout and "  - LITELLM_SALT_KEY: encrypts" in r.stdout
    assert "  - STORE_MODEL_IN_DB: lets LiteLLM's UI keep models" in r.stdout
    assert "not a PAL or LiteLLM setting" not in r.stdout  # each variable left has its own reason
    r = clean_check(out, home)
    assert r.returncode == 0, r.stdout + r.stderr

    # asked for: Accord's tables in LiteLLM's PostgreSQL database, the URL kept in the env file only
    out2 = tmp_path / "db" / "accord.yaml"
    r = run("import", str(SETUP / "config.yaml"), str(SETUP / "litellm.env"), "--out", str(out2),
            "--use-litellm-database")
    assert r.returncode == 0, r.stderr
    assert yaml.safe_load(out2.read_text())["settings"]["database_url"] == "${DATABASE_URL}"
    assert "DATABASE_URL=postgresql://litellm:pg-secret-test@localhost:5432/litellm" in (out2.parent / "env").read_text()
    assert "pg-secret" not in out2.read_text() + r.stdout

    # a master key written in the config wins over LITELLM_MASTER_KEY, in LiteLLM as here: the variable is left
    config = tmp_path / "config.yaml"
    config.write_text("model_list: []\ngeneral_settings: {master_key: sk-in-the-config}\n")
    r = run("import", str(config), str(SETUP / "litellm.env"), "--out", str(tmp_path / "k" / "accord.yaml"))
    assert r.returncode == 0 and "  - LITELLM_MASTER_KEY: general_settings.master_key is set, and wins" in r.stdout
    assert "LITELLM_MASTER_KEY" not in (tmp_path / "k" / "env").read_text()


def test_pal_default_model_custom_means_custom_model_name(tmp_path):
    env = tmp_path / "pal.env"
    env.write_text("CUSTOM_API_URL=http://gpu-box:8000/v1\nCUSTOM_MODEL_NAME=llama3.1:70b\nDEFAULT_MODEL=custom\n")
    out = tmp_path / "accord.yaml"
    r = run("import", str(env), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert yaml.safe_load(out.read_text())["mcp"]["default_model"] == "llama3.1:70b"
    assert "DEFAULT_MODEL=custom is PAL's name for CUSTOM_MODEL_NAME" in r.stdout
    cfg = load(out)
    assert cfg.mcp.default_model in {d.name for d in cfg.deployments}
    # a default no imported model answers to would fail every call: auto, and said
    env.write_text("CUSTOM_API_URL=http://gpu-box:8000/v1\nCUSTOM_MODEL_NAME=llama3.1:70b\nDEFAULT_MODEL=o3\n")
    r = run("import", str(env), "--out", str(out), "--yes")
    assert r.returncode == 0 and yaml.safe_load(out.read_text())["mcp"]["default_model"] == "auto"
    assert "DEFAULT_MODEL `o3` is not among the imported models (llama3.1:70b)" in r.stdout


def test_import_without_arguments_finds_the_setup_where_it_lives(tmp_path, pal_home):
    litellm = pal_home / ".config" / "litellm"
    litellm.mkdir(parents=True)
    shutil.copy(SETUP / "config.yaml", litellm / "config.yaml")
    shutil.copy(SETUP / "litellm.env", litellm / ".env")
    shutil.copy(SETUP / "mcp.json", pal_home / ".claude.json")
    work = tmp_path / "work"
    work.mkdir()
    r = run("import", env={"HOME": str(pal_home)}, cwd=work)
    assert r.returncode == 0, r.stderr
    for line in (f"  {litellm / 'config.yaml'}: LiteLLM's config", f"  {litellm / '.env'}: LiteLLM's env file",
                 f"  {pal_home / '.claude.json'}: Claude Code's MCP config, with PAL's entry",
                 f"  {pal_home / '.pal' / 'custom_models.json'}: PAL's custom models"):
        assert line in r.stdout, r.stdout
    out = Path(os.environ["XDG_CONFIG_HOME"]) / "accord" / "accord.yaml"
    assert f"wrote {out} (4 models)" in r.stdout
    assert clean_check(out, pal_home).returncode == 0


LITELLM_ONLY_PARAMS = """
model_list:
  - model_name: gpt
    litellm_params: {model: openai/gpt-4o, api_key: os.environ/OPENAI_API_KEY, drop_params: true, tags: [team-a],
                     custom_llm_provider: openai, temperature: 0.2}
    model_info: {id: gpt-1, base_model: gpt-4o, supports_vision: true}
litellm_settings: {num_retries: 2, cache: true}
"""


@pytest.mark.parametrize("name", ["litellm_reference.yaml", "litellm_quickstart.yaml", "replaced_setup/config.yaml",
                                  "litellm_only_params.yaml"])
def test_runtime_and_import_leave_out_the_same_keys(tmp_path, home, name):
    """One LiteLLM file, read by `accord serve` as it is and by `accord import`: the keys one reports as not
    used are the keys the other does (they once disagreed: the runtime dropped LiteLLM-only params silently)."""
    src = DATA / name if (DATA / name).is_file() else tmp_path / name
    if not src.is_file():
        src.write_text(LITELLM_ONLY_PARAMS)
    keys = {k: "set" for k in ("DEEPSEEK_API_KEY", "LITELLM_MASTER_KEY", "AZURE_API_KEY_EU", "AZURE_API_KEY_CA",
                               "DASHSCOPE_API_KEY", "MOONSHOT_API_KEY", "DATABASE_URL", "OPENAI_API_KEY")}
    checked = run("config", "check", "--config", str(src), env={**keys, "DEEPSEEK_API_BASE": "http://ds.test/v1"})
    assert checked.returncode == 0, checked.stderr
    runtime = {line.removeprefix("ignored: ").removesuffix(" (not used by Accord yet)").split(": ")[0]
               for line in checked.stdout.splitlines() if line.startswith("ignored: ")}
    imported = run("import", str(src), "--out", str(tmp_path / "out" / "accord.yaml"))
    assert imported.returncode == 0, imported.stderr
    report = imported.stdout.split("not imported (", 1)[1].splitlines()[1:] if "not imported (" in imported.stdout else []
    skipped = {line.removeprefix("  - ").split(": ")[0] for line in report if line.startswith("  - ")}
    assert runtime and runtime == skipped, (checked.stdout, imported.stdout)
