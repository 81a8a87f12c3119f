"""Benchmark: notification -> normalise -> schedule -> a resource's collapsed queue.

Runs the orchestrator's real event path in this process (Intake: normalise,
Scheduler: shard, batch, pipe) into real worker processes (spawned, as in
production), where real StateMachine and InstanceManager objects over
in-memory doubles take the events. A machine notes, as an event reaches its
collapsed queue, how long ago the notification was submitted (the monotonic
clock is shared by every process of the host).

Phases:

1. set-up: every router and load balancer of every tenant is created;
2. saturated: a realistic mix of Neutron notifications is submitted as fast as
   one thread can, and the time until every event sits in its machine's queue
   gives the throughput;
3. paced: the same mix at a steady, moderate rate gives the latency an event
   sees when the orchestrator is not overloaded;
4. memory: one worker process takes 10,000 idle resources; its RSS growth per
   1,000 resources is reported.

Run: ``.venv/bin/python bench/events.py`` (add ``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import atexit
import itertools
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from astara.common.config import parse_config
from astara.db import migration
from astara.drivers.base import PortSpec, ResourceDriver
from astara.orchestrator.appliance_client import ApplianceClient
from astara.orchestrator.cli_options import CLI_OPTS, PROG
from astara.orchestrator.collapse import collapse
from astara.orchestrator.event import Crud, Event, Resource
from astara.orchestrator.instance_manager import InstanceManager
from astara.orchestrator.instance_state import InstanceState
from astara.orchestrator.intake import Intake
from astara.orchestrator.machine import Machine, MachineFactory
from astara.orchestrator.populate import ResourceLister
from astara.orchestrator.scheduler import Scheduler
from astara.orchestrator.state_machine import StateMachine
from astara.orchestrator.wiring import Wiring
from astara.orchestrator.worker_process import WorkerSpec
from astara.provisioners.base import InstanceInfo, InstanceStatus, Provisioner
from benchlib import machine, rss_kib

#: Where worker processes write their latency samples (set by the benchmark).
SAMPLES_DIR_ENV = "ASTARA_BENCH_SAMPLES"
#: The payload keys carrying a notification's submit time and benchmark phase.
SENT_AT = "bench_sent_at"
PHASE = "bench_phase"
DRIVERS = ("router", "loadbalancer")


# -- the worker side: lean doubles and machines that time their events ------------------


#: Numbers for ports, unique in a worker process (MACs and addresses derive from them).
_port_numbers = itertools.count(1)


class LeanDriver(ResourceDriver):
    """A resource on two networks; keeps its ports, nothing else."""

    def __init__(self, resource: Resource) -> None:
        super().__init__(resource, image_uuid="bench-image", flavor="bench")
        self._ports: dict[tuple[int, str], PortSpec] = {}

    @property
    def is_ha(self) -> bool:
        return False

    def refresh(self) -> bool:
        return True

    def ensure_ports(self, member: int = 0) -> tuple[PortSpec, list[PortSpec]]:
        roles = (("mgmt", "management"), ("ext", "external"), ("int", "internal"))
        ports = [self._port(member, network, role) for network, role in roles]
        return ports[0], ports[1:]

    def release_ports(self) -> None:
        self._ports.clear()

    def release_port(self, port: PortSpec) -> None:
        self._ports = {key: kept for key, kept in self._ports.items() if kept != port}

    def build_config(
        self, management_address: str, interfaces: Mapping[str, str]
    ) -> dict[str, Any]:
        return {"tenant_id": self.resource.tenant_id, "interfaces": len(interfaces)}

    def report_status(self, state: InstanceState) -> None:
        """Nothing to publish to."""

    def _port(self, member: int, network: str, role: str) -> PortSpec:
        key = (member, network)
        if key not in self._ports:
            n = next(_port_numbers)
            self._ports[key] = PortSpec(
                port_id=f"port-{n}",
                network_id=network,
                mac_address=f"fa:16:3e:{n >> 16 & 0xFF:02x}:{n >> 8 & 0xFF:02x}:{n & 0xFF:02x}",
                role=role,
                fixed_ips=(f"fdca::{n >> 16:x}:{n & 0xFFFF:x}",) if role == "management" else (),
            )
        return self._ports[key]


class LeanProvisioner(Provisioner):
    """Instances in a dict, shared by all machines (the platform, not the orchestrator)."""

    def __init__(self) -> None:
        self.instances: dict[str, InstanceInfo] = {}
        self.by_address: dict[str, InstanceInfo] = {}
        self._ids = itertools.count()
        self._lock = threading.Lock()

    def list_instances(self, name_prefix: str) -> list[InstanceInfo]:
        info = self.instances.get(name_prefix)
        return [info] if info is not None else []

    def boot(
        self,
        name: str,
        image_uuid: str | None,
        flavor: str | None,
        management_port: PortSpec,
        ports: Sequence[PortSpec],
    ) -> InstanceInfo:
        with self._lock:
            info = InstanceInfo(
                id=f"i-{next(self._ids)}",
                name=name,
                status=InstanceStatus.ACTIVE,
                management_address=management_port.fixed_ips[0],
                ports=(management_port, *ports),
                created_at=time.time(),
                image_uuid=image_uuid,
            )
            self._store(info)
        return info

    def destroy(self, instance_id: str) -> None:
        with self._lock:
            for name, info in list(self.instances.items()):
                if info.id == instance_id:
                    del self.instances[name]
                    self.by_address.pop(info.management_address or "", None)

    def plug(self, instance_id: str, port: PortSpec) -> None:
        self._replace_ports(instance_id, lambda ports: (*ports, port))

    def unplug(self, instance_id: str, port: PortSpec) -> None:
        self._replace_ports(
            instance_id, lambda ports: tuple(p for p in ports if p.port_id != port.port_id)
        )

    def _replace_ports(self, instance_id: str, change: Any) -> None:
        with self._lock:
            for info in list(self.instances.values()):
                if info.id == instance_id:
                    self._store(replace(info, ports=change(info.ports)))

    def _store(self, info: InstanceInfo) -> None:
        self.instances[info.name] = info
        self.by_address[info.management_address or ""] = info


class LeanApplianceClient(ApplianceClient):
    """Every booted appliance answers at once and accepts every config."""

    def __init__(self, provisioner: LeanProvisioner) -> None:
        self._provisioner = provisioner

    def is_alive(self, address: str, timeout: float) -> bool:
        return address in self._provisioner.by_address

    def get_interfaces(self, address: str) -> list[dict[str, Any]]:
        info = self._provisioner.by_address[address]
        return [
            {"ifname": f"eth{n}", "lladdr": port.mac_address} for n, port in enumerate(info.ports)
        ]

    def put_config(
        self, address: str, config: Mapping[str, Any], timeout: float
    ) -> dict[str, Any]:
        return dict(config)

    def read_counters(self, address: str) -> dict[str, Any]:
        return {}


#: Latency samples of this worker process: (phase, seconds); written out at exit.
_samples: list[tuple[str, float]] = []


class QueueOnlyMachine:
    """The cheapest honest state machine: a collapsed queue that update() empties.

    Its send_message costs what a real machine's does (the same collapse), so
    the event path is measured, not the appliance work behind it.
    """

    __slots__ = ("_queue", "resource")

    def __init__(self, resource: Resource) -> None:
        self.resource = resource
        self._queue: tuple[Crud, ...] = ()

    @property
    def deleted(self) -> bool:
        return False

    @property
    def instance_state(self) -> InstanceState:
        return InstanceState.CONFIGURED

    @property
    def current_state_name(self) -> str:
        return "CalcAction"

    def send_message(self, event: Event) -> bool:
        self._queue = collapse((*self._queue, event.crud))
        return True

    def update(self) -> None:
        self._queue = ()

    def has_more_work(self) -> bool:
        return bool(self._queue)

    def wake_at(self) -> float | None:
        return None

    def queue_depth(self) -> int:
        return len(self._queue)


class TimedMachine:
    """A state machine that notes how long each event took to reach its queue."""

    __slots__ = ("_machine",)

    def __init__(self, machine: Machine) -> None:
        self._machine = machine

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

    def send_message(self, event: Event) -> bool:
        taken = self._machine.send_message(event)
        sent_at = event.body.get(SENT_AT)
        if taken and isinstance(sent_at, float):
            _samples.append((str(event.body.get(PHASE)), time.monotonic() - sent_at))
        return taken

    def update(self) -> None:
        self._machine.update()

    def has_more_work(self) -> bool:
        return self._machine.has_more_work()

    def wake_at(self) -> float | None:
        return self._machine.wake_at()

    def queue_depth(self) -> int:
        return self._machine.queue_depth()


def _write_samples(directory: str) -> None:
    Path(directory, f"samples-{os.getpid()}.txt").write_text(
        "".join(f"{phase} {seconds:.6f}\n" for phase, seconds in _samples)
    )


class QueueOnlyWiring(Wiring):
    """Timed queue-only machines: the event path alone."""

    def check(self) -> None:
        """Nothing to check: no implementation is loaded."""

    def listens_on_bus(self) -> bool:
        """Events come from the benchmark's own feeding, not from RabbitMQ."""
        return False

    def machine_factory(self) -> MachineFactory:
        samples_dir = os.environ.get(SAMPLES_DIR_ENV)
        if samples_dir:
            atexit.register(_write_samples, samples_dir)
        return self._build()

    def _build(self) -> MachineFactory:
        return lambda resource: TimedMachine(QueueOnlyMachine(resource))

    def resource_listers(self) -> list[ResourceLister]:
        return []


