"""The worker: delivery to state machines, one thread per resource, fan-out, commands, debug."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from astara.db import migration
from astara.db.api import DebugStore
from astara.orchestrator.backoff import FailureBackoff
from astara.orchestrator.debug_flags import DebugFlags, DebugRefresher
from astara.orchestrator.event import Crud, Event, Resource
from astara.orchestrator.instance_state import InstanceState
from astara.orchestrator.sharding import shard_of
from astara.orchestrator.worker import Worker, WorkerIdentity
from tests import waiting
from tests.orchestrator_doubles_wiring import MemoryDebugStore, ScriptedFactory, ScriptedMachine

T1, T2 = "tenant-1", "tenant-2"


def router(resource_id: str, tenant: str = T1) -> Resource:
    return Resource("router", resource_id, tenant)


def event(resource: Resource, crud: Crud = Crud.UPDATE) -> Event:
    return Event(resource, crud)


EVERYTHING = Resource("*", "*", "*")


def command(name: str, resource: Resource = EVERYTHING, **body: object) -> Event:
    return Event(resource, Crud.COMMAND, {"command": name, **body})


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Wait for another thread, polling often: these waits are short."""
    waiting.wait_until(condition, what, timeout=10.0, interval=0.002)


class Harness:
    def __init__(self, threads: int = 4, identity: WorkerIdentity | None = None) -> None:
        self.factory = ScriptedFactory()
        self.store = MemoryDebugStore()
        self.debug = DebugFlags(self.store)
        self.reloads = 0
        self.worker = Worker(
            self.factory,
            self.debug,
            threads=threads,
            identity=identity,
            reload_config=self._reload,
            failure_backoff=FailureBackoff(first=0.01, cap=0.05),
        )

    def _reload(self) -> None:
        self.reloads += 1

    def machine(self, resource_id: str) -> ScriptedMachine:
        (machine,) = [m for m in self.factory.machines_for(resource_id) if not m.deleted]
        return machine

    def idle(self) -> bool:
        return self.worker.queue_depth == 0 and all(
            status.doing == "waiting for work" for status in self.worker.thread_statuses()
        )

    def settle(self) -> None:
        wait_until(self.idle, "the worker went idle")


@pytest.fixture
def harness() -> Iterator[Harness]:
    built = Harness()
    built.worker.start()
    yield built
    built.worker.stop(5)


# -- delivery --------------------------------------------------------------------


def test_first_event_creates_the_machine_and_runs_it(harness: Harness) -> None:
    harness.worker.handle(event(router("r1"), Crud.CREATE))
    harness.settle()
    assert harness.machine("r1").ran == [Crud.CREATE]


def test_events_for_one_resource_reach_one_machine(harness: Harness) -> None:
    for crud in (Crud.CREATE, Crud.UPDATE, Crud.UPDATE):
        harness.worker.handle(event(router("r1"), crud))
    harness.settle()
    assert len(harness.factory.machines_for("r1")) == 1
    assert [e.crud for e in harness.machine("r1").received] == [
        Crud.CREATE,
        Crud.UPDATE,
        Crud.UPDATE,
    ]


def test_a_machine_that_cannot_be_built_drops_only_its_event(harness: Harness) -> None:
    harness.factory.fail_for.add("broken")
    harness.worker.handle(event(router("broken")))
    harness.worker.handle(event(router("fine")))
    harness.settle()
    assert harness.machine("fine").ran == [Crud.UPDATE]
    assert harness.factory.machines_for("broken") == []


def test_a_deleted_machine_is_forgotten_and_a_new_event_makes_a_fresh_one(
    harness: Harness,
) -> None:
    harness.worker.handle(event(router("r1"), Crud.DELETE))
    harness.settle()
    assert harness.factory.machines_for("r1")[0].deleted
    assert len(harness.worker.registry) == 0
    harness.worker.handle(event(router("r1"), Crud.CREATE))
    harness.settle()
    assert harness.machine("r1").ran == [Crud.CREATE]
    assert len(harness.factory.machines_for("r1")) == 2


def test_a_worker_creates_machines_only_for_tenants_it_owns() -> None:
    identity = WorkerIdentity(index=shard_of(T1, 2), count=2)
    other = next(f"t{n}" for n in range(100) if shard_of(f"t{n}", 2) != identity.index)
    harness = Harness(identity=identity)
    harness.worker.handle(event(router("mine", T1)))
    harness.worker.handle(event(router("theirs", other)))
    assert [m.resource.id for m in harness.factory.built] == ["mine"]


