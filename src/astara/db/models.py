"""Astara's tables, as SQLAlchemy sees them.

The database holds only what must outlive a process and be shared by every
orchestrator: the operator's debug flags, and the events a stopping worker
had not handled yet. The schema itself is created by the alembic migrations
in ``astara/db/migrations`` (``astara-dbsync upgrade``); these models must
match the newest revision.
"""

from __future__ import annotations

import datetime

from sqlalchemy import CheckConstraint, DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: Longest resource or tenant id accepted (Neutron ids are 36, Keystone's 32).
ID_LENGTH = 64
#: Longest operator reason accepted.
REASON_LENGTH = 255

#: A JSON body may exceed MySQL's 64 KiB TEXT; LONGTEXT there, TEXT elsewhere.
LongText = Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


def utcnow() -> datetime.datetime:
    """Naive UTC: what every backend stores the same way (MySQL has no time zones)."""
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class _Timestamps:
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime.datetime | None] = mapped_column(DateTime, onupdate=utcnow)


class ResourceDebug(_Timestamps, Base):
    """A resource (router, load balancer) the orchestrator leaves alone."""

    __tablename__ = "resource_debug"
    __table_args__ = (UniqueConstraint("uuid", name="uniq_debug_resource0uuid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(ID_LENGTH), nullable=False)
    reason: Mapped[str | None] = mapped_column(String(REASON_LENGTH))


class TenantDebug(_Timestamps, Base):
    """A tenant whose resources the orchestrator leaves alone."""

    __tablename__ = "tenant_debug"
    __table_args__ = (UniqueConstraint("uuid", name="uniq_debug_tenant0uuid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(ID_LENGTH), nullable=False)
    reason: Mapped[str | None] = mapped_column(String(REASON_LENGTH))


class GlobalDebug(_Timestamps, Base):
    """At most one row (status 1): present means the whole orchestrator is paused."""

    __tablename__ = "global_debug"
    __table_args__ = (
        UniqueConstraint("status", name="uniq_global_debug0status"),
        CheckConstraint("status = 1", name="ck_global_debug0status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    status: Mapped[int] = mapped_column(Integer, nullable=False)
    reason: Mapped[str | None] = mapped_column(String(REASON_LENGTH))


class PendingEvent(Base):
    """An event a stopping worker had queued but not handled; replayed at start."""

    __tablename__ = "pending_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    driver: Mapped[str] = mapped_column(String(32), nullable=False)
    resource_id: Mapped[str] = mapped_column(String(ID_LENGTH), nullable=False)
    tenant_id: Mapped[str] = mapped_column(String(ID_LENGTH), nullable=False)
    crud: Mapped[str] = mapped_column(String(32), nullable=False)
    body: Mapped[str] = mapped_column(LongText, nullable=False)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
