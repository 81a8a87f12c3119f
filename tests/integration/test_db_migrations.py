"""The migrations and stores on the real MariaDB and PostgreSQL servers of this machine.

Each test works in a database of its own (astara_test_<random>), dropped
afterwards whether the test passed or not.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from astara.db import migration, models
from astara.db.api import DebugStore, PendingEventStore
from astara.orchestrator.event import Crud, Event, Resource

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
FIRST = "0001_debug_tables"
DEBUG_TABLES = {"resource_debug", "tenant_debug", "global_debug"}

SERVERS = {
    "mariadb": ("mysql+pymysql://root@127.0.0.1:3306/",
                # charset=utf8 as in the install guide: Astara must still store 4-byte characters.
                "mysql+pymysql://root@127.0.0.1:3306/{name}?charset=utf8"),
    "postgresql": ("postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                   "postgresql+psycopg://postgres@127.0.0.1:5432/{name}"),
}


@contextmanager
def throwaway_database(server: str) -> Iterator[str]:
    """A new, empty database on ``server``; dropped at the end whatever happens."""
    admin_url, url_template = SERVERS[server]
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"astara_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {name}")
    except sa.exc.OperationalError as error:
        admin.dispose()
        pytest.skip(f"{server} is not reachable at {admin.url}: {error.orig}")
    try:
        yield url_template.format(name=name)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        admin.dispose()


@pytest.fixture(params=sorted(SERVERS))
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    with throwaway_database(request.param) as url:
        yield url


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    with throwaway_database("mariadb") as url:
        yield url


def table_names(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_round_trip_and_downgrade(database_url: str) -> None:
    migration.upgrade(database_url)
    assert migration.current_revision(database_url) == migration.head_revision()
    assert table_names(database_url) == DEBUG_TABLES | {"pending_events"}

    debug = DebugStore(database_url)
    pending = PendingEventStore(database_url)
    try:
        debug.enable_resource_debug("R1", "first")
        debug.enable_resource_debug("r1", "second")
        debug.enable_tenant_debug("t1")
        debug.enable_global_debug("maintenance")
        debug.enable_global_debug("upgrade \U0001f680")  # a 4-byte character
        snapshot = debug.snapshot()
        assert (snapshot.global_debug, snapshot.global_reason) == (True, "upgrade \U0001f680")
        assert dict(snapshot.resources) == {"r1": "second"}
        assert dict(snapshot.tenants) == {"t1": None}
        assert debug.disable_resource_debug("r1") is True
        assert debug.disable_global_debug() is True
        assert debug.global_debug() == (False, None)

        big_body = {"payload": "x" * 100_000, "unicode": "routeur \u00e9t\u00e9 \U0001f680"}
        events = [Event(Resource("router", "r1", "t1"), Crud.UPDATE, big_body),
                  Event(Resource("loadbalancer", "lb1", "t2"), Crud.DELETE)]
        assert pending.save(events) == 2
        assert pending.take_all() == events
        assert pending.take_all() == []
    finally:
        debug.close()
        pending.close()

    migration.downgrade(database_url)
    assert migration.current_revision(database_url) == FIRST
    assert table_names(database_url) == DEBUG_TABLES

    migration.downgrade(database_url, "base")
    assert migration.current_revision(database_url) is None
    assert table_names(database_url) == set()


def test_models_match_the_newest_migration(database_url: str) -> None:
    migration.upgrade(database_url)
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection),
                                           models.Base.metadata)
    finally:
        engine.dispose()

    assert differences == []


def test_mariadb_tables_are_innodb_and_utf8mb4(mariadb_url: str) -> None:
    migration.upgrade(mariadb_url)
    engine = sa.create_engine(mariadb_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.text(
                "SELECT table_name, engine, table_collation FROM information_schema.tables "
                "WHERE table_schema = DATABASE()")).all()
    finally:
        engine.dispose()

    assert {row[0] for row in rows} >= DEBUG_TABLES | {"pending_events"}
    assert {row[1] for row in rows} == {"InnoDB"}
    assert all(row[2].startswith("utf8mb4") for row in rows)


def test_dbsync_console_script_on_the_server(database_url: str, tmp_path: Path) -> None:
    config_file = tmp_path / "orchestrator.ini"
    config_file.write_text(
        "[DEFAULT]\ninterface_driver = logging.NullHandler\n"
        f"[database]\nconnection = {database_url}\n"
    )

    def dbsync(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "astara-dbsync"), "--config-file", str(config_file), *args],
            capture_output=True, text=True, check=False, timeout=120,
        )

    assert dbsync("upgrade").returncode == 0
    assert dbsync("version").stdout.strip() == migration.head_revision()
    assert dbsync("downgrade", "base").returncode == 0
    assert dbsync("version").stdout.strip() == "none"
    assert table_names(database_url) == set()