# -- one thread per resource, no resource waits for another -------------------------


def test_a_resource_is_never_updated_by_two_threads_at_once(harness: Harness) -> None:
    resources = [router(f"r{n}") for n in range(8)]
    for _ in range(200):
        for resource in resources:
            harness.worker.handle(event(resource))
    harness.settle()
    machines = [harness.machine(resource.id) for resource in resources]
    assert all(machine.overlaps == 0 for machine in machines)
    assert all(machine.ran for machine in machines)


def test_events_arriving_during_an_update_run_after_it(harness: Harness) -> None:
    harness.worker.handle(event(router("r1"), Crud.CREATE))
    harness.settle()
    machine = harness.machine("r1")
    gate = machine.hold()
    harness.worker.handle(event(router("r1"), Crud.UPDATE))
    wait_until(machine.started.is_set, "the update began")
    harness.worker.handle(event(router("r1"), Crud.REBUILD))
    gate.set()
    harness.settle()
    assert machine.ran == [Crud.CREATE, Crud.UPDATE, Crud.REBUILD]
    assert machine.overlaps == 0


def test_a_slow_resource_does_not_block_the_others(harness: Harness) -> None:
    harness.worker.handle(event(router("slow"), Crud.CREATE))
    harness.settle()
    slow = harness.machine("slow")
    gate = slow.hold()
    harness.worker.handle(event(router("slow")))
    wait_until(slow.started.is_set, "the slow update began")
    for n in range(20):
        harness.worker.handle(event(router(f"fast{n}"), Crud.CREATE))
    wait_until(
        lambda: all(harness.machine(f"fast{n}").ran == [Crud.CREATE] for n in range(20)),
        "every fast resource ran while the slow one was stuck",
    )
    assert slow.ran == [Crud.CREATE]
    gate.set()
    harness.settle()


# -- fan-out and wildcards ------------------------------------------------------------


def test_tenant_wide_event_reaches_every_router_of_the_tenant(harness: Harness) -> None:
    for resource in (router("a"), router("b"), router("c", T2)):
        harness.worker.handle(event(resource, Crud.CREATE))
    harness.settle()
    harness.worker.handle(event(router("", T1)))
    harness.settle()
    assert harness.machine("a").ran == [Crud.CREATE, Crud.UPDATE]
    assert harness.machine("b").ran == [Crud.CREATE, Crud.UPDATE]
    assert harness.machine("c").ran == [Crud.CREATE]
    assert len(harness.factory.built) == 3, "a tenant-wide event creates no machine"


def test_tenant_wide_event_skips_the_routers_it_cannot_concern(harness: Harness) -> None:
    for resource in (router("on-the-network"), router("elsewhere")):
        harness.worker.handle(event(resource, Crud.CREATE))
    harness.settle()
    harness.machine("elsewhere").concerned = False

    harness.worker.handle(event(router("", T1)))
    harness.worker.handle(event(router("elsewhere")))  # naming it still reaches it
    harness.settle()

    assert harness.machine("on-the-network").ran == [Crud.CREATE, Crud.UPDATE]
    assert [e.resource.id for e in harness.machine("elsewhere").received] == ["elsewhere"] * 2


def test_tenant_wide_event_matches_the_tenant_in_any_spelling(harness: Harness) -> None:
    tenant = "6b1d52a4-6d6e-4f5b-9d5c-2f1f3c7a9e01"
    harness.worker.handle(event(router("a", tenant), Crud.CREATE))
    harness.settle()
    harness.worker.handle(event(router("", tenant.replace("-", "").upper())))
    harness.settle()
    assert harness.machine("a").ran == [Crud.CREATE, Crud.UPDATE]


def test_tenant_wide_event_for_a_driver_leaves_other_drivers_alone(harness: Harness) -> None:
    harness.worker.handle(event(router("r"), Crud.CREATE))
    harness.worker.handle(event(Resource("loadbalancer", "lb", T1), Crud.CREATE))
    harness.settle()
    harness.worker.handle(event(Resource("loadbalancer", "", T1)))
    harness.settle()
    assert harness.machine("r").ran == [Crud.CREATE]
    assert harness.machine("lb").ran == [Crud.CREATE, Crud.UPDATE]


def test_tenant_wide_event_without_a_tenant_reaches_nothing(harness: Harness) -> None:
    harness.worker.handle(event(router("r"), Crud.CREATE))
    harness.settle()
    harness.worker.handle(event(router("", "*")))
    harness.settle()
    assert harness.machine("r").ran == [Crud.CREATE]


