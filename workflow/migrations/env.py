"""Alembic environment: migrations run on the connection workflow.storage hands over (or on COVENANT_DATABASE_URL
when alembic is run by hand: `alembic -c workflow/migrations/alembic.ini upgrade head`)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection

from workflow.config import settings_from_env
from workflow.storage import Base

config = context.config
connection = config.attributes.get("connection")


def run(conn: Connection) -> None:
    context.configure(connection=conn, target_metadata=Base.metadata, render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    run(connection)
else:
    with create_engine(settings_from_env().database_url).connect() as conn:
        run(conn)
