"""What every tool shares: the config, the model caller (in-process Router or remote endpoint), the thread
store and the engine. One per server; the tools keep no other state, so calls never share anything."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import metering
from ..config import Config
from ..consensus.agents import AgentSeats, with_agents
from ..consensus.background import Runs
from ..consensus.callers import LocalModels, ModelCaller, RemoteModels
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

    def __post_init__(self) -> None:
        self.engine = Engine(self.models, self.store)

    @classmethod
    def create(cls, cfg: Config, router: Any = None, db: Database | None = None, runs: Runs | None = None) -> State:
        """The in-process router (given, or made here), or the remote endpoint when `mcp.endpoint` is set."""
        owned: list[Any] = []
        own_db = db is None
        db = db or Database.from_settings(cfg.settings)
        if cfg.mcp.endpoint:  # the endpoint records its own usage
            models: ModelCaller = RemoteModels(cfg.mcp.endpoint, cfg.mcp.endpoint_key, cfg.consensus.timeout)
            owned.append(models)
        else:
            if router is None:  # `accord mcp`: its own router, recorded into the same store as `accord serve`'s
                from ..router import Router

                router = Router(cfg)
                owned.append(router)
                writer = UsageWriter(db)
                metering.attach(router, writer.add)
                owned.append(writer)  # closed after the router: flushes every row
            models = LocalModels(router)
        models = with_agents(models, cfg.agents)
        if own_db:
            owned.append(db)  # last: the usage writer flushes into it
        return cls(cfg, models, ThreadStore(db), _owned=owned, runs=runs)

    def retarget(self, cfg: Config, router: Any) -> None:
        """After a config reload: the tools call the new router (a remote endpoint stays as it is)."""
        self.cfg = cfg
        inner = self.models.inner if isinstance(self.models, AgentSeats) else self.models
        if isinstance(inner, LocalModels):
            inner.router = router
        if isinstance(self.models, AgentSeats):
            self.models.agents = cfg.agents

    async def start(self) -> State:
        """Load a remote endpoint's model list; the store migrates on first use, so starts stay fast."""
        inner = self.models.inner if isinstance(self.models, AgentSeats) else self.models
        if isinstance(inner, RemoteModels):
            await inner.load()
        for obj in self._owned:
            if isinstance(obj, UsageWriter):
                await obj.start()
        return self

    async def close(self) -> None:
        for obj in self._owned:
            await obj.close()