class RealMachinesWiring(QueueOnlyWiring):
    """Timed real StateMachines and InstanceManagers over lean, shared doubles."""

    def _build(self) -> MachineFactory:
        provisioner = LeanProvisioner()
        client = LeanApplianceClient(provisioner)

        def build(resource: Resource) -> Machine:
            driver = LeanDriver(resource)
            instances = InstanceManager(driver, provisioner, client, max_retries=1)
            return TimedMachine(StateMachine(resource, driver, instances))

        return build


# -- the main side: notifications, phases, figures --------------------------------------


@dataclass(frozen=True)
class Fleet:
    tenants: int
    routers_per_tenant: int
    loadbalancers_per_tenant: int

    def tenant(self, n: int) -> str:
        return f"{n:08x}-6d6e-4f5b-9d5c-2f1f3c7a9e01"

    @property
    def resources(self) -> int:
        return self.tenants * (self.routers_per_tenant + self.loadbalancers_per_tenant)


def creations(fleet: Fleet) -> Iterator[tuple[str, dict[str, Any]]]:
    for t in range(fleet.tenants):
        tenant = fleet.tenant(t)
        for r in range(fleet.routers_per_tenant):
            yield "router.create.end", {"router": {"id": f"r-{t}-{r}", "tenant_id": tenant}}
        for b in range(fleet.loadbalancers_per_tenant):
            loadbalancer = {"id": f"lb-{t}-{b}", "tenant_id": tenant}
            yield "loadbalancer.create.end", {"loadbalancer": loadbalancer}


