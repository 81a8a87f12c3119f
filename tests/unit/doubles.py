"""Test doubles for the orchestrator core: a driver, a provisioner, an appliance agent.

They behave like the real thing (the provisioner keeps instances, the agent
of an instance shows the MACs of the ports plugged into it) and each has a few
switches to make it fail the way the real one can. ``MachineRig`` wires them
to a real InstanceManager and StateMachine on a fake clock, counting in metrics
of their own, and drives the machine the way a worker does.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from astara.drivers.base import PortSpec, ResourceDriver
from astara.orchestrator.appliance_client import (
    ApplianceClient,
    ApplianceConfigError,
    ApplianceError,
)
from astara.orchestrator.event import Crud, Event, Resource
from astara.orchestrator.instance_manager import InstanceManager
from astara.orchestrator.instance_state import InstanceState
from astara.orchestrator.metrics_worker import WorkerMetrics
from astara.orchestrator.state_machine import StateMachine
from astara.provisioners.base import InstanceInfo, InstanceStatus, Provisioner

ROUTER = Resource("router", "7d5c1e2a-0000-4000-8000-000000000001", "tenant-1")


class FakeClock:
    """A clock that moves only when told to; doubles as an injectable sleep."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        self.now += seconds


#: The block a driver puts in every config: where the appliance reaches the orchestrator.
ORCHESTRATOR_BLOCK = {"address": "fdca:3ba5:a17a:acda::1", "metadata_port": 9697, "host": "h"}


class DriverDouble(ResourceDriver):
    """A resource attached to ``networks``; one port per network and member.

    Switches: ``exists`` (False = GONE), ``gone_after`` (the resource vanishes
    after that many more reads), ``event_during_read`` (each read is overtaken
    by an event, so the next refresh reads again), ``refresh_error``, ``build_error``,
    ``report_error``, ``reuse_ports`` (False: a broken driver that makes new
    data ports on every call); ``networks`` may change between calls (to force
    a re-plug).
    """

    def __init__(
        self,
        resource: Resource = ROUTER,
        *,
        ha: bool = False,
        networks: Sequence[str] = ("net-ext", "net-int"),
        image_uuid: str | None = "image-default",
        flavor: str | None = "flavor-small",
    ) -> None:
        super().__init__(resource, image_uuid=image_uuid, flavor=flavor)
        self.ha = ha
        self.networks = list(networks)
        self.exists = True
        self.gone_after: int | None = None
        self.reuse_ports = True
        self.refresh_error: Exception | None = None
        #: Reads of the resource (refreshes that did not reuse the last read).
        self.reads = 0
        self.event_during_read = False
        self.build_error: Exception | None = None
        self.report_error: Exception | None = None
        self.reported: list[InstanceState] = []
        self.built: list[tuple[str, dict[str, str]]] = []
        self.released_ports: list[PortSpec] = []
        self.release_all_calls = 0
        self._ports: dict[tuple[int, str], PortSpec] = {}
        self._macs = itertools.count(1)

    @property
    def is_ha(self) -> bool:
        return self.ha

    def _read(self) -> bool:
        self.reads += 1
        if self.event_during_read:
            self.news()  # as if an event arrived while the model answered
        if self.refresh_error is not None:
            raise self.refresh_error
        if self.gone_after is not None:
            self.exists = self.exists and self.gone_after > 0
            self.gone_after -= 1
        return self.exists

    def ensure_ports(self, member: int = 0) -> tuple[PortSpec, list[PortSpec]]:
        management = self._port(member, "mgmt", "management")
        if not self.reuse_ports:
            self._ports = {key: p for key, p in self._ports.items() if p.role == "management"}
        ports = [
            self._port(member, net, "external" if net == "net-ext" else "internal")
            for net in self.networks
        ]
        return management, ports

    def release_ports(self) -> None:
        self.release_all_calls += 1
        self._ports.clear()

    def release_port(self, port: PortSpec) -> None:
        self.released_ports.append(port)
        self._ports = {key: p for key, p in self._ports.items() if p != port}

    def build_config(
        self, management_address: str, interfaces: Mapping[str, str]
    ) -> dict[str, Any]:
        if self.build_error is not None:
            raise self.build_error
        self.built.append((management_address, dict(interfaces)))
        return {
            "tenant_id": self.resource.tenant_id,
            "networks": sorted(self.networks),
            "orchestrator": dict(ORCHESTRATOR_BLOCK),
        }

    def report_status(self, state: InstanceState) -> None:
        if self.report_error is not None:
            raise self.report_error
        self.reported.append(state)

    def _port(self, member: int, network: str, role: str) -> PortSpec:
        key = (member, network)
        if key not in self._ports:
            n = next(self._macs)
            ips = (
                (f"fdca:3ba5:a17a:acda::{n + 0x100:x}",)
                if role == "management"
                else (f"10.0.{n}.1",)
            )
            self._ports[key] = PortSpec(
                port_id=f"port-{n}",
                network_id=network,
                mac_address=f"FA:16:3E:00:{member:02X}:{n:02X}",
                role=role,
                fixed_ips=ips,
            )
        return self._ports[key]


