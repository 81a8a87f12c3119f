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
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.neutron.conftest import NeutronServer
from tests.private_world import PrivateWorld
from tests.waiting import wait_until

from astara.common.linux.interface import bridge_name_for_network
from astara.db import migration
from astara.orchestrator.cli_options import PROG

ORCHESTRATOR = Path(sys.executable).with_name(PROG)
MANAGEMENT_PREFIX = "fdca:3ba5:a17a:acda::/64"
EXTERNAL_CIDR = "172.16.0.0/24"
EXTERNAL_GATEWAY = "172.16.0.1"
CONTROL_API_PORT = 44250
CONTROL_API = f"http://127.0.0.1:{CONTROL_API_PORT}"
#: Prints a control API document, exit 1 on anything but 200 (run inside the world).
_FETCH_RESOURCE = """
import sys, httpx
answer = httpx.get(sys.argv[1], headers={"X-Auth-Token": sys.argv[2]}, timeout=10)
print(answer.text)
sys.exit(answer.status_code != 200)
"""
#: Bounds on waiting for what settles by itself; never a timed assert.
CONVERGE_LIMIT_S = 180.0
POLL_S = 0.25


@dataclass
class CloudAstara:
    """The running orchestrator, the Neutron it serves and the world it plugs into."""

    neutron: NeutronServer
    world: PrivateWorld
    root: Path
    management_network_id: str
    external_network_id: str
    external_subnet_id: str
    outside: str
    #: What ``prepare`` made in Neutron before the orchestrator started.
    early: dict[str, str]

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

    def wait_for(self, predicate: Callable[[], bool], what: str) -> None:
        """Poll until ``predicate`` holds; AssertionError with the orchestrator's log if never."""
        try:
            wait_until(predicate, what, timeout=CONVERGE_LIMIT_S, interval=POLL_S)
        except AssertionError as error:
            raise AssertionError(f"{error}\n--- orchestrator log ---\n{self.log_tail()}") from None

    def resource(self, resource_id: str) -> dict[str, Any] | None:
        """The orchestrator's view of a resource (its control API, inside the world), or None."""
        token = (self.root / "control-api.token").read_text().strip()
        fetched = self.world.run(
            sys.executable, "-c", _FETCH_RESOURCE, f"{CONTROL_API}/v1/resources/{resource_id}",
            token, check=False,
        )  # fmt: skip
        return json.loads(fetched.stdout)["resource"] if fetched.returncode == 0 else None

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
    world.run("ip", "-n", namespace, "addr", "add", f"{EXTERNAL_GATEWAY}/24", "dev", "eth0")
    world.run("ip", "-n", namespace, "link", "set", "eth0", "up")
    return namespace


def write_config(
    root: Path,
    neutron: NeutronServer,
    management: tuple[str, str],
    external: tuple[str, str],
) -> Path:
    """``orchestrator.ini`` as the install guide writes it, for this Neutron and this world."""
    database = f"sqlite:///{root / 'astara.db'}"
    migration.upgrade(database)
    rules = root / "provider_rules.json"
    rules.write_text("{}\n")
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
        neutron_metadata_proxy_shared_secret = astt-{uuid.uuid4().hex}
        transport_url = {neutron.transport_url}
        num_worker_processes = 2
        health_check_period = 10
        boot_timeout = 60
        error_state_cooldown = 10
        log_file = {root / "orchestrator.log"}
        api_listen = 127.0.0.1
        api_port = {CONTROL_API_PORT}
        api_auth_strategy = token_file
        api_token_file = {root / "control-api.token"}

        [keystone_authtoken]
        auth_type = none
        endpoint = {neutron.endpoint}

        [database]
        connection = {database}

        [netns]
        state_path = {root / "netns"}
        """))
    return config


def start(
    neutron: NeutronServer,
    world: PrivateWorld,
    root: Path,
    prepare: Callable[[str], dict[str, str]] | None = None,
) -> CloudAstara:
    """Make the networks the guide makes, start the orchestrator in the world; return it.

    ``prepare(external_network_id)`` runs just before the orchestrator starts,
    to make what Astara must find when it starts (populate).
    """
    world.forward(urlsplit(neutron.endpoint).port or 80)
    world.forward(urlsplit(neutron.transport_url).port or 5672)
    management = make_management_network(neutron)
    external = make_external_network(neutron)
    outside = plug_outside(world, external[0])
    config = write_config(root, neutron, management, external)
    early = prepare(external[0]) if prepare else {}
    with open(root / "stderr.txt", "wb") as stderr:
        world.popen([str(ORCHESTRATOR), "--config-file", str(config)], stdout=stderr,
                    stderr=stderr)
    astara = CloudAstara(neutron, world, root, management[0], *external, outside, early)
    astara.wait_for(
        lambda: astara.log.exists() and f"{PROG} started" in astara.log.read_text(errors="replace"),
        "the orchestrator starts",
    )
    return astara