def mixed(fleet: Fleet, rng: random.Random) -> Iterator[tuple[str, dict[str, Any]]]:
    """Notifications in the proportions a busy cloud sends them: ports and FIPs dominate."""
    while True:
        t = rng.randrange(fleet.tenants)
        tenant = fleet.tenant(t)
        router = f"r-{t}-{rng.randrange(fleet.routers_per_tenant)}"
        lb = f"lb-{t}-{rng.randrange(max(1, fleet.loadbalancers_per_tenant))}"
        port = {"id": f"p-{rng.random()}", "tenant_id": tenant}
        kind = rng.random()
        if kind < 0.30:  # a VM port: no router named, every router of the tenant looks
            yield rng.choice(("port.create.end", "port.update.end", "port.delete.end")), {
                "port": {**port, "device_owner": "compute:nova", "device_id": "vm"}
            }
        elif kind < 0.45:  # a router's own port
            yield "port.update.end", {
                "port": {**port, "device_owner": "network:router_interface", "device_id": router}
            }
        elif kind < 0.60:
            yield rng.choice(("floatingip.create.end", "floatingip.delete.end")), {
                "floatingip": {"id": "fip", "tenant_id": tenant, "router_id": router}
            }
        elif kind < 0.68:
            yield "floatingip.update.end", {"floatingip": {"id": "fip", "tenant_id": tenant}}
        elif kind < 0.76:
            interface = {"id": router, "tenant_id": tenant}
            yield "router.interface.create", {"router_interface": interface}
        elif kind < 0.84:
            yield "router.update.end", {"router": {"id": router, "tenant_id": tenant}}
        elif kind < 0.90:
            yield "subnet.update.end", {"subnet": {"id": "s", "tenant_id": tenant}}
        elif fleet.loadbalancers_per_tenant:
            member = {"id": "m", "tenant_id": tenant, "loadbalancer_id": lb}
            yield "member.update.end", {"member": member}
        else:
            yield "router.update.end", {"router": {"id": router, "tenant_id": tenant}}


