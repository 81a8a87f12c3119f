"""Neutron documents into typed resources: what is kept, and clear errors for bad input."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from astara.network.base import FloatingIp, Network, Port, Router, Subnet
from astara.network.errors import MalformedResource

ROUTER_ID = "r-1"


def port(**overrides: Any) -> dict[str, Any]:
    document = {
        "id": "p-1",
        "name": "",
        "network_id": "n-1",
        "mac_address": "FA:16:3E:00:00:01",
        "device_id": ROUTER_ID,
        "device_owner": "network:router_interface",
        "project_id": "t-1",
        "fixed_ips": [{"subnet_id": "s-1", "ip_address": "10.0.0.1"}],
    }
    document.update(overrides)
    return document


def subnet(**overrides: Any) -> dict[str, Any]:
    document = {
        "id": "s-1",
        "network_id": "n-1",
        "cidr": "10.0.0.0/24",
        "gateway_ip": "10.0.0.1",
        "enable_dhcp": True,
        "dns_nameservers": ["8.8.8.8"],
        "host_routes": [{"destination": "10.9.0.0/16", "nexthop": "10.0.0.254"}],
        "ipv6_ra_mode": None,
        "ipv6_address_mode": None,
        "tenant_id": "t-1",
    }
    document.update(overrides)
    return document


def test_port_keeps_addresses_and_lowercases_the_mac() -> None:
    parsed = Port.from_neutron(port())

    assert parsed.mac_address == "fa:16:3e:00:00:01"
    assert parsed.addresses == (ipaddress.ip_address("10.0.0.1"),)
    assert parsed.tenant_id == "t-1"


def test_tenant_falls_back_to_tenant_id_for_older_neutrons() -> None:
    document = port(project_id=None, tenant_id="old-tenant")

    assert Port.from_neutron(document).tenant_id == "old-tenant"


def test_subnet_parses_routes_nameservers_and_gateway() -> None:
    parsed = Subnet.from_neutron(subnet())

    assert parsed.cidr == ipaddress.ip_network("10.0.0.0/24")
    assert parsed.gateway_ip == ipaddress.ip_address("10.0.0.1")
    assert parsed.dns_nameservers == (ipaddress.ip_address("8.8.8.8"),)
    assert parsed.host_routes[0].nexthop == ipaddress.ip_address("10.0.0.254")


def test_subnet_without_gateway() -> None:
    assert Subnet.from_neutron(subnet(gateway_ip=None)).gateway_ip is None


def test_network_keeps_only_its_own_subnets() -> None:
    own = Subnet.from_neutron(subnet())
    other = Subnet.from_neutron(subnet(id="s-2", network_id="n-2"))
    document = {"id": "n-1", "name": "private", "mtu": 1450, "router:external": False}

    parsed = Network.from_neutron(document, [own, other])

    assert parsed.subnets == (own,)
    assert parsed.mtu == 1450
    assert parsed.subnet("s-1") is own
    assert parsed.subnet("s-2") is None


def test_router_splits_gateway_and_interface_ports() -> None:
    ports = [
        Port.from_neutron(port(id="gw", device_owner="network:router_gateway")),
        Port.from_neutron(port(id="if-1")),
        Port.from_neutron(port(id="if-2", device_owner="network:router_interface_distributed")),
        Port.from_neutron(port(id="if-3", device_owner="network:ha_router_replicated_interface")),
        Port.from_neutron(port(id="ha", device_owner="network:router_ha_interface")),
        Port.from_neutron(port(id="other", device_id="r-2")),
    ]
    document = {"id": ROUTER_ID, "ha": True, "routes": [], "status": "ACTIVE"}

    router = Router.from_neutron(document, ports, [])

    assert router.gateway_port is not None and router.gateway_port.id == "gw"
    assert [p.id for p in router.interface_ports] == ["if-1", "if-2", "if-3"]
    assert router.ha is True


def test_router_keeps_only_its_associated_floating_ips() -> None:
    def fip(fip_id: str, router_id: str | None, fixed: str | None) -> FloatingIp:
        return FloatingIp.from_neutron(
            {
                "id": fip_id,
                "floating_network_id": "ext",
                "floating_ip_address": "172.16.0.10",
                "fixed_ip_address": fixed,
                "router_id": router_id,
                "port_id": "p" if fixed else None,
            }
        )

    fips = [
        fip("mine", ROUTER_ID, "10.0.0.5"),
        fip("idle", ROUTER_ID, None),
        fip("other", "r-2", "10.0.0.6"),
    ]

    router = Router.from_neutron({"id": ROUTER_ID}, [], fips)

    assert [f.id for f in router.floating_ips] == ["mine"]


def test_internal_networks_are_listed_once_per_network() -> None:
    ports = [
        Port.from_neutron(port(id="a", network_id="n-2")),
        Port.from_neutron(port(id="b", network_id="n-1")),
        Port.from_neutron(port(id="c", network_id="n-2")),
    ]
    router = Router.from_neutron({"id": ROUTER_ID}, ports, [])

    assert router.internal_network_ids == ("n-1", "n-2")
    assert [p.id for p in router.interfaces_on("n-2")] == ["a", "c"]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("not an object", "malformed port: document: expected an object, not str"),
        (port(id=None), "malformed port: id: missing"),
        (port(network_id=5), "malformed port p-1: network_id: expected a string, not int"),
        (port(fixed_ips="10.0.0.1"), "malformed port p-1: fixed_ips: expected a list, not str"),
        (port(fixed_ips=["10.0.0.1"]), "port p-1: fixed_ips[0]: expected an object, not str"),
        (
            port(fixed_ips=[{"subnet_id": "s", "ip_address": "10.0.0.x"}]),
            "malformed port p-1: fixed_ips[0].ip_address: '10.0.0.x' is not an IP address",
        ),
    ],
)
def test_malformed_port_is_reported_with_the_field(document: Any, message: str) -> None:
    with pytest.raises(MalformedResource) as caught:
        Port.from_neutron(document)

    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"cidr": "10.0.0.0/33"}, "cidr: '10.0.0.0/33' is not a CIDR"),
        ({"gateway_ip": "10.1.0.1"}, "gateway_ip: 10.1.0.1 is not in 10.0.0.0/24"),
        ({"enable_dhcp": "yes"}, "enable_dhcp: expected true or false, not str"),
        ({"dns_nameservers": ["dns.example"]}, "dns_nameservers[0]: 'dns.example' is not an"),
        (
            {"host_routes": [{"destination": "fd00::/64", "nexthop": "10.0.0.254"}]},
            "host_routes[0].nexthop: not of the destination's IP version",
        ),
    ],
)
def test_malformed_subnet_is_reported_with_the_field(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(MalformedResource) as caught:
        Subnet.from_neutron(subnet(**overrides))

    assert message in str(caught.value)
    assert "subnet s-1" in str(caught.value)


def test_malformed_network_mtu() -> None:
    with pytest.raises(MalformedResource, match="mtu: expected an integer, not bool"):
        Network.from_neutron({"id": "n-1", "mtu": True}, [])


def test_malformed_router_route() -> None:
    document = {"id": ROUTER_ID, "routes": [{"destination": "10.0.0.0/8"}]}

    with pytest.raises(MalformedResource, match=r"router r-1: routes\[0\].nexthop: missing"):
        Router.from_neutron(document, [], [])


def test_malformed_is_a_value_error_for_generic_callers() -> None:
    with pytest.raises(ValueError):
        FloatingIp.from_neutron({"id": "f", "floating_network_id": "e"})
