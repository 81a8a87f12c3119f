"""Alembic environment for Astara's schema.

:mod:`astara.db.migration` runs alembic programmatically and hands over an
open connection (``config.attributes["connection"]``) and the storage engine
for MySQL (``config.attributes["mysql_engine"]``). Run by the ``alembic``
command instead (with ``src/astara/db/alembic.ini``), it connects to the URL
given as ``-x url=...``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from astara.db import models

config = context.config


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=models.Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit("alembic: give the database as -x url=<SQLAlchemy URL>")
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("alembic: offline (--sql) migrations are not supported")
_run_online()
