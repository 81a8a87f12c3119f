"""Creating and evolving Astara's schema with alembic, without an alembic.ini.

The migrations ship inside the package (``astara/db/migrations``) and run
against the database of ``[database] connection``; nothing has to be copied
next to the configuration. Every function here opens its own connection and
closes it, so ``astara-dbsync`` leaves no pool behind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command, op
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from astara.db.engine import make_engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
DEFAULT_MYSQL_ENGINE = "InnoDB"


def table_options() -> dict[str, Any]:
    """Options of every table a migration creates: engine and utf8mb4 on MySQL/MariaDB."""
    config = op.get_context().config
    attributes = config.attributes if config is not None else {}
    return {
        "mysql_engine": attributes.get("mysql_engine", DEFAULT_MYSQL_ENGINE),
        "mysql_charset": "utf8mb4",
    }


def _config(connection: sa.Connection | None = None,
            mysql_engine: str = DEFAULT_MYSQL_ENGINE) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    config.attributes["mysql_engine"] = mysql_engine
    return config


@contextmanager
def _connected(url: str | sa.URL, mysql_engine: str) -> Iterator[Config]:
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            yield _config(connection, mysql_engine)
    finally:
        engine.dispose()


def _run(action: Callable[[Config, str], None], url: str | sa.URL, revision: str,
         mysql_engine: str) -> None:
    with _connected(url, mysql_engine) as config:
        action(config, revision)


def upgrade(url: str | sa.URL, revision: str = "head",
            mysql_engine: str = DEFAULT_MYSQL_ENGINE) -> None:
    """Migrate the schema forward to ``revision``."""
    _run(command.upgrade, url, revision, mysql_engine)


def downgrade(url: str | sa.URL, revision: str = "-1",
              mysql_engine: str = DEFAULT_MYSQL_ENGINE) -> None:
    """Migrate the schema back to ``revision`` (one step by default; ``base`` drops all)."""
    _run(command.downgrade, url, revision, mysql_engine)


def stamp(url: str | sa.URL, revision: str) -> None:
    """Record ``revision`` as current without running any migration."""
    _run(command.stamp, url, revision, DEFAULT_MYSQL_ENGINE)


def current_revision(url: str | sa.URL) -> str | None:
    """The revision the database is at, or None for a database never migrated."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str:
    """The newest revision shipped with this version of Astara."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head
