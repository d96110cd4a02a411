"""signature and seal images per slot

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 04:21:05.082403
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("slots", schema=None) as batch_op:
        batch_op.add_column(sa.Column("signature_image", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("seal_image", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("slots", schema=None) as batch_op:
        batch_op.drop_column("seal_image")
        batch_op.drop_column("signature_image")
