"""Test doubles for the orchestrator core: a state machine, a store, and a whole Wiring.

- :class:`ScriptedMachine` is a tiny state machine whose ``update()`` a test
  controls (block it, make it fail, ask for a wake-up) and which records what
  it saw, including whether two threads ever ran it at once.
- :class:`MemoryDebugStore` keeps debug flags in memory and counts snapshot reads.
- :class:`DoublesWiring` assembles the real orchestrator around real
  StateMachine and InstanceManager objects over the doubles of
  ``tests.unit.doubles``, so ``astara-orchestrator --wiring
  tests.orchestrator_doubles_wiring:DoublesWiring`` (with the repository on
  the Python path) runs without any cloud.
  It is steered by environment variables (inherited by the worker processes):
  ``ASTARA_TEST_RECORD`` a file each machine appends ``<crud> <driver> <id>``
  to when it runs an action, ``ASTARA_TEST_UPDATE_DELAY`` seconds each run
  takes, ``ASTARA_TEST_RESOURCES`` how many routers the network model lists.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from astara.db.api import DebugSnapshot
from astara.orchestrator.collapse import collapse
from astara.orchestrator.event import Crud, Event, Resource
from astara.orchestrator.instance_manager import InstanceManager
from astara.orchestrator.instance_state import InstanceState
from astara.orchestrator.machine import Machine, MachineFactory
from astara.orchestrator.populate import ResourceLister
from astara.orchestrator.state_machine import StateMachine
from astara.orchestrator.wiring import Wiring
from tests.unit.doubles import ApplianceClientDouble, DriverDouble, ProvisionerDouble


class ScriptedMachine:
    """A state machine double: queues collapsed actions, ``update()`` runs them all.

    ``gate`` (when set) must be opened before ``update()`` returns; ``fail``
    makes ``update()`` raise; ``wake_in`` asks for a POLL that many seconds later;
    ``finish_on`` deletes the machine when that action runs.
    """

    def __init__(self, resource: Resource) -> None:
        self.resource = resource
        #: Set when update() begins; see hold().
        self.queue: tuple[Crud, ...] = ()
        self.received: list[Event] = []
        self.ran: list[Crud] = []
        self.gate: threading.Event | None = None
        self.started = threading.Event()
        self.fail: Exception | None = None
        self.wake_in: float | None = None
        #: What concerns() answers: False declines tenant-wide and wildcard events.
        self.concerned = True
        self.finish_on: Crud | None = Crud.DELETE
        self.instance_state = InstanceState.CONFIGURED
        self.current_state_name = "CalcAction"
        self._deleted = False
        self._running = 0
        self.overlaps = 0
        self._lock = threading.Lock()

    @property
    def deleted(self) -> bool:
        return self._deleted

    def hold(self) -> threading.Event:
        """Make the next update() wait until the returned event is set."""
        self.started.clear()
        self.gate = threading.Event()
        return self.gate

    def concerns(self, event: Event) -> bool:
        return self.concerned

    def send_message(self, event: Event) -> bool:
        if self._deleted:
            return False
        with self._lock:
            self.received.append(event)
            self.queue = collapse((*self.queue, event.crud))
        return True

    def update(self) -> None:
        with self._lock:
            self._running += 1
            if self._running > 1:
                self.overlaps += 1
            actions, self.queue = self.queue, ()
        try:
            self.started.set()
            if self.gate is not None:
                self.gate.wait(10)
            if self.fail is not None:
                raise self.fail
            self.ran.extend(actions)
            if self.finish_on in actions:
                self._deleted = True
        finally:
            with self._lock:
                self._running -= 1

    def has_more_work(self) -> bool:
        return not self._deleted and bool(self.queue)

    def wake_at(self) -> float | None:
        return None if self.wake_in is None else time.monotonic() + self.wake_in

    def queue_depth(self) -> int:
        return len(self.queue)


class ScriptedFactory:
    """Builds (and remembers) a :class:`ScriptedMachine` per resource."""

    def __init__(self) -> None:
        self.built: list[ScriptedMachine] = []
        self.fail_for: set[str] = set()

    def __call__(self, resource: Resource) -> Machine:
        if resource.id in self.fail_for:
            raise RuntimeError(f"cannot build a machine for {resource.id}")
        machine = ScriptedMachine(resource)
        self.built.append(machine)
        return machine

    def machines_for(self, resource_id: str) -> list[ScriptedMachine]:
        return [machine for machine in self.built if machine.resource.id == resource_id]


class MemoryDebugStore:
    """Debug flags in memory, with the DebugStore methods the orchestrator calls."""

    def __init__(self) -> None:
        self.resources: dict[str, str | None] = {}
        self.tenants: dict[str, str | None] = {}
        self.global_reason: str | None = None
        self.global_on = False
        self.snapshots = 0

    def snapshot(self) -> DebugSnapshot:
        self.snapshots += 1
        return DebugSnapshot(
            global_debug=self.global_on,
            global_reason=self.global_reason,
            resources=dict(self.resources),
            tenants=dict(self.tenants),
        )

    def enable_resource_debug(self, resource_id: str, reason: str | None = None) -> None:
        self.resources[resource_id.lower()] = reason

    def disable_resource_debug(self, resource_id: str) -> bool:
        return self.resources.pop(resource_id.lower(), None) is not None

    def enable_tenant_debug(self, tenant_id: str, reason: str | None = None) -> None:
        self.tenants[tenant_id.lower()] = reason

    def disable_tenant_debug(self, tenant_id: str) -> bool:
        return self.tenants.pop(tenant_id.lower(), None) is not None

    def enable_global_debug(self, reason: str | None = None) -> None:
        self.global_on, self.global_reason = True, reason

    def disable_global_debug(self) -> bool:
        was, self.global_on = self.global_on, False
        return was


# -- a whole orchestrator over doubles ------------------------------------------

RECORD_ENV = "ASTARA_TEST_RECORD"
DELAY_ENV = "ASTARA_TEST_UPDATE_DELAY"
RESOURCES_ENV = "ASTARA_TEST_RESOURCES"


def listed_router(index: int) -> Resource:
    """The ``index``-th router the doubles' network model lists (tenants of 3 routers)."""
    return Resource("router", f"router-{index:04d}", f"tenant-{index // 3:04d}")


