"""Single-host mode end to end: the install guide's steps with the real openstack client.

Astara runs as `make run` runs it (``astara-orchestrator --single-host``, see
``conftest.py``); the tests act only through the network API and the host's
kernel, as a user would. The host is the external network's peer (it holds
the external subnet's gateway address), so SNAT and floating IPs are checked
against it; a test instance is a namespace on a port made through the API
(``astara.singlehost.instance``), which gets its address by DHCP.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from astara.network.session import local_connection
from astara.provisioners.netns_records import RecordStore
from astara.singlehost.instance import INSTANCE_IFNAME, TestInstance, start_instance
from tests.e2e.singlehost.conftest import (
    BOOT_TIMEOUT_S,
    HEALTH_CHECK_PERIOD_S,
    SingleHost,
    Topology,
    build_guide_topology,
    free_port,
)

pytestmark = pytest.mark.e2e

PEER_ECHO = str(Path(__file__).resolve().parents[1] / "appliance" / "peer_echo.py")
#: Seconds a reachability probe waits (an address that answers does so at once).
PROBE_TIMEOUT_S = 30.0
METADATA_URL = "http://169.254.169.254/latest/meta-data/instance-id"
#: Interval of the ping that must lose nothing across a restart.
STEADY_PING_INTERVAL_S = "0.2"


InstanceFactory = Callable[[str], TestInstance]


@pytest.fixture
def instance_factory(
    single_host: SingleHost, adopt_netns: Callable[[str], str]
) -> Iterator[InstanceFactory]:
    """Boot test instances on new ports of a network; their namespaces go at teardown."""

    def boot(network_id: str) -> TestInstance:
        port = single_host.openstack("port", "create", "--network", network_id, "astt-vm")
        single_host.adopt_port(port["id"])
        adopt_netns(f"vm-{port['id'][:8]}")
        records = RecordStore(single_host.state_dir / "netns")
        return start_instance(local_connection(single_host.url), port["id"], records=records)

    yield boot


def _host_addresses(namespace: str) -> set[str]:
    out = subprocess.run(
        ["ip", "-n", namespace, "-j", "-4", "addr", "show", "dev", INSTANCE_IFNAME],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return {a["local"] for link in json.loads(out or "[]") for a in link.get("addr_info", [])}


def _default_gateway(namespace: str) -> str | None:
    out = subprocess.run(
        ["ip", "-n", namespace, "-j", "-4", "route", "show", "default"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    routes = json.loads(out or "[]")
    return str(routes[0]["gateway"]) if routes else None


def _in(namespace: str | None, *argv: str) -> list[str]:
    return ["ip", "netns", "exec", namespace, *argv] if namespace else list(argv)


def _pings(namespace: str | None, address: str) -> bool:
    return subprocess.run(_in(namespace, "ping", "-n", "-c", "1", "-W", "1", address),
                          capture_output=True, check=False).returncode == 0  # fmt: skip


def _ask_peer(namespace: str | None, address: str, port: int) -> str:
    """Connect to a peer_echo server; the source address it saw."""
    result = subprocess.run(_in(namespace, sys.executable, PEER_ECHO, "ask", address, str(port)),
                            capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    return result.stdout.strip()


class PeerServers:
    """peer_echo servers, killed at teardown."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []

    def serve(self, namespace: str | None, address: str) -> int:
        port = free_port()
        argv = _in(namespace, sys.executable, PEER_ECHO, "serve", address, str(port))
        self.processes.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL))
        return port


@pytest.fixture
def peers() -> Iterator[PeerServers]:
    servers = PeerServers()
    yield servers
    for process in servers.processes:
        process.kill()
        process.wait(timeout=10)


def _wait_for_lease(host: SingleHost, instance: TestInstance, gateway: str) -> None:
    host.wait(lambda: set(instance.fixed_ips) <= _host_addresses(instance.namespace)
              and _default_gateway(instance.namespace) == gateway,
              f"the DHCP lease of {instance.namespace}", PROBE_TIMEOUT_S)  # fmt: skip


def _router_external_ip(host: SingleHost, router_id: str) -> str:
    info = host.openstack("router", "show", router_id)["external_gateway_info"]
    return str(info["external_fixed_ips"][0]["ip_address"])


