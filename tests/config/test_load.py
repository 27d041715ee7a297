"""Config: Accord's schema, LiteLLM's as it is, env references, zero config, and errors that say what to fix."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from accord import config
from accord.errors import ConfigError
from fakes import FakeUpstream, ServerThread

DATA = Path(__file__).parents[1] / "data"


def err(text: str) -> str:
    with pytest.raises(ConfigError) as e:
        config.parse(text, "accord.yaml")
    return str(e.value)


# ---------------------------------------------------------------------------------------------- Accord schema
def test_accord_schema_full_entry(monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-live-1")
    cfg = config.parse("""
settings: {master_key: "${MY_KEY}", port: 5000, num_retries: 1}
models:
  - name: smart
    model: deepseek/deepseek-reasoner
    api_key: os.environ/MY_KEY
    aliases: [r1x]
    extra_body: {foo: 1}
    params: {temperature: 0.5}
    capabilities: {context_window: 64000, input_price: 9}
    rpm: 10
    timeout: 30
""")
    d = cfg.deployments[0]
    assert (d.name, d.vendor.name, d.model, d.api_key) == ("smart", "deepseek", "deepseek-reasoner", "sk-live-1")
    assert d.api_base == "https://api.deepseek.com/v1"
    assert d.info.context_window == 64000 and d.info.input_price == 9 and d.info.thinking  # catalog + overrides
    assert d.aliases == ("r1x",) and d.rpm == 10 and d.timeout == 30 and d.params == {"temperature": 0.5}
    assert cfg.settings.master_key == "sk-live-1" and cfg.settings.port == 5000


def test_unknown_model_gets_conservative_defaults():
    cfg = config.parse("models: [{name: local, model: openai/my-finetune, api_base: 'http://h:1/v1'}]")
    info = cfg.deployments[0].info
    assert not info.known and info.context_window == 32_768 and not info.thinking and not info.vision


def test_bare_catalog_model_finds_its_provider(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "g")
    d = config.parse("models: [{name: g, model: gemini-2.5-pro}]").deployments[0]
    assert d.vendor.name == "gemini" and d.api_key == "g"


def test_env_defaults_and_missing_variable_named():
    cfg = config.parse("settings: {master_key: '${NOPE_NOT_SET:-fallback}'}")
    assert cfg.settings.master_key == "fallback"
    msg = err("models:\n  - name: a\n    model: deepseek/deepseek-chat\n    api_key: os.environ/NOPE_NOT_SET\n")
    assert "accord.yaml:4" in msg and "NOPE_NOT_SET" in msg and "models[0].api_key" in msg


@pytest.mark.parametrize("text, where, words", [
    ("models:\n  - name: a\n    model: deepseek/x\n    rmp: 4\n", "accord.yaml:4", ["rmp", "did you mean `rpm`"]),
    ("settings:\n  port: abc\n", "accord.yaml:2", ["settings.port", "integer"]),
    ("settings:\n  routing_strategy: fastest\n", "accord.yaml:2", ["simple-shuffle"]),
    ("models:\n  - name: a\n    model: deepsek/x\n", "accord.yaml:3", ["did you mean `deepseek/`"]),
    ("models:\n  - model: deepseek/x\n", "accord.yaml:2", ["`name` is required"]),
    ("setings: {}\n", "accord.yaml:1", ["did you mean `settings`"]),
    ("models: [\n", "accord.yaml:", ["not valid YAML"]),
    ("- just\n- a list\n", "accord.yaml:1", ["mapping"]),
    ("models:\n  - name: a\n    model: vllm/x\n", "accord.yaml:2", ["api_base"]),
    ("models:\n  - name: a\n    model: deepseek/x\n    capabilities: {vison: true}\n", "accord.yaml:4", ["vision"]),
    ("settings: {host: 0.0.0.0}\n", "accord.yaml:1", ["master key"]),
])
def test_errors_name_file_line_key_and_fix(text, where, words):
    msg = err(text)
    assert msg.startswith(where), msg
    for w in words:
        assert w in msg, msg


def test_config_file_search_order(tmp_path, monkeypatch):
    xdg = tmp_path / "xdg-config" / "accord"
    xdg.mkdir(parents=True)
    (xdg / "accord.yaml").write_text("settings: {port: 1}\n")
    assert config.load().settings.port == 1
    (tmp_path / "accord.yaml").write_text("settings: {port: 2}\n")
    assert config.load().settings.port == 2
    other = tmp_path / "other.yaml"
    other.write_text("settings: {port: 3}\n")
    monkeypatch.setenv("ACCORD_CONFIG", str(other))
    assert config.load().settings.port == 3
    explicit = tmp_path / "explicit.yaml"
    explicit.write_text("settings: {port: 4}\n")
    assert config.load(explicit).settings.port == 4
    with pytest.raises(ConfigError, match="no config file"):
        config.load(tmp_path / "missing.yaml")


def test_env_file_beside_config_is_loaded(tmp_path, monkeypatch):
    monkeypatch.delenv("SOME_KEY", raising=False)
    (tmp_path / "accord.yaml").write_text("settings: {master_key: os.environ/SOME_KEY}\n")
    (tmp_path / "env").write_text("# keys\nexport SOME_KEY='from-env-file'\nOTHER=1 # comment\n")
    assert config.load().settings.master_key == "from-env-file"
    monkeypatch.setenv("SOME_KEY", "from-shell")  # the environment wins over the file
    assert config.load().settings.master_key == "from-shell"


def test_redacted_hides_every_secret(monkeypatch):
    cfg = config.parse("""
