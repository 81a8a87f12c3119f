"""Connecting to Astara's database and riding out its outages.

A database restart or fail-over must not take workers down with it, so every
store operation goes through :meth:`Database.run`: a transaction retried with
exponential backoff while the server is unreachable, then, after a bounded
number of attempts, one :class:`DatabaseUnavailable` that says so plainly.
Errors that waiting cannot cure (the schema was never created, a constraint)
are not retried.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import sqlalchemy as sa
import sqlalchemy.exc
import tenacity
from sqlalchemy.engine import Connection, Engine

T = TypeVar("T")

SUPPORTED_BACKENDS = ("sqlite", "mysql", "postgresql")


class DatabaseError(Exception):
    """Base of the database errors Astara reports to its callers."""


class DatabaseUnavailable(DatabaseError):
    """The database did not answer, even after retrying."""


class SchemaNotReady(DatabaseError):
    """The tables are missing or old: ``astara-dbsync upgrade`` has not been run."""


@dataclass(frozen=True)
class RetryPolicy:
    """How long a store keeps trying a database that does not answer."""

    attempts: int = 5
    first_delay: float = 0.2
    max_delay: float = 5.0


def make_engine(url_or_engine: str | sa.URL | Engine) -> Engine:
    """An engine for ``url_or_engine`` (returned as is if it already is one).

    Connections are checked before use (``pool_pre_ping``), so one dropped
    while idle by a restarted server is replaced instead of failing a query.
    """
    if isinstance(url_or_engine, Engine):
        engine = url_or_engine
    else:
        url = sa.make_url(url_or_engine)
        options: dict[str, object] = {"pool_pre_ping": True}
        if url.get_backend_name() == "mysql":
            options["pool_recycle"] = 3600  # before MySQL's wait_timeout drops it
            url = _with_full_utf8(url)
        engine = sa.create_engine(url, **options)
    if engine.dialect.name not in SUPPORTED_BACKENDS:
        raise ValueError(
            f"unsupported database backend {engine.dialect.name!r}; "
            f"use one of: {', '.join(SUPPORTED_BACKENDS)}"
        )
    return engine


def _with_full_utf8(url: sa.URL) -> sa.URL:
    """``url`` with MySQL's real UTF-8 (utf8mb4) where it asks for ``utf8`` or nothing.

    The install guide's URL ends in ``?charset=utf8``, which MySQL reads as its
    3-byte subset: a notification body with an emoji could then not be saved.
    The tables are utf8mb4; the connection must be too.
    """
    charset = str(url.query.get("charset", "utf8")).lower()
    if charset in ("utf8", "utf8mb3"):
        return url.update_query_dict({"charset": "utf8mb4"})
    return url


def _is_transient(error: BaseException) -> bool:
    """Lost or refused connections, deadlocks, a locked SQLite file: worth waiting for."""
    if isinstance(error, sa.exc.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, sa.exc.OperationalError):
        return not _is_missing_table(error)
    return isinstance(error, sa.exc.InterfaceError)


#: Error codes for "no such table / column": MySQL and MariaDB, then PostgreSQL's SQLSTATEs.
_MYSQL_SCHEMA_ERRORS = frozenset({1146, 1054})
_POSTGRESQL_SCHEMA_ERRORS = frozenset({"42P01", "42703"})


def _is_missing_table(error: sa.exc.DBAPIError) -> bool:
    """The schema lacks a table or column Astara uses (per backend, by error code)."""
    orig = error.orig
    if getattr(orig, "sqlstate", None) in _POSTGRESQL_SCHEMA_ERRORS:
        return True
    code = orig.args[0] if orig is not None and orig.args else None
    if code in _MYSQL_SCHEMA_ERRORS:
        return True
    text = str(orig).lower()
    return "no such table" in text or "no such column" in text


class Database:
    """An engine plus the retry policy every store operation runs under."""

    def __init__(self, url_or_engine: str | sa.URL | Engine,
                 retry: RetryPolicy | None = None) -> None:
        self.engine = make_engine(url_or_engine)
        self._retry = retry or RetryPolicy()

    def dispose(self) -> None:
        """Close the pooled connections (at shutdown, or before dropping the database)."""
        self.engine.dispose()

    def run(self, work: Callable[[Connection], T]) -> T:
        """``work`` in one transaction, retried while the database is unreachable."""
        policy = self._retry
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(policy.attempts),
            wait=tenacity.wait_exponential(multiplier=policy.first_delay, max=policy.max_delay),
            retry=tenacity.retry_if_exception(_is_transient),
            reraise=True,
        )
        try:
            return retrying(self._in_transaction, work)
        except (sa.exc.ProgrammingError, sa.exc.OperationalError) as error:
            if _is_missing_table(error):
                raise SchemaNotReady(
                    f"Astara's tables are missing in {self._safe_url()}; "
                    f"run 'astara-dbsync upgrade' ({error.orig})"
                ) from error
            if _is_transient(error):
                raise self._unavailable(error) from error
            raise
        except sa.exc.DBAPIError as error:
            if _is_transient(error):
                raise self._unavailable(error) from error
            raise

    def _in_transaction(self, work: Callable[[Connection], T]) -> T:
        with self.engine.begin() as connection:
            return work(connection)

    def _unavailable(self, error: sa.exc.DBAPIError) -> DatabaseUnavailable:
        return DatabaseUnavailable(
            f"database {self._safe_url()} unavailable after {self._retry.attempts} "
            f"attempts: {error.orig}"
        )

    def _safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)
