"""`accord doctor` through its entry point, against the fake upstream with one good key and one bad."""

from __future__ import annotations

import json
import os
import subprocess

from test_main import ACCORD

from fakes import Reply


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([ACCORD, "doctor", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def setup(tmp_path, upstream_url: str, mode: int = 0o600) -> None:
    (tmp_path / "accord.yaml").write_text(f"""
models:
  - name: good
    model: deepseek/deepseek-chat
    api_base: {upstream_url}/v1
  - name: bad
    model: moonshot/kimi-k2-0905-preview
    api_base: {upstream_url}/v1
settings:
  data_dir: {tmp_path / 'data'}
""")
    env = tmp_path / "env"
    env.write_text("DEEPSEEK_API_KEY=sk-good-key\nMOONSHOT_API_KEY=sk-bad-key\n")
    env.chmod(mode)


def test_doctor_finds_the_bad_key_and_says_how_to_fix_it(tmp_path, upstream):
    setup(tmp_path, upstream.url)

    def responder(rec):
        if rec["headers"].get("authorization") == "Bearer sk-bad-key":
            return Reply(status=401, error={"error": {"message": "Invalid API key sk-bad-key"}})
        return None

    upstream.responder = responder
    r = run("--json")
    assert r.returncode == 1, r.stderr
    report = json.loads(r.stdout)
    by = {c["check"]: c for c in report["checks"]}
    assert report["ok"] is False
    assert by["config"]["status"] == "ok" and by["keys"]["status"] == "ok" and by["env file"]["status"] == "ok"
    assert by["model good"]["status"] == "ok"
    assert by["model bad"]["status"] == "fail" and "MOONSHOT_API_KEY" in by["model bad"]["fix"]
    assert "sk-bad-key" not in r.stdout and "sk-good-key" not in r.stdout
    assert by["database"]["status"] == "ok" and by["port"]["status"] == "ok"
    assert by["claude code"]["status"] in ("ok", "warn")

    table = run()  # the live table for people
    assert "FAIL" in table.stdout and "MOONSHOT_API_KEY" in table.stdout and table.returncode == 1


def test_doctor_all_good_and_an_open_env_file(tmp_path, upstream):
    setup(tmp_path, upstream.url, mode=0o644)
    r = run("--json")
    by = {c["check"]: c for c in json.loads(r.stdout)["checks"]}
    assert by["env file"]["status"] == "fail" and "chmod 600" in by["env file"]["fix"]
    (tmp_path / "env").chmod(0o600)
    r = run("--json")
    assert r.returncode == 0, r.stdout
    assert all(c["status"] in ("ok", "warn") for c in json.loads(r.stdout)["checks"])


def test_doctor_with_a_broken_config(tmp_path):
    (tmp_path / "accord.yaml").write_text("models:\n  - name: x\n    modle: deepseek/x\n")
    r = run("--json", "--no-models")
    report = json.loads(r.stdout)
    assert r.returncode == 1 and report["checks"][0]["status"] == "fail"
    assert "accord.yaml:3" in report["checks"][0]["detail"]


def test_doctor_with_no_models_fails_and_says_how_to_add_one(tmp_path):
    (tmp_path / "accord.yaml").write_text(f"settings: {{data_dir: {tmp_path / 'data'}}}\n")
    r = run("--json", "--no-models")
    by = {c["check"]: c for c in json.loads(r.stdout)["checks"]}
    assert r.returncode == 1
    assert by["config"]["status"] == "fail" and "no models" in by["config"]["detail"]
    assert "accord init" in by["config"]["fix"]
    assert "keys" not in by  # no "every model has its key (0 deployments)"


def test_doctor_port_check_tells_this_configs_accord_from_another(tmp_path):
    from test_serve import Served, config

    from fakes import free_port

    port = free_port()
    mine, other = config(tmp_path / "mine", port), config(tmp_path / "other", port)
    running = Served("--config", str(other)).wait_ready(port)
    try:
        r = run("--json", "--no-models", "--config", str(mine))
        port_check = {c["check"]: c for c in json.loads(r.stdout)["checks"]}["port"]
        assert port_check["status"] == "fail" and "another Accord" in port_check["detail"]
        assert "settings" in port_check["fix"]
        r = run("--json", "--no-models", "--config", str(other))
        port_check = {c["check"]: c for c in json.loads(r.stdout)["checks"]}["port"]
        assert port_check["status"] == "ok" and "with this config" in port_check["detail"]
    finally:
        running.stop()


def test_doctor_warns_of_an_api_base_no_model_reads(tmp_path, upstream):
    setup(tmp_path, upstream.url)
    r = run("--json", "--no-models", env={"MOONSHOT_CN_API_BASE": "http://127.0.0.1:9/v1"})
    by = {c["check"]: c for c in json.loads(r.stdout)["checks"]}
    assert by["provider URLs"]["status"] == "warn"
    assert "MOONSHOT_CN_API_BASE is set but no model uses provider `moonshot-cn`" in by["provider URLs"]["detail"]
    assert "did you mean MOONSHOT_API_BASE" in by["provider URLs"]["detail"]
