"""The local API driven by the real ``openstack`` CLI and openstacksdk.

The API runs under uvicorn on a free loopback port; the CLI talks to it with
``--os-auth-type none --os-endpoint`` as an operator of a single-host install
would. The session follows the install guide's "Use Astara" steps and then
checks the notifications the API emitted along the way.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openstack
import pytest
import uvicorn

from astara.localapi import create_app

pytestmark = pytest.mark.integration

OPENSTACK = Path(sys.executable).parent / "openstack"
#: How long to wait for uvicorn to start listening; a bound, not an assertion.
STARTUP_LIMIT_SECONDS = 30.0


@dataclass
class Notifications:
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, event_type: str, payload: dict[str, Any], context: dict[str, Any]) -> None:
        assert context["is_admin"] is True
        with self.lock:
            self.events.append((event_type, payload))

    def since(self, start: int) -> list[tuple[str, dict[str, Any]]]:
        with self.lock:
            return list(self.events[start:])


def of_type(events: list[tuple[str, dict[str, Any]]], event_type: str) -> list[dict[str, Any]]:
    return [payload for recorded, payload in events if recorded == event_type]


@dataclass
class Server:
    url: str
    notifications: Notifications


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not OPENSTACK.exists():
        pytest.skip(f"python-openstackclient is not installed ({OPENSTACK} missing)")
    notifications = Notifications()
    database = tmp_path_factory.mktemp("localapi") / "network.db"
    app = create_app(f"sqlite:///{database}", notifications)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    uvicorn_server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(
        target=uvicorn_server.run, kwargs={"sockets": [listener]}, daemon=True
    )
    thread.start()
    deadline = time.monotonic() + STARTUP_LIMIT_SECONDS
    while not uvicorn_server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    if not uvicorn_server.started:
        pytest.fail("uvicorn did not start serving the local API")
    try:
        yield Server(f"http://127.0.0.1:{port}", notifications)
    finally:
        uvicorn_server.should_exit = True
        thread.join(STARTUP_LIMIT_SECONDS)
        listener.close()


class Cli:
    def __init__(self, url: str) -> None:
        self.url = url
        self.environment = {
            key: value for key, value in os.environ.items() if not key.startswith("OS_")
        }

    def run(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        command = [
            str(OPENSTACK),
            "--os-auth-type",
            "none",
            "--os-endpoint",
            self.url,
            *arguments,
        ]
        return subprocess.run(
            command, capture_output=True, text=True, env=self.environment, check=False
        )

    def ok(self, *arguments: str) -> str:
        result = self.run(*arguments)
        assert result.returncode == 0, f"{arguments}: {result.stderr}"
        return result.stdout

    def json(self, *arguments: str) -> Any:
        return json.loads(self.ok(*arguments, "-f", "json"))


def test_install_guide_session_with_the_openstack_cli(server: Server) -> None:
    cli = Cli(server.url)
    first_event = len(server.notifications.since(0))

    public = cli.json("network", "create", "--external", "public")
    assert public["router:external"] is True
    public_subnet = cli.json(
        "subnet", "create", "--network", "public", "--subnet-range", "172.16.0.0/24",
        "public-subnet",
    )  # fmt: skip
    assert public_subnet["gateway_ip"] == "172.16.0.1"
    assert public_subnet["allocation_pools"] == [{"start": "172.16.0.2", "end": "172.16.0.254"}]
    private = cli.json("network", "create", "private")
    assert private["router:external"] is False
    private_subnet = cli.json(
        "subnet", "create", "--network", "private", "--subnet-range", "10.2.0.0/24",
        "private-subnet",
    )  # fmt: skip
    assert private_subnet["network_id"] == private["id"]

    router = cli.json("router", "create", "MyRouter")
    assert router["external_gateway_info"] is None
    cli.ok("router", "set", "--external-gateway", "public", "MyRouter")
    cli.ok("router", "add", "subnet", "MyRouter", "private-subnet")
    shown = cli.json("router", "show", "MyRouter")
    assert shown["external_gateway_info"]["network_id"] == public["id"]
    assert shown["external_gateway_info"]["external_fixed_ips"] == [
        {"subnet_id": public_subnet["id"], "ip_address": "172.16.0.2"}
    ]
    assert [info["ip_address"] for info in shown["interfaces_info"]] == ["10.2.0.1"]

    port = cli.json("port", "create", "--network", "private", "vm-port")
    assert port["fixed_ips"] == [{"subnet_id": private_subnet["id"], "ip_address": "10.2.0.2"}]
    assert port["mac_address"].startswith("fa:16:3e:")

    floating_ip = cli.json("floating", "ip", "create", "public")
    assert floating_ip["floating_ip_address"] == "172.16.0.3"
    assert floating_ip["port_id"] is None
    cli.ok("floating", "ip", "set", "--port", "vm-port", floating_ip["id"])
    associated = cli.json("floating", "ip", "show", floating_ip["id"])
    assert associated["port_id"] == port["id"]
    assert associated["fixed_ip_address"] == "10.2.0.2"
    assert associated["router_id"] == router["id"]

    refused = cli.run("router", "remove", "subnet", "MyRouter", "private-subnet")
    assert refused.returncode != 0
    assert "required by one or more floating IPs" in refused.stderr

    cli.ok("floating", "ip", "unset", "--port", floating_ip["id"])
    assert cli.json("floating", "ip", "show", floating_ip["id"])["port_id"] is None
    cli.ok("router", "remove", "subnet", "MyRouter", "private-subnet")
    assert cli.json("router", "show", "MyRouter")["interfaces_info"] == []

    cli.ok("floating", "ip", "delete", floating_ip["id"])
    cli.ok("port", "delete", "vm-port")
    cli.ok("router", "delete", "MyRouter")
    assert cli.json("router", "list") == []
    networks = {network["Name"] for network in cli.json("network", "list")}
    assert networks == {"public", "private"}

    events = server.notifications.since(first_event)
    _check_notifications(events, router["id"], private_subnet["id"], port["id"])


def _check_notifications(
    events: list[tuple[str, dict[str, Any]]], router_id: str, subnet_id: str, port_id: str
) -> None:
    expected_order = [
        "network.create.end",
        "subnet.create.end",
        "network.create.end",
        "subnet.create.end",
        "router.create.end",
        "router.update.end",
        "router.interface.create",
        "port.create.end",
        "floatingip.create.end",
        "floatingip.update.end",
        "floatingip.update.end",
        "router.interface.delete",
        "floatingip.delete.end",
        "port.delete.end",
        "router.delete.end",
    ]
    assert [event_type for event_type, _ in events] == expected_order

    [created] = of_type(events, "router.create.end")
    assert created["router"]["name"] == "MyRouter"
    [gateway_set] = of_type(events, "router.update.end")
    assert (
        gateway_set["router"]["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
        == "172.16.0.2"
    )
    [added] = of_type(events, "router.interface.create")
    assert added["router_interface"]["id"] == router_id
    assert added["router_interface"]["subnet_id"] == subnet_id
    [removed] = of_type(events, "router.interface.delete")
    assert removed["router_interface"]["port_id"] == added["router_interface"]["port_id"]
    associate, disassociate = of_type(events, "floatingip.update.end")
    assert associate["floatingip"]["port_id"] == port_id
    assert associate["floatingip"]["router_id"] == router_id
    assert disassociate["floatingip"]["port_id"] is None
    [deleted] = of_type(events, "router.delete.end")
    assert deleted["router_id"] == router_id


def test_openstacksdk_against_the_local_api(server: Server) -> None:
    connection = openstack.connect(auth_type="none", auth={"endpoint": server.url})
    network = connection.network.create_network(name="sdk-net", mtu=1450)
    subnet = connection.network.create_subnet(
        network_id=network.id, cidr="10.30.0.0/24", ip_version=4
    )
    assert subnet.gateway_ip == "10.30.0.1"
    port = connection.network.create_port(
        network_id=network.id, fixed_ips=[{"ip_address": "10.30.0.40"}], name="sdk-port"
    )
    assert port.fixed_ips == [{"subnet_id": subnet.id, "ip_address": "10.30.0.40"}]
    found = connection.network.find_network("sdk-net")
    assert found is not None
    assert found.mtu == 1450
    assert [p.id for p in connection.network.ports(network_id=network.id)] == [port.id]

    with pytest.raises(openstack.exceptions.ConflictException) as conflict:
        connection.network.create_port(
            network_id=network.id, fixed_ips=[{"ip_address": "10.30.0.40"}]
        )
    assert "10.30.0.40" in str(conflict.value)
    with pytest.raises(openstack.exceptions.ResourceNotFound):
        connection.network.get_network("no-such-network")

    router = connection.network.create_router(name="sdk-router", is_ha=True)
    assert router.is_ha is True
    connection.network.add_interface_to_router(router, subnet=subnet.id)
    owners = {p.device_owner for p in connection.network.ports(device_id=router.id)}
    assert owners == {"network:router_interface"}
    aliases = {extension.alias for extension in connection.network.extensions()}
    assert {"router", "external-net", "extraroute", "l3-ha"} <= aliases

    connection.network.remove_interface_from_router(router, subnet=subnet.id)
    connection.network.delete_router(router)
    connection.network.delete_port(port)
    connection.network.delete_network(network)
    assert connection.network.find_network("sdk-net") is None
