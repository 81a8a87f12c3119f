"""Subnets: addressing defaults, validation and the in-use rule."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from .helpers import Api, neutron_error


@pytest.fixture
def network(api: Api) -> dict[str, Any]:
    return api.network(name="private")


def create(client: TestClient, network: dict[str, Any], **attributes: Any) -> Any:
    return client.post(
        "/v2.0/subnets", json={"subnet": {"network_id": network["id"], **attributes}}
    )


def test_ipv4_defaults_gateway_first_address_and_pools_the_rest(
    api: Api, network: dict[str, Any]
) -> None:
    subnet = api.subnet(network["id"], "10.2.0.0/24", ip_version=4)
    assert subnet["ip_version"] == 4
    assert subnet["gateway_ip"] == "10.2.0.1"
    assert subnet["allocation_pools"] == [{"start": "10.2.0.2", "end": "10.2.0.254"}]
    assert subnet["enable_dhcp"] is True
    assert subnet["dns_nameservers"] == [] and subnet["host_routes"] == []
    assert api.show("networks", "network", network["id"])["subnets"] == [subnet["id"]]


def test_a_null_gateway_leaves_the_whole_range_to_the_pools(
    api: Api, network: dict[str, Any]
) -> None:
    subnet = api.subnet(network["id"], "10.2.0.0/29", gateway_ip=None)
    assert subnet["gateway_ip"] is None
    assert subnet["allocation_pools"] == [{"start": "10.2.0.1", "end": "10.2.0.6"}]


def test_ipv6_slaac_subnet(api: Api, network: dict[str, Any]) -> None:
    subnet = api.subnet(
        network["id"],
        "fdca:3ba5:a17a:acda::/64",
        ip_version=6,
        ipv6_ra_mode="slaac",
        ipv6_address_mode="slaac",
    )
    assert subnet["gateway_ip"] == "fdca:3ba5:a17a:acda::1"
    assert subnet["ipv6_address_mode"] == subnet["ipv6_ra_mode"] == "slaac"
    assert subnet["allocation_pools"] == [
        {"start": "fdca:3ba5:a17a:acda::2", "end": "fdca:3ba5:a17a:acda:ffff:ffff:ffff:ffff"}
    ]


def test_explicit_pools_nameservers_and_routes_are_kept(api: Api, network: dict[str, Any]) -> None:
    subnet = api.subnet(
        network["id"],
        "10.3.0.0/24",
        allocation_pools=[{"start": "10.3.0.100", "end": "10.3.0.199"}],
        dns_nameservers=["8.8.8.8", "1.1.1.1"],
        host_routes=[{"destination": "192.168.0.0/16", "nexthop": "10.3.0.254"}],
    )
    assert subnet["allocation_pools"] == [{"start": "10.3.0.100", "end": "10.3.0.199"}]
    assert subnet["dns_nameservers"] == ["8.8.8.8", "1.1.1.1"]
    assert subnet["host_routes"] == [{"destination": "192.168.0.0/16", "nexthop": "10.3.0.254"}]


@pytest.mark.parametrize(
    ("attributes", "status", "error_type"),
    [
        ({"cidr": "10.0.0.0/33"}, 400, "InvalidInput"),
        ({"cidr": "10.0.0.7/24"}, 400, "InvalidInput"),
        ({"cidr": "10.0.0.0/24", "ip_version": 6}, 400, "InvalidInput"),
        ({"cidr": "10.0.0.0/24", "ip_version": 5}, 400, "BadRequest"),
        ({"cidr": "10.0.0.0/24", "gateway_ip": "10.9.0.1"}, 400, "InvalidInput"),
        ({"cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.255"}, 400, "InvalidInput"),
        ({"cidr": "10.0.0.0/24", "gateway_ip": "not-an-ip"}, 400, "InvalidInput"),
        ({"cidr": "10.0.0.0/24", "ipv6_address_mode": "slaac"}, 400, "InvalidInput"),
        (
            {"cidr": "fd00::/64", "ipv6_address_mode": "slaac", "ipv6_ra_mode": "dhcpv6-stateful"},
            400,
            "InvalidInput",
        ),
        ({"cidr": "fd00::/80", "ipv6_address_mode": "slaac"}, 400, "InvalidInput"),
        ({"cidr": "10.0.0.0/24", "dns_nameservers": ["1.1.1.1", "1.1.1.1"]}, 400, "InvalidInput"),
        (
            {"cidr": "10.0.0.0/24", "allocation_pools": [{"start": "10.0.0.9", "end": "10.0.0.2"}]},
            400,
            "InvalidAllocationPool",
        ),
        (
            {"cidr": "10.0.0.0/24", "allocation_pools": [{"start": "10.0.0.9", "end": "10.0.1.2"}]},
            400,
            "OutOfBoundsAllocationPool",
        ),
        (
            {
                "cidr": "10.0.0.0/24",
                "allocation_pools": [
                    {"start": "10.0.0.2", "end": "10.0.0.50"},
                    {"start": "10.0.0.40", "end": "10.0.0.60"},
                ],
            },
            400,
            "OverlappingAllocationPools",
        ),
        (
            {"cidr": "10.0.0.0/24", "allocation_pools": [{"start": "10.0.0.1", "end": "10.0.0.9"}]},
            409,
            "GatewayConflictWithAllocationPools",
        ),
        ({}, 400, "BadRequest"),
    ],
)
def test_invalid_subnets_are_refused_and_nothing_is_stored(
    client: TestClient,
    network: dict[str, Any],
    attributes: dict[str, Any],
    status: int,
    error_type: str,
) -> None:
    neutron_error(create(client, network, **attributes), status, error_type)
    assert client.get("/v2.0/subnets").json() == {"subnets": []}


def test_overlapping_subnets_on_one_network_are_refused(
    api: Api, client: TestClient, network: dict[str, Any]
) -> None:
    api.subnet(network["id"], "10.0.0.0/16")
    message = neutron_error(create(client, network, cidr="10.0.5.0/24"), 400, "InvalidInput")
    assert "overlaps" in message


def test_the_same_cidr_on_another_network_is_fine(api: Api, network: dict[str, Any]) -> None:
    other = api.network(name="other")
    api.subnet(network["id"], "10.0.0.0/24")
    assert api.subnet(other["id"], "10.0.0.0/24")["cidr"] == "10.0.0.0/24"


def test_a_subnet_on_a_missing_network_is_network_not_found(client: TestClient) -> None:
    body = {"subnet": {"network_id": "missing", "cidr": "10.0.0.0/24"}}
    neutron_error(client.post("/v2.0/subnets", json=body), 404, "NetworkNotFound")


def test_update_gateway_and_pools(api: Api, client: TestClient, network: dict[str, Any]) -> None:
    subnet = api.subnet(network["id"], "10.0.0.0/24")
    body = {
        "subnet": {
            "gateway_ip": "10.0.0.254",
            "allocation_pools": [{"start": "10.0.0.10", "end": "10.0.0.20"}],
            "name": "renamed",
        }
    }
    response = client.put(f"/v2.0/subnets/{subnet['id']}", json=body)
    assert response.status_code == 200, response.text
    updated = response.json()["subnet"]
    assert updated["gateway_ip"] == "10.0.0.254"
    assert updated["allocation_pools"] == [{"start": "10.0.0.10", "end": "10.0.0.20"}]
    assert updated["name"] == "renamed"


def test_a_new_gateway_inside_the_pools_conflicts(
    api: Api, client: TestClient, network: dict[str, Any]
) -> None:
    subnet = api.subnet(network["id"], "10.0.0.0/24")
    response = client.put(
        f"/v2.0/subnets/{subnet['id']}", json={"subnet": {"gateway_ip": "10.0.0.5"}}
    )
    neutron_error(response, 409, "GatewayConflictWithAllocationPools")
    assert api.show("subnets", "subnet", subnet["id"])["gateway_ip"] == "10.0.0.1"


def test_cidr_is_read_only(api: Api, client: TestClient, network: dict[str, Any]) -> None:
    subnet = api.subnet(network["id"], "10.0.0.0/24")
    response = client.put(f"/v2.0/subnets/{subnet['id']}", json={"subnet": {"cidr": "10.1.0.0/24"}})
    assert "read-only" in neutron_error(response, 400, "BadRequest")


def test_a_subnet_with_allocations_is_in_use(
    api: Api, client: TestClient, network: dict[str, Any]
) -> None:
    subnet = api.subnet(network["id"], "10.0.0.0/24")
    port = api.port(network["id"])
    neutron_error(client.delete(f"/v2.0/subnets/{subnet['id']}"), 409, "SubnetInUse")
    client.delete(f"/v2.0/ports/{port['id']}")
    assert client.delete(f"/v2.0/subnets/{subnet['id']}").status_code == 204
    assert api.show("networks", "network", network["id"])["subnets"] == []
