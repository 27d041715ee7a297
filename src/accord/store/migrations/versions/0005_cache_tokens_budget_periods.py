"""cached and cache-write tokens per usage row and per day; key budget periods and max price per request

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table, kind in (("usage", sa.Integer()), ("usage_daily", sa.BigInteger())):
        with op.batch_alter_table(table) as b:
            b.add_column(sa.Column("cached_tokens", kind, nullable=False, server_default="0"))
            b.add_column(sa.Column("cache_write_tokens", kind, nullable=False, server_default="0"))
    with op.batch_alter_table("virtual_keys") as b:
        b.add_column(sa.Column("budget_duration", sa.String(8), nullable=True))
        b.add_column(sa.Column("max_price", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("virtual_keys") as b:
        b.drop_column("max_price")
        b.drop_column("budget_duration")
    for table in ("usage_daily", "usage"):
        with op.batch_alter_table(table) as b:
            b.drop_column("cache_write_tokens")
            b.drop_column("cached_tokens")
