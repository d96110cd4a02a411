"""each unit's signer's user id at a remote-signing provider (VNPT SmartCA, Viettel MySign), kept across rounds

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 03:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signer_accounts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("unit_id", sa.String(length=40), nullable=False),
        sa.Column("signer_name", sa.String(length=200), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("user_id", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("unit_id", "signer_name", "provider"),
    )


def downgrade() -> None:
    op.drop_table("signer_accounts")
