"""blobs in the database (COVENANT_BLOB_STORE=database): content-addressed, so machines share only PostgreSQL;
and each archived package's zip as a blob (rounds.archive_zip), so any machine hands it out

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 17:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blobs",
        sa.Column("digest", sa.String(length=64), primary_key=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("rounds") as batch_op:
        batch_op.add_column(sa.Column("archive_zip", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rounds") as batch_op:
        batch_op.drop_column("archive_zip")
    op.drop_table("blobs")
