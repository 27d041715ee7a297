"""Virtual keys: created shown once, stored as a SHA-256 hash with a visible prefix.

SHA-256 (not a slow password hash) is right here: keys carry 192 random bits, so there is nothing to brute
force, and the check runs on every request.
"""

from __future__ import annotations

import builtins
import hashlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

from sqlalchemy import func, select, update

from .. import budgets
from .db import Database
from .models import KeyClock, UsageDaily, VirtualKey

PREFIX = "sk-acc-"


def new_key() -> str:
    return PREFIX + secrets.token_urlsafe(24)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class KeyInfo:
    """A key as the request path sees it (never the key itself)."""

    id: str
    name: str
    prefix: str
    models: tuple[str, ...] | None
    max_budget: float | None
    spend: float
    rpm_limit: int | None
    tpm_limit: int | None
    expires_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime
    metadata: dict
    budget_duration: str | None = None  # the budget resets at each period's start (accord.budgets)
    max_price: float | None = None  # $ one request may cost at most (its worst case)
    period_spend: float | None = None  # spent in the current period, with a budget_duration (as read)
    period_start: datetime | None = None  # the start of the period period_spend is of
    version: int = 0  # key_clock's number at the key's last change (Store's cache keeps the newest it has seen)

    @classmethod
    def of(cls, row: VirtualKey, period_spend: float | None = None, period_start: datetime | None = None) -> KeyInfo:
        return cls(
            id=row.id, name=row.name, prefix=row.key_prefix, models=tuple(row.models) if row.models else None,
            max_budget=row.max_budget, spend=row.spend or 0.0, rpm_limit=row.rpm_limit, tpm_limit=row.tpm_limit,
            expires_at=_aware(row.expires_at), revoked_at=_aware(row.revoked_at), created_at=_aware(row.created_at),
            metadata=row.meta or {}, budget_duration=row.budget_duration, max_price=row.max_price,
            period_spend=period_spend, period_start=period_start, version=row.version or 0,
        )

    def account(self, at: datetime) -> str:
        """The ledger account its spend at `at` is counted in (its current period's, with a budget_duration)."""
        return budgets.account(self.id, self.budget_duration, self.created_at, at)

    def period(self, at: datetime) -> tuple[datetime, datetime] | None:
        return budgets.period(self.budget_duration, self.created_at, at) if self.budget_duration else None

    def public(self, at: datetime | None = None) -> dict[str, Any]:
        """LiteLLM's shape: `spend` is the current period's with a budget_duration (`total_spend`: all time)."""
        span = self.period(at or budgets.now())
        spend = self.spend
        if span is not None:  # a period that began after this was read has spent nothing yet
            spend = self.period_spend if self.period_start == span[0] and self.period_spend is not None else 0.0
        return {
            "id": self.id, "key_alias": self.name, "key_name": self.prefix + "…", "models": list(self.models or []),
            "max_budget": self.max_budget, "spend": spend, "total_spend": self.spend, "rpm_limit": self.rpm_limit,
            "tpm_limit": self.tpm_limit, "expires": _iso(self.expires_at), "revoked": _iso(self.revoked_at),
            "created_at": _iso(self.created_at), "metadata": self.metadata, "budget_duration": self.budget_duration,
            "budget_reset_at": _iso(span[1]) if span else None, "resets_at": _iso(span[1]) if span else None,
            "period_start": _iso(span[0]) if span else None, "max_price": self.max_price,
        }


async def period_spend(s: Any, key_id: str, first_day: str) -> float:
    """A key's spend since `first_day` (YYYY-MM-DD), from the daily rollup: a budget period's spend."""
    t = UsageDaily
    total = await s.scalar(select(func.sum(t.cost)).where(t.key_id == key_id, t.day >= first_day))
    return float(total or 0.0)


_When = TypeVar("_When", datetime, "datetime | None")  # a column's value in, the same kind out


def _aware(dt: _When) -> _When:
    """SQLite hands back naive datetimes; every time Accord stores is UTC."""
    if dt is not None and dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    return dt


def _iso(dt: datetime | None) -> str | None:
    return None if dt is None else dt.isoformat(timespec="seconds")


