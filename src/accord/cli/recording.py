"""A router for one CLI command whose model calls land in usage, like `accord serve`'s (same database)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from .. import metering

if TYPE_CHECKING:
    from ..config import Config
    from ..router import Router
    from ..store.db import Database


@contextlib.asynccontextmanager
async def recorded_router(cfg: Config, db: Database | None = None) -> AsyncIterator[Router]:
    """Every call made through the router is recorded with route `cli`; the rows are on disk when the block
    is left (the database is closed too, unless it was given)."""
    from ..router import Router
    from ..store.db import Database
    from ..store.usage import UsageWriter

    router = Router(cfg)
    database = db or Database.from_settings(cfg.settings)
    writer = UsageWriter(database)
    metering.attach(router, writer.add)
    try:
        with metering.tagged("cli"):
            yield router
    finally:
        try:
            await router.close()
            await writer.stop()
        finally:
            if db is None:
                await database.close()
