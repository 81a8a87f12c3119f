"""What the orchestrator keeps in its database: debug flags and pending events.

:class:`DebugStore` holds the operator's debug flags (global, per tenant, per
resource). Workers do not query it per event, the original's costliest habit:
they cache a :class:`DebugSnapshot`, read in one round trip, and refresh it
when a debug command arrives or on the health-check period.

:class:`PendingEventStore` keeps the events a stopping worker still had
queued, so a restart replays them instead of losing them.

Both retry a database that does not answer (see :mod:`astara.db.engine`).
Build them in the process that uses them: an engine's connections must not
cross a fork.
"""

from __future__ import annotations

import json
import logging
import types
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from astara.db import models
from astara.db.engine import Database, RetryPolicy
from astara.orchestrator.event import WILDCARDS, Crud, Event, Resource

LOG = logging.getLogger(__name__)

_resource_debug = cast(sa.Table, models.ResourceDebug.__table__)
_tenant_debug = cast(sa.Table, models.TenantDebug.__table__)
_global_debug = cast(sa.Table, models.GlobalDebug.__table__)
_pending_events = cast(sa.Table, models.PendingEvent.__table__)

#: Rows deleted per statement: stays under every backend's bound-parameter limit.
_DELETE_CHUNK = 500


def canonical_id(value: str) -> str:
    """One spelling per id: stripped, lower-case, and UUIDs in their dashed form.

    Keystone writes project ids without dashes and operators often paste them
    with dashes (or the reverse); both must name the same debug flag, on write
    and when an event is checked.
    """
    stripped = value.strip().lower()
    try:
        return str(uuid.UUID(stripped))
    except ValueError:
        return stripped


def normalise_id(kind: str, value: str) -> str:
    """``value`` as stored (see :func:`canonical_id`); ValueError if it cannot be a debug target."""
    normalised = canonical_id(value)
    if not normalised:
        raise ValueError(f"a {kind} id is required")
    if normalised in WILDCARDS:
        raise ValueError(
            f"{value!r} is a wildcard that addresses many {kind}s; put them in debug "
            f"mode one by one, or use global debug mode"
        )
    if len(normalised) > models.ID_LENGTH:
        raise ValueError(f"{kind} id {value!r} is longer than {models.ID_LENGTH} characters")
    return normalised


def _checked_reason(reason: str | None) -> str | None:
    if reason is not None and len(reason) > models.REASON_LENGTH:
        raise ValueError(f"the reason is longer than {models.REASON_LENGTH} characters")
    return reason


def _upsert(connection: Connection, table: sa.Table, key: str, values: dict[str, Any]) -> None:
    """Insert ``values``, or update the reason of the row with the same ``key``, atomically."""
    now = models.utcnow()
    row = {**values, "created_at": now}
    changes = {"reason": values["reason"], "updated_at": now}
    statement: sa.Executable
    if connection.dialect.name == "mysql":
        statement = mysql.insert(table).values(row).on_duplicate_key_update(changes)
    else:
        dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
        statement = (
            dialect.insert(table).values(row).on_conflict_do_update(
                index_elements=[key], set_=changes
            )
        )
    connection.execute(statement)


@dataclass(frozen=True)
class DebugSnapshot:
    """The debug flags at one moment; what a worker consults for every event.

    ``resources`` and ``tenants`` map a normalised id to the operator's reason.
    Commands are not subject to it: an operator can still act on a resource
    in debug mode.
    """

    global_debug: bool
    global_reason: str | None
    resources: Mapping[str, str | None]
    tenants: Mapping[str, str | None]

    def ignores(self, resource: Resource) -> str | None:
        """Why events for ``resource`` are to be ignored, or None if they are not."""
        if self.global_debug:
            return f"global debug mode is on ({_reason_text(self.global_reason)})"
        tenant = canonical_id(resource.tenant_id)
        if tenant in self.tenants:
            return f"tenant {tenant} is in debug mode ({_reason_text(self.tenants[tenant])})"
        resource_id = canonical_id(resource.id)
        if resource_id in self.resources:
            reason = _reason_text(self.resources[resource_id])
            return f"{resource.driver} {resource_id} is in debug mode ({reason})"
        return None


def _reason_text(reason: str | None) -> str:
    return reason or "no reason given"


class _Store:
    """A store on one database (URL or engine), its operations retried as one."""

    def __init__(self, url_or_engine: str | sa.URL | Engine,
                 retry: RetryPolicy | None = None) -> None:
        self._db = Database(url_or_engine, retry)

    def close(self) -> None:
        """Close the store's database connections."""
        self._db.dispose()