settings: {master_key: sk-master-secret, database_url: "postgresql://u:pw@h/db"}
models: [{name: a, model: deepseek/deepseek-chat, api_key: sk-provider-secret, extra_body: {api_token: t0k}}]
""")
    text = str(cfg.redacted())
    for secret in ("sk-master-secret", "sk-provider-secret", "pw@h", "t0k"):
        assert secret not in text


# ---------------------------------------------------------------------------------------------- zero config
def test_zero_config_serves_providers_with_keys(monkeypatch):
    monkeypatch.setenv("DEEPSEEK_API_KEY", "d")
    monkeypatch.setenv("MOONSHOT_API_KEY", "m")
    cfg = config.load()
    assert cfg.source == "zero-config" and cfg.path is None
    names = {d.name for d in cfg.deployments}
    assert {"deepseek-chat", "deepseek-reasoner", "kimi-k2-thinking"} <= names
    assert not any(d.vendor.name == "openai" for d in cfg.deployments)


def test_zero_config_without_keys_is_empty_not_an_error():
    cfg = config.load()
    assert cfg.deployments == [] and cfg.settings.host == "127.0.0.1"


# ---------------------------------------------------------------------------------------------- LiteLLM
def test_litellm_quickstart_from_its_docs_loads_and_serves(monkeypatch, gateway_factory):
    """LiteLLM's documented Quick Start config, unchanged: what Accord can serve it serves (vllm-models via
    the fake upstream on 0.0.0.0:4000, as the file says), the rest is reported by name, nothing crashes."""
    monkeypatch.setenv("AZURE_API_KEY_EU", "eu-key")
    monkeypatch.setenv("AZURE_API_KEY_CA", "ca-key")
    text = (DATA / "litellm_quickstart.yaml").read_text()
    cfg = config.parse(text, "config.yaml")
    assert cfg.source == "litellm" and cfg.settings.master_key == "sk-1234"
    gpt4o = [d for d in cfg.deployments if d.name == "gpt-4o"]
    assert [d.vendor.name for d in gpt4o] == ["azure", "azure"] and [d.rpm for d in gpt4o] == [6, 6]
    assert gpt4o[0].api_key == "eu-key" and gpt4o[1].model == "gpt-4o-ca"
    ignored = " ".join(cfg.ignored)
    for name in ("success_callback", "alerting", "bedrock", "wildcard"):
        assert name in ignored
    fake = FakeUpstream()
    fake._server = ServerThread(fake.app, port=4000)
    try:
        fake._server.server.config.host = "0.0.0.0"
        fake.start()
    except (OSError, RuntimeError, SystemExit):
        pytest.fail("port 4000 is busy: the LiteLLM docs config points its vLLM model there")
    try:
        gw = gateway_factory(text)
        c = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="sk-1234", max_retries=0)
        fake.reply(content="opt says hi")
        r = c.chat.completions.create(model="vllm-models", messages=[{"role": "user", "content": "what llm are you"}])
        assert r.choices[0].message.content == "opt says hi"
        assert fake.last["json"]["model"] == "facebook/opt-125m"
        assert fake.last["headers"]["authorization"] == "Bearer none"
    finally:
        fake.stop()


def test_litellm_azure_wire_format(monkeypatch, upstream, gateway_factory):
    gw = gateway_factory(f"""
