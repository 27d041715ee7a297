"""key versions: each change to a virtual key takes the next number from one clock row, so an instance can ask
"what changed since n" once a second instead of looking every cached key up again

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("virtual_keys") as b:
        b.add_column(sa.Column("version", sa.BigInteger(), nullable=False, server_default="0"))
        b.create_index("ix_virtual_keys_version", ["version"])
    clock = op.create_table(
        "key_clock",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.bulk_insert(clock, [{"id": 1, "version": 0}])


def downgrade() -> None:
    op.drop_table("key_clock")
    with op.batch_alter_table("virtual_keys") as b:
        b.drop_index("ix_virtual_keys_version")
        b.drop_column("version")
