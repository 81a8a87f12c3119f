"""The main process's parts: the intake, debug commands, the wiring, saving, the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from oslo_config import cfg

from astara.common.config import parse_config
from astara.db import migration
from astara.db.api import PendingEventStore
from astara.orchestrator import debug_commands, wiring
from astara.orchestrator.cli_options import CLI_OPTS, PROG
from astara.orchestrator.event import Crud, Event, Resource
from astara.orchestrator.intake import Intake, IntakeClosed
from astara.orchestrator.main import main
from astara.orchestrator.outboxes import OutboxesClosed
from astara.orchestrator.service import PendingSaver
from astara.orchestrator.wiring import ConfiguredWiring, WiringError, load_wiring
from tests.orchestrator_doubles_wiring import DoublesWiring, MemoryDebugStore

TENANT = "6b1d52a46d6e4f5b9d5c2f1f3c7a9e01"


class Sink:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.closed = False

    def dispatch(self, events: list[Event]) -> int:
        if self.closed:
            raise OutboxesClosed("stopping")
        self.events.extend(events)
        return len(events)


class BrokenStore(MemoryDebugStore):
    def enable_resource_debug(self, resource_id: str, reason: str | None = None) -> None:
        raise ConnectionError("database down")


@pytest.fixture
def sink() -> Sink:
    return Sink()


@pytest.fixture
def store() -> MemoryDebugStore:
    return MemoryDebugStore()


@pytest.fixture
def intake(sink: Sink, store: MemoryDebugStore) -> Intake:
    return Intake(sink, store, ["router"])


# -- intake ----------------------------------------------------------------------


def test_a_notification_becomes_scheduled_events(intake: Intake, sink: Sink) -> None:
    payload = {"router": {"id": "r1", "tenant_id": TENANT}}
    assert intake.submit("router.create.end", payload, {}) == 1
    assert sink.events == [Event(Resource("router", "r1", TENANT), Crud.CREATE, payload)]


@pytest.mark.parametrize(
    ("event_type", "payload"),
    [
        ("router.create.end", "not a mapping"),
        ("router.create.end", {"router": {"id": "r1"}}),
        ("compute.instance.create.end", {"instance_id": "x"}),
        (42, {}),
    ],
    ids=["payload-not-a-mapping", "no-tenant", "not-for-astara", "bad-event-type"],
)
def test_what_asks_for_nothing_schedules_nothing(
    intake: Intake, sink: Sink, event_type: Any, payload: Any
) -> None:
    assert intake.submit(event_type, payload, {}) == 0
    assert sink.events == []


def test_a_debug_command_is_written_once_then_broadcast(
    intake: Intake, sink: Sink, store: MemoryDebugStore
) -> None:
    payload = {"command": "resource-debug", "resource_id": "R1", "reason": "looking"}
    assert intake.submit("astara.command", payload, {}) == 1
    assert store.resources == {"r1": "looking"}
    (event,) = sink.events
    assert event.crud is Crud.COMMAND
    assert event.body["command"] == "resource-debug"


@pytest.mark.parametrize(
    ("payload", "check"),
    [
        ({"command": "tenant-debug", "tenant_id": TENANT}, lambda s: TENANT in s.tenants),
        ({"command": "global-debug", "enabled": 1, "reason": "upgrade"}, lambda s: s.global_on),
        ({"command": "router-debug", "router_id": "r9"}, lambda s: "r9" in s.resources),
    ],
    ids=["tenant", "global", "router"],
)
def test_each_debug_level_is_recorded(
    intake: Intake, store: MemoryDebugStore, payload: dict[str, Any], check: Any
) -> None:
    intake.submit("astara.command", payload, {})
    assert check(store)


def test_manage_commands_clear_the_flags(intake: Intake, store: MemoryDebugStore) -> None:
    store.enable_resource_debug("r1")
    store.enable_tenant_debug(TENANT)
    store.enable_global_debug("x")
    intake.submit("astara.command", {"command": "resource-manage", "resource_id": "r1"}, {})
    intake.submit("astara.command", {"command": "tenant-manage", "tenant_id": TENANT}, {})
    intake.submit("astara.command", {"command": "global-debug", "enabled": 0}, {})
    assert (store.resources, store.tenants, store.global_on) == ({}, {}, False)


def test_a_debug_command_that_cannot_be_recorded_is_not_broadcast(sink: Sink) -> None:
    intake = Intake(sink, BrokenStore(), ["router"])
    assert intake.submit("astara.command", {"command": "resource-debug", "resource_id": "r"}) == 0
    assert sink.events == []


def test_other_commands_are_broadcast_without_touching_the_store(
    intake: Intake, sink: Sink, store: MemoryDebugStore
) -> None:
    intake.submit("astara.command", {"command": "resource-rebuild", "resource_id": "*"}, {})
    assert [event.body["command"] for event in sink.events] == ["resource-rebuild"]
    assert (store.resources, store.tenants, store.global_on) == ({}, {}, False)


def test_a_closed_intake_refuses_notifications(intake: Intake, sink: Sink) -> None:
    intake.close()
    with pytest.raises(IntakeClosed):
        intake.submit("router.create.end", {"router": {"id": "r1", "tenant_id": TENANT}}, {})
    assert sink.events == []


def test_a_stopping_scheduler_closes_the_intake(intake: Intake, sink: Sink) -> None:
    sink.closed = True
    with pytest.raises(IntakeClosed):
        intake.submit("router.create.end", {"router": {"id": "r1", "tenant_id": TENANT}}, {})


def test_debug_commands_reject_a_store_refusal(caplog: pytest.LogCaptureFixture) -> None:
    class Refusing(MemoryDebugStore):
        def enable_tenant_debug(self, tenant_id: str, reason: str | None = None) -> None:
            raise ValueError("'*' is a wildcard")

    event = Event(Resource("*", "*", "*"), Crud.COMMAND, {"command": "tenant-debug"})
    assert debug_commands.changes_debug_flags(event)
    assert not debug_commands.record(Refusing(), event)
    assert "wildcard" in caplog.text


# -- saving pending events ------------------------------------------------------


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'astara.db'}"
    migration.upgrade(url)
    return url


def conf_for(tmp_path: Path, database_url: str, *extra: str) -> cfg.ConfigOpts:
    ini = tmp_path / "orchestrator.ini"
    ini.write_text(f"[database]\nconnection = {database_url}\n")
    return parse_config(["--config-file", str(ini), *extra], PROG, CLI_OPTS)


def test_pending_events_are_saved_and_a_bad_one_costs_only_itself(
    tmp_path: Path, database: str
) -> None:
    good = [Event(Resource("router", "r1", "t"), Crud.REBUILD, {"image_uuid": "i"})]
    bad = Event(Resource("router", "r2", "t"), Crud.UPDATE, {"not json": {1, 2}})
    saver = PendingSaver(DoublesWiring(conf_for(tmp_path, database)))
    assert not saver.save([*good, bad])
    assert PendingEventStore(database).take_all() == good


def test_nothing_to_save_is_a_success(tmp_path: Path, database: str) -> None:
    assert PendingSaver(DoublesWiring(conf_for(tmp_path, database))).save([])


# -- wiring ----------------------------------------------------------------------


def test_an_unavailable_implementation_is_named_by_its_option(
    tmp_path: Path, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = conf_for(tmp_path, database)
    monkeypatch.setitem(wiring.NETWORK_MODELS, "neutron", "astara.network.nowhere:from_config")
    with pytest.raises(WiringError) as raised:
        ConfiguredWiring(conf).check()
    message = str(raised.value)
    assert message.startswith("[DEFAULT] network_model = neutron: astara.network.nowhere")
    assert "\n" not in message


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("tests.nowhere:Wiring", "is not available"),
        ("tests.orchestrator_doubles_wiring:NoSuchClass", "is not available"),
        ("builtins:str", "did not build a Wiring but str"),
    ],
)
def test_load_wiring_explains_a_bad_path(
    tmp_path: Path, database: str, path: str, problem: str
) -> None:
    with pytest.raises(WiringError, match=problem):
        load_wiring(path, conf_for(tmp_path, database))


def test_load_wiring_builds_the_named_wiring(tmp_path: Path, database: str) -> None:
    wiring = load_wiring(
        "tests.orchestrator_doubles_wiring:DoublesWiring", conf_for(tmp_path, database)
    )
    assert isinstance(wiring, DoublesWiring)
    machine = wiring.machine_factory()(Resource("router", "r1", "t1"))
    assert machine.resource == Resource("router", "r1", "t1")


# -- the command line --------------------------------------------------------------


def test_check_config_still_only_checks(
    tmp_path: Path, database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    conf_for(tmp_path, database)
    with pytest.raises(SystemExit) as exited:
        main(["--config-file", str(tmp_path / "orchestrator.ini"), "--check-config"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("OK:")


def test_a_missing_wiring_exits_2_with_one_line(
    tmp_path: Path, database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    conf_for(tmp_path, database)
    code = main(
        ["--config-file", str(tmp_path / "orchestrator.ini"), "--wiring", "tests.nowhere:W"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{PROG}: error: wiring: tests.nowhere:W is not available")
    assert err.count("\n") == 1
    assert "Traceback" not in err
