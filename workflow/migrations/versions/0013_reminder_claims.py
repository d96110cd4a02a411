"""reminders claimed once: a row per round and offset, so that two beats (or a retried task) never send one twice

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reminder_claims",
        sa.Column("round_id", sa.String(length=32), sa.ForeignKey("rounds.id"), primary_key=True),
        sa.Column("offset", sa.String(length=40), primary_key=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("reminder_claims")
