"""the cluster directory: clusters and their units' leaders, deputies and clerks, kept from year to year

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 19:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clusters",
        sa.Column("id", sa.String(length=120), primary_key=True),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("sector", sa.String(length=300), nullable=False),
        sa.Column("guidance", sa.JSON(), nullable=True),
        sa.Column("updated_by", sa.String(length=80), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "directory_units",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("cluster_id", sa.String(length=120), sa.ForeignKey("clusters.id"), nullable=False),
        sa.Column("unit_id", sa.String(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("short_name", sa.String(length=120), nullable=False),
        sa.Column("place", sa.String(length=200), nullable=False),
        sa.Column("leader", sa.JSON(), nullable=False),
        sa.Column("deputies", sa.JSON(), nullable=False),
        sa.Column("clerk", sa.JSON(), nullable=True),
        sa.Column("updated_by", sa.String(length=80), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("cluster_id", "unit_id"),
    )
    op.create_index("ix_directory_units_cluster_id", "directory_units", ["cluster_id"])


def downgrade() -> None:
    op.drop_index("ix_directory_units_cluster_id", table_name="directory_units")
    op.drop_table("directory_units")
    op.drop_table("clusters")