@dataclass
class ProvisionerDouble(Provisioner):
    """Keeps instances in a dict; boots them ACTIVE with an address, or as told.

    Switches: ``boot_error``, ``destroy_error``, ``list_error``, ``plug_error``;
    ``boot_status`` for new instances; ``plug_sticks=False`` makes plugging
    claim success without changing the instance (a lying platform).
    """

    clock: FakeClock = field(default_factory=FakeClock)
    instances: dict[str, InstanceInfo] = field(default_factory=dict)
    booted_at: dict[str, float] = field(default_factory=dict)
    boots: list[dict[str, Any]] = field(default_factory=list)
    destroyed: list[str] = field(default_factory=list)
    plugged: list[tuple[str, PortSpec]] = field(default_factory=list)
    unplugged: list[tuple[str, PortSpec]] = field(default_factory=list)
    boot_error: Exception | None = None
    destroy_error: Exception | None = None
    list_error: Exception | None = None
    plug_error: Exception | None = None
    boot_status: InstanceStatus = InstanceStatus.ACTIVE
    plug_sticks: bool = True
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def list_instances(self, name_prefix: str) -> list[InstanceInfo]:
        if self.list_error is not None:
            raise self.list_error
        return [i for i in self.instances.values() if i.name.startswith(name_prefix)]

    def boot(
        self,
        name: str,
        image_uuid: str | None,
        flavor: str | None,
        management_port: PortSpec,
        ports: Sequence[PortSpec],
    ) -> InstanceInfo:
        if self.boot_error is not None:
            raise self.boot_error
        self.boots.append({"name": name, "image_uuid": image_uuid, "flavor": flavor})
        info = self.add(name, management_port, ports, image_uuid=image_uuid)
        return info

    def add(
        self,
        name: str,
        management_port: PortSpec,
        ports: Sequence[PortSpec],
        *,
        status: InstanceStatus | None = None,
        image_uuid: str | None = None,
        created_at: float | None = None,
    ) -> InstanceInfo:
        """Put an instance on the platform (as boot does, or as a previous run left it)."""
        instance_id = f"i-{next(self._ids)}"
        info = InstanceInfo(
            id=instance_id,
            name=name,
            status=status or self.boot_status,
            management_address=management_port.fixed_ips[0],
            ports=(management_port, *ports),
            created_at=self.clock() if created_at is None else created_at,
            image_uuid=image_uuid,
        )
        self.instances[instance_id] = info
        self.booted_at[instance_id] = self.clock()
        return info

    def destroy(self, instance_id: str) -> None:
        if self.destroy_error is not None:
            raise self.destroy_error
        self.destroyed.append(instance_id)
        self.instances.pop(instance_id, None)

    def plug(self, instance_id: str, port: PortSpec) -> None:
        if self.plug_error is not None:
            raise self.plug_error
        self.plugged.append((instance_id, port))
        if self.plug_sticks:
            info = self.instances[instance_id]
            self.instances[instance_id] = replace(info, ports=(*info.ports, port))

    def unplug(self, instance_id: str, port: PortSpec) -> None:
        if self.plug_error is not None:
            raise self.plug_error
        self.unplugged.append((instance_id, port))
        if self.plug_sticks:
            info = self.instances[instance_id]
            kept = tuple(p for p in info.ports if p.port_id != port.port_id)
            self.instances[instance_id] = replace(info, ports=kept)

    def by_name(self, name: str) -> InstanceInfo:
        (info,) = [i for i in self.instances.values() if i.name == name]
        return info


