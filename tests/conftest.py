"""Shared fixtures: a fake provider, and Accord's gateway serving a config that points at it."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
# Test folders mirror src/accord's packages; a test module may use another's helpers by name from any folder
# (`from test_main import run`), whichever pytest collected first
sys.path.extend(str(d) for d in sorted(Path(__file__).parent.iterdir())
                if d.is_dir() and any(d.glob("test_*.py")) and not (d / "__init__.py").exists())

from fakes import FakeUpstream, ServerThread

MASTER_KEY = "sk-accord-test-master"

# Before any fixture: a module- or session-scoped gateway is built before the per-test isolation below, and
# must not find (or write) the developer's real config and data either. One throwaway home for the session.
_SESSION_HOME = Path(__import__("tempfile").mkdtemp(prefix="accord-tests-"))
os.environ["XDG_CONFIG_HOME"] = str(_SESSION_HOME / "xdg-config")
os.environ["XDG_DATA_HOME"] = str(_SESSION_HOME / "xdg-data")


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's real config, keys or data."""
    for k in list(os.environ):
        if k.endswith(("_API_KEY", "_API_BASE")) or k.startswith("ACCORD_") or k in ("OLLAMA_HOST",):
            monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def upstream_server() -> Iterator[FakeUpstream]:
    fake = FakeUpstream().start()
    yield fake
    fake.stop()


@pytest.fixture
def upstream(upstream_server: FakeUpstream) -> FakeUpstream:
    upstream_server.reset()
    return upstream_server


@pytest.fixture
async def engine(upstream: FakeUpstream, tmp_path: Path) -> AsyncIterator[Any]:
    """The consensus engine on panelkit's panel config, through a real router to the fake upstream, threads in
    SQLite (the engine tests that need sockets)."""
    from accord.config import parse
    from accord.consensus.callers import LocalModels
    from accord.consensus.runner import Engine
    from accord.router import Router
    from accord.store.db import Database
    from accord.store.threads import ThreadStore
    from panelkit import panel_config

    router = Router(parse(panel_config(upstream.url)))
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/t.db")
    yield Engine(LocalModels(router), ThreadStore(db))
    await router.close()
    await db.close()


def basic_config(upstream_url: str, master_key: str | None = MASTER_KEY, extra: str = "") -> str:
    key_line = f"  master_key: {master_key}\n" if master_key else ""
    return f"""
settings:
{key_line}  num_retries: 0
models:
  - name: gpt-test
    model: openai/gpt-4o-mini
    api_base: {upstream_url}/v1
    api_key: sk-upstream-secret-1234
    aliases: [fast]
  - name: deepseek-reasoner
    model: deepseek/deepseek-reasoner
    api_base: {upstream_url}/v1
    api_key: sk-deepseek-secret-5678
  - name: embedder
    model: openai/text-embedding-3-small
    api_base: {upstream_url}/v1
    api_key: sk-upstream-secret-1234
{extra}"""


def gateway_with_store(gateway_factory: Any, upstream: Any, database_url: str, extra: str = "",
                       redis: str | None = None) -> Any:
    """A gateway on `database_url` (basic_config), its store open: one at a time, as instances migrate a new
    database in turn."""
    import httpx

    from waiting import wait_for

    settings = f"  num_retries: 0\n  database_url: \"{database_url}\"" + (f"\n  redis_url: {redis}" if redis else "")
    g = gateway_factory(basic_config(upstream.url, extra=extra).replace("  num_retries: 0", settings))
    wait_for(lambda: httpx.get(f"{g.url}/health/readiness").json()["db"] == "connected", "the store to open")
    return g


class Gateway:
    """Accord's app served for real on a loopback port, by uvicorn with the HTTP protocol `accord serve` runs
    (gateway/headlimit.py); tests of other servers' path name uvicorn's own."""

    def __init__(self, cfg_text: str) -> None:
        from accord.app import HTTP_PROTOCOL, create_app
        from accord.config import parse

        self.cfg = parse(cfg_text, "test.yaml")
        self.app = create_app(self.cfg)
        self.server = ServerThread(self.app, http=HTTP_PROTOCOL).start()  # the protocol `accord serve` runs
        self.url = self.server.url

    @property
    def router(self):
        return self.app.state.router

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def gateway_factory() -> Iterator:
    made: list[Gateway] = []

    def make(cfg_text: str) -> Gateway:
        g = Gateway(cfg_text)
        made.append(g)
        return g

    yield make
    for g in made:
        g.stop()


@pytest.fixture
def gateway(upstream: FakeUpstream, gateway_factory) -> Gateway:
    return gateway_factory(basic_config(upstream.url))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh HOME, for commands that write the user's dot-files (Claude Code, service units)."""
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("HOME", str(h))
    return h


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstream]:
    """A fake provider of the module's own (the adapter tests point deployments straight at it)."""
    with FakeUpstream() as f:
        yield f


@pytest.fixture
async def pools():
    from accord.providers.http import Pools

    p = Pools()
    yield p
    await p.close()


# ------------------------------------------------------------------------------------------ real servers
@pytest.fixture(scope="session")
def postgres_server():
    from servers import Postgres

    pg = Postgres().start()
    yield pg
    pg.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path: Path) -> str:
    """The same tests against the embedded default and PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'accord.db'}"
    pg = request.getfixturevalue("postgres_server")
    pg.reset()
    return pg.url


@pytest.fixture
def redis_server():
    from servers import Redis

    r = Redis().start()
    yield r
    r.stop()


# ------------------------------------------------------------------------------------ strict vendor fakes
@pytest.fixture(scope="session")
def strict_servers() -> Iterator[dict[str, FakeUpstream]]:
    """One strict fake per vendor family (tests/strict), answering as that vendor; shared by the session."""
    from strict.panel import VENDORS, responder

    servers = {v: FakeUpstream(vendor=v).start() for v in VENDORS}
    for fake in servers.values():
        fake.responder = responder(fake)
    yield servers
    for fake in servers.values():
        fake.stop()


@pytest.fixture
def strict(strict_servers: dict[str, FakeUpstream]) -> dict[str, FakeUpstream]:
    """The strict fakes, with their answers reset and the requests of earlier tests forgotten."""
    from strict.panel import responder

    for fake in strict_servers.values():
        fake.requests.clear()
        fake.script.clear()
        fake.responder = responder(fake)
    return strict_servers
