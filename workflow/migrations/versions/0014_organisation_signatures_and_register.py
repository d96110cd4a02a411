"""organisation signatures and issuance: a slot's place and e-mail (a clerk's seal over its leader's block, the
issuing signature over the number line) and the cluster's register of issued numbers

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("slots") as batch_op:
        batch_op.add_column(sa.Column("anchor", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("email", sa.String(length=254), nullable=True))
    op.create_table(
        "register",
        sa.Column("cluster_slug", sa.String(length=120), primary_key=True),
        sa.Column("year", sa.Integer(), primary_key=True),
        sa.Column("number", sa.Integer(), primary_key=True),
        sa.Column("document_id", sa.Integer(), sa.ForeignKey("documents.id"), nullable=False, unique=True),
        sa.Column("round_id", sa.String(length=32), nullable=False, index=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("reserved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("register")
    with op.batch_alter_table("slots") as batch_op:
        batch_op.drop_column("email")
        batch_op.drop_column("anchor")
