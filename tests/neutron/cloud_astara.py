"""Astara in cloud mode against the session's real Neutron, with the netns provisioner.

The orchestrator runs as the install guide sets it up: ``network_model =
neutron`` (token-less, ``[keystone_authtoken] auth_type = none`` pinned to
Neutron's URL, since the test Neutron runs noauth), notifications and RPC on
Neutron's RabbitMQ virtual host, the management network made in Neutron
(IPv6 SLAAC on the guide's ``fdca:3ba5:a17a:acda::/64``) and its own port
plugged by the Linux bridge interface driver.

Neutron picks every id, so the bridges, veths and namespaces Astara derives
from them cannot carry the ``astt`` marker. Everything Astara and the test
instances create therefore lives inside a :class:`~tests.private_world.PrivateWorld`
(a test-owned network namespace with a private ``/run/netns``), which reaches
Neutron and RabbitMQ on the host's loopback through forwarders, and which is
removed whole at the end. The world also plays the outside: a namespace on
the external network's bridge holding the external subnet's gateway address.

Astara reaches Neutron through a :class:`~tests.neutron.faulty_neutron.FaultyNeutron`,
so a test can make Neutron fail for a while, and its metadata proxy asks a
:class:`~tests.neutron.nova_metadata.NovaMetadata` stand-in, since Nova cannot
run here.
"""

from __future__ import annotations

import contextlib
import ipaddress
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from tests.neutron.conftest import NeutronServer
from tests.neutron.faulty_neutron import FaultyNeutron
from tests.neutron.nova_metadata import NovaMetadata
from tests.private_world import PrivateWorld, private_world
from tests.stopping import stop_process
from tests.waiting import wait_until

from astara.common.linux.interface import bridge_name_for_network
from astara.db import migration
from astara.orchestrator.cli_options import PROG

ORCHESTRATOR = Path(sys.executable).with_name(PROG)
MANAGEMENT_PREFIX = "fdca:3ba5:a17a:acda::/64"
#: Room for the scale test's 200 gateways besides everything else.
EXTERNAL_CIDR = "172.16.0.0/22"
EXTERNAL_GATEWAY = "172.16.0.1"
CONTROL_API_PORT = 44250
#: Seconds one request to Neutron may take before Astara gives up on it (and retries).
NEUTRON_TIMEOUT_S = 5
#: Bounds on waiting for what settles by itself; never a timed assert.
CONVERGE_LIMIT_S = 180.0
#: More per router when waiting on many at once: Neutron, on two CPUs, serves
#: them one after another (about 1.2 s each here, slower in a full CI run).
CONVERGE_PER_ROUTER_S = 3.0
POLL_S = 0.25
#: Looking at many routers costs CPU the routers' Neutron needs: look less often.
POLL_PER_ROUTER_S = 0.01
#: How long the orchestrator may take to stop at the end (its workers finish their step).
ORCHESTRATOR_STOP_S = 60


