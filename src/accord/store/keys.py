"""Virtual keys: created shown once, stored as a SHA-256 hash with a visible prefix.

SHA-256 (not a slow password hash) is right here: keys carry 192 random bits, so there is nothing to brute
force, and the check runs on every request.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select, update

from .db import Database
from .models import VirtualKey

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

    @classmethod
    def of(cls, row: VirtualKey) -> KeyInfo:
        return cls(
            id=row.id, name=row.name, prefix=row.key_prefix, models=tuple(row.models) if row.models else None,
            max_budget=row.max_budget, spend=row.spend or 0.0, rpm_limit=row.rpm_limit, tpm_limit=row.tpm_limit,
            expires_at=_aware(row.expires_at), revoked_at=_aware(row.revoked_at), created_at=_aware(row.created_at),
            metadata=row.meta or {},
        )

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id, "key_alias": self.name, "key_name": self.prefix + "…", "models": list(self.models or []),
            "max_budget": self.max_budget, "spend": self.spend, "rpm_limit": self.rpm_limit,
            "tpm_limit": self.tpm_limit, "expires": _iso(self.expires_at), "revoked": _iso(self.revoked_at),
            "created_at": _iso(self.created_at), "metadata": self.metadata,
        }


def _aware(dt: datetime | None) -> datetime | None:
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
                     expires_at: datetime | None = None, metadata: dict | None = None) -> tuple[str, KeyInfo]:
        key = new_key()
        row = VirtualKey(
            id=uuid.uuid4().hex, name=name, key_hash=hash_key(key), key_prefix=key[: len(PREFIX) + 4],
            models=list(models) if models else None, max_budget=max_budget, spend=0.0, rpm_limit=rpm_limit,
            tpm_limit=tpm_limit, expires_at=expires_at, meta=metadata or None,
        )
        async with self.db.session() as s, s.begin():
            s.add(row)
        return key, KeyInfo.of(row)

    async def by_hash(self, key_hash: str) -> KeyInfo | None:
        async with self.db.session() as s:
            row = (await s.execute(select(VirtualKey).where(VirtualKey.key_hash == key_hash))).scalar_one_or_none()
            return KeyInfo.of(row) if row else None

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
            return KeyInfo.of(rows[0]) if rows else None

    async def list(self, *, include_revoked: bool = False) -> list[KeyInfo]:
        async with self.db.session() as s:
            q = select(VirtualKey).order_by(VirtualKey.created_at.desc())
            if not include_revoked:
                q = q.where(VirtualKey.revoked_at.is_(None))
            return [KeyInfo.of(r) for r in (await s.execute(q)).scalars()]

    async def update(self, key_id: str, **changes: Any) -> KeyInfo | None:
        allowed = {"name", "models", "max_budget", "rpm_limit", "tpm_limit", "expires_at", "meta"}
        values = {k: v for k, v in changes.items() if k in allowed}
        async with self.db.session() as s, s.begin():
            row = await s.get(VirtualKey, key_id)
            if row is None:
                return None
            for k, v in values.items():
                setattr(row, k, v)
            row.updated_at = datetime.now(timezone.utc)
        return KeyInfo.of(row)

    async def revoke(self, key_id: str) -> bool:
        async with self.db.session() as s, s.begin():
            res = await s.execute(update(VirtualKey).where(VirtualKey.id == key_id, VirtualKey.revoked_at.is_(None))
                                  .values(revoked_at=datetime.now(timezone.utc), updated_at=datetime.now(timezone.utc)))
            return bool(res.rowcount)

    async def delete(self, key_id: str) -> bool:
        """LiteLLM's /key/delete: Accord revokes (usage keeps pointing at the key)."""
        return await self.revoke(key_id)
