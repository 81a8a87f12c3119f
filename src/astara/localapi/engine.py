"""The SQLite engine: WAL journal, enforced foreign keys, explicit transactions.

Python's sqlite3 driver opens transactions lazily and commits behind the
caller's back, which breaks "read, decide, write" sequences such as choosing a
free address. We therefore switch the driver's own transaction handling off
and issue BEGIN ourselves: ``BEGIN IMMEDIATE`` for writers, so a second writer
(another process on the same file included) waits for the write lock instead
of failing half-way, and a plain deferred ``BEGIN`` for readers, which WAL lets
run alongside the writer.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection

#: Execution option that marks a connection as the writer's.
WRITE_OPTION = "astara_write"
_BUSY_TIMEOUT_MS = 30_000


def make_engine(database_url: str) -> Engine:
    """Create the engine for ``database_url`` (a ``sqlite:///path`` file)."""
    if not database_url.startswith("sqlite"):
        raise ValueError(f"the local network model needs a SQLite URL, not {database_url!r}")
    engine = create_engine(database_url, connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _configure_connection)
    event.listen(engine, "begin", _begin)
    return engine


def _configure_connection(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def _begin(connection: Connection) -> None:
    writing = connection.get_execution_options().get(WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")