@dataclass
class ApplianceClientDouble(ApplianceClient):
    """The agents of the provisioner double's instances.

    An instance's agent answers ``boot_delay`` seconds after its boot, unless
    its id is in ``dead`` or ``all_dead`` is set; it shows the MACs of the
    ports plugged into it. ``config_error`` makes every config push fail.
    """

    provisioner: ProvisionerDouble
    boot_delay: float = 0.0
    all_dead: bool = False
    dead: set[str] = field(default_factory=set)
    config_error: ApplianceError | None = None
    counters: dict[str, Any] = field(
        default_factory=lambda: {"eth0": {"rx_bytes": 10, "tx_bytes": 20}}
    )
    hidden_macs: set[str] = field(default_factory=set)
    probes: list[str] = field(default_factory=list)
    configs: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    counter_reads: list[str] = field(default_factory=list)

    def is_alive(self, address: str, timeout: float) -> bool:
        self.probes.append(address)
        return self._instance(address) is not None

    def get_interfaces(self, address: str) -> list[dict[str, Any]]:
        info = self._require(address)
        shown = [p for p in info.ports if p.mac_address.lower() not in self.hidden_macs]
        return [
            {"ifname": f"eth{n}", "lladdr": p.mac_address.lower(), "addresses": [], "mtu": 1500}
            for n, p in enumerate(shown)
        ]

    def put_config(self, address: str, config: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        self._require(address)
        self.configs.append((address, dict(config)))
        if self.config_error is not None:
            raise self.config_error
        return dict(config)

    def read_counters(self, address: str) -> dict[str, Any]:
        self._require(address)
        self.counter_reads.append(address)
        return self.counters

    def _instance(self, address: str) -> InstanceInfo | None:
        if self.all_dead:
            return None
        for info in self.provisioner.instances.values():
            started = self.provisioner.booted_at[info.id]
            if (
                info.management_address == address
                and info.id not in self.dead
                and self.provisioner.clock() - started >= self.boot_delay
            ):
                return info
        return None

    def _require(self, address: str) -> InstanceInfo:
        info = self._instance(address)
        if info is None:
            raise ApplianceError(f"{address}: connection refused")
        return info


def rejecting(status_code: int = 422, detail: str = "bad config") -> ApplianceConfigError:
    return ApplianceConfigError(status_code, detail)


class MachineRig:
    """A StateMachine wired to the doubles on a fake clock, driven like a worker does."""

    def __init__(
        self,
        *,
        ha: bool = False,
        boot_delay: float = 0.0,
        boot_timeout: float = 600,
        reboot_error_threshold: int = 5,
        error_state_cooldown: float = 30,
        resource: Resource = ROUTER,
        record: bool = True,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.clock = FakeClock()
        #: What the machine and its instance manager count (not the process-wide metrics).
        self.metrics = metrics or WorkerMetrics()
        self.stats: list[tuple[Resource, Mapping[str, Any]]] = []
        self.driver = DriverDouble(resource, ha=ha)
        self.provisioner = ProvisionerDouble(clock=self.clock)
        self.client = ApplianceClientDouble(self.provisioner, boot_delay=boot_delay)
        self.instances = InstanceManager(
            self.driver,
            self.provisioner,
            self.client,
            boot_timeout=boot_timeout,
            stats_callback=lambda resource, counters: self.stats.append((resource, counters)),
            clock=self.clock,
            sleep=self.clock.sleep,
            wall_clock=self.clock,
            metrics=self.metrics,
        )
        self.machine = StateMachine(
            resource,
            self.driver,
            self.instances,
            reboot_error_threshold=reboot_error_threshold,
            error_state_cooldown=error_state_cooldown,
            clock=self.clock,
            metrics=self.metrics,
        )
        #: Every (state, next state) the machine went through, in order (if recording).
        self.transitions: list[tuple[str, str]] = []
        if record:
            _RECORDER.sinks[id(self.machine)] = self.transitions

    @property
    def path(self) -> list[str]:
        """The states walked through, in order (each state once per visit)."""
        return (
            [self.transitions[0][0], *(to for _, to in self.transitions)]
            if self.transitions
            else []
        )

    def went(self, origin: str, target: str) -> bool:
        """True when the machine went from state ``origin`` straight to ``target``."""
        return (origin, target) in self.transitions

    @property
    def state(self) -> InstanceState:
        return self.machine.instance_state

    def send(self, crud: Crud, **body: Any) -> bool:
        return self.machine.send_message(Event(self.machine.resource, crud, body))

    def run(self) -> None:
        """Update while the machine has work, as a worker thread would."""
        for _ in range(1000):
            self.machine.update()
            if not self.machine.has_more_work():
                return
        raise AssertionError("the machine never rested")

    def deliver(self, crud: Crud, **body: Any) -> bool:
        """Send an event and, when taken, run the machine."""
        taken = self.send(crud, **body)
        if taken:
            self.run()
        return taken

    def wake(self) -> bool:
        """Move the clock to the machine's wake-up time and POLL it; False if it wants none."""
        wake_at = self.machine.wake_at()
        if wake_at is None:
            return False
        self.clock.now = max(self.clock.now, wake_at)
        self.deliver(Crud.POLL)
        return True

    def settle(self, max_wakes: int = 10_000) -> int:
        """Wake the machine until it wants no wake-up; return how many wake-ups it took."""
        for wakes in range(max_wakes):
            if not self.wake():
                return wakes
        raise AssertionError("the machine keeps asking to be woken")

    def converge(self, crud: Crud = Crud.CREATE, **body: Any) -> None:
        """Deliver an event and wake the machine until it settles."""
        self.deliver(crud, **body)
        self.settle()


def metric_value(families: Sequence[Mapping[str, Any]], sample: str, **labels: str) -> float:
    """The sum of the ``sample`` samples with ``labels`` in ``families`` (as reports carry them)."""
    return sum(
        s["value"]
        for family in families
        for s in family["samples"]
        if s["name"] == sample and labels.items() <= s["labels"].items()
    )


class RigFactory:
    """A worker's machine factory: a :class:`MachineRig` per resource, all counting in ``metrics``.

    ``prepare`` may set a new rig's switches before its machine sees an event.
    """

    def __init__(
        self,
        metrics: WorkerMetrics | None = None,
        prepare: Callable[[MachineRig], None] = lambda rig: None,
    ) -> None:
        self.metrics = metrics or WorkerMetrics()
        self.rigs: dict[str, MachineRig] = {}
        self._prepare = prepare

    def __call__(self, resource: Resource) -> StateMachine:
        rig = MachineRig(resource=resource, record=False, metrics=self.metrics)
        self._prepare(rig)
        self.rigs[resource.id] = rig
        return rig.machine


class _TransitionRecorder(logging.Handler):
    """Collects the (state, next state) pairs state machines log at DEBUG, per machine.

    Sinks are keyed by ``id(machine)``: a new rig's machine that reuses the id
    of a collected one registers its own sink over the old.
    """

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.sinks: dict[int, list[tuple[str, str]]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        sink = self.sinks.get(id(getattr(record, "machine", None)))
        if sink is not None:
            sink.append(record.transition)


_RECORDER = _TransitionRecorder()
_SM_LOG = logging.getLogger("astara.orchestrator.state_machine")
_SM_LOG.addHandler(_RECORDER)
_SM_LOG.setLevel(logging.DEBUG)