class Keys:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, *, name: str = "", models: list[str] | None = None, max_budget: float | None = None,
                     rpm_limit: int | None = None, tpm_limit: int | None = None,
                     expires_at: datetime | None = None, metadata: dict | None = None,
                     budget_duration: str | None = None, max_price: float | None = None) -> tuple[str, KeyInfo]:
        key = new_key()
        row = VirtualKey(
            id=uuid.uuid4().hex, name=name, key_hash=hash_key(key), key_prefix=key[: len(PREFIX) + 4],
            models=list(models) if models else None, max_budget=max_budget, spend=0.0, rpm_limit=rpm_limit,
            tpm_limit=tpm_limit, expires_at=expires_at, meta=metadata or None, budget_duration=budget_duration,
            max_price=max_price, created_at=budgets.now(),
        )
        async with self.db.session() as s, s.begin():
            s.add(row)
        return key, await self.find(row.id) or KeyInfo.of(row)

    async def _info(self, s, row: VirtualKey) -> KeyInfo:
        """A key as read, with its current period's spend (from the daily rollup) when it has a period."""
        if not row.budget_duration:
            return KeyInfo.of(row)
        start, _ = budgets.period(row.budget_duration, _aware(row.created_at), budgets.now())
        return KeyInfo.of(row, await period_spend(s, row.id, start.date().isoformat()), start)

    async def by_hash(self, key_hash: str) -> KeyInfo | None:
        async with self.db.session() as s:
            row = (await s.execute(select(VirtualKey).where(VirtualKey.key_hash == key_hash))).scalar_one_or_none()
            return await self._info(s, row) if row else None

    async def find(self, ref: str) -> KeyInfo | None:
        """A key by the key itself, its id, or its name (alias)."""
        async with self.db.session() as s:
            if ref.startswith(PREFIX):
                q = select(VirtualKey).where(VirtualKey.key_hash == hash_key(ref))
            else:
                q = select(VirtualKey).where((VirtualKey.id == ref) | (VirtualKey.name == ref))
            rows = (await s.execute(q)).scalars().all()
            if len(rows) > 1:
                raise LookupError(f"{len(rows)} keys are named `{ref}`; use the key id")
            return await self._info(s, rows[0]) if rows else None

    async def list(self, *, include_revoked: bool = False) -> list[KeyInfo]:
        async with self.db.session() as s:
            q = select(VirtualKey).order_by(VirtualKey.created_at.desc())
            if not include_revoked:
                q = q.where(VirtualKey.revoked_at.is_(None))
            return [await self._info(s, r) for r in (await s.execute(q)).scalars().all()]

    async def update(self, key_id: str, **changes: Any) -> KeyInfo | None:
        allowed = {"name", "models", "max_budget", "rpm_limit", "tpm_limit", "expires_at", "meta", "budget_duration",
                   "max_price"}
        if "metadata" in changes:  # key_fields' name for the column `meta`
            changes["meta"] = changes.pop("metadata")
        values = {k: v for k, v in changes.items() if k in allowed}
        async with self.db.session() as s, s.begin():
            row = await s.get(VirtualKey, key_id)
            if row is None:
                return None
            for k, v in values.items():
                setattr(row, k, v)
            row.updated_at = datetime.now(timezone.utc)
            row.version = await _tick(s)
            return await self._info(s, row)

    async def revoke(self, key_id: str) -> bool:
        async with self.db.session() as s, s.begin():
            version = await _tick(s)  # taken first: the clock row's lock orders the whole change
            res = await s.execute(update(VirtualKey).where(VirtualKey.id == key_id, VirtualKey.revoked_at.is_(None))
                                  .values(revoked_at=datetime.now(timezone.utc), updated_at=datetime.now(timezone.utc),
                                          version=version))
            return bool(res.rowcount)  # type: ignore[attr-defined]  # an UPDATE's Result is a CursorResult

    async def delete(self, key_id: str) -> bool:
        """LiteLLM's /key/delete: Accord revokes (usage keeps pointing at the key)."""
        return await self.revoke(key_id)

    # ------------------------------------------------------------------ what a running instance's cache asks
    async def clock(self) -> int:
        """The number of the newest change to any key: a cache filled after reading it misses none after it."""
        async with self.db.session() as s:
            return int(await s.scalar(select(KeyClock.version).where(KeyClock.id == 1)) or 0)

    async def changed(self, since: int, limit: int = 1000) -> Sequence[tuple[str, KeyInfo]]:
        """Keys changed after change number `since` (up to `limit`, oldest change first), with their hashes."""
        async with self.db.session() as s:
            q = select(VirtualKey).where(VirtualKey.version > since).order_by(VirtualKey.version).limit(limit)
            return [(r.key_hash, await self._info(s, r)) for r in (await s.execute(q)).scalars().all()]

    async def spends(self, keys: Sequence[KeyInfo], at: datetime) -> dict[str, float]:
        """What each key has spent as the database holds it, by ledger account (its period's at `at`, with a
        budget_duration): other instances' spend, for the budgets of keys this one has cached. A few queries for
        any number of keys (one per CHUNK keys, and per period start)."""
        out: dict[str, float] = {}
        whole = [k.id for k in keys if not k.budget_duration]
        periods: dict[str, builtins.list[str]] = {}  # first day -> key ids (`list` is Keys.list in here)
        for k in keys:
            if k.budget_duration:
                start, _ = budgets.period(k.budget_duration, k.created_at, at)
                periods.setdefault(start.date().isoformat(), []).append(k.id)
        async with self.db.session() as s:
            for i in range(0, len(whole), CHUNK):
                q = select(VirtualKey.id, VirtualKey.spend).where(VirtualKey.id.in_(whole[i:i + CHUNK]))
                out.update((key_id, float(spend or 0.0)) for key_id, spend in (await s.execute(q)).all())
            for day, ids in periods.items():
                for i in range(0, len(ids), CHUNK):
                    t = UsageDaily
                    q = (select(t.key_id, func.sum(t.cost)).where(t.key_id.in_(ids[i:i + CHUNK]), t.day >= day)
                         .group_by(t.key_id))
                    out.update((f"{key_id}/{day}", float(total or 0.0)) for key_id, total in (await s.execute(q)).all())
        return out


CHUNK = 500  # ids in one IN (...): well under SQLite's and asyncpg's parameter limits


async def _tick(s: Any) -> int:
    """The next change number, in the caller's transaction: the clock row stays locked until it commits, so
    changes become visible in the order of their numbers (on SQLite every write transaction is alone anyway)."""
    await s.execute(update(KeyClock).where(KeyClock.id == 1).values(version=KeyClock.version + 1))
    return int(await s.scalar(select(KeyClock.version).where(KeyClock.id == 1)))
