"""Usage records: buffered in memory, written in batches off the request path, summarized from a rollup.

A request only appends a dict to a list. A background task writes the list every `interval` (0.5 s), so a hard
kill loses at most that much; shutdown flushes everything. When the database is away, rows wait in the
buffer (bounded) and are written when it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from operator import itemgetter
from typing import Any

from sqlalchemy import func, select

from .. import budgets, metrics
from .db import Database
from .keys import CHUNK
from .ledger import Ledger
from .models import UsageDaily, UsageRecord, VirtualKey

log = logging.getLogger("accord.usage")

SLICE = 100  # rows per INSERT statement

COLUMNS = ("created_at", "request_id", "key_id", "route", "model", "deployment", "provider", "prompt_tokens",
           "completion_tokens", "reasoning_tokens", "cached_tokens", "cache_write_tokens", "cost", "latency_ms", "ttft_ms", "status", "error_type",
           "stream", "thread_id")

# every column after created_at, with the value a row without it gets (the model's defaults)
_DEFAULTS: dict[str, Any] = {"request_id": "", "route": "chat", "model": "", "prompt_tokens": 0,
                             "completion_tokens": 0, "reasoning_tokens": 0, "cached_tokens": 0,
                             "cache_write_tokens": 0, "cost": 0.0, "latency_ms": 0.0, "status": 200, "stream": False}
_REST = tuple((c, _DEFAULTS.get(c)) for c in COLUMNS[1:])
_PLACEHOLDERS = {"qmark": lambda n: "?", "format": lambda n: "%s", "numeric": lambda n: f":{n}",
                 "numeric_dollar": lambda n: f"${n}"}
DAILY = ("requests", "errors", "prompt_tokens", "completion_tokens", "reasoning_tokens", "cost", "latency_ms",
         "cached_tokens", "cache_write_tokens")  # the rollup's sums, in the order the writer accumulates them
_statements: dict[str, tuple[str, str, str, Any]] = {}


def _sqlite_datetime(d: datetime) -> str:
    """What SQLAlchemy's DateTime stores on SQLite (naive text, always six fractional digits), so rows written
    here read back through the models like any other."""
    return d.isoformat(" ", "microseconds")[:26]


_rest = itemgetter(*COLUMNS[1:])


def _values(r: dict[str, Any], created: Any) -> tuple:
    """A row as the INSERT's tuple: every column read in one call when the row has them all (as metering.row
    builds it), else each one with its default."""
    try:
        return (created(r["created_at"]), *_rest(r))
    except KeyError:
        get = r.get
        return (created(r["created_at"]), *[get(c, d) for c, d in _REST])


def _statements_for(dialect: Any) -> tuple[str, str, str, Any]:
    """The writer's three statements in the driver's own parameter style -- the usage INSERT, the daily rollup's
    upsert (INSERT ... ON CONFLICT DO UPDATE: the same text on SQLite and PostgreSQL) and the key spend UPDATE --
    and how created_at is passed. Each goes through one executemany per flush, however many keys and days it
    holds: a statement per key built and compiled by SQLAlchemy on the event loop cost ~0.3 ms each, so a flush
    of the hundreds of distinct keys of a key flood held the loop for most of its interval."""
    key = f"{dialect.name}:{dialect.paramstyle}"
    got = _statements.get(key)
    if got is None:
        mark = _PLACEHOLDERS.get(dialect.paramstyle)
        if mark is None:
            raise RuntimeError(f"usage: unsupported driver parameter style {dialect.paramstyle!r}")
        marks = ", ".join(mark(i + 1) for i in range(len(COLUMNS)))
        insert = f"INSERT INTO {UsageRecord.__tablename__} ({', '.join(COLUMNS)}) VALUES ({marks})"
        t = UsageDaily.__tablename__
        cols = ("day", "key_id", "model", *DAILY)
        upsert = (f"INSERT INTO {t} ({', '.join(cols)}) VALUES ({', '.join(mark(i + 1) for i in range(len(cols)))}) "
                  f"ON CONFLICT (day, key_id, model) DO UPDATE SET "
                  + ", ".join(f"{c} = {t}.{c} + excluded.{c}" for c in DAILY))
        spend = (f"UPDATE {VirtualKey.__tablename__} SET spend = COALESCE(spend, 0) + {mark(1)} "
                 f"WHERE id = {mark(2)}")
        created = _sqlite_datetime if dialect.name == "sqlite" else (lambda d: d)
        got = _statements[key] = (insert, upsert, spend, created)
    return got


class UsageWriter:
    def __init__(self, db: Database, *, interval: float = 0.5, max_buffer: int = 500_000,
                 ledger: Ledger | None = None) -> None:
        self.db = db
        self.ledger = ledger  # told of each key's spend the moment it is committed
        self.interval = interval
        self.max_buffer = max_buffer
        self.buffer: list[dict[str, Any]] = []
        self.writing = 0  # rows of the batch being written now
        self.dropped = 0
        self.written = 0
        self.failing_since: float | None = None
        self._task: asyncio.Task | None = None
        self._closing = False
        self._wake: asyncio.Event | None = None

    def add(self, row: dict[str, Any]) -> None:
        """Called on the request path: O(1), no I/O."""
        if len(self.buffer) >= self.max_buffer:
            self.dropped += 1
            return
        self.buffer.append(row)

    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._loop(), name="accord-usage-writer")

    async def _loop(self) -> None:
        """Never cancelled mid-write (a cancelled commit could be written twice); stop() wakes it instead."""
        assert self._wake is not None
        while not self._closing:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            await self.flush()

    @property
    def pending(self) -> int:
        """Rows not yet on disk: waiting, and in the batch being written (a locked database holds a batch for
        seconds)."""
        return len(self.buffer) + self.writing

    async def flush(self) -> int:
        if not self.buffer:
            return 0
        rows, self.buffer = self.buffer, []
        self.writing = len(rows)
        try:
            await self._write(rows)
        except asyncio.CancelledError:
            self.buffer[:0] = rows
            raise
        except Exception as e:
            self.buffer[:0] = rows[: self.max_buffer]  # keep them for the next try, oldest first
            metrics.usage_flush_failed()
            if self.failing_since is None:
                self.failing_since = asyncio.get_running_loop().time()
                log.warning("usage: cannot write to the database (%s); keeping %d rows in memory until it is back",
                            e.__class__.__name__, len(self.buffer))
            return 0
        finally:
            self.writing = 0
        if self.failing_since is not None:
            log.warning("usage: database is back; wrote the buffered rows")
            self.failing_since = None
        self.written += len(rows)
        return len(rows)

    async def _write(self, rows: list[dict[str, Any]]) -> None:
        """One transaction. The rows go in as tuples through the driver's own executemany (one prepared INSERT,
        one call to the database thread per slice): SQLAlchemy's bulk insert did per-row bind processing on the
        event loop's thread, ~15% of a request's CPU at c = 64. A yield between slices bounds each stall. The
        daily rollup and the keys' spend follow the same way: one executemany each, in key order (so instances
        sharing a PostgreSQL database lock rows in the same order), and the new totals read back a chunk of keys
        per query, however many distinct keys the batch holds."""
        daily: dict[tuple[Any, str, str], list[float]] = {}
        spend: dict[str, float] = defaultdict(float)
        await self.db.start()  # one check once started; a CLI or `accord mcp` opens the database only when needed
        async with self.db.session() as s, s.begin():
            conn = await s.connection()
            insert_sql, upsert_sql, spend_sql, created = _statements_for(conn.dialect)
            for i in range(0, len(rows), SLICE):
                part = rows[i:i + SLICE]
                values = []
                for r in part:
                    get = r.get
                    key_id = get("key_id")
                    model = get("model") or ""
                    cost = get("cost", 0.0)
                    k = (r["created_at"].date(), key_id or "", model)
                    acc = daily.get(k)
                    if acc is None:
                        acc = daily[k] = [0, 0, 0, 0, 0, 0.0, 0.0, 0, 0]
                    acc[0] += 1
                    acc[1] += 1 if get("status", 200) >= 400 else 0
                    acc[2] += get("prompt_tokens", 0)
                    acc[3] += get("completion_tokens", 0)
                    acc[4] += get("reasoning_tokens", 0)
                    acc[5] += cost
                    acc[6] += get("latency_ms", 0.0)
                    acc[7] += get("cached_tokens", 0)
                    acc[8] += get("cache_write_tokens", 0)
                    if key_id and cost:
                        spend[get("account") or key_id] += cost
                    values.append(_values(r, created))
                await conn.exec_driver_sql(insert_sql, values)
                await asyncio.sleep(0)
            await conn.exec_driver_sql(upsert_sql, [
                (day.isoformat(), key_id, model, int(a[0]), int(a[1]), int(a[2]), int(a[3]), int(a[4]), float(a[5]),
                 float(a[6]), int(a[7]), int(a[8])) for (day, key_id, model), a in sorted(daily.items())])
            per_key: dict[str, float] = defaultdict(float)
            for acct, amount in spend.items():
                per_key[budgets.period_of(acct)[0]] += amount
            if per_key:
                await conn.exec_driver_sql(spend_sql, [(float(per_key[k]), k) for k in sorted(per_key)])
            totals: dict[str, float] = {}
            if spend and self.ledger is not None:  # the rows are locked by the updates: these are the new totals
                budgeted = self.ledger.budgeted  # only the keys with a budget need theirs
                mine = {a: v for a, v in spend.items() if budgets.period_of(a)[0] in budgeted} if budgeted else {}
                if mine:
                    totals = await _totals(s, {k: v for k, v in per_key.items() if k in budgeted}, mine)
        if self.ledger is not None:
            self.ledger.flushed(spend, totals)  # until now it was pending (perhaps counted twice), never in neither

    async def stop(self) -> None:
        """Flush everything (SIGTERM loses nothing); give up only after a few tries against a dead database."""
        self._closing = True
        if self._task is not None:
            assert self._wake is not None
            self._wake.set()
            await self._task
            self._task = None
        for _ in range(3):
            if not self.buffer:
                return
            await self.flush()
            if self.buffer:
                await asyncio.sleep(0.5)
        if self.buffer:
            log.error("usage: %d rows could not be written before shutdown", len(self.buffer))

    close = stop


async def _totals(s: Any, per_key: dict[str, float], spend: dict[str, float]) -> dict[str, float]:
    """What each account of the batch now totals, for the ledger: a key's lifetime spend (`virtual_keys.spend`),
    or its period's (the sum of its days in the rollup, this batch's included). A query per CHUNK keys (and per
    period start), not one per key. Accounts of keys that no longer exist get none."""
    ids = sorted(per_key)
    lifetime: dict[str, float] = {}
    for i in range(0, len(ids), CHUNK):
        q = select(VirtualKey.id, VirtualKey.spend).where(VirtualKey.id.in_(ids[i:i + CHUNK]))
        lifetime.update((k, float(v or 0.0)) for k, v in (await s.execute(q)).all())
    totals: dict[str, float] = {}
    periods: dict[str, list[str]] = defaultdict(list)  # first day -> the accounts' key ids
    for acct in spend:
        key_id, first_day = budgets.period_of(acct)
        if key_id not in lifetime:
            continue
        if first_day is None:
            totals[acct] = lifetime[key_id]
        else:
            periods[first_day].append(key_id)
    t = UsageDaily
    for first_day, keys in periods.items():
        for i in range(0, len(keys), CHUNK):
            part = keys[i:i + CHUNK]
            q = (select(t.key_id, func.sum(t.cost)).where(t.key_id.in_(part), t.day >= first_day)
                 .group_by(t.key_id))
            got = {k: float(v or 0.0) for k, v in (await s.execute(q)).all()}
            for key_id in part:
                totals[f"{key_id}/{first_day}"] = got.get(key_id, 0.0)
    return totals


# ----------------------------------------------------------------------------------------------- queries
def _row(r: UsageRecord) -> dict[str, Any]:
    created = r.created_at if r.created_at.tzinfo else r.created_at.replace(tzinfo=timezone.utc)
    return {
        "id": r.id, "request_id": r.request_id, "startTime": created.isoformat(timespec="milliseconds"),
        "key_id": r.key_id, "route": r.route, "model": r.model, "deployment": r.deployment, "provider": r.provider,
        "prompt_tokens": r.prompt_tokens, "completion_tokens": r.completion_tokens,
        "reasoning_tokens": r.reasoning_tokens, "total_tokens": r.prompt_tokens + r.completion_tokens,
        "cached_tokens": r.cached_tokens or 0, "cache_write_tokens": r.cache_write_tokens or 0,
        "spend": r.cost, "latency_ms": r.latency_ms, "ttft_ms": r.ttft_ms, "status": r.status,
        "error_type": r.error_type, "stream": r.stream, "thread_id": r.thread_id,
    }


async def list_usage(db: Database, *, limit: int = 100, before_id: int | None = None, key_id: str | None = None,
                     model: str | None = None, status: str | None = None, start: datetime | None = None,
                     end: datetime | None = None, thread_id: str | None = None,
                     route: str | None = None) -> tuple[list[dict], int | None]:
    """Newest first, keyset-paginated by id: page N costs the same as page 1 at any table size."""
    q = select(UsageRecord).order_by(UsageRecord.id.desc()).limit(limit + 1)
    if thread_id:
        q = q.where(UsageRecord.thread_id == thread_id)
    if route:
        q = q.where(UsageRecord.route == route)
    if before_id is not None:
        q = q.where(UsageRecord.id < before_id)
    if key_id:
        q = q.where(UsageRecord.key_id == key_id)
    if model:
        q = q.where(UsageRecord.model == model)
    if status == "error":
        q = q.where(UsageRecord.status >= 400)
    elif status == "ok":
        q = q.where(UsageRecord.status < 400)
    elif status and status.isdigit():
        q = q.where(UsageRecord.status == int(status))
    if start is not None:
        q = q.where(UsageRecord.created_at >= start)
    if end is not None:
        q = q.where(UsageRecord.created_at < end)
    async with db.session() as s:
        if start is not None or end is not None:
            lo, hi = await _id_window(s, start, end)
            if lo is None or hi is None:
                return [], None
            q = q.where(UsageRecord.id >= lo, UsageRecord.id <= hi)
        rows = list((await s.execute(q)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return [_row(r) for r in rows], (rows[-1].id if more and rows else None)


ID_SLACK = timedelta(minutes=1)  # rows are written in time order; instances sharing a database interleave a little


async def _id_window(s, start: datetime | None, end: datetime | None) -> tuple[int | None, int | None]:
    """The ids a time range spans, found by two index seeks, so a range query walks the primary key in order
    instead of sorting every row of the range (seconds at a million rows). The exact times are still checked."""
    t = UsageRecord
    lo_q = select(t.id).order_by(t.created_at).limit(1)
    hi_q = select(t.id).order_by(t.created_at.desc()).limit(1)
    if start is not None:
        lo_q = lo_q.where(t.created_at >= start - ID_SLACK)
    if end is not None:
        hi_q = hi_q.where(t.created_at < end + ID_SLACK)
    lo = await s.scalar(lo_q)
    hi = await s.scalar(hi_q)
    return lo, hi


GROUPS = {"day": UsageDaily.day, "model": UsageDaily.model, "key": UsageDaily.key_id}


async def summary(db: Database, *, group_by: str = "day", start: str | None = None, end: str | None = None,
                  key_id: str | None = None, model: str | None = None,
                  thread_id: str | None = None) -> list[dict[str, Any]]:
    """Totals per day, model or key from the rollup (dates as YYYY-MM-DD, end exclusive); for one thread
    (what a consensus cost), from its own rows, also per route."""
    if thread_id:
        return await _thread_summary(db, thread_id, group_by)
    col = GROUPS[group_by]
    t = UsageDaily
    q = select(col.label("group"), func.sum(t.requests), func.sum(t.errors), func.sum(t.prompt_tokens),
               func.sum(t.completion_tokens), func.sum(t.reasoning_tokens), func.sum(t.cost),
               func.sum(t.latency_ms), func.sum(t.cached_tokens), func.sum(t.cache_write_tokens)
               ).group_by(col).order_by(col)
    if start:
        q = q.where(t.day >= start)
    if end:
        q = q.where(t.day < end)
    if key_id is not None:
        q = q.where(t.key_id == key_id)
    if model:
        q = q.where(t.model == model)
    async with db.session() as s:
        result = (await s.execute(q)).all()
    out = []
    for g, req, err, pt, ct, rt, cost, lat, cached, written in map(tuple, result):
        req = int(req or 0)
        out.append({group_by: g, "requests": req, "errors": int(err or 0), "prompt_tokens": int(pt or 0),
                    "completion_tokens": int(ct or 0), "reasoning_tokens": int(rt or 0),
                    **cache_fields(int(pt or 0), int(cached or 0), int(written or 0)),
                    "cost": round(float(cost or 0), 6), "avg_latency_ms": round(float(lat or 0) / req, 1) if req else 0})
    return out


def cache_fields(prompt: int, cached: int, written: int) -> dict[str, Any]:
    """Cached tokens and the cache-hit rate: the share of input tokens read from the provider's cache."""
    return {"cached_tokens": cached, "cache_write_tokens": written,
            "cache_hit_rate": round(cached / prompt, 4) if prompt else 0.0}