model_list:
  - model_name: gpt-4o
    litellm_params: {{model: azure/my-gpt4o, api_base: "{upstream.url}", api_key: az-key, api_version: "2024-06-01"}}
""")
    c = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="x", max_retries=0)
    assert c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}]).choices
    assert upstream.last["path"] == "/openai/deployments/my-gpt4o/chat/completions"
    assert upstream.last["query"] == {"api-version": "2024-06-01"}
    assert upstream.last["headers"]["api-key"] == "az-key" and "authorization" not in upstream.last["headers"]


def test_litellm_reference_config_maps_settings(monkeypatch, upstream, gateway_factory):
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-ds")
    monkeypatch.setenv("DEEPSEEK_API_BASE", f"{upstream.url}/v1")
    monkeypatch.setenv("LITELLM_MASTER_KEY", "sk-lite")
    text = (DATA / "litellm_reference.yaml").read_text()
    cfg = config.parse(text, "config.yaml")
    s = cfg.settings
    assert (s.num_retries, s.request_timeout, s.allowed_fails, s.cooldown_time) == (3, 600, 3, 30)
    assert s.fallbacks == {"deepseek-reasoner": ["deepseek-chat"]}
    # LiteLLM's own database holds LiteLLM's tables: Accord keeps its own store unless told otherwise
    assert s.master_key == "sk-lite" and s.database_url is None
    d = cfg.deployments[0]
    assert d.id == "dep-1" and d.extra_body == {"enable_thinking": True} and d.rpm == 480
    assert d.info.input_price == pytest.approx(0.27) and d.info.max_output_tokens == 8192
    assert "r1" in d.aliases
    assert set(cfg.ignored) == {"litellm_settings.cache", "litellm_settings.cache_params",
                                "general_settings.database_url"}
    gw = gateway_factory(text)
    c = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="sk-lite", max_retries=0)
    c.chat.completions.create(model="r1", messages=[{"role": "user", "content": "x"}])
    sent = upstream.last["json"]
    assert sent["model"] == "deepseek-reasoner" and sent["enable_thinking"] is True
    c.chat.completions.create(model="deepseek-chat", messages=[{"role": "user", "content": "x"}])
    assert upstream.last["json"]["temperature"] == 0.3  # a litellm_params default passed through


def test_litellm_errors_are_clear():
    with pytest.raises(ConfigError, match=r"config.yaml:3: model_list\[0\].*litellm_params.model"):
        config.parse("model_list:\n  - model_name: x\n    litellm_params: {api_key: k}\n", "config.yaml")
    with pytest.raises(ConfigError, match="model_name"):
        config.parse("model_list:\n  - litellm_params: {model: openai/x}\n", "config.yaml")


def test_litellm_price_that_is_not_a_number_is_reported_not_a_traceback():
    cfg = config.parse("""
model_list:
  - model_name: chat
    litellm_params: {model: deepseek/deepseek-chat, api_key: k, input_cost_per_token: cheap}
    model_info: {output_cost_per_token: [1]}
""", "config.yaml")
    assert [d.name for d in cfg.deployments] == ["chat"]
    assert any("litellm_params.input_cost_per_token: not a number" in i for i in cfg.ignored), cfg.ignored
    assert any("model_info.output_cost_per_token: not a number" in i for i in cfg.ignored), cfg.ignored
