"""`accord serve` as a user starts it: a busy port, the start-up banner and log lines."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from test_main import ACCORD

import accord.store
from fakes import ServerThread, free_port
from waiting import wait_for


def config(where: Path, port: int, extra: str = "") -> Path:
    where.mkdir(parents=True, exist_ok=True)
    p = where / "accord.yaml"
    p.write_text(f"""
settings: {{master_key: sk-serve-test, port: {port}, data_dir: {where / 'data'}}}
models:
  - name: local
    model: openai/llama
    api_base: http://127.0.0.1:9/v1
    api_key: none
{extra}""")
    return p


class Served:
    """A running `accord serve`; its output is collected when it stops."""

    def __init__(self, *args: str, env: dict | None = None) -> None:
        self.proc = subprocess.Popen([ACCORD, "serve", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env={**os.environ, **(env or {})})

    def wait_ready(self, port: int) -> Served:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"accord serve exited: {self.stop()}")
            return httpx.get(f"http://127.0.0.1:{port}/health/readiness", timeout=2).status_code == 200

        wait_for(ready, "accord serve to answer /health/readiness")
        return self

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
        out, _ = self.proc.communicate(timeout=30)
        return out


def run_serve(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([ACCORD, "serve", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


@pytest.fixture
def litellm_like():
    """What a LiteLLM proxy answers on its public health routes (litellm/proxy/health_endpoints)."""
    app = Starlette(routes=[
        Route("/health/liveliness", lambda r: PlainTextResponse('"I\'m alive!"')),
        Route("/health/readiness", lambda r: JSONResponse({"status": "healthy", "db": "Not connected",
                                                           "cache": None, "litellm_version": "1.77.0"})),
    ])
    server = ServerThread(app).start()
    yield server
    server.stop()


def test_busy_port_names_litellm_and_how_to_choose_another(tmp_path, litellm_like):
    port = int(litellm_like.url.rsplit(":", 1)[1])
    cfg = config(tmp_path / "a", port)
    r = run_serve("--config", str(cfg))
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr and "Errno" not in r.stderr
    assert "API at" not in r.stderr  # no banner for a server that never runs
    assert f"port {port}" in r.stderr and "LiteLLM" in r.stderr
    assert "--port" in r.stderr and "settings" in r.stderr and str(cfg) in r.stderr


def test_busy_port_taken_by_another_program(tmp_path):
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        r = run_serve("--config", str(config(tmp_path, port)))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"port {port} on 127.0.0.1 is already in use by another program" in r.stderr
    assert "accord serve --port" in r.stderr


def test_busy_port_tells_this_configs_accord_from_another(tmp_path):
    port = free_port()
    mine, other = config(tmp_path / "mine", port), config(tmp_path / "other", port)
    running = Served("--config", str(other)).wait_ready(port)
    try:
        r = run_serve("--config", str(mine))
        assert r.returncode == 1 and "Traceback" not in r.stderr
        assert "another Accord" in r.stderr and "--port" in r.stderr
        r = run_serve("--config", str(other))
        assert r.returncode == 1 and "already running there with this config" in r.stderr
        assert "accord reload" in r.stderr
    finally:
        running.stop()


def test_banner_names_mcp_and_migrations_are_one_quiet_line_each(tmp_path):
    port = free_port()
    served = Served("--config", str(config(tmp_path, port))).wait_ready(port)
    wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/health/readiness").json()["db"] == "connected",
             "the database to be migrated")
    out = served.stop()
    assert f"MCP (streamable HTTP) at http://127.0.0.1:{port}/mcp" in out
    alembic = [line for line in out.splitlines() if "alembic" in line]
    assert alembic == [], alembic
    migrated = [line for line in out.splitlines() if "database migrated to" in line]
    revisions = sorted(p.name[:4] for p in (Path(accord.store.__file__).parent / "migrations" / "versions").glob("0*.py"))
    assert [line.split("database migrated to ")[1][:4] for line in migrated] == revisions  # one line each

    off = free_port()
    served = Served("--config", str(config(tmp_path / "off", off, "mcp: {http: false}"))).wait_ready(off)
    assert "/mcp" not in served.stop()


def test_a_stray_api_base_is_warned_at_start(tmp_path):
    port = free_port()
    served = Served("--config", str(config(tmp_path, port)),
                    env={"DASHSCOPE_CN_API_BASE": "http://127.0.0.1:9/v1", "QWEN_API_BASE": "http://x/v1"})
    out = served.wait_ready(port).stop()
    assert "DASHSCOPE_CN_API_BASE is set but no model uses provider `dashscope-cn`" in out
    assert "QWEN_API_BASE is set but Accord does not read it" in out and "DASHSCOPE_API_BASE" in out


def test_access_log_is_one_timestamped_line_per_request_in_order(tmp_path):
    """At the default log level each request is one line, in the order served, with logging's own timestamp
    and the request's id; lines written once per loop turn (logs.TurnStream) are neither lost nor reordered,
    and a burst of concurrent requests gives exactly one line each."""
    import re
    from concurrent.futures import ThreadPoolExecutor

    port = free_port()
    served = Served("--config", str(config(tmp_path, port, "mcp: {http: false}"))).wait_ready(port)
    url = f"http://127.0.0.1:{port}/health/liveliness"
    for i in range(5):
        assert httpx.get(url, headers={"x-request-id": f"seq-{i}"}).status_code == 200
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: httpx.get(url, headers={"x-request-id": f"burst-{i}"}), range(40)))
    out = served.stop()
    line = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO accord\.access \[(\S+)\] GET /health/liveliness "
                      r"200 \d+\.\d ms$")
    ids = [m.group(1) for m in map(line.match, out.splitlines()) if m]
    assert ids[:5] == [f"seq-{i}" for i in range(5)]
    assert sorted(ids[5:]) == sorted(f"burst-{i}" for i in range(40))
    assert out.index("burst-") < out.index("Shutting down")  # the loop's lines before the shutdown's


def test_the_app_is_built_without_the_database_libraries():
    """`accord serve` answers /health once its own modules are imported; the store opens in the background, so
    building the app must not import SQLAlchemy or a driver (they were ~0.2 s of start-up when the key-field
    reading and the data paths lived in modules beside the engine)."""
    import sys

    code = ("import sys\n"
            "from accord.config import parse\n"
            "from accord.app import create_app\n"
            "create_app(parse('models:\\n  - name: m\\n    model: openai/gpt-4o-mini\\n    api_key: x\\n'"
            "                 'settings:\\n  master_key: sk-serve-test\\n'))\n"
            "print(sorted(m for m in ('sqlalchemy', 'aiosqlite', 'asyncpg', 'alembic') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
