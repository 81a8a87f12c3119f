"""Ports: address allocation from pools, explicit addresses, SLAAC, MACs, deletion rules."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from .helpers import Api, neutron_error


@pytest.fixture
def network(api: Api) -> dict[str, Any]:
    return api.network(name="private")


@pytest.fixture
def subnet(api: Api, network: dict[str, Any]) -> dict[str, Any]:
    return api.subnet(network["id"], "10.2.0.0/24")


def addresses(port: dict[str, Any]) -> list[str]:
    return [fixed_ip["ip_address"] for fixed_ip in port["fixed_ips"]]


def create(client: TestClient, network_id: str, **attributes: Any) -> Any:
    return client.post("/v2.0/ports", json={"port": {"network_id": network_id, **attributes}})


def test_a_port_gets_the_first_free_pool_address_never_the_gateway(
    api: Api, network: dict[str, Any], subnet: dict[str, Any]
) -> None:
    first = api.port(network["id"])
    second = api.port(network["id"])
    assert first["fixed_ips"] == [{"subnet_id": subnet["id"], "ip_address": "10.2.0.2"}]
    assert addresses(second) == ["10.2.0.3"]
    assert first["status"] == "DOWN"
    assert first["device_owner"] == first["device_id"] == ""
    assert first["security_groups"] == []
    assert first["port_security_enabled"] is True
    assert first["binding:host_id"] == ""


def test_a_released_address_is_reused(
    api: Api, client: TestClient, network: dict[str, Any], subnet: dict[str, Any]
) -> None:
    first = api.port(network["id"])
    api.port(network["id"])
    client.delete(f"/v2.0/ports/{first['id']}")
    assert addresses(api.port(network["id"])) == ["10.2.0.2"]


def test_explicit_address_by_ip_and_by_subnet(
    api: Api, network: dict[str, Any], subnet: dict[str, Any]
) -> None:
    by_ip = api.port(network["id"], fixed_ips=[{"ip_address": "10.2.0.50"}])
    assert by_ip["fixed_ips"] == [{"subnet_id": subnet["id"], "ip_address": "10.2.0.50"}]
    by_subnet = api.port(network["id"], fixed_ips=[{"subnet_id": subnet["id"]}])
    assert addresses(by_subnet) == ["10.2.0.2"]


def test_an_address_outside_the_pools_but_inside_the_subnet_may_be_asked_for(
    api: Api, network: dict[str, Any]
) -> None:
    api.subnet(
        network["id"],
        "10.4.0.0/24",
        allocation_pools=[{"start": "10.4.0.100", "end": "10.4.0.110"}],
    )
    assert addresses(api.port(network["id"], fixed_ips=[{"ip_address": "10.4.0.7"}])) == [
        "10.4.0.7"
    ]


def test_an_address_in_use_is_a_conflict(
    api: Api, client: TestClient, network: dict[str, Any], subnet: dict[str, Any]
) -> None:
    api.port(network["id"], fixed_ips=[{"ip_address": "10.2.0.50"}])
    response = create(client, network["id"], fixed_ips=[{"ip_address": "10.2.0.50"}])
    assert "10.2.0.50" in neutron_error(response, 409, "IpAddressInUse")
    assert len(client.get("/v2.0/ports").json()["ports"]) == 1


def test_an_exhausted_pool_is_ip_address_generation_failure(
    api: Api, client: TestClient, network: dict[str, Any]
) -> None:
    small = api.subnet(network["id"], "10.9.0.0/29")  # .1 gateway, .2-.6 allocatable
    allocated = [addresses(api.port(network["id"]))[0] for _ in range(5)]
    assert allocated == ["10.9.0.2", "10.9.0.3", "10.9.0.4", "10.9.0.5", "10.9.0.6"]
    neutron_error(create(client, network["id"]), 409, "IpAddressGenerationFailure")
    by_subnet = create(client, network["id"], fixed_ips=[{"subnet_id": small["id"]}])
    neutron_error(by_subnet, 409, "IpAddressGenerationFailure")
    assert len(client.get("/v2.0/ports").json()["ports"]) == 5


@pytest.mark.parametrize(
    ("fixed_ip", "error_type"),
    [
        ({"ip_address": "192.168.1.1"}, "InvalidIpForNetwork"),
        ({"ip_address": "10.2.0.0"}, "InvalidIpForNetwork"),
        ({"ip_address": "bogus"}, "InvalidInput"),
        ({"subnet_id": "not-on-this-network"}, "InvalidInput"),
        ({}, "InvalidInput"),
    ],
)
def test_bad_fixed_ips_are_refused(
    client: TestClient,
    network: dict[str, Any],
    subnet: dict[str, Any],
    fixed_ip: dict[str, str],
    error_type: str,
) -> None:
    neutron_error(create(client, network["id"], fixed_ips=[fixed_ip]), 400, error_type)


def test_an_address_outside_the_named_subnet_is_invalid(
    client: TestClient, network: dict[str, Any], subnet: dict[str, Any]
) -> None:
    fixed_ip = {"subnet_id": subnet["id"], "ip_address": "10.3.0.9"}
    neutron_error(create(client, network["id"], fixed_ips=[fixed_ip]), 400, "InvalidIpForSubnet")


def test_empty_fixed_ips_means_no_address(
    api: Api, network: dict[str, Any], subnet: dict[str, Any]
) -> None:
    assert api.port(network["id"], fixed_ips=[])["fixed_ips"] == []


def test_slaac_subnets_give_an_eui64_address_from_the_mac(
    api: Api, network: dict[str, Any]
) -> None:
    v4 = api.subnet(network["id"], "10.2.0.0/24")
    v6 = api.subnet(network["id"], "fdca:3ba5:a17a:acda::/64", ipv6_address_mode="slaac")
    port = api.port(network["id"], mac_address="fa:16:3e:3f:4f:95")
    assert port["fixed_ips"] == [
        {"subnet_id": v4["id"], "ip_address": "10.2.0.2"},
        {"subnet_id": v6["id"], "ip_address": "fdca:3ba5:a17a:acda:f816:3eff:fe3f:4f95"},
    ]


def test_a_port_without_fixed_ips_still_configures_itself_by_slaac(
    api: Api, network: dict[str, Any]
) -> None:
    v6 = api.subnet(network["id"], "fdca:3ba5:a17a:acda::/64", ipv6_address_mode="slaac")
    port = api.port(network["id"], fixed_ips=[], mac_address="fa:16:3e:00:00:01")
    assert port["fixed_ips"] == [
        {"subnet_id": v6["id"], "ip_address": "fdca:3ba5:a17a:acda:f816:3eff:fe00:1"}
    ]


def test_a_slaac_address_cannot_be_chosen_by_hand(
    api: Api, client: TestClient, network: dict[str, Any]
) -> None:
    api.subnet(network["id"], "fd00::/64", ipv6_address_mode="slaac")
    response = create(client, network["id"], fixed_ips=[{"ip_address": "fd00::99"}])
    assert "automatic" in neutron_error(response, 400, "InvalidInput")


def test_a_stateful_ipv6_subnet_allocates_from_its_pool(api: Api, network: dict[str, Any]) -> None:
    api.subnet(network["id"], "fd00:1::/64", ipv6_address_mode="dhcpv6-stateful")
    assert addresses(api.port(network["id"])) == ["fd00:1::2"]


def test_generated_macs_are_openstack_style_and_unique(
    api: Api, network: dict[str, Any], subnet: dict[str, Any]
) -> None:
    macs = {api.port(network["id"])["mac_address"] for _ in range(20)}
    assert len(macs) == 20
    assert all(mac.startswith("fa:16:3e:") and len(mac) == 17 for mac in macs)


def test_a_mac_in_use_or_malformed_is_refused(
    api: Api, client: TestClient, network: dict[str, Any]
) -> None:
    api.port(network["id"], mac_address="FA:16:3E:AA:BB:CC")
    response = create(client, network["id"], mac_address="fa:16:3e:aa:bb:cc")
    neutron_error(response, 409, "MacAddressInUse")
    neutron_error(
        create(client, network["id"], mac_address="01:00:5e:00:00:01"), 400, "InvalidInput"
    )
    neutron_error(create(client, network["id"], mac_address="zz"), 400, "InvalidInput")


def test_a_port_on_a_missing_network_is_network_not_found(client: TestClient) -> None:
    neutron_error(create(client, "missing"), 404, "NetworkNotFound")


def test_update_replaces_fixed_ips_and_keeps_the_ones_asked_again(
    api: Api, client: TestClient, network: dict[str, Any], subnet: dict[str, Any]
) -> None:
    port = api.port(network["id"])
    body = {"port": {"fixed_ips": [{"ip_address": "10.2.0.2"}, {"ip_address": "10.2.0.77"}]}}
    response = client.put(f"/v2.0/ports/{port['id']}", json=body)
    assert response.status_code == 200, response.text
    assert addresses(response.json()["port"]) == ["10.2.0.2", "10.2.0.77"]
    body = {"port": {"fixed_ips": [{"subnet_id": subnet["id"]}]}}
    assert addresses(client.put(f"/v2.0/ports/{port['id']}", json=body).json()["port"]) == [
        "10.2.0.2"
    ]
    assert addresses(api.port(network["id"])) == ["10.2.0.3"]


def test_update_device_and_binding(api: Api, client: TestClient, network: dict[str, Any]) -> None:
    port = api.port(network["id"])
    body = {"port": {"device_id": "vm-1", "device_owner": "compute:nova", "binding:host_id": "h1"}}
    updated = client.put(f"/v2.0/ports/{port['id']}", json=body).json()["port"]
    assert (updated["device_id"], updated["device_owner"], updated["binding:host_id"]) == (
        "vm-1",
        "compute:nova",
        "h1",
    )


def test_port_security_follows_the_network_unless_given(api: Api) -> None:
    network = api.network(port_security_enabled=False)
    assert api.port(network["id"])["port_security_enabled"] is False
    assert api.port(network["id"], port_security_enabled=True)["port_security_enabled"] is True


def test_the_mac_is_read_only(api: Api, client: TestClient, network: dict[str, Any]) -> None:
    port = api.port(network["id"])
    response = client.put(f"/v2.0/ports/{port['id']}", json={"port": {"mac_address": "x"}})
    assert "read-only" in neutron_error(response, 400, "BadRequest")