async def _thread_summary(db: Database, thread_id: str, group_by: str) -> list[dict[str, Any]]:
    t = UsageRecord
    q = select(t.created_at, t.key_id, t.model, t.route, t.status, t.prompt_tokens, t.completion_tokens,
               t.reasoning_tokens, t.cost, t.latency_ms).where(t.thread_id == thread_id)
    async with db.session() as s:
        rows = (await s.execute(q)).all()
    groups: dict[Any, list] = {}
    for created, key_id, model, route, status, pt, ct, rt, cost, lat in map(tuple, rows):
        g = {"day": created.date().isoformat(), "model": model, "key": key_id, "route": route}[group_by]
        acc = groups.setdefault(g, [0, 0, 0, 0, 0, 0.0, 0.0])
        acc[0] += 1
        acc[1] += 1 if status >= 400 else 0
        acc[2] += pt
        acc[3] += ct
        acc[4] += rt
        acc[5] += cost
        acc[6] += lat
    return [{group_by: g, "requests": a[0], "errors": a[1], "prompt_tokens": a[2], "completion_tokens": a[3],
             "reasoning_tokens": a[4], "cost": round(a[5], 6), "avg_latency_ms": round(a[6] / a[0], 1)}
            for g, a in sorted(groups.items(), key=lambda kv: str(kv[0]))]


def now() -> datetime:
    return datetime.now(timezone.utc)


async def recent_points(db: Database, *, since: datetime, limit: int) -> list[tuple]:
    """Newest first, only the columns the dashboard's charts need, bounded however large the table grows:
    (created_at, key_id, model, status, latency_ms, prompt_tokens, completion_tokens, cost, cached_tokens)."""
    t = UsageRecord
    q = (select(t.created_at, t.key_id, t.model, t.status, t.latency_ms, t.prompt_tokens, t.completion_tokens,
                t.cost, t.cached_tokens).where(t.created_at >= since).order_by(t.created_at.desc()).limit(limit))
    async with db.session() as s:
        return [tuple(r) for r in (await s.execute(q)).all()]
