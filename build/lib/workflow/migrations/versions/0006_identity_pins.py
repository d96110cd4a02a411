"""identity pins per slot: the subject's identity number (serialNumber / UID) and an exact certificate name

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("slots", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pin_identity", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("pin_cn", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("slots", schema=None) as batch_op:
        batch_op.drop_column("pin_cn")
        batch_op.drop_column("pin_identity")
