"""DebugStore, DebugSnapshot and PendingEventStore on a SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from astara.db import migration
from astara.db.api import DebugSnapshot, DebugStore, PendingEventStore
from astara.db.engine import Database, DatabaseUnavailable, RetryPolicy, SchemaNotReady
from astara.orchestrator.event import Crud, Event, Resource

FAST_RETRY = RetryPolicy(attempts=3, first_delay=0.001, max_delay=0.001)


@pytest.fixture
def url(tmp_path: Path) -> str:
    database_url = f"sqlite:///{tmp_path / 'astara.db'}"
    migration.upgrade(database_url)
    return database_url


@pytest.fixture
def store(url: str) -> DebugStore:
    return DebugStore(url, FAST_RETRY)


@pytest.fixture
def pending(url: str) -> PendingEventStore:
    return PendingEventStore(url, FAST_RETRY)


def router(resource_id: str = "r1", tenant_id: str = "t1") -> Resource:
    return Resource(driver="router", id=resource_id, tenant_id=tenant_id)


def test_resource_debug_round_trip(store: DebugStore) -> None:
    store.enable_resource_debug("r1", "investigating")
    store.enable_resource_debug("r2")

    assert store.resources_in_debug() == {"r1": "investigating", "r2": None}
    assert store.disable_resource_debug("r1") is True
    assert store.resources_in_debug() == {"r2": None}


def test_enabling_twice_keeps_the_newest_reason(store: DebugStore) -> None:
    store.enable_resource_debug("r1", "first")
    store.enable_resource_debug("r1", "second")
    store.enable_tenant_debug("t1", "first")
    store.enable_tenant_debug("t1", "second")

    assert store.resources_in_debug() == {"r1": "second"}
    assert store.tenants_in_debug() == {"t1": "second"}


def test_disabling_what_is_not_in_debug_is_not_an_error(store: DebugStore) -> None:
    assert store.disable_resource_debug("never") is False
    assert store.disable_tenant_debug("never") is False
    assert store.disable_global_debug() is False


def test_ids_are_normalised(store: DebugStore) -> None:
    store.enable_resource_debug("  AB-CD \n", "x")
    store.enable_tenant_debug(" TENANT ")

    assert store.resources_in_debug() == {"ab-cd": "x"}
    assert store.tenants_in_debug() == {"tenant": None}
    assert store.disable_resource_debug("Ab-Cd") is True


@pytest.mark.parametrize("wildcard", ["*", "error", " ERROR "])
def test_wildcards_cannot_be_put_in_debug(store: DebugStore, wildcard: str) -> None:
    with pytest.raises(ValueError, match="wildcard"):
        store.enable_resource_debug(wildcard)
    with pytest.raises(ValueError, match="wildcard"):
        store.enable_tenant_debug(wildcard)

    assert store.resources_in_debug() == {}


@pytest.mark.parametrize(
    ("resource_id", "reason", "message"),
    [("", None, "required"), ("   ", None, "required"), ("x" * 65, None, "longer than 64"),
     ("r1", "y" * 256, "longer than 255")],
)
def test_bad_ids_and_reasons_are_refused_and_nothing_is_stored(
    store: DebugStore, resource_id: str, reason: str | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        store.enable_resource_debug(resource_id, reason)

    assert store.resources_in_debug() == {}


def test_global_debug_round_trip(store: DebugStore) -> None:
    assert store.global_debug() == (False, None)

    store.enable_global_debug("maintenance")
    store.enable_global_debug("upgrade")
    assert store.global_debug() == (True, "upgrade")

    assert store.disable_global_debug() is True
    assert store.global_debug() == (False, None)


def test_snapshot_holds_every_flag(store: DebugStore) -> None:
    store.enable_resource_debug("r1", "why r1")
    store.enable_tenant_debug("t2", "why t2")
    store.enable_global_debug("why all")

    snapshot = store.snapshot()

    assert snapshot == DebugSnapshot(
        global_debug=True, global_reason="why all",
        resources={"r1": "why r1"}, tenants={"t2": "why t2"},
    )


def test_snapshot_is_a_picture_not_a_view(store: DebugStore) -> None:
    snapshot = store.snapshot()
    store.enable_resource_debug("r1")

    assert snapshot.resources == {}
    with pytest.raises(TypeError):
        snapshot.resources["r2"] = None  # type: ignore[index]


def test_snapshot_ignores_resources_and_tenants_in_debug(store: DebugStore) -> None:
    store.enable_resource_debug("r1", "broken appliance")
    store.enable_tenant_debug("t2")
    snapshot = store.snapshot()

    assert snapshot.ignores(router("R1", "t1")) == (
        "router r1 is in debug mode (broken appliance)")
    assert snapshot.ignores(router("r9", "T2")) == "tenant t2 is in debug mode (no reason given)"
    assert snapshot.ignores(router("r9", "t1")) is None


def test_a_uuid_with_or_without_dashes_names_the_same_flag(store: DebugStore) -> None:
    tenant = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
    store.enable_tenant_debug(tenant.replace("-", "").upper(), "pasted from keystone")
    snapshot = store.snapshot()

    # Neutron's payloads carry the undashed form, an operator may type either.
    assert snapshot.ignores(router("r1", tenant)) is not None
    assert snapshot.ignores(router("r1", tenant.replace("-", ""))) is not None
    assert store.disable_tenant_debug(tenant) is True
    assert store.tenants_in_debug() == {}


def test_global_debug_ignores_every_resource(store: DebugStore) -> None:
    store.enable_global_debug("maintenance")

    reason = store.snapshot().ignores(router("any", "tenant"))

    assert reason == "global debug mode is on (maintenance)"


def test_store_on_an_unmigrated_database_says_to_run_dbsync(tmp_path: Path) -> None:
    store = DebugStore(f"sqlite:///{tmp_path / 'empty.db'}", FAST_RETRY)

    with pytest.raises(SchemaNotReady, match="astara-dbsync upgrade"):
        store.snapshot()


def test_unreachable_database_is_retried_then_reported(tmp_path: Path) -> None:
    # Nothing listens on port 1: every attempt is refused.
    store = DebugStore("mysql+pymysql://astara:secret@127.0.0.1:1/astara", FAST_RETRY)

    with pytest.raises(DatabaseUnavailable) as raised:
        store.snapshot()

    message = str(raised.value)
    assert "after 3 attempts" in message
    assert "secret" not in message


def test_transient_failures_are_retried_until_success(url: str) -> None:
    database = Database(url, FAST_RETRY)
    calls: list[int] = []

    def flaky(connection: sa.Connection) -> int:
        calls.append(1)
        if len(calls) < 3:
            raise sa.exc.OperationalError("SELECT 1", {}, Exception("server has gone away"))
        return int(connection.execute(sa.text("SELECT 41 + 1")).scalar_one())

    assert database.run(flaky) == 42
    assert len(calls) == 3


def test_errors_that_waiting_cannot_cure_are_not_retried(url: str) -> None:
    database = Database(url, FAST_RETRY)
    calls: list[int] = []

    def violates(connection: sa.Connection) -> None:
        calls.append(1)
        raise sa.exc.IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed"))

    with pytest.raises(sa.exc.IntegrityError):
        database.run(violates)
    assert len(calls) == 1


def test_unsupported_backend_is_refused() -> None:
    engine = sa.create_engine("sqlite://")
    engine.dialect.name = "firebird"

    with pytest.raises(ValueError, match="unsupported database backend 'firebird'"):
        DebugStore(engine)


def test_pending_events_come_back_oldest_first_and_only_once(
    pending: PendingEventStore,
) -> None:
    events = [
        Event(router("r1"), Crud.UPDATE, {"payload": {"router": {"id": "r1"}}}),
        Event(router("r2", "t2"), Crud.DELETE),
        Event(Resource("loadbalancer", "lb1", "t3"), Crud.COMMAND, {"command": "rebuild"}),
    ]

    assert pending.save(events[:2]) == 2
    assert pending.save(events[2:]) == 1

    assert pending.take_all() == events
    assert pending.take_all() == []


def test_saving_nothing_stores_nothing(pending: PendingEventStore) -> None:
    assert pending.save([]) == 0
    assert pending.take_all() == []


def test_an_event_that_cannot_be_stored_stops_the_whole_save(
    pending: PendingEventStore,
) -> None:
    good = Event(router("r1"), Crud.UPDATE)
    bad = Event(router("r2"), Crud.UPDATE, {"when": object()})

    with pytest.raises(ValueError, match="not JSON"):
        pending.save([good, bad])

    assert pending.take_all() == []


def test_an_undecodable_row_is_kept_and_the_others_replayed(
    url: str, pending: PendingEventStore
) -> None:
    pending.save([Event(router("r1"), Crud.UPDATE), Event(router("r2"), Crud.POLL)])
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text(
            "UPDATE pending_events SET crud = 'explode' WHERE resource_id = 'r1'"))

    assert pending.take_all() == [Event(router("r2"), Crud.POLL)]
    with engine.connect() as connection:
        kept = connection.execute(sa.text("SELECT resource_id FROM pending_events")).all()
    engine.dispose()
    assert [row.resource_id for row in kept] == ["r1"]
