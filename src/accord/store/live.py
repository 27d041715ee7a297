"""The running server's link to the database (the gateway's keys and usage, the dashboard's, /mcp's threads): opened
in the background so the server is healthy at once. Built once by accord.app.

Until the database is open (and whenever it is away) usage rows wait in memory. Virtual keys need it: a key
never seen before waits for it briefly, then gets a clear 503; a key already seen keeps its last known state
while the database is away.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from typing import TYPE_CHECKING, Any

from .. import budgets, metrics
from ..errors import AccordError
from .ledger import Ledger

if TYPE_CHECKING:
    from ..config import Settings
    from .db import Database
    from .keys import KeyInfo, Keys
    from .responses import Responses
    from .signed_out import SignedOutSessions
    from .usage import UsageWriter

log = logging.getLogger("accord.store")
KEY_TTL = 1.0  # seconds a key lookup is trusted: a revoked key stops working everywhere within this
RETRY_OPEN = 2.0


class StoreUnavailable(AccordError):
    status = 503
    type = "service_unavailable"
    code = "store_unavailable"


class Store:
    def __init__(self, settings: Settings, ledger: Ledger | None = None) -> None:
        self.settings = settings
        self.ledger = ledger or Ledger()  # budgets: spent and reserved per key, the one place they are counted
        self.db: Database | None = None
        self.usage: UsageWriter | None = None
        self.keys: Keys | None = None
        self.signed_out: SignedOutSessions | None = None  # dashboard sessions ended by signing out
        self.responses: Responses | None = None  # POST /v1/responses answers, for previous_response_id
        self.ready = asyncio.Event()
        self.error: str | None = None
        self._early: list[dict[str, Any]] = []
        self._task: asyncio.Task | None = None
        self._cache: dict[str, tuple[KeyInfo | None, float]] = {}
        self._periods: dict[str, tuple[str, Any]] = {}  # key id -> (budget_duration, anchor), for keys with one

    def open_in_background(self) -> None:
        self._task = asyncio.create_task(self._open(), name="accord-store-open")

    async def _open(self) -> None:
        # imported in a thread: SQLAlchemy's import is the slowest part of start-up, and is not needed to serve
        db_mod = await asyncio.to_thread(importlib.import_module, "accord.store.db")
        usage_mod = await asyncio.to_thread(importlib.import_module, "accord.store.usage")
        keys_mod = await asyncio.to_thread(importlib.import_module, "accord.store.keys")
        signed_out_mod = await asyncio.to_thread(importlib.import_module, "accord.store.signed_out")
        responses_mod = await asyncio.to_thread(importlib.import_module, "accord.store.responses")
        while True:
            db = db_mod.Database.from_settings(self.settings)
            try:
                await db.start()
                break
            except Exception as e:
                await db.close()
                if self.error is None:
                    log.warning("store: cannot open the database (%s: %s); serving anyway, usage kept in memory",
                                e.__class__.__name__, str(e).split("\n")[0][:200])
                self.error = f"{e.__class__.__name__}"
                await asyncio.sleep(RETRY_OPEN)
        self.db = db
        self.keys = keys_mod.Keys(db)
        self.signed_out = signed_out_mod.SignedOutSessions(db)
        self.responses = responses_mod.Responses(db)
        self.usage = usage_mod.UsageWriter(db, ledger=self.ledger)
        for row in self._early:
            self.usage.add(row)
        self._early.clear()
        await self.usage.start()
        self.error = None
        self.ready.set()

    async def wait(self, timeout: float = 5.0) -> None:
        if self.ready.is_set():
            return
        try:
            await asyncio.wait_for(self.ready.wait(), timeout)
        except asyncio.TimeoutError:
            raise StoreUnavailable(f"the database is not available ({self.error or 'still opening'}); "
                                   "virtual keys cannot be checked right now") from None

    def record(self, row: dict[str, Any]) -> None:
        """A usage row: its cost is charged to its key at once (a budget sees it before it is written)."""
        key_id = row.get("key_id")
        if key_id and key_id in self._periods:  # counted in the period its row falls in (accord.budgets)
            duration, anchor = self._periods[key_id]
            row["account"] = budgets.account(key_id, duration, anchor, row["created_at"])
        if key_id and row.get("cost"):
            self.ledger.charge(row.get("account") or key_id, row["cost"])
        metrics.usage_row(row)
        if self.usage is not None:
            self.usage.add(row)
        elif len(self._early) < 100_000:
            self._early.append(row)

    async def key(self, presented: str) -> KeyInfo | None:
        """Look a presented virtual key up, trusting an answer for KEY_TTL seconds."""
        from ..store.keys import hash_key

        h = hash_key(presented)
        now = asyncio.get_running_loop().time()
        hit = self._cache.get(h)
        if hit is not None and now - hit[1] < KEY_TTL:
            return hit[0]
        await self.wait()
        assert self.keys is not None
        try:
            info = await self.keys.by_hash(h)
        except Exception as e:
            if hit is not None:
                # the database went away: a key this instance has already seen keeps its last known state
                # (a revoked key stays refused) and is asked about again after KEY_TTL, not on every request
                self._cache[h] = (hit[0], now)
                return hit[0]
            raise StoreUnavailable(f"the database is not available ({e.__class__.__name__}); "
                                   "virtual keys cannot be checked right now") from None
        if info is not None:
            if info.budget_duration:
                self._periods[info.id] = (info.budget_duration, info.created_at)
                self.ledger.observe(info.account(info.period_start or budgets.now()), info.period_spend or 0.0)
            else:
                self._periods.pop(info.id, None)
                self.ledger.observe(info.id, info.spend)
        if len(self._cache) > 50_000:
            self._cache.clear()
        self._cache[h] = (info, now)
        return info

    def forget(self) -> None:
        """Drop cached keys (after this instance changed one)."""
        self._cache.clear()

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self.usage is not None:
            await self.usage.stop()
        if self.db is not None:
            await self.db.close()
