"""Neutron loaded the way Astara's install guide configures it, driven by the real CLI.

One tenant topology is built once for the module, following the guide's
"Use Astara" steps (public network, private network, router, interface,
floating IP); each test then checks one promise made to Astara: the server
runs with its plugins and extension, it announces every change on the message
bus, and no router waits for an L3 agent that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from tests.neutron.conftest import NeutronServer, NotificationRecorder

pytestmark = pytest.mark.neutron


@dataclass(frozen=True)
class Topology:
    public_network: dict[str, Any]
    private_network: dict[str, Any]
    private_subnet: dict[str, Any]
    router: dict[str, Any]
    port: dict[str, Any]
    floating_ip: dict[str, Any]


@pytest.fixture(scope="module")
def topology(neutron_server: NeutronServer, notifications: NotificationRecorder) -> Topology:
    """The guide's tenant setup; it lives in the session's throwaway database."""
    cli = neutron_server.openstack_json
    name = f"astt-{id(neutron_server):x}"
    public = cli("network", "create", "--external", "--provider-network-type", "flat",
                 "--provider-physical-network", "public", f"{name}-public")
    cli("subnet", "create", "--network", public["id"], "--subnet-range", "172.16.0.0/24",
        f"{name}-public-subnet")
    private = cli("network", "create", f"{name}-private")
    private_subnet = cli("subnet", "create", "--network", private["id"],
                         "--subnet-range", "10.2.0.0/24", f"{name}-private-subnet")
    router = cli("router", "create", f"{name}-router")
    neutron_server.openstack("router", "set", "--external-gateway", public["id"], router["id"])
    neutron_server.openstack("router", "add", "subnet", router["id"], private_subnet["id"])
    port = cli("port", "create", "--network", private["id"], f"{name}-vm-port")
    floating_ip = cli("floating", "ip", "create", "--port", port["id"], public["id"])
    return Topology(public, private, private_subnet, router, port, floating_ip)


def test_server_loads_astara_plugins_and_extension(neutron_server: NeutronServer) -> None:
    aliases = {
        extension["alias"]
        for extension in httpx.get(f"{neutron_server.endpoint}/v2.0/extensions")
        .raise_for_status().json()["extensions"]
    }
    assert {"astara-routerstatus", "router", "l3-ha", "port-security"} <= aliases
    # No agent does L3 or DHCP in an Astara cloud, so nothing may schedule to one.
    assert "l3_agent_scheduler" not in aliases
    assert "dhcp_agent_scheduler" not in aliases

    cli_aliases = {e["Alias"] for e in neutron_server.openstack_json("extension", "list",
                                                                     "--network")}
    assert "astara-routerstatus" in cli_aliases


def test_topology_changes_are_announced_on_the_bus(
    topology: Topology, notifications: NotificationRecorder
) -> None:
    router_id = topology.router["id"]

    def about(resource: str, resource_id: str) -> Callable[[dict[str, Any]], bool]:
        return lambda payload: payload.get(resource, {}).get("id") == resource_id

    notifications.wait_for("network.create.end", about("network", topology.private_network["id"]))
    notifications.wait_for("subnet.create.end", about("subnet", topology.private_subnet["id"]))
    notifications.wait_for("router.create.end", about("router", router_id))
    gateway = notifications.wait_for(
        "router.update.end",
        lambda p: about("router", router_id)(p) and bool(p["router"]["external_gateway_info"]),
    )
    assert gateway["router"]["external_gateway_info"]["network_id"] == topology.public_network["id"]
    interface = notifications.wait_for(
        "router.interface.create",
        lambda p: p.get("router_interface", {}).get("id") == router_id,
    )
    assert interface["router_interface"]["subnet_id"] == topology.private_subnet["id"]
    notifications.wait_for("port.create.end", about("port", topology.port["id"]))
    floating = notifications.wait_for(
        "floatingip.create.end", about("floatingip", topology.floating_ip["id"])
    )
    assert floating["floatingip"]["port_id"] == topology.port["id"]
    assert floating["floatingip"]["router_id"] == router_id


def test_router_works_without_any_l3_agent(
    neutron_server: NeutronServer, topology: Topology
) -> None:
    assert neutron_server.openstack_json("network", "agent", "list") == []
    router = neutron_server.openstack_json("router", "show", topology.router["id"])
    assert router["status"] == "ACTIVE"
    assert router["external_gateway_info"]["network_id"] == topology.public_network["id"]
    interfaces = neutron_server.openstack_json(
        "port", "list", "--router", topology.router["id"], "--long"
    )
    owners = sorted(port["Device Owner"] for port in interfaces)
    assert owners == ["network:router_gateway", "network:router_interface"]
    # The floating IP is accepted and routed by the router, not by an agent.
    floating = neutron_server.openstack_json("floating", "ip", "show", topology.floating_ip["id"])
    assert floating["router_id"] == topology.router["id"]


def test_ha_router_is_recorded_without_agent_based_ha(
    neutron_server: NeutronServer, topology: Topology, unique_name: Callable[[str], str]
) -> None:
    cli = neutron_server.openstack_json
    networks_before = {n["ID"] for n in cli("network", "list")}
    router = cli("router", "create", "--ha", unique_name("ha-router"))
    assert router["ha"] is True
    assert router["status"] == "ACTIVE"

    neutron_server.openstack("router", "add", "subnet", router["id"],
                             cli("subnet", "create", "--network", topology.private_network["id"],
                                 "--subnet-range", "10.3.0.0/24", unique_name("subnet"))["id"])
    # Neutron's HA would have created an "HA network" and HA ports and moved
    # the interface to another owner; Astara's appliance pair needs none of it.
    assert {n["ID"] for n in cli("network", "list")} == networks_before
    ports = cli("port", "list", "--router", router["id"], "--long")
    assert [port["Device Owner"] for port in ports] == ["network:router_interface"]

    neutron_server.openstack("router", "set", "--no-ha", router["id"])
    assert cli("router", "show", router["id"])["ha"] is False