@dataclass
class CloudAstara:
    """The running orchestrator, the Neutron it serves and the world it plugs into."""

    neutron: NeutronServer
    world: PrivateWorld
    root: Path
    orchestrator: subprocess.Popen[bytes]
    #: The only way Astara reaches Neutron: set its ``fault`` to make Neutron fail.
    faulty_neutron: FaultyNeutron
    nova_metadata: NovaMetadata
    management_network_id: str
    external_network_id: str
    external_subnet_id: str
    outside: str
    #: What ``prepare`` made in Neutron before the orchestrator started.
    early: dict[str, str]
    #: The host's way in to the orchestrator's control API inside the world.
    control_socket: Path

    @property
    def log(self) -> Path:
        return self.root / "orchestrator.log"

    def log_tail(self, lines: int = 60) -> str:
        if not self.log.exists():
            return "(no orchestrator log)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def in_world(self, *argv: str, check: bool = True) -> str:
        """Run ``argv`` inside the world; its standard output."""
        return self.world.run(*argv, check=check).stdout

    def in_netns(
        self, namespace: str, *argv: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in one of the world's namespaces (an appliance's, an instance's)."""
        return self.world.run("ip", "netns", "exec", namespace, *argv, check=check)

    def wait_for(self, predicate: Callable[[], bool], what: str, routers: int = 1) -> None:
        """Poll until ``predicate`` holds; AssertionError with the orchestrator's log if never.

        ``routers`` is how many routers must settle for it, which stretches the bound.
        """
        limit = max(CONVERGE_LIMIT_S, CONVERGE_PER_ROUTER_S * routers)
        interval = max(POLL_S, POLL_PER_ROUTER_S * routers)
        try:
            wait_until(predicate, what, timeout=limit, interval=interval)
        except AssertionError as error:
            raise AssertionError(f"{error}\n--- orchestrator log ---\n{self.log_tail()}") from None

    def resources(self) -> dict[str, dict[str, Any]]:
        """Every resource the orchestrator drives, by id, in one request."""
        found = self.control_api("/v1/resources")
        return {view["id"]: view for view in found["resources"]} if found else {}

    def worker_pids(self) -> set[int]:
        """The pids of the orchestrator's worker processes, as they report them."""
        found = self.control_api("/v1/workers")
        return {int(report["pid"]) for report in found["workers"]} if found else set()

    def control_api(self, path: str) -> dict[str, Any] | None:
        """A document of the orchestrator's control API, or None on anything but 200.

        The API listens only inside the world; :meth:`PrivateWorld.expose` lets
        the test reach it without a process in the world per request, which
        polling 200 routers would pay for in CPU that Neutron needs.
        """
        token = (self.root / "control-api.token").read_text().strip()
        transport = httpx.HTTPTransport(uds=str(self.control_socket))
        try:
            with httpx.Client(transport=transport, timeout=30) as client:
                answer = client.get(f"http://orchestrator{path}", headers={"X-Auth-Token": token})
        except httpx.TransportError:
            return None  # not listening yet, or gone
        if answer.status_code != 200:
            return None
        document: dict[str, Any] = answer.json()
        return document

    def start_instance(self, port_id: str, namespace: str) -> None:
        """A namespace standing in for a VM on the port, getting its address by DHCP."""
        self.in_world(
            sys.executable, "-m", "astara.singlehost.instance",
            "--api-url", self.neutron.endpoint, "--namespace", namespace, port_id,
        )  # fmt: skip


def make_management_network(neutron: NeutronServer) -> tuple[str, str]:
    """The guide's management network and its IPv6 SLAAC subnet, made in Neutron."""
    name = f"astt-mgt-{uuid.uuid4().hex[:6]}"
    network = neutron.openstack_json("network", "create", name)
    subnet = neutron.openstack_json(
        "subnet", "create", "--network", network["id"], "--ip-version", "6",
        "--ipv6-ra-mode", "slaac", "--ipv6-address-mode", "slaac",
        "--subnet-range", MANAGEMENT_PREFIX, f"{name}-slaac",
    )  # fmt: skip
    return network["id"], subnet["id"]


def make_external_network(neutron: NeutronServer) -> tuple[str, str]:
    """The guide's public network (flat, external) and its subnet.

    A flat physical network carries one network, and test_cloud_mode's
    topology takes ``public``: this one gets a physical network of its own.
    """
    name = f"astt-public-{uuid.uuid4().hex[:6]}"
    network = neutron.openstack_json(
        "network", "create", "--external", "--provider-network-type", "flat",
        "--provider-physical-network", f"{name}-physnet", name,
    )  # fmt: skip
    subnet = neutron.openstack_json(
        "subnet", "create", "--network", network["id"], "--subnet-range", EXTERNAL_CIDR,
        "--gateway", EXTERNAL_GATEWAY, f"{name}-subnet",
    )  # fmt: skip
    return network["id"], subnet["id"]


def plug_outside(world: PrivateWorld, external_network_id: str) -> str:
    """A namespace on the external bridge with the gateway address: the internet's stand-in."""
    namespace = "astt-outside"
    bridge = bridge_name_for_network(external_network_id)
    world.run("ip", "link", "add", bridge, "type", "bridge")
    world.run("ip", "link", "set", bridge, "up")
    world.run("ip", "netns", "add", namespace)
    world.run("ip", "-n", namespace, "link", "set", "lo", "up")
    world.run("ip", "link", "add", "astt-out0", "type", "veth", "peer", "name", "eth0",
              "netns", namespace)
    world.run("ip", "link", "set", "astt-out0", "master", bridge, "up")
    prefix = ipaddress.ip_network(EXTERNAL_CIDR).prefixlen
    world.run("ip", "-n", namespace, "addr", "add", f"{EXTERNAL_GATEWAY}/{prefix}", "dev", "eth0")
    world.run("ip", "-n", namespace, "link", "set", "eth0", "up")
    return namespace


def write_config(
    root: Path,
    neutron: NeutronServer,
    endpoints: tuple[FaultyNeutron, NovaMetadata],
    management: tuple[str, str],
    external: tuple[str, str],
) -> Path:
    """``orchestrator.ini`` as the install guide writes it, for this Neutron and this world."""
    database = f"sqlite:///{root / 'astara.db'}"
    migration.upgrade(database)
    rules = root / "provider_rules.json"
    rules.write_text("{}\n")
    faulty_neutron, nova = endpoints
    config = root / "orchestrator.ini"
    config.write_text(textwrap.dedent(f"""\
        [DEFAULT]
        host = astt-cloud-orchestrator
        network_model = neutron
        provisioner = netns
        enabled_drivers = router
        interface_driver = astara.common.linux.interface.BridgeInterfaceDriver
        management_network_id = {management[0]}
        management_subnet_id = {management[1]}
        management_prefix = {MANAGEMENT_PREFIX}
        external_network_id = {external[0]}
        external_subnet_id = {external[1]}
        provider_rules_path = {rules}
        neutron_metadata_proxy_shared_secret = {nova.shared_secret}
        nova_metadata_ip = 127.0.0.1
        nova_metadata_port = {nova.port}
        transport_url = {neutron.transport_url}
        num_worker_processes = 2
        boot_timeout = 60
        error_state_cooldown = 10
        log_file = {root / "orchestrator.log"}
        api_listen = 127.0.0.1
        api_port = {CONTROL_API_PORT}
        api_auth_strategy = token_file
        api_token_file = {root / "control-api.token"}

        [keystone_authtoken]
        auth_type = none
        endpoint = {faulty_neutron.url}
        timeout = {NEUTRON_TIMEOUT_S}

        [database]
        connection = {database}

        [netns]
        state_path = {root / "netns"}
        """))
    return config


@contextlib.contextmanager
def cloud_astara(
    neutron: NeutronServer,
    root: Path,
    prepare: Callable[[str], dict[str, str]] | None = None,
) -> Iterator[CloudAstara]:
    """Make the networks the guide makes and run the orchestrator in a private world.

    ``prepare(external_network_id)`` runs just before the orchestrator starts,
    to make what Astara must find when it starts (populate). Everything is
    stopped and removed when the block ends.
    """
    with (
        private_world(root / "world") as world,
        FaultyNeutron(neutron.endpoint) as faulty_neutron,
        NovaMetadata(f"astt-{uuid.uuid4().hex}") as nova,
    ):
        # Neutron itself for the test instances' helper, which plays Nova's port binding.
        for port in (urlsplit(neutron.endpoint).port or 80, faulty_neutron.port, nova.port,
                     urlsplit(neutron.transport_url).port or 5672):
            world.forward(port)
        management = make_management_network(neutron)
        external = make_external_network(neutron)
        outside = plug_outside(world, external[0])
        config = write_config(root, neutron, (faulty_neutron, nova), management, external)
        early = prepare(external[0]) if prepare else {}
        with open(root / "stderr.txt", "wb") as stderr:
            orchestrator = world.popen(
                [str(ORCHESTRATOR), "--config-file", str(config)], stdout=stderr, stderr=stderr
            )
        astara = CloudAstara(neutron, world, root, orchestrator, faulty_neutron, nova,
                             management[0], *external, outside, early,
                             world.expose(CONTROL_API_PORT))
        try:
            astara.wait_for(
                lambda: astara.log.exists()
                and f"{PROG} started" in astara.log.read_text(errors="replace"),
                "the orchestrator starts",
            )
            yield astara
        finally:
            # Before the fault proxy and the Nova stand-in close under its requests.
            stop_process(orchestrator, ORCHESTRATOR_STOP_S)