class Rig:
    """A scheduler of real worker processes behind a real intake."""

    def __init__(self, root: Path, workers: int, threads: int, wiring: type[Wiring]) -> None:
        database = f"sqlite:///{root / 'astara.db'}"
        migration.upgrade(database)
        config = root / "orchestrator.ini"
        config.write_text(
            "[DEFAULT]\n"
            f"num_worker_processes = {workers}\n"
            f"num_worker_threads = {threads}\n"
            "health_check_period = 3600\n"
            f"enabled_drivers = {','.join(DRIVERS)}\n"
            f"log_file = {root / 'orchestrator.log'}\n"
            "[database]\n"
            f"connection = {database}\n"
        )
        wiring_path = f"{Path(__file__).stem}:{wiring.__name__}"
        argv = ["--config-file", str(config), "--wiring", wiring_path]
        conf = parse_config(argv, PROG, CLI_OPTS)
        self.scheduler = Scheduler(
            lambda identity: WorkerSpec(identity=identity, argv=tuple(argv)), workers
        )
        self.intake = Intake(self.scheduler, wiring(conf).debug_store(), DRIVERS)

    def start(self) -> None:
        self.scheduler.start()
        self.drain()

    def submit_all(
        self, notifications: Iterator[tuple[str, dict[str, Any]]], count: int, phase: str
    ) -> int:
        events = 0
        for event_type, payload in itertools.islice(notifications, count):
            payload[PHASE] = phase
            payload[SENT_AT] = time.monotonic()
            events += self.intake.submit(event_type, payload, None)
        return events

    def drain(self) -> None:
        while self.scheduler.unhandled():
            time.sleep(0.001)

    def worker_pids(self) -> list[int]:
        return [int(report["pid"]) for report in self.scheduler.request_reports(60)]

    def stop(self) -> None:
        self.scheduler.stop(60)


def percentiles(samples: list[float]) -> str:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return " ".join(
        f"p{q}={cuts[q - 1] * 1000:.2f}ms" for q in (50, 95, 99)
    ) + f" (n={len(samples)})"


def read_samples(directory: Path) -> dict[str, list[float]]:
    """The latency samples every worker wrote, by phase."""
    samples: dict[str, list[float]] = {}
    for path in directory.glob("samples-*.txt"):
        for line in path.read_text().splitlines():
            phase, seconds = line.split()
            samples.setdefault(phase, []).append(float(seconds))
        path.unlink()
    return samples