class RecordingMachine:
    """A real StateMachine that notes each action it runs and takes a set time doing so."""

    def __init__(self, machine: StateMachine, record: Path | None, delay: float) -> None:
        self._machine = machine
        self._record = record
        self._delay = delay
        self._received: list[Crud] = []
        self._lock = threading.Lock()

    @property
    def resource(self) -> Resource:
        return self._machine.resource

    @property
    def deleted(self) -> bool:
        return self._machine.deleted

    @property
    def instance_state(self) -> InstanceState:
        return self._machine.instance_state

    @property
    def current_state_name(self) -> str:
        return self._machine.current_state_name

    def has_more_work(self) -> bool:
        return self._machine.has_more_work()

    def wake_at(self) -> float | None:
        return self._machine.wake_at()

    def queue_depth(self) -> int:
        return self._machine.queue_depth()

    def concerns(self, event: Event) -> bool:
        return self._machine.concerns(event)

    def send_message(self, event: Event) -> bool:
        taken = self._machine.send_message(event)
        if taken:
            with self._lock:
                self._received.append(event.crud)
        return taken

    def update(self) -> None:
        with self._lock:
            actions, self._received = collapse(self._received), []
        time.sleep(self._delay)
        self._machine.update()
        if self._record is not None and actions:
            resource = self.resource
            lines = "".join(f"{crud} {resource.driver} {resource.id}\n" for crud in actions)
            with self._record.open("a") as record:
                record.write(lines)


class DoublesLister(ResourceLister):
    driver = "router"

    def __init__(self, count: int) -> None:
        self._count = count

    def list_resources(self) -> list[Resource]:
        return [listed_router(index) for index in range(self._count)]


def doubles_machine(resource: Resource, boot_timeout: float = 600) -> StateMachine:
    """A real StateMachine and InstanceManager over fresh doubles, for ``resource``."""
    driver = DriverDouble(resource)
    provisioner = ProvisionerDouble()
    client = ApplianceClientDouble(provisioner)
    instances = InstanceManager(driver, provisioner, client, boot_timeout=boot_timeout)
    return StateMachine(resource, driver, instances)


class DoublesWiring(Wiring):
    """The orchestrator over doubles, steered by the environment (see the module docstring)."""

    def check(self) -> None:
        """Doubles are always available."""

    def listens_on_bus(self) -> bool:
        """Fed by populate and the control API only: no queue on the machine's RabbitMQ."""
        return False

    def machine_factory(self) -> MachineFactory:
        record = os.environ.get(RECORD_ENV)
        delay = float(os.environ.get(DELAY_ENV, "0"))

        def build(resource: Resource) -> Machine:
            machine = doubles_machine(resource, boot_timeout=self.conf.boot_timeout)
            return RecordingMachine(machine, Path(record) if record else None, delay)

        return build

    def resource_listers(self) -> list[ResourceLister]:
        return [DoublesLister(int(os.environ.get(RESOURCES_ENV, "0")))]


def read_record(path: Path) -> list[tuple[str, str, str]]:
    """The (crud, driver, id) lines a RecordingMachine wrote, in order."""
    if not path.exists():
        return []
    record = []
    for line in path.read_text().splitlines():
        crud, driver, resource_id = line.split()
        record.append((crud, driver, resource_id))
    return record


def by_action(record: list[tuple[str, str, str]]) -> Mapping[str, set[str]]:
    """Resource ids per action name."""
    ids: dict[str, set[str]] = {}
    for crud, _driver, resource_id in record:
        ids.setdefault(crud, set()).add(resource_id)
    return ids


class BusDoublesWiring(DoublesWiring):
    """The same orchestrator listening on RabbitMQ, as cloud mode does (tests give it a vhost)."""

    def listens_on_bus(self) -> bool:
        return True
