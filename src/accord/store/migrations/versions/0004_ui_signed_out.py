"""dashboard sessions ended by signing out

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"  # one line of revisions: 0003 (usage threads) came first
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ui_signed_out",
        sa.Column("session_hash", sa.String(64), primary_key=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_ui_signed_out_expires_at", "ui_signed_out", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_ui_signed_out_expires_at", "ui_signed_out")
    op.drop_table("ui_signed_out")
