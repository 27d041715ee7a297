"""Dashboard sessions ended by signing out: written by the instance that signs out, read by every instance.

Only a hash of the session id is kept, and only until the cookie would have expired anyway, so the table stays
as small as the number of sign-outs in one session lifetime.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, select

from .db import Database
from .models import SignedOut


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class SignedOutSessions:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, session_id: str, lifetime: float) -> None:
        """Record a sign-out (idempotent), and forget the ones whose cookies have expired since."""
        now = datetime.now(timezone.utc)
        async with self.db.session() as s, s.begin():
            await s.execute(delete(SignedOut).where(SignedOut.expires_at < now))
            await s.merge(SignedOut(session_hash=_hash(session_id), expires_at=now + timedelta(seconds=lifetime)))

    async def has(self, session_id: str) -> bool:
        async with self.db.session() as s:
            found = await s.scalar(select(SignedOut.session_hash).where(SignedOut.session_hash == _hash(session_id)))
        return found is not None