def test_the_guides_steps_give_an_appliance_that_routes_an_instance(
    single_host: SingleHost,
    topology: Topology,
    instance_factory: InstanceFactory,
    peers: PeerServers,
) -> None:
    router_id = topology.router["id"]
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                                check=True).stdout  # fmt: skip
    assert f"ak-router-{router_id}" in namespaces

    instance = instance_factory(topology.private_network["id"])
    _wait_for_lease(single_host, instance, topology.private_subnet["gateway_ip"])

    # SNAT: the host (outside) sees the router's external address.
    outside_port = peers.serve(None, topology.external_gateway)
    assert _ask_peer(instance.namespace, topology.external_gateway, outside_port) == (
        _router_external_ip(single_host, router_id)
    )

    # Metadata: the appliance's proxy, the orchestrator's (which signs), the built-in service.
    metadata = subprocess.run(
        _in(instance.namespace, sys.executable, "-c",
            f"import urllib.request; print(urllib.request.urlopen({METADATA_URL!r}, "
            "timeout=20).read().decode())"),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert metadata.returncode == 0, metadata.stderr
    assert metadata.stdout.strip() == instance.instance_id

    # A floating IP, both ways: the host reaches the instance on it, and it is the
    # instance's source address outside.
    floating = single_host.openstack(
        "floating", "ip", "create", "--port", instance.port_id, topology.public_network["id"]
    )
    single_host.adopt_all_ports()
    address = floating["floating_ip_address"]
    single_host.wait(lambda: _pings(None, address), f"floating IP {address} from the host",
                     PROBE_TIMEOUT_S)  # fmt: skip
    inside_port = peers.serve(instance.namespace, "0.0.0.0")
    assert _ask_peer(None, address, inside_port) == topology.external_gateway
    assert _ask_peer(instance.namespace, topology.external_gateway, outside_port) == address


def _links() -> set[str]:
    out = subprocess.run(["ip", "-j", "link", "show"], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    return {link["ifname"] for link in json.loads(out)}


def _namespaces() -> set[str]:
    out = subprocess.run(["ip", "-j", "netns", "list"], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    return {entry["name"] for entry in json.loads(out or "[]")}


def _processes_mentioning(text: str) -> list[str]:
    """Command lines of running processes that name ``text`` (a router id, a state dir)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline:
            found.append(cmdline)
    return found


def test_removing_the_interface_then_the_router_leaves_nothing_behind(
    single_host: SingleHost,
) -> None:
    links_before, namespaces_before = _links(), _namespaces()
    topology = build_guide_topology(single_host)
    router_id = topology.router["id"]
    single_host.wait_router_active(router_id)
    # Everything Astara derives names from: the networks and every port that existed.
    ids = [topology.private_network["id"], topology.public_network["id"]]
    ids += [port["ID"] for port in single_host.openstack("port", "list")]

    def ours(names: set[str]) -> set[str]:
        return {name for name in names if router_id in name or any(i[:11] in name for i in ids)}

    assert ours(_links() - links_before) and ours(_namespaces() - namespaces_before)

    single_host.openstack_text(
        "router", "remove", "subnet", router_id, topology.private_subnet["id"]
    )
    single_host.openstack_text("router", "delete", router_id)
    namespace = f"ak-router-{router_id}"
    single_host.wait(lambda: namespace not in _namespaces(), f"{namespace} to go",
                     PROBE_TIMEOUT_S)  # fmt: skip
    single_host.wait(lambda: not _processes_mentioning(router_id),
                     "the router's processes to end", PROBE_TIMEOUT_S)  # fmt: skip
    single_host.wait(lambda: not _agent_host_pids(single_host),
                     "the agent host to exit with its last appliance", PROBE_TIMEOUT_S)  # fmt: skip

    # With the networks gone too, the host is as single-host mode's start left it.
    for subnet in (topology.private_subnet, topology.public_subnet):
        single_host.openstack_text("subnet", "delete", subnet["id"])
    for network in (topology.private_network, topology.public_network):
        single_host.openstack_text("network", "delete", network["id"])
    single_host.wait(lambda: not ours(_links() - links_before), "the networks' links to go",
                     PROBE_TIMEOUT_S)  # fmt: skip
    assert not ours(_namespaces() - namespaces_before)


def _agent_host_pids(host: SingleHost) -> list[int]:
    """The shared agent host serving this installation's appliances."""
    root = str(host.state_dir / "netns")
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        text = [part.decode(errors="replace") for part in argv]
        if any("netns_agent_host" in part for part in text) and root in text:
            pids.append(int(proc.name))
    return pids


def test_a_killed_agent_is_rebuilt_by_the_health_monitor_unattended(
    single_host: SingleHost,
    topology: Topology,
    instance_factory: InstanceFactory,
) -> None:
    [agent] = _agent_host_pids(single_host)
    os.kill(agent, signal.SIGKILL)
    single_host.wait(
        lambda: bool(_agent_host_pids(single_host))
        and agent not in _agent_host_pids(single_host)
        and single_host.router_status(topology.router["id"]) == "ACTIVE"
        and "rebuil" in single_host.log(),
        "the appliance to be rebuilt",
        HEALTH_CHECK_PERIOD_S + BOOT_TIMEOUT_S + PROBE_TIMEOUT_S,
    )
    instance = instance_factory(topology.private_network["id"])
    _wait_for_lease(single_host, instance, topology.private_subnet["gateway_ip"])
    single_host.wait(lambda: _pings(instance.namespace, topology.external_gateway),
                     "the rebuilt router to route", PROBE_TIMEOUT_S)  # fmt: skip


def test_a_restart_verifies_the_routers_without_rebuilding_them(
    single_host: SingleHost,
    topology: Topology,
    instance_factory: InstanceFactory,
) -> None:
    router_id = topology.router["id"]
    instance = instance_factory(topology.private_network["id"])
    _wait_for_lease(single_host, instance, topology.private_subnet["gateway_ip"])
    [agent] = _agent_host_pids(single_host)
    ping = subprocess.Popen(
        _in(instance.namespace, "ping", "-n", "-i", STEADY_PING_INTERVAL_S,
            topology.external_gateway),
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert single_host.stop() == 0
        single_host.start()
        single_host.wait(lambda: f"{router_id}" in single_host.log()
                         and single_host.router_status(router_id) == "ACTIVE",
                         "the restarted orchestrator to verify the router",
                         PROBE_TIMEOUT_S)  # fmt: skip
    finally:
        ping.send_signal(signal.SIGINT)
        output, _ = ping.communicate(timeout=30)
    summary = re.search(r"(\d+) packets transmitted, (\d+) received", output)
    assert summary is not None, output
    sent, received = int(summary[1]), int(summary[2])
    assert sent > 0 and received == sent, output
    assert _agent_host_pids(single_host) == [agent]
    assert "rebuil" not in single_host.log().lower()
