"""usage rows name their thread; threads name the process running them (to find interrupted runs)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usage") as t:
        t.add_column(sa.Column("thread_id", sa.String(36), nullable=True))
    op.create_index("ix_usage_thread_id", "usage", ["thread_id"])
    with op.batch_alter_table("threads") as t:
        t.add_column(sa.Column("owner", sa.String(120), nullable=True))
        t.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_threads_status", "threads", ["status"])


def downgrade() -> None:
    op.drop_index("ix_threads_status", "threads")
    with op.batch_alter_table("threads") as t:
        t.drop_column("lease_until")
        t.drop_column("owner")
    op.drop_index("ix_usage_thread_id", "usage")
    with op.batch_alter_table("usage") as t:
        t.drop_column("thread_id")
