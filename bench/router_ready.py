"""How fast a tenant's router carries traffic in single-host mode, and what it costs in memory.

Starts a real single-host installation (``astara-orchestrator --single-host``,
as `make run` does, in its own state dir, API port and management prefix),
then, through the local network API:

1. **one after another**, 20 times: a tenant network and subnet, a port and a
   test instance on it (a namespace with the port's address, see
   ``astara.singlehost.instance``; addressed statically so that the figure is
   the router's, not a DHCP client's retry timer), a router with its gateway,
   and at once the router-interface-add call. The instance pings the host's
   address on the external network every 50 ms from before the call; the
   latency is from the call until the first reply, i.e. the first packet that
   crossed the router (through SNAT) and came back. The appliance boots
   during that time: the router is created just before the call.
2. the memory of what serves those 20 routers: every process running for the
   appliances (the shared agent host, each dnsmasq), RSS and PSS, per router;
3. **100 at once**: 100 more networks, instances and routers are prepared, then
   the 100 routers are created and their interfaces added by 10 clients in
   parallel; the time from the first call until every instance has had its
   first reply.

The host plays the external network's peer (it holds the external subnet's
gateway address), so nothing leaves the machine. Everything is named with the
``astb`` marker (``[singlehost] id_prefix``) and removed at the end, also on
failure. Needs root.

    .venv/bin/python bench/router_ready.py [--sequential 20] [--parallel 100]

Prints ``RESULT router_ready_s_p50``, ``RESULT router_ready_s_p95``,
``RESULT rss_mb_per_router`` and ``RESULT routers_100_ready_s``.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from openstack.connection import Connection

from astara.network.session import local_connection
from astara.provisioners.netns_records import RecordStore
from astara.singlehost.instance import INSTANCE_IFNAME, start_instance, stop_instance
from benchlib import machine, memory_mb, percentile, pids_mentioning

MARKER = "astb"
ORCHESTRATOR = str(Path(sys.executable).parent / "astara-orchestrator")
START_TIMEOUT_S = 120.0
#: The most one router may take to carry its first packet before the run fails.
READY_TIMEOUT_S = 600.0
PING_INTERVAL_S = "0.05"
PARALLEL_CLIENTS = 10
_REPLY = re.compile(r"^\[(\d+\.\d+)\] \d+ bytes from")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def routed_networks() -> list[ipaddress.IPv4Network]:
    out = subprocess.run(["ip", "-j", "-4", "route", "show", "table", "all"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    return [
        ipaddress.IPv4Network(route["dst"], strict=False)
        for route in json.loads(out or "[]")
        if route.get("dst", "default") != "default"
    ]


def free_subnets(supernet: str, count: int) -> list[ipaddress.IPv4Network]:
    """``count`` random distinct /24s of ``supernet`` that nothing on this host routes."""
    taken = routed_networks()
    candidates = [
        net for net in ipaddress.IPv4Network(supernet).subnets(new_prefix=24)
        if not any(net.overlaps(other) for other in taken)
    ]  # fmt: skip
    return [candidates.pop(secrets.randbelow(len(candidates))) for _ in range(count)]


class Installation:
    """A single-host installation of this run's own: its state dir, API port, process."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.state_dir = root / "state"
        self.api_port = free_port()
        self.config = root / "bench.ini"
        #: Outside ``root``, which goes at the end: kept for a look at what took time.
        self.log = Path(tempfile.gettempdir()) / f"{MARKER}-router-ready-astara.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start(self) -> None:
        prefix = "fd" + secrets.token_hex(7)
        groups = ":".join(prefix[i : i + 4] for i in range(0, 16, 4))
        self.config.write_text(
            f"[DEFAULT]\nmanagement_prefix = {groups}::/64\napi_port = {free_port()}\n"
            f"[singlehost]\napi_port = {self.api_port}\nuplink_nat = false\n"
            f"id_prefix = {MARKER}\n"
        )
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [ORCHESTRATOR, "--single-host", "--state-dir", str(self.state_dir),
                 "--config-file", str(self.config)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        wait_for(lambda: "single-host mode is running" in self.log.read_text(errors="replace"),
                 "Astara to start", START_TIMEOUT_S)  # fmt: skip

    def connection(self) -> Connection:
        return local_connection(self.url, timeout=120)

    def appliance_pids(self) -> set[int]:
        """The processes serving the appliances: every one started under the netns state root."""
        return pids_mentioning(str(self.state_dir / "netns"))

    def stop_and_remove(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        subprocess.run([sys.executable, "-m", "astara.singlehost.teardown",
                        "--state-dir", str(self.state_dir)],
                       capture_output=True, timeout=600, check=False)  # fmt: skip

    def died(self) -> str | None:
        if self.process is not None and self.process.poll() is not None:
            return self.log.read_text(errors="replace")[-3000:]
        return None


def wait_for(condition: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what}")
        time.sleep(0.1)


@dataclass
class Tenant:
    """One tenant's network with an instance on it, waiting for its router."""

    network_id: str
    subnet_id: str
    namespace: str
    pinger: subprocess.Popen[bytes] | None = None
    ping_log: Path = Path()
    asked_at: float = 0.0

    def start_pinging(self, target: str, log: Path) -> None:
        """Ping ``target`` every 50 ms, each reply stamped with epoch time, into ``log``.

        Into a file, not a pipe: nothing reads it until the router is up, and a
        full pipe would hold ping back. Without ``-c``: ping would stop at the
        first "host unreachable" the instance's kernel reports while the
        router's address does not answer ARP yet, and with ``-w`` at the first
        error; :meth:`first_reply_s` keeps the deadline instead.
        """
        self.ping_log = log
        with log.open("w") as out:
            self.pinger = subprocess.Popen(
                ["ip", "netns", "exec", self.namespace, "ping", "-n", "-D",
                 "-i", PING_INTERVAL_S, target],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def first_reply_s(self) -> float:
        """Seconds from the interface-add call to the first reply; stops the ping."""
        assert self.pinger is not None
        deadline = self.asked_at + READY_TIMEOUT_S
        try:
            while time.time() < deadline:
                for line in self.ping_log.read_text().splitlines():
                    if match := _REPLY.match(line):
                        return float(match[1]) - self.asked_at
                if self.pinger.poll() is not None:
                    break
                time.sleep(0.05)
            raise SystemExit(f"{self.namespace} never reached the outside through its router:"
                             f"\n{self.ping_log.read_text()[-500:]}")  # fmt: skip
        finally:
            self.pinger.kill()
            self.pinger.wait()


class Fleet:
    """The external network and every tenant made by this run."""

    def __init__(self, installation: Installation) -> None:
        self.installation = installation
        self.records = RecordStore(installation.state_dir / "netns")
        conn = installation.connection()
        external = conn.network.create_network(name=f"{MARKER}-public", is_router_external=True)
        [cidr] = free_subnets("172.16.0.0/12", 1)
        subnet = conn.network.create_subnet(
            network_id=external.id, ip_version=4, cidr=str(cidr), name=f"{MARKER}-public"
        )
        self.external_network_id = external.id
        self.external_gateway = str(subnet.gateway_ip)
        self.tenants: list[Tenant] = []

    def add_tenants(self, count: int) -> list[Tenant]:
        conn = self.installation.connection()
        made = []
        for cidr in free_subnets("10.0.0.0/8", count):
            network = conn.network.create_network(name=f"{MARKER}-net")
            subnet = conn.network.create_subnet(
                network_id=network.id, ip_version=4, cidr=str(cidr), name=f"{MARKER}-subnet"
            )
            port = conn.network.create_port(network_id=network.id, name=f"{MARKER}-vm")
            instance = start_instance(conn, port.id, records=self.records, dhcp=False)
            tenant = Tenant(network.id, subnet.id, instance.namespace)
            self.tenants.append(tenant)  # before addressing it, so it is always removed
            address = f"{instance.fixed_ips[0]}/{cidr.prefixlen}"
            ip_in(tenant.namespace, "addr", "add", address, "dev", INSTANCE_IFNAME)
            ip_in(tenant.namespace, "route", "add", "default", "via", str(subnet.gateway_ip))
            tenant.start_pinging(self.external_gateway,
                                 self.installation.root / f"ping-{tenant.namespace}.log")
            made.append(tenant)
        return made

    def route(self, tenant: Tenant, conn: Connection) -> None:
        """Create the tenant's router with its gateway, then add its interface (timed from)."""
        router = conn.network.create_router(
            name=f"{MARKER}-router",
            external_gateway_info={"network_id": self.external_network_id},
        )
        tenant.asked_at = time.time()
        conn.network.add_interface_to_router(router, subnet_id=tenant.subnet_id)

    def remove(self) -> None:
        for tenant in self.tenants:
            if tenant.pinger is not None and tenant.pinger.poll() is None:
                tenant.pinger.kill()
            stop_instance(tenant.namespace)


def ip_in(namespace: str, *argv: str) -> None:
    subprocess.run(["ip", "-n", namespace, *argv], check=True, capture_output=True)


def sequential(fleet: Fleet, count: int) -> list[float]:
    conn = fleet.installation.connection()
    latencies = []
    for tenant in fleet.add_tenants(count):
        fleet.route(tenant, conn)
        latencies.append(tenant.first_reply_s())
        print(f"  router {len(latencies):3d}: first packet after {latencies[-1]:.2f} s", flush=True)
    return latencies


def parallel(fleet: Fleet, count: int) -> tuple[float, list[float]]:
    tenants = fleet.add_tenants(count)
    started = time.time()

    def route(tenant: Tenant) -> None:
        fleet.route(tenant, fleet.installation.connection())

    with ThreadPoolExecutor(PARALLEL_CLIENTS) as pool:
        list(pool.map(route, tenants))
    latencies = [tenant.first_reply_s() for tenant in tenants]
    last_reply = max(t.asked_at + lat for t, lat in zip(tenants, latencies, strict=True))
    return last_reply - started, latencies


def summary(latencies: list[float]) -> str:
    cuts = " ".join(f"p{p}={percentile(latencies, p):.2f}s" for p in (50, 95, 99))
    return f"{cuts} max={max(latencies):.2f}s (n={len(latencies)})"


def print_memory(installation: Installation, routers: int) -> float:
    pids = installation.appliance_pids()
    rss, pss = memory_mb(pids)
    print(f"memory of {routers} routers: {len(pids)} processes, RSS {rss:.1f} MB "
          f"({rss / routers:.2f} MB per router), PSS {pss:.1f} MB "
          f"({pss / routers:.2f} MB per router)")  # fmt: skip
    return rss / routers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequential", type=int, default=20, help="routers made one by one")
    parser.add_argument("--parallel", type=int, default=100, help="routers made at once")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("router_ready.py needs root (namespaces, bridges)")
    for tool in ("ip", "ping", "dnsmasq", "nft"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed; run `make deps`")
    print(machine())
    root = Path(tempfile.mkdtemp(prefix=f"{MARKER}-router-ready-"))
    root.chmod(0o755)  # as a state dir under /var/lib would be: dnsmasq can drop root
    installation = Installation(root)
    fleet: Fleet | None = None
    try:
        installation.start()
        fleet = Fleet(installation)
        print(f"{args.sequential} routers, one after another "
              "(interface-add -> the instance's first packet through the router):")  # fmt: skip
        latencies = sequential(fleet, args.sequential)
        print(f"router ready: {summary(latencies)}")
        rss_per_router = print_memory(installation, args.sequential)
        total, parallel_latencies = parallel(fleet, args.parallel)
        print(f"{args.parallel} routers at once: all ready after {total:.2f} s; "
              f"each: {summary(parallel_latencies)}")  # fmt: skip
        print_memory(installation, args.sequential + args.parallel)
        if (log := installation.died()) is not None:
            raise SystemExit(f"Astara exited during the run:\n{log}")
        print(f"RESULT router_ready_s_p50 {percentile(latencies, 50):.3f} s")
        print(f"RESULT router_ready_s_p95 {percentile(latencies, 95):.3f} s")
        print(f"RESULT rss_mb_per_router {rss_per_router:.2f} MB")
        print(f"RESULT routers_{args.parallel}_ready_s {total:.3f} s")
        return 0
    finally:
        if fleet is not None:
            fleet.remove()
        installation.stop_and_remove()
        shutil.rmtree(root, ignore_errors=True)
        print(f"Astara's log: {installation.log}")


if __name__ == "__main__":
    sys.exit(main())