def test_the_health_poll_reaches_every_machine_and_creates_none(harness: Harness) -> None:
    for n in range(5):
        harness.worker.handle(event(router(f"r{n}", f"t{n}"), Crud.CREATE))
    harness.settle()
    harness.worker.handle(event(Resource("*", "*", "*"), Crud.POLL))
    harness.settle()
    assert all(harness.machine(f"r{n}").ran == [Crud.CREATE, Crud.POLL] for n in range(5))
    assert len(harness.factory.built) == 5


# -- commands --------------------------------------------------------------------------


@pytest.fixture
def fleet(harness: Harness) -> Harness:
    """Three routers in two tenants, one of them in ERROR."""
    for resource in (router("a"), router("b"), router("c", T2)):
        harness.worker.handle(event(resource, Crud.CREATE))
    harness.settle()
    harness.machine("b").instance_state = InstanceState.ERROR
    return harness


def ran_after_create(harness: Harness) -> dict[str, list[Crud]]:
    return {rid: harness.machine(rid).ran[1:] for rid in ("a", "b", "c")}


@pytest.mark.parametrize("name", ["resource-update", "router-update"])
def test_update_command_with_all_wildcard_updates_everything(fleet: Harness, name: str) -> None:
    driver = "*" if name.startswith("resource") else "router"
    fleet.worker.handle(command(name, Resource(driver, "*", "*")))
    fleet.settle()
    assert ran_after_create(fleet) == {"a": [Crud.UPDATE], "b": [Crud.UPDATE], "c": [Crud.UPDATE]}


@pytest.mark.parametrize("name", ["resource-rebuild", "router-rebuild"])
def test_rebuild_command_with_error_wildcard_rebuilds_those_in_error(
    fleet: Harness, name: str
) -> None:
    driver = "*" if name.startswith("resource") else "router"
    fleet.worker.handle(command(name, Resource(driver, "error", "*"), image_uuid="img-2"))
    fleet.settle()
    assert ran_after_create(fleet) == {"a": [], "b": [Crud.REBUILD], "c": []}
    assert fleet.machine("b").received[-1].body["image_uuid"] == "img-2"


def test_resource_command_by_id_reaches_that_resource_only(fleet: Harness) -> None:
    fleet.worker.handle(command("resource-update", Resource("*", "c", "*")))
    fleet.settle()
    assert ran_after_create(fleet) == {"a": [], "b": [], "c": [Crud.UPDATE]}


def test_resource_command_for_an_unknown_id_creates_nothing(fleet: Harness) -> None:
    fleet.worker.handle(command("resource-rebuild", Resource("*", "elsewhere", "*")))
    fleet.settle()
    assert len(fleet.factory.built) == 3


def test_router_command_naming_its_tenant_creates_the_machine_in_its_owner(
    harness: Harness,
) -> None:
    harness.worker.handle(command("router-rebuild", router("new", T1)))
    harness.settle()
    assert harness.machine("new").ran == [Crud.REBUILD]


def test_poll_command_polls_every_machine(fleet: Harness) -> None:
    fleet.worker.handle(command("poll"))
    fleet.settle()
    assert ran_after_create(fleet) == {"a": [Crud.POLL], "b": [Crud.POLL], "c": [Crud.POLL]}


def test_config_reload_command_rereads_the_configuration(harness: Harness) -> None:
    harness.worker.handle(command("config-reload"))
    assert harness.reloads == 1


