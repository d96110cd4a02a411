"""round files written in the browser (drafts) and who changed what in them

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 19:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "drafts",
        sa.Column("id", sa.String(length=40), primary_key=True),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=80), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("launched_round", sa.String(length=40), nullable=True),
    )
    op.create_table(
        "draft_changes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("draft_id", sa.String(length=40), sa.ForeignKey("drafts.id"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("paths", sa.JSON(), nullable=False),
    )
    op.create_index("ix_draft_changes_draft_id", "draft_changes", ["draft_id"])


def downgrade() -> None:
    op.drop_index("ix_draft_changes_draft_id", table_name="draft_changes")
    op.drop_table("draft_changes")
    op.drop_table("drafts")
