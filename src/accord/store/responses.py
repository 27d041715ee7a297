"""Responses kept for `previous_response_id`, each for settings.responses_retention_days.

A stored response belongs to the key that made it: another key asking for it is told it does not exist, as
for one never made or already expired. Expired rows are deleted as new ones are written (an index makes that
one cheap range delete), so the table holds no more than one retention period of answers.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import delete

from .db import Database
from .models import StoredResponse


class Responses:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def save(self, rid: str, *, key_id: str | None, model: str, messages: list[dict[str, Any]],
                   response: dict[str, Any], retention_days: float) -> None:
        now = datetime.now(timezone.utc)
        async with self.db.session() as s, s.begin():
            await s.execute(delete(StoredResponse).where(StoredResponse.expires_at < now))
            s.add(StoredResponse(id=rid, key_id=key_id, model=model, messages=messages, response=response,
                                 created_at=now, expires_at=now + timedelta(days=retention_days)))

    async def get(self, rid: str, key_id: str | None) -> StoredResponse | None:
        """The stored response, if it exists, has not expired, and was made with this key (None: master/open)."""
        async with self.db.session() as s:
            row = await s.get(StoredResponse, rid)
        if row is None or row.key_id != key_id:
            return None
        expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=timezone.utc)
        return row if expires > datetime.now(timezone.utc) else None