def test_workers_debug_command_logs_the_report(
    fleet: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    fleet.worker.handle(command("workers-debug"))
    assert "workers-debug p00" in caplog.text
    assert '"id": "c"' in caplog.text


@pytest.mark.parametrize(
    "body",
    [{}, {"command": 7}, {"command": "no-such-command"}, {"command": None}],
    ids=["no-command", "not-text", "unknown", "none"],
)
def test_malformed_commands_are_ignored(fleet: Harness, body: dict[str, object]) -> None:
    fleet.worker.handle(Event(Resource("*", "*", "*"), Crud.COMMAND, body))
    fleet.settle()
    assert ran_after_create(fleet) == {"a": [], "b": [], "c": []}


def test_rebalance_is_ignored(fleet: Harness) -> None:
    fleet.worker.handle(Event(Resource("*", "*", "*"), Crud.REBALANCE, {"members": []}))
    fleet.settle()
    assert ran_after_create(fleet) == {"a": [], "b": [], "c": []}


# -- debug mode ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("enable", "manage", "held"),
    [
        (
            lambda s: s.enable_resource_debug("a", "looking"),
            command("resource-manage", Resource("*", "a", "*")),
            {"a"},
        ),
        (
            lambda s: s.enable_tenant_debug(T1, "looking"),
            command("tenant-manage", Resource("*", "*", T1)),
            {"a", "b"},
        ),
        (
            lambda s: s.enable_global_debug("maintenance"),
            command("global-debug", enabled=False),
            {"a", "b", "c"},
        ),
    ],
    ids=["resource", "tenant", "global"],
)
def test_debug_mode_holds_events_and_manage_resumes(
    fleet: Harness,
    enable: Callable[[MemoryDebugStore], None],
    manage: Event,
    held: set[str],
) -> None:
    enable(fleet.store)
    fleet.worker.handle(command("resource-debug", Resource("*", "a", "*")))
    for rid, tenant in (("a", T1), ("b", T1), ("c", T2)):
        fleet.worker.handle(event(router(rid, tenant)))
    fleet.settle()
    ran = ran_after_create(fleet)
    assert {rid for rid, actions in ran.items() if not actions} == held
    # Work queued before debug mode began resumes on manage.
    for rid in held:
        fleet.machine(rid).send_message(event(router(rid)))
    fleet.store.resources.clear()
    fleet.store.tenants.clear()
    fleet.store.global_on = False
    fleet.worker.handle(manage)
    fleet.settle()
    assert all(fleet.machine(rid).ran[1:] == [Crud.UPDATE] for rid in ("a", "b", "c"))


def test_a_resource_put_in_debug_while_queued_is_held_then_resumed() -> None:
    harness = Harness(threads=1)
    harness.worker.start()
    try:
        harness.worker.handle(event(router("first"), Crud.CREATE))
        harness.settle()
        first = harness.machine("first")
        gate = first.hold()
        harness.worker.handle(event(router("first")))
        wait_until(first.started.is_set, "the only thread is busy")
        harness.worker.handle(event(router("held")))
        harness.store.enable_resource_debug("held")
        harness.worker.handle(command("resource-debug", Resource("*", "held", "*")))
        gate.set()
        harness.settle()
        held = harness.machine("held")
        assert held.ran == []
        assert held.has_more_work()
        harness.store.disable_resource_debug("held")
        harness.worker.handle(command("resource-manage", Resource("*", "held", "*")))
        harness.settle()
        assert held.ran == [Crud.UPDATE]
    finally:
        harness.worker.stop(5)


def test_debug_flags_are_read_per_command_not_per_event(harness: Harness) -> None:
    before = harness.store.snapshots
    for n in range(500):
        harness.worker.handle(event(router(f"r{n % 50}", f"t{n % 7}")))
    harness.worker.handle(event(Resource("*", "*", "*"), Crud.POLL))
    harness.settle()
    assert harness.store.snapshots == before
    harness.worker.handle(command("tenant-debug", Resource("*", "*", T1)))
    assert harness.store.snapshots == before + 1


def test_a_failing_debug_store_keeps_the_previous_flags(harness: Harness) -> None:
    harness.store.enable_resource_debug("r1", "x")
    harness.worker.handle(command("resource-debug", Resource("*", "r1", "*")))

    def broken() -> None:
        raise ConnectionError("database down")

    harness.store.snapshot = broken  # type: ignore[assignment,method-assign]
    harness.worker.handle(command("resource-manage", Resource("*", "r1", "*")))
    harness.worker.handle(event(router("r1")))
    harness.settle()
    assert harness.factory.machines_for("r1") == [], "r1 is still held: the old flags stand"


# -- timers and failures ----------------------------------------------------------------


def test_a_machine_asking_for_a_wake_up_gets_a_poll(harness: Harness) -> None:
    harness.worker.handle(event(router("booting"), Crud.CREATE))
    harness.settle()
    machine = harness.machine("booting")
    machine.wake_in = 0.01
    harness.worker.handle(event(router("booting")))
    wait_until(lambda: Crud.POLL in machine.ran, "the wake-up POLL ran")
    machine.wake_in = None
    harness.settle()
    assert machine.ran[:3] == [Crud.CREATE, Crud.UPDATE, Crud.POLL]