class DebugStore(_Store):
    """The operator's debug flags, shared by every orchestrator through the database."""

    def enable_resource_debug(self, resource_id: str, reason: str | None = None) -> None:
        """Put a resource in debug mode; again just replaces the reason."""
        self._enable(_resource_debug, normalise_id("resource", resource_id), reason)

    def disable_resource_debug(self, resource_id: str) -> bool:
        """Take a resource out of debug mode; False if it was not in it."""
        return self._disable(_resource_debug, normalise_id("resource", resource_id))

    def resources_in_debug(self) -> dict[str, str | None]:
        """Resource id -> reason, for every resource in debug mode."""
        return self._db.run(lambda c: _flags(c, _resource_debug))

    def enable_tenant_debug(self, tenant_id: str, reason: str | None = None) -> None:
        """Put every resource of a tenant in debug mode; again just replaces the reason."""
        self._enable(_tenant_debug, normalise_id("tenant", tenant_id), reason)

    def disable_tenant_debug(self, tenant_id: str) -> bool:
        """Take a tenant out of debug mode; False if it was not in it."""
        return self._disable(_tenant_debug, normalise_id("tenant", tenant_id))

    def tenants_in_debug(self) -> dict[str, str | None]:
        """Tenant id -> reason, for every tenant in debug mode."""
        return self._db.run(lambda c: _flags(c, _tenant_debug))

    def enable_global_debug(self, reason: str | None = None) -> None:
        """Stop acting on events for every resource; again just replaces the reason."""
        values = {"status": 1, "reason": _checked_reason(reason)}
        self._db.run(lambda c: _upsert(c, _global_debug, "status", values))

    def disable_global_debug(self) -> bool:
        """Act on events again; False if global debug mode was off."""
        statement = sa.delete(_global_debug).where(_global_debug.c.status == 1)
        return self._db.run(lambda c: c.execute(statement).rowcount > 0)

    def global_debug(self) -> tuple[bool, str | None]:
        """(on?, reason) of global debug mode."""
        statement = sa.select(_global_debug.c.reason).where(_global_debug.c.status == 1)
        rows = self._db.run(lambda c: c.execute(statement).all())
        return (True, rows[0].reason) if rows else (False, None)

    def snapshot(self) -> DebugSnapshot:
        """All the flags at once, in a single query."""
        return self._db.run(_read_snapshot)

    def _enable(self, table: sa.Table, uuid: str, reason: str | None) -> None:
        values = {"uuid": uuid, "reason": _checked_reason(reason)}
        self._db.run(lambda c: _upsert(c, table, "uuid", values))

    def _disable(self, table: sa.Table, uuid: str) -> bool:
        statement = sa.delete(table).where(table.c.uuid == uuid)
        return self._db.run(lambda c: c.execute(statement).rowcount > 0)


def _flags(connection: Connection, table: sa.Table) -> dict[str, str | None]:
    rows = connection.execute(sa.select(table.c.uuid, table.c.reason))
    return {row.uuid: row.reason for row in rows}


def _read_snapshot(connection: Connection) -> DebugSnapshot:
    def flagged(kind: str, table: sa.Table, uuid: sa.ColumnElement[Any]) -> sa.Select[Any]:
        return sa.select(sa.literal_column(f"'{kind}'").label("kind"),
                         uuid.label("uuid"), table.c.reason)

    query = sa.union_all(
        flagged("resource", _resource_debug, _resource_debug.c.uuid),
        flagged("tenant", _tenant_debug, _tenant_debug.c.uuid),
        flagged("global", _global_debug, sa.literal_column("''")),
    )
    by_kind: dict[str, dict[str, str | None]] = {"resource": {}, "tenant": {}, "global": {}}
    for row in connection.execute(query):
        by_kind[row.kind][row.uuid] = row.reason
    is_global = bool(by_kind["global"])
    return DebugSnapshot(
        global_debug=is_global,
        global_reason=by_kind["global"].get("") if is_global else None,
        resources=types.MappingProxyType(by_kind["resource"]),
        tenants=types.MappingProxyType(by_kind["tenant"]),
    )


def _event_row(event: Event) -> dict[str, Any]:
    """The pending_events row for ``event``; ValueError if it cannot be stored faithfully."""
    resource = event.resource
    for what, value in (("resource id", resource.id), ("tenant id", resource.tenant_id)):
        if len(value) > models.ID_LENGTH:
            raise ValueError(f"cannot save event: {what} {value!r} is too long")
    try:
        body = json.dumps(dict(event.body), allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"cannot save event {event.crud} for {resource.driver} {resource.id}: "
            f"its body is not JSON ({error})"
        ) from error
    return {
        "driver": resource.driver,
        "resource_id": resource.id,
        "tenant_id": resource.tenant_id,
        "crud": str(event.crud),
        "body": body,
        "created_at": models.utcnow(),
    }


def _event_from_row(row: sa.Row[Any]) -> Event:
    body = json.loads(row.body)
    if not isinstance(body, dict):
        raise ValueError("body is not a JSON object")
    resource = Resource(driver=row.driver, id=row.resource_id, tenant_id=row.tenant_id)
    return Event(resource=resource, crud=Crud(row.crud), body=body)


class PendingEventStore(_Store):
    """Events saved by stopping workers, replayed (and removed) at the next start."""

    def save(self, events: Iterable[Event]) -> int:
        """Store ``events`` (all or none); returns how many were stored.

        Every event is checked before anything is written, so a ValueError
        (a body that is not JSON, an id too long) leaves the store unchanged.
        """
        rows = [_event_row(event) for event in events]
        if rows:
            self._db.run(lambda c: c.execute(sa.insert(_pending_events), rows))
        return len(rows)

    def take_all(self) -> list[Event]:
        """Every stored event, oldest first, removed from the store in the same transaction.

        Rows are locked while read, so two orchestrators starting together do
        not both replay them. A row that cannot be decoded (written by a
        newer version, edited by hand) is logged and left in place.
        """
        return self._db.run(_take_all)


def _take_all(connection: Connection) -> list[Event]:
    query = sa.select(_pending_events).order_by(_pending_events.c.id).with_for_update()
    events: list[Event] = []
    taken: list[int] = []
    for row in connection.execute(query):
        try:
            events.append(_event_from_row(row))
        except ValueError as error:
            LOG.error("pending event %d cannot be replayed and is kept: %s", row.id, error)
            continue
        taken.append(row.id)
    for start in range(0, len(taken), _DELETE_CHUNK):
        chunk = taken[start:start + _DELETE_CHUNK]
        connection.execute(sa.delete(_pending_events).where(_pending_events.c.id.in_(chunk)))
    return events
