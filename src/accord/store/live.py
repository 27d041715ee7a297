"""The running server's link to the database (the gateway's keys and usage, the dashboard's, /mcp's threads): opened
in the background so the server is healthy at once. Built once by accord.app.

Until the database is open (and whenever it is away) usage rows wait in memory. Virtual keys need it: a key
never seen before waits for it briefly, then gets a clear 503; a key already seen keeps its last known state
while the database is away.

A key once looked up is served from memory (up to MAX_KEYS, least recently used dropped first). Once every
KEY_TTL seconds a background refresh asks the database what changed since it last asked -- the keys whose
change number (store/keys.py, key_clock) is above the newest it has seen, usually none -- and reads the spend of
the cached keys that have a budget, so a key revoked or changed on any instance, and spend made through other
instances, reach this one within about KEY_TTL, without a query per request.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections import OrderedDict, deque
from collections.abc import Callable
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
KEY_TTL = 1.0  # seconds between refreshes: a revoked key stops working everywhere within about this
MAX_KEYS = 50_000  # keys one instance keeps in memory (more are looked up again when used)
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
        # key hash -> (the key or None (no such key); when read; kept current by the refresh), least recent first.
        # An entry the refresh does not keep current (a "no such key", or read before the refresh could vouch
        # for it) is asked about again after KEY_TTL, as every entry was before the refresh existed.
        self._cache: OrderedDict[str, tuple[KeyInfo | None, float, bool]] = OrderedDict()
        self._budgeted: dict[str, KeyInfo] = {}  # the cached keys with a max_budget: their spend is refreshed
        self._mark: int | None = None  # the newest key change number the cache has caught up with
        self.refreshes = 0  # refreshes done
        # what the latest refreshes saw change (key hash -> change number; None: the first, which saw nothing),
        # to tell whether a lookup read while they ran missed a change they passed by (its key not cached yet)
        self._recent: deque[dict[str, int] | None] = deque(maxlen=8)
        self._watcher: asyncio.Task | None = None
        self.refresh_failing_since: float | None = None  # loop time the key refresh began failing (None: working)
        self._periods: dict[str, tuple[str, Any]] = {}  # key id -> (budget_duration, anchor), for keys with one
        # store/keys.py's hash_key, once that module is imported (with SQLAlchemy, off the loop, by _open): an
        # import statement in `key` cost ~1 µs on every request
        self._hash_key: Callable[[str], str] | None = None

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
        self._hash_key = keys_mod.hash_key
        self.signed_out = signed_out_mod.SignedOutSessions(db)
        self.responses = responses_mod.Responses(db)
        self.usage = usage_mod.UsageWriter(db, ledger=self.ledger)
        for row in self._early:
            self.usage.add(row)
        self._early.clear()
        await self.usage.start()
        self.error = None
        self._watcher = asyncio.create_task(self._watch(), name="accord-key-refresh")
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
        """Look a presented virtual key up: a known key from memory (kept current by the refresh), an unknown
        one from the database (a "no such key" is trusted for KEY_TTL seconds)."""
        if self._hash_key is None:  # not open yet, so nothing is cached
            await self.wait()
            assert self._hash_key is not None
        h = self._hash_key(presented)
        now = asyncio.get_running_loop().time()
        hit = self._cache.get(h)
        if hit is not None and ((hit[0] is not None and hit[2]) or now - hit[1] < KEY_TTL):
            self._cache.move_to_end(h)
            return hit[0]
        await self.wait()
        assert self.keys is not None
        seen = self.refreshes
        try:
            info = await self.keys.by_hash(h)
        except Exception as e:
            if hit is not None:
                # the database went away: a key this instance has already seen keeps its last known state
                # (a revoked key stays refused) and is asked about again after KEY_TTL, not on every request
                self._cache[h] = (hit[0], now, False)
                return hit[0]
            raise StoreUnavailable(f"the database is not available ({e.__class__.__name__}); "
                                   "virtual keys cannot be checked right now") from None
        self._observe(info)
        self._put(h, info, now, self._vouched(h, info, seen))
        return info

    def _vouched(self, h: str, info: KeyInfo | None, seen: int) -> bool:
        """Whether the refresh will keep a lookup current: read once it had a mark, with no change to this key
        newer than the read passed by a refresh that ran meanwhile (it was not cached to be updated then)."""
        ran = self.refreshes - seen
        if self._mark is None or ran > len(self._recent):
            return False
        version = info.version if info is not None else -1
        return all(c is not None and c.get(h, -1) <= version for c in list(self._recent)[len(self._recent) - ran:])

    def _observe(self, info: KeyInfo | None) -> None:
        """A key as read: its budget period, and the spend the database holds for it, to the ledger."""
        if info is None:
            return
        self.ledger.budget(info.id, info.max_budget is not None)
        if info.budget_duration:
            self._periods[info.id] = (info.budget_duration, info.created_at)
            self.ledger.observe(info.account(info.period_start or budgets.now()), info.period_spend or 0.0)
        else:
            self._periods.pop(info.id, None)
            self.ledger.observe(info.id, info.spend)

    def _put(self, h: str, info: KeyInfo | None, now: float, current: bool) -> None:
        self._cache[h] = (info, now, current)
        self._cache.move_to_end(h)
        if info is not None and info.max_budget is not None:
            self._budgeted[h] = info
        else:
            self._budgeted.pop(h, None)
        while len(self._cache) > MAX_KEYS:
            old, _ = self._cache.popitem(last=False)
            self._budgeted.pop(old, None)

    async def _watch(self) -> None:
        """Refresh the cached keys every KEY_TTL seconds while the server runs; a failure (the database away)
        keeps every cached key as it was, and is tried again next time."""
        while True:
            try:
                await self.refresh()
                if self.refresh_failing_since is not None:
                    log.info("store: virtual keys are refreshed again")
                self.refresh_failing_since = None
            except Exception as e:
                if self.refresh_failing_since is None:
                    log.warning("store: cannot refresh virtual keys (%s); cached keys keep their last state",
                                e.__class__.__name__)
                    self.refresh_failing_since = asyncio.get_running_loop().time()
            await asyncio.sleep(KEY_TTL)

    async def refresh(self) -> None:
        """Catch the cache up with the database: the keys changed since the last refresh (a few rows, usually
        none), and the spend of cached keys with a budget (made through other instances, when there is no Redis
        to share it)."""
        assert self.keys is not None
        if self._mark is None:
            self._mark = await self.keys.clock()  # nothing is cached yet: only later changes matter
            self._recent.append(None)
            self.refreshes += 1
            return
        seen: dict[str, int] = {}
        try:
            while True:
                rows = await self.keys.changed(self._mark, limit=1000)
                now = asyncio.get_running_loop().time()
                for h, info in rows:
                    self._mark = max(self._mark, info.version)
                    seen[h] = info.version
                    hit = self._cache.get(h)
                    if hit is not None and (hit[0] is None or hit[0].version < info.version):
                        self._cache[h] = (info, now, True)
                        if info.max_budget is not None:
                            self._budgeted[h] = info
                        else:
                            self._budgeted.pop(h, None)
                        self._observe(info)
                if len(rows) < 1000:
                    break
        finally:  # counted even when it failed part-way: the mark may have moved
            self._recent.append(seen)
            self.refreshes += 1
        if self._budgeted:
            for account, spend in (await self.keys.spends(list(self._budgeted.values()), budgets.now())).items():
                self.ledger.observe(account, spend)

    def forget(self) -> None:
        """Drop cached keys (after this instance changed one: it sees its own change at once)."""
        self._cache.clear()
        self._budgeted.clear()

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self._watcher is not None:
            self._watcher.cancel()
        if self.usage is not None:
            await self.usage.stop()
        if self.db is not None:
            await self.db.close()
