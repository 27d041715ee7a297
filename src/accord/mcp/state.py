"""What every tool shares: the config, the model caller (a Router over the configured models, or over a remote
endpoint's), the thread store and the engine. One per server; the tools keep no other state, so calls never
share anything."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from .. import metering
from ..config import Config
from ..consensus import remote
from ..consensus.agents import AgentSeats, with_agents
from ..consensus.background import Runs
from ..consensus.callers import LocalModels, ModelCaller
from ..consensus.runner import Engine
from ..store.db import Database
from ..store.threads import ThreadStore
from ..store.usage import UsageWriter


@dataclass
class State:
    cfg: Config
    models: ModelCaller
    store: ThreadStore
    engine: Engine = field(init=False)
    _owned: list[Any] = field(default_factory=list)
    # background runs: this process's (the gateway's /mcp), or None on stdio `accord mcp`, which hands them
    # to a running `accord serve` (mcp/background.py)
    runs: Runs | None = None
    # `mcp.endpoint`: its usage writer, until the endpoint's models are read (`ready`) and a router made over them
    _remote: UsageWriter | None = None
    _loading: asyncio.Lock = field(default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        self.engine = Engine(self.models, self.store)

    @classmethod
    def create(cls, cfg: Config, router: Any = None, db: Database | None = None, runs: Runs | None = None) -> State:
        """The in-process router (given, or made here); with `mcp.endpoint` set, a router of its own over the
        endpoint's models, made once they are read (`ready`)."""
        owned: list[Any] = []
        own_db = db is None
        db = db or Database.from_settings(cfg.settings)
        remote_writer = None
        if cfg.mcp.endpoint or router is None:  # its own router, recorded into the same store as `accord serve`'s
            writer = UsageWriter(db)
            owned.append(writer)  # closed after the router: flushes every row
            if cfg.mcp.endpoint:
                router, remote_writer = None, writer
            else:
                from ..router import Router

                router = Router(cfg)
                owned.insert(0, router)
                metering.attach(router, writer.add)
        inner = LocalModels(router, served_by=remote.shown(cfg.mcp.endpoint) if cfg.mcp.endpoint else None)
        models = with_agents(inner, cfg.agents)
        if own_db:
            owned.append(db)  # last: the usage writer flushes into it
        return cls(cfg, models, ThreadStore(db), _owned=owned, runs=runs, _remote=remote_writer)

    @property
    def _inner(self) -> LocalModels:
        inner = self.models.inner if isinstance(self.models, AgentSeats) else self.models
        assert isinstance(inner, LocalModels)
        return inner

    def retarget(self, cfg: Config, router: Any) -> None:
        """After a config reload: the tools call the new router (a remote endpoint's stays as it is)."""
        self.cfg = cfg
        if self._remote is None:
            self._inner.router = router
        if isinstance(self.models, AgentSeats):
            self.models.agents = cfg.agents

    async def ready(self) -> None:
        """With `mcp.endpoint`: read its models once, before the first tool uses them. Called by every tool, so
        an endpoint that is down when the server starts is read once it is up, and until then each call says
        it cannot be reached (UpstreamError) instead of the server failing to start."""
        if self._remote is None or self._inner.router is not None:
            return
        async with self._loading:
            if self._inner.router is None:
                router = await remote.router_for(self.cfg)
                metering.attach(router, self._remote.add)
                self._owned.insert(0, router)  # closed before the usage writer, which flushes its rows
                self._inner.router = router

    async def start(self) -> State:
        """The store migrates on first use and a remote endpoint is read on first use, so starts stay fast."""
        for obj in self._owned:
            if isinstance(obj, UsageWriter):
                await obj.start()
        return self

    async def close(self) -> None:
        for obj in self._owned:
            await obj.close()
