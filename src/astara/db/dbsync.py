"""astara-dbsync: create, upgrade, downgrade and inspect Astara's database schema.

    astara-dbsync --config-file /etc/astara/orchestrator.ini upgrade [REVISION]
    astara-dbsync --config-file /etc/astara/orchestrator.ini downgrade [REVISION]
    astara-dbsync --config-file /etc/astara/orchestrator.ini version
    astara-dbsync --config-file /etc/astara/orchestrator.ini stamp REVISION

The database is ``[database] connection``. Failures are one line on stderr:
exit status 2 for a bad configuration, 1 when the database or the migration
fails.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import sqlalchemy as sa
from alembic.util import CommandError
from oslo_config import cfg

from astara.common.config import parse_config
from astara.db import migration

PROG = "astara-dbsync"


def _add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    upgrade = subparsers.add_parser(
        "upgrade", help="migrate the schema forward (creating it in an empty database)"
    )
    upgrade.add_argument("revision", nargs="?", default="head",
                         help="revision to reach (default: head, the newest)")
    downgrade = subparsers.add_parser(
        "downgrade", help="migrate the schema back, dropping what newer revisions added"
    )
    downgrade.add_argument("revision", nargs="?", default="-1",
                           help="revision to reach (default: -1, one step back; "
                           "base removes every table)")
    subparsers.add_parser("version", help="print the current revision, or 'none'")
    stamp = subparsers.add_parser(
        "stamp", help="record a revision as current without migrating (for a schema "
        "created by other means)"
    )
    stamp.add_argument("revision", help="revision to record, e.g. head")


COMMAND_OPT = cfg.SubCommandOpt(
    "command", title="commands", handler=_add_commands,
    help="what to do with the database schema",
)


def _describe(revision: str | None) -> str:
    return revision or "none"


def _run(conf: cfg.ConfigOpts) -> str:
    """Run the chosen command; returns what to print."""
    url = conf.database.connection
    engine = conf.database.mysql_engine
    name = conf.command.name
    if name == "version":
        return _describe(migration.current_revision(url))
    if name == "upgrade":
        migration.upgrade(url, conf.command.revision, engine)
    elif name == "downgrade":
        migration.downgrade(url, conf.command.revision, engine)
    else:
        migration.stamp(url, conf.command.revision)
    return f"database schema at revision {_describe(migration.current_revision(url))}"


def _one_line(error: Exception) -> str:
    cause = error.orig if isinstance(error, sa.exc.DBAPIError) else error
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``astara-dbsync``."""
    conf = parse_config(sys.argv[1:] if argv is None else argv, PROG, [COMMAND_OPT])
    try:
        print(_run(conf))
    except (sa.exc.SQLAlchemyError, CommandError) as error:
        print(f"{PROG}: error: {conf.command.name} failed: {_one_line(error)}", file=sys.stderr)
        return 1
    return 0
