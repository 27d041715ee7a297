"""Alembic environment: runs on the connection Accord hands over (config.attributes["connection"]), or on
`sqlalchemy.url` when run by the `alembic` command."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Mapping
from typing import Any

from alembic import context
from alembic.runtime.migration import MigrationContext, MigrationInfo
from sqlalchemy.engine import Connection

from accord.store.models import Base

config = context.config
target_metadata = Base.metadata


log = logging.getLogger("accord.store")


def _applied(ctx: MigrationContext, step: MigrationInfo, heads: Collection[Any],  # on_version_apply's signature
             run_args: Mapping[str, Any]) -> None:
    """The one line a migration gets (Alembic's own INFO lines are silenced by store.db.quiet_alembic)."""
    doc = getattr(step.up_revision, "doc", "") if step.is_upgrade else ""
    log.info("database migrated to %s%s", step.up_revision_id if step.is_upgrade else step.down_revision_ids,
             f" ({doc})" if doc else "")


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                      on_version_apply=_applied)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from sqlalchemy.ext.asyncio import create_async_engine

    async def main() -> None:
        engine = create_async_engine(config.get_main_option("sqlalchemy.url") or "")
        async with engine.begin() as conn:
            await conn.run_sync(_run)
        await engine.dispose()

    asyncio.run(main())


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
