"""astara-dbsync and the migrations, through the real console script, on SQLite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from astara.db import migration, models

BIN = Path(sys.executable).parent
HEAD = migration.head_revision()
FIRST = "0001_debug_tables"
DEBUG_TABLES = {"resource_debug", "tenant_debug", "global_debug"}


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "astara.db"


@pytest.fixture
def config_file(tmp_path: Path, database: Path) -> Path:
    path = tmp_path / "orchestrator.ini"
    path.write_text(
        "[DEFAULT]\ninterface_driver = logging.NullHandler\n"
        f"[database]\nconnection = sqlite:///{database}  # the test's own file\n"
    )
    return path


def dbsync(config_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "astara-dbsync"), "--config-file", str(config_file), *args],
        capture_output=True, text=True, check=False, timeout=120,
    )


def tables(database: Path) -> set[str]:
    engine = sa.create_engine(f"sqlite:///{database}")
    try:
        return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_version_and_stamp(config_file: Path, database: Path) -> None:
    assert dbsync(config_file, "version").stdout.strip() == "none"

    upgraded = dbsync(config_file, "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert dbsync(config_file, "version").stdout.strip() == HEAD
    assert tables(database) == DEBUG_TABLES | {"pending_events"}

    assert dbsync(config_file, "downgrade").returncode == 0
    assert dbsync(config_file, "version").stdout.strip() == FIRST
    assert tables(database) == DEBUG_TABLES

    assert dbsync(config_file, "upgrade", HEAD).returncode == 0
    assert dbsync(config_file, "downgrade", "base").returncode == 0
    assert dbsync(config_file, "version").stdout.strip() == "none"
    assert tables(database) == set()

    assert dbsync(config_file, "stamp", FIRST).returncode == 0
    assert dbsync(config_file, "version").stdout.strip() == FIRST
    assert tables(database) == set()


def test_upgrade_to_a_given_revision_stops_there(config_file: Path, database: Path) -> None:
    result = dbsync(config_file, "upgrade", FIRST)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"database schema at revision {FIRST}"
    assert tables(database) == DEBUG_TABLES


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (("stamp", "no_such_revision"), "stamp failed: Can't locate revision"),
        (("downgrade",), "downgrade failed: "),
    ],
)
def test_migration_errors_are_one_line_and_exit_1(
    config_file: Path, args: tuple[str, ...], problem: str
) -> None:
    result = dbsync(config_file, *args)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"astara-dbsync: error: {problem}")
    assert len(result.stderr.strip().splitlines()) == 1


def test_unreachable_database_is_one_line_and_exit_1(tmp_path: Path) -> None:
    config_file = tmp_path / "unreachable.ini"
    config_file.write_text(
        "[DEFAULT]\ninterface_driver = logging.NullHandler\n"
        "[database]\nconnection = mysql+pymysql://astara:secret@127.0.0.1:1/astara\n"
    )

    result = dbsync(config_file, "version")

    assert result.returncode == 1
    assert result.stderr.startswith("astara-dbsync: error: version failed: ")
    assert "Traceback" not in result.stderr
    assert "secret" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_configuration_exits_2(tmp_path: Path) -> None:
    config_file = tmp_path / "bad.ini"
    config_file.write_text(
        "[DEFAULT]\ninterface_driver = logging.NullHandler\n[database]\nconnection = nonsense\n"
    )

    result = dbsync(config_file, "upgrade")

    assert result.returncode == 2
    assert result.stderr.strip().startswith(
        f"astara-dbsync: error: {config_file}: [database] connection: ")
    assert "Traceback" not in result.stderr


def test_help_explains_every_command(config_file: Path) -> None:
    result = subprocess.run([str(BIN / "astara-dbsync"), "--help"], capture_output=True,
                            text=True, check=False, timeout=120)

    assert result.returncode == 0
    for command in ("upgrade", "downgrade", "version", "stamp"):
        assert f"    {command} " in result.stdout


def test_models_match_the_newest_migration(database: Path) -> None:
    url = f"sqlite:///{database}"
    migration.upgrade(url)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection),
                                           models.Base.metadata)
    finally:
        engine.dispose()

    assert differences == []