def test_a_failing_update_is_retried_with_backoff_without_blocking_others(
    harness: Harness,
) -> None:
    harness.worker.handle(event(router("bad"), Crud.CREATE))
    harness.settle()
    bad = harness.machine("bad")
    bad.fail = RuntimeError("boom")
    harness.worker.handle(event(router("bad")))
    harness.worker.handle(event(router("good"), Crud.CREATE))
    wait_until(
        lambda: sum(1 for e in bad.received if e.crud is Crud.POLL) >= 2, "bad was retried twice"
    )
    assert harness.machine("good").ran == [Crud.CREATE]
    bad.fail = None
    wait_until(lambda: bad.ran[-1:] == [Crud.POLL], "bad recovered")
    assert harness.worker.timers_pending == 0


# -- stop ---------------------------------------------------------------------------------


def test_stop_lets_running_updates_finish_and_returns_unstarted_events() -> None:
    harness = Harness(threads=1)
    harness.worker.start()
    harness.worker.handle(event(router("running"), Crud.CREATE))
    harness.settle()
    running = harness.machine("running")
    gate = running.hold()
    harness.worker.handle(event(router("running")))
    wait_until(running.started.is_set, "the update began")
    rebuild = Event(router("waiting"), Crud.REBUILD, {"image_uuid": "img-9"})
    harness.worker.handle(rebuild)
    harness.worker.handle(event(router("waiting"), Crud.UPDATE))
    harness.worker.handle(event(router("deleted"), Crud.UPDATE))
    harness.worker.handle(event(router("deleted"), Crud.DELETE))
    harness.worker.handle(event(router("polled"), Crud.POLL))
    threading.Timer(0.05, gate.set).start()
    pending = harness.worker.stop(5)
    assert Crud.UPDATE in running.ran, "the running update finished"
    assert sorted(pending, key=lambda e: e.resource.id) == [
        Event(router("deleted"), Crud.DELETE),
        rebuild,
    ]


def test_report_describes_threads_resources_and_debug(fleet: Harness) -> None:
    fleet.store.enable_tenant_debug(T2, "audit")
    fleet.worker.handle(command("tenant-debug", Resource("*", "*", T2)))
    report = fleet.worker.log_report()
    assert report["worker"] == "p00"
    assert len(report["threads"]) == 4
    assert all(thread["alive"] for thread in report["threads"])
    by_id = {resource["id"]: resource for resource in report["resources"]}
    assert set(by_id) == {"a", "b", "c"}
    assert by_id["b"]["instance_state"] == "error"
    assert by_id["c"]["debug"] is not None and "audit" in by_id["c"]["debug"]
    assert by_id["a"]["debug"] is None
    assert report["debug"]["tenants"] == {T2: "audit"}
    assert report["tenants"] == 2


# -- debug flags against the real store ----------------------------------------------------


def test_events_cost_no_database_query_and_a_command_costs_one(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'astara.db'}"
    migration.upgrade(url)
    engine = sa.create_engine(url)
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    store = DebugStore(engine)
    store.enable_tenant_debug(T2, "audit")
    worker = Worker(ScriptedFactory(), DebugFlags(store), threads=2)
    worker.start()
    try:
        worker.handle(command("tenant-debug", Resource("*", "*", T2)))
        statements.clear()
        for n in range(300):
            worker.handle(event(router(f"r{n % 30}", (T1, T2)[n % 2])))
        worker.handle(event(Resource("*", "*", "*"), Crud.POLL))
        assert statements == []
        worker.handle(command("tenant-manage", Resource("*", "*", T2)))
        assert len(statements) == 1, statements
        assert worker.debug.ignores(router("x", T2)) is not None, "the flag is still in the DB"
    finally:
        worker.stop(5)


def test_the_refresher_rereads_flags_and_survives_failures() -> None:
    store = MemoryDebugStore()
    flags = DebugFlags(store)
    calls: list[int] = []
    original = store.snapshot

    def flaky() -> object:
        if store.snapshots == 1:
            store.snapshots += 1
            raise ConnectionError("database down")
        return original()

    store.snapshot = flaky  # type: ignore[assignment,method-assign]
    store.enable_resource_debug("r1", "x")
    refresher = DebugRefresher(flags, 0.005, lambda: calls.append(1))
    refresher.start()
    try:
        wait_until(lambda: len(calls) >= 2, "two successful refreshes")
    finally:
        refresher.stop()
    assert flags.ignores(router("r1")) is not None
    assert store.snapshots >= 3, "it went on after the failure"
