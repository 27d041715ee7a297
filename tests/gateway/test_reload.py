"""Operations: reload under load (HTTP, CLI, SIGHUP), refused broken configs, structured logs with request ids."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from pathlib import Path

import httpx
from test_main import ACCORD

from fakes import free_port
from waiting import wait_for, wait_http

MASTER = "sk-ops-master"


def write(path: Path, upstream_url: str, *models: str) -> None:
    entries = "".join(f"""
  - name: {m}
    model: openai/{m}-id
    api_base: {upstream_url}/v1
    api_key: sk-up
""" for m in models)
    path.write_text(f"settings:\n  master_key: {MASTER}\n  port: {path.parent.joinpath('port').read_text()}\n"
                    f"models:{entries}")


class Server:
    def __init__(self, cfg: Path, *args: str) -> None:
        self.port = int(cfg.parent.joinpath("port").read_text())
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([ACCORD, "serve", "--config", str(cfg), *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        wait_http(f"{self.url}/health/liveliness", "accord serve to start", self.proc)

    def models(self) -> list[str]:
        r = httpx.get(f"{self.url}/v1/models", headers={"Authorization": f"Bearer {MASTER}"})
        return [m["id"] for m in r.json()["data"]]

    def stop(self) -> str:
        self.proc.terminate()
        return self.proc.communicate(timeout=30)[0]


def test_reload_under_load_drops_nothing_and_refuses_a_broken_config(tmp_path, upstream):
    (tmp_path / "port").write_text(str(free_port()))
    cfg = tmp_path / "accord.yaml"
    write(cfg, upstream.url, "alpha")
    server = Server(cfg)
    upstream.default.delay = 0.05
    failures: list[str] = []
    done = threading.Event()
    count = [0]

    def load() -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {MASTER}"}, timeout=10) as c:
            while not done.is_set():
                stream = count[0] % 2 == 0
                r = c.post(f"{server.url}/v1/chat/completions",
                           json={"model": "alpha", "stream": stream, "messages": [{"role": "user", "content": "x"}]})
                if r.status_code != 200 or (stream and "[DONE]" not in r.text):
                    failures.append(f"{r.status_code} {r.text[:200]}")
                count[0] += 1

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        served = count[0]
        wait_for(lambda: count[0] >= served + 8, "requests under way before the reload")
        write(cfg, upstream.url, "alpha", "beta")
        r = subprocess.run([ACCORD, "reload", "--config", str(cfg)], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and "reloaded: 2 models" in r.stdout, r.stderr
        assert server.models() == ["alpha", "beta"]
        served = count[0]
        wait_for(lambda: count[0] >= served + 8, "requests served after the reload")

        cfg.write_text(cfg.read_text() + "    rmp: 5\n")  # a typo
        r = subprocess.run([ACCORD, "reload", "--config", str(cfg)], capture_output=True, text=True, timeout=30)
        assert r.returncode == 2 and "rmp" in r.stderr  # checked before it is even sent
        h = httpx.post(f"{server.url}/config/reload", json={}, headers={"Authorization": f"Bearer {MASTER}"})
        assert h.status_code == 400 and "old one keeps serving" in h.json()["error"]["message"]
        assert "accord.yaml:" in h.json()["error"]["message"]
        assert server.models() == ["alpha", "beta"]  # still the last good config

        write(cfg, upstream.url, "alpha", "gamma")
        server.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: server.models() == ["alpha", "gamma"], "SIGHUP to reload the config")
        served = count[0]
        wait_for(lambda: count[0] >= served + 8, "requests served after the SIGHUP reload")
    finally:
        done.set()
        for t in threads:
            t.join(10)
        server.stop()
    assert count[0] > 20 and failures == []


def test_json_logs_carry_the_request_id(tmp_path, upstream):
    (tmp_path / "port").write_text(str(free_port()))
    cfg = tmp_path / "accord.yaml"
    write(cfg, upstream.url, "alpha")
    server = Server(cfg, "--log-format", "json")
    r = httpx.post(f"{server.url}/v1/chat/completions", json={"model": "alpha", "messages": [{"role": "user", "content": "x"}]},
                   headers={"Authorization": f"Bearer {MASTER}", "x-request-id": "req-abc-123"})
    assert r.headers["x-request-id"] == "req-abc-123"
    other = httpx.get(f"{server.url}/health/liveliness")
    assert len(other.headers["x-request-id"]) == 16  # one is made when the client sends none
    out = server.stop()
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    access = [entry for entry in lines if entry.get("path") == "/v1/chat/completions"]
    assert access and access[0]["request_id"] == "req-abc-123" and access[0]["status"] == 200
    assert all({"time", "level", "logger", "message", "request_id"} <= set(entry) for entry in lines)
    assert "sk-up" not in out and MASTER not in out


def test_reload_without_a_server_says_so(tmp_path):
    (tmp_path / "port").write_text(str(free_port()))
    cfg = tmp_path / "accord.yaml"
    write(cfg, "http://127.0.0.1:9", "alpha")
    r = subprocess.run([ACCORD, "reload", "--config", str(cfg)], capture_output=True, text=True, timeout=30,
                       env={**os.environ})
    assert r.returncode == 1 and "no Accord server answers" in r.stderr
