"""one-time download and upload URLs for local signing services (VGCA Sign Service, covenant agent)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 02:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "handoffs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("slot_id", sa.Integer(), sa.ForeignKey("slots.id"), nullable=False),
        sa.Column("purpose", sa.String(length=10), nullable=False),
        sa.Column("revision", sa.String(length=64), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("token_sha256"),
    )
    op.create_index("ix_handoffs_slot_id", "handoffs", ["slot_id"])


def downgrade() -> None:
    op.drop_index("ix_handoffs_slot_id", table_name="handoffs")
    op.drop_table("handoffs")
