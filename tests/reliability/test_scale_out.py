"""Several instances and hard stops: two `accord serve` behind nginx on one PostgreSQL and Redis; SIGTERM loses
no usage; SIGKILL loses at most the last batch and never corrupts the database."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest
from test_main import ACCORD

from fakes import free_port
from waiting import fails_with, wait_for, wait_http

MASTER = "sk-scale-master"
MSG = [{"role": "user", "content": "hi"}]


def config(tmp_path: Path, upstream_url: str, database_url: str, redis_url: str | None = None) -> Path:
    p = tmp_path / "accord.yaml"
    redis = f"\n  redis_url: {redis_url}" if redis_url else ""
    p.write_text(f"""
settings:
  master_key: {MASTER}
  allowed_hosts: [accord]   # nginx sends its upstream's name as Host
  database_url: "{database_url}"{redis}
models:
  - name: m
    model: openai/gpt-4o-mini
    api_base: {upstream_url}/v1
    api_key: sk-up
""")
    return p


class Instance:
    def __init__(self, cfg: Path, port: int | None = None, wait: bool = True) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([ACCORD, "serve", "--config", str(cfg), "--port", str(self.port)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if wait:
            self.ready()

    def ready(self) -> None:
        wait_http(f"{self.url}/health/readiness", f"accord serve on :{self.port} to be ready", self.proc,
                  want='"db":"connected"')

    @classmethod
    def several(cls, cfg: Path, n: int) -> list[Instance]:
        """`n` instances started at once, as a deployment starts them (migrations take a lock: db.py), then
        waited for: the starts overlap instead of queueing."""
        made = [cls(cfg, wait=False) for _ in range(n)]
        try:
            for inst in made:
                inst.ready()
        except BaseException:
            for inst in made:
                inst.proc.kill()
                inst.proc.communicate(timeout=30)
            raise
        return made

    def accepts_connections(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), 5).close()
            return True
        except OSError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        out, _ = self.proc.communicate(timeout=30)
        return out or ""


def admin(url: str, path: str, body: dict) -> dict:
    r = httpx.post(f"{url}{path}", json=body, headers={"Authorization": f"Bearer {MASTER}"})
    assert r.status_code == 200, r.text
    return r.json()


def works(url: str, key: str) -> bool:
    r = httpx.post(f"{url}/v1/chat/completions", json={"model": "m", "messages": MSG},
                   headers={"Authorization": f"Bearer {key}"})
    return r.status_code == 200


def test_tokens_spent_through_one_instance_count_against_the_tpm_limit_on_another(tmp_path, upstream,
                                                                                 postgres_server, redis_server):
    """A key with both limits: its tokens, counted in Redis by A once its answer is out, are read by B's check
    (rpm and tpm asked of Redis together, one round trip)."""
    postgres_server.reset()
    cfg = config(tmp_path, upstream.url, postgres_server.url, redis_server.url)
    a, b = Instance.several(cfg, 2)
    try:
        key = admin(a.url, "/key/generate", {"key_alias": "tokens", "tpm_limit": 10, "rpm_limit": 100})["key"]
        done = openai.OpenAI(base_url=f"{a.url}/v1", api_key=key, max_retries=0).chat.completions.create(
            model="m", messages=MSG)
        assert done.usage is not None and done.usage.total_tokens > 10  # over the limit in one request
        create = openai.OpenAI(base_url=f"{b.url}/v1", api_key=key, max_retries=0).chat.completions.create
        wait_for(lambda: fails_with(openai.RateLimitError, "tpm limit of 10 tokens", create, model="m",
                                    messages=MSG), "the tokens spent through A to be refused through B")
    finally:
        a.stop()
        b.stop()


def test_two_instances_behind_nginx_share_keys_limits_and_revocation(tmp_path, upstream, postgres_server,
                                                                       redis_server):
    from servers import Nginx

    postgres_server.reset()
    cfg = config(tmp_path, upstream.url, postgres_server.url, redis_server.url)
    a, b = Instance.several(cfg, 2)
    lb = Nginx([f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"]).start()
    try:
        assert httpx.get(f"{a.url}/health/readiness").json()["limits"] == "redis"
        key = admin(a.url, "/key/generate", {"key_alias": "shared", "rpm_limit": 4})["key"]
        # created through A, usable through the load balancer (both instances)
        wait_for(lambda: works(b.url, key), "a key made through A to work through B")
        c = openai.OpenAI(base_url=f"{lb.url}/v1", api_key=key, max_retries=0)
        assert c.chat.completions.create(model="m", messages=MSG).choices
        # the rpm limit holds across instances: 4 requests in this minute in all, wherever they land
        served = 2  # one on B above, one through nginx
        works(a.url, key)
        works(b.url, key)
        served += 2
        with pytest.raises(openai.RateLimitError, match="rpm limit of 4"):
            c.chat.completions.create(model="m", messages=MSG)
        assert not works(a.url, key) and not works(b.url, key)
        # revoked through B: refused everywhere (how soon is the key cache's lifetime, not a test's business)
        other = admin(a.url, "/key/generate", {"key_alias": "doomed"})["key"]
        assert works(a.url, other) and works(b.url, other)
        admin(b.url, "/key/delete", {"keys": ["doomed"]})
        wait_for(lambda: not works(a.url, other) and not works(lb.url, other), "a key revoked through B to be "
                 "refused through A and the load balancer")
    finally:
        lb.stop()
        a.stop()
        b.stop()


def _count(db: Path) -> int:
    with sqlite3.connect(db) as c:
        return c.execute("SELECT count(*) FROM usage").fetchone()[0]


def test_sigterm_finishes_in_flight_requests_and_loses_no_usage(tmp_path, upstream):
    db = tmp_path / "accord.db"
    cfg = config(tmp_path, upstream.url, f"sqlite:///{db}")
    inst = Instance(cfg)
    gate = threading.Event()
    upstream.default.hold = gate.is_set  # every answer waits until the instance is shutting down
    auth = {"Authorization": f"Bearer {MASTER}"}

    def call(_: int) -> int:
        return httpx.post(f"{inst.url}/v1/chat/completions", json={"model": "m", "messages": MSG}, headers=auth,
                          timeout=20).status_code

    with ThreadPoolExecutor(20) as pool:
        futures = [pool.submit(call, i) for i in range(20)]
        wait_for(lambda: upstream.in_flight == 20, "all 20 requests to reach the upstream")
        inst.proc.send_signal(signal.SIGTERM)
        wait_for(lambda: not inst.accepts_connections(), "the instance to stop taking new connections")
        assert upstream.in_flight == 20  # shutting down with all 20 still waiting for the upstream
        gate.set()
        statuses = [f.result() for f in futures]
    inst.stop()
    assert statuses == [200] * 20  # in-flight requests finish
    assert _count(db) == 20  # and every one of them is recorded


def test_sigkill_loses_at_most_the_last_batch(tmp_path, upstream):
    db = tmp_path / "accord.db"
    cfg = config(tmp_path, upstream.url, f"sqlite:///{db}")
    inst = Instance(cfg)
    auth = {"Authorization": f"Bearer {MASTER}"}
    with httpx.Client(headers=auth) as c:
        for _ in range(30):
            assert c.post(f"{inst.url}/v1/chat/completions", json={"model": "m", "messages": MSG}).status_code == 200
        wait_for(lambda: _count(db) == 30, "the first 30 requests' usage to be on disk")
        for _ in range(10):
            c.post(f"{inst.url}/v1/chat/completions", json={"model": "m", "messages": MSG})
    inst.stop(signal.SIGKILL)
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert 30 <= _count(db) <= 40
    # and it opens cleanly for the next start
    again = Instance(cfg)
    try:
        assert works(again.url, MASTER)
    finally:
        again.stop()


def test_cli_keys_and_usage(tmp_path, upstream):
    db = tmp_path / "accord.db"
    cfg = config(tmp_path, upstream.url, f"sqlite:///{db}")
    env = {**os.environ, "ACCORD_CONFIG": str(cfg)}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([ACCORD, *args], capture_output=True, text=True, env=env, timeout=60)

    made = run("keys", "create", "--name", "cli-key", "--models", "m", "--budget", "2", "--rpm", "50",
               "--expires", "1d")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("sk-acc-") and "shown once" in made.stderr
    inst = Instance(cfg)
    try:
        assert works(inst.url, key)
        listed = run("keys", "list")
        assert "cli-key" in listed.stdout and key not in listed.stdout
        wait_for(lambda: '"requests": 1' in run("usage", "--by", "key", "--json").stdout, "the key's usage")
        table = run("usage", "--by", "model")
        assert "m" in table.stdout and table.returncode == 0
        assert run("keys", "revoke", "cli-key").returncode == 0
        wait_for(lambda: not works(inst.url, key), "the revoked key to be refused")
        assert run("keys", "revoke", "no-such-key").returncode == 2
        bad = run("keys", "create", "--expires", "someday")
        assert bad.returncode == 2 and "duration" in bad.stderr
    finally:
        inst.stop()
    assert "error" not in run("db", "upgrade").stderr.lower()


def test_without_redis_limits_are_per_process_and_say_so(tmp_path, upstream):
    cfg = config(tmp_path, upstream.url, f"sqlite:///{tmp_path / 'a.db'}")
    inst = Instance(cfg)
    try:
        assert httpx.get(f"{inst.url}/health/readiness").json()["limits"] == "local"
    finally:
        inst.stop()


if sys.platform == "win32":  # pragma: no cover
    pytestmark = pytest.mark.skip("signals")