def throughput_and_latency(root: Path, args: argparse.Namespace, wiring: type[Wiring]) -> float:
    """Run set-up, saturated and paced phases; print their figures; return events/s."""
    fleet = Fleet(args.tenants, routers_per_tenant=3, loadbalancers_per_tenant=1)
    notifications = mixed(fleet, random.Random(42))
    rig = Rig(root, args.workers, args.threads, wiring)
    rig.start()
    try:
        rig.submit_all(creations(fleet), fleet.resources, "setup")
        rig.drain()
        started = time.perf_counter()
        events = rig.submit_all(notifications, args.notifications, "saturated")
        submitted = time.perf_counter() - started
        rig.drain()
        elapsed = time.perf_counter() - started
        for n in range(args.paced_seconds * args.paced_rate):
            rig.submit_all(notifications, 1, "paced")
            pause = started + elapsed + (n + 1) / args.paced_rate - time.perf_counter()
            time.sleep(max(0.0, pause))
        rig.drain()
    finally:
        rig.stop()
    samples = read_samples(root)
    rate = events / elapsed
    print(f"[{wiring.__doc__}]")
    print(f"  {fleet.resources} resources in {fleet.tenants} tenants; "
          f"{args.workers} worker processes x {args.threads} threads")
    print(f"  saturated: {args.notifications} notifications -> {events} events, submitted in "
          f"{submitted:.2f} s, all in their resource queues after {elapsed:.2f} s: "
          f"{rate:,.0f} events/s")
    print(f"  latency, saturated (queueing included): {percentiles(samples['saturated'])}")
    print(f"  latency, paced at {args.paced_rate} notifications/s: {percentiles(samples['paced'])}")
    return rate


def memory_per_thousand(root: Path, args: argparse.Namespace) -> float:
    """RSS growth of one worker process per 1,000 idle resources (real machines)."""
    fleet = Fleet(args.memory_resources // 2, routers_per_tenant=2, loadbalancers_per_tenant=0)
    rig = Rig(root, 1, args.threads, RealMachinesWiring)
    rig.start()
    try:
        rig.submit_all(creations(Fleet(1, 1, 0)), 1, "setup")
        rig.drain()
        (pid,) = rig.worker_pids()
        before = rss_kib(pid)
        rig.submit_all(creations(fleet), fleet.resources, "setup")
        rig.drain()
        while any(report["work_queue_depth"] for report in rig.scheduler.request_reports(60)):
            time.sleep(0.1)
        after = rss_kib(pid)
    finally:
        rig.stop()
    per_thousand = (after - before) / fleet.resources * 1000
    print(f"[{RealMachinesWiring.__doc__}]")
    print(f"  memory: worker RSS {before} KB -> {after} KB with {fleet.resources} more idle "
          f"resources: {per_thousand:,.0f} KB per 1,000")
    return per_thousand


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)
    args.tenants = 200 if args.quick else 2000
    args.notifications = 20_000 if args.quick else 200_000
    args.paced_rate = 2000
    args.paced_seconds = 1 if args.quick else 5
    args.memory_resources = 2000 if args.quick else 10_000
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="astara-bench-") as directory:
        os.environ[SAMPLES_DIR_ENV] = directory
        phases = {}
        for name, wiring in (("queue", QueueOnlyWiring), ("real", RealMachinesWiring)):
            root = Path(directory, name)
            root.mkdir()
            os.environ[SAMPLES_DIR_ENV] = str(root)
            phases[name] = throughput_and_latency(root, args, wiring)
        memory_root = Path(directory, "memory")
        memory_root.mkdir()
        per_thousand = memory_per_thousand(memory_root, args)
    print(f"RESULT events_per_s {phases['queue']:.0f} events/s")
    print(f"RESULT rss_kb_per_1000_resources {per_thousand:.0f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
