"""GET filters, fields, sorting and paging."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from astara.localapi import views

from .helpers import Api, Topology, neutron_error


def names(response: Any, collection: str) -> list[str]:
    return [item["name"] for item in response.json()[collection]]


@pytest.fixture
def three_networks(api: Api) -> list[dict[str, Any]]:
    return [
        api.network(name="alpha", shared=True),
        api.network(name="beta"),
        api.network(name="gamma", **{"router:external": True}, tenant_id="other"),
    ]


def test_filter_by_name_and_repeated_keys_mean_or(
    three_networks: list[dict[str, Any]], client: TestClient
) -> None:
    assert names(client.get("/v2.0/networks?name=beta"), "networks") == ["beta"]
    response = client.get("/v2.0/networks?name=alpha&name=gamma")
    assert sorted(names(response, "networks")) == ["alpha", "gamma"]


def test_different_keys_must_all_match(
    three_networks: list[dict[str, Any]], client: TestClient
) -> None:
    assert names(client.get("/v2.0/networks?name=alpha&shared=true"), "networks") == ["alpha"]
    assert names(client.get("/v2.0/networks?name=beta&shared=true"), "networks") == []


def test_boolean_colon_and_project_filters(
    three_networks: list[dict[str, Any]], client: TestClient
) -> None:
    assert names(client.get("/v2.0/networks?router:external=True"), "networks") == ["gamma"]
    assert names(client.get("/v2.0/networks?tenant_id=other"), "networks") == ["gamma"]
    assert names(client.get("/v2.0/networks?project_id=other"), "networks") == ["gamma"]
    neutron_error(client.get("/v2.0/networks?shared=maybe"), 400, "BadRequest")


def test_unknown_filters_are_refused(client: TestClient) -> None:
    message = neutron_error(client.get("/v2.0/ports?device_idd=x"), 400, "BadRequest")
    assert "device_idd" in message


def test_port_filters_used_by_the_orchestrator(
    topology: Topology, api: Api, client: TestClient
) -> None:
    vm_port = api.port(topology.private["id"], device_id="vm-1", device_owner="compute:nova")
    by_device = client.get("/v2.0/ports", params={"device_id": "vm-1"}).json()["ports"]
    assert [port["id"] for port in by_device] == [vm_port["id"]]
    owners = client.get(
        "/v2.0/ports?device_owner=network:router_gateway&device_owner=network:router_interface"
    ).json()["ports"]
    assert {port["device_owner"] for port in owners} == {
        "network:router_gateway",
        "network:router_interface",
    }
    on_private = client.get("/v2.0/ports", params={"network_id": topology.private["id"]})
    assert len(on_private.json()["ports"]) == 2
    by_ip = client.get("/v2.0/ports?fixed_ips=ip_address%3D10.2.0.1").json()["ports"]
    assert [port["device_owner"] for port in by_ip] == ["network:router_interface"]
    subnet_filter = f"fixed_ips=subnet_id%3D{topology.public_subnet['id']}"
    by_subnet = client.get(f"/v2.0/ports?{subnet_filter}").json()["ports"]
    assert [port["device_owner"] for port in by_subnet] == ["network:router_gateway"]


def test_subnets_by_network_and_list_attributes(topology: Topology, client: TestClient) -> None:
    subnets = client.get("/v2.0/subnets", params={"network_id": topology.private["id"]})
    assert [subnet["id"] for subnet in subnets.json()["subnets"]] == [topology.private_subnet["id"]]
    networks = client.get("/v2.0/networks", params={"subnets": topology.public_subnet["id"]})
    assert [network["id"] for network in networks.json()["networks"]] == [topology.public["id"]]


def test_fields_limits_the_attributes(
    three_networks: list[dict[str, Any]], client: TestClient
) -> None:
    listed = client.get("/v2.0/networks?fields=id&fields=name").json()["networks"]
    assert all(set(network) == {"id", "name"} for network in listed)
    network_id = three_networks[0]["id"]
    shown = client.get(f"/v2.0/networks/{network_id}?fields=mtu").json()
    assert shown == {"network": {"mtu": 1500}}


def test_sorting(three_networks: list[dict[str, Any]], client: TestClient) -> None:
    descending = client.get("/v2.0/networks?sort_key=name&sort_dir=desc")
    assert names(descending, "networks") == ["gamma", "beta", "alpha"]
    by_shared = client.get(
        "/v2.0/networks?sort_key=shared&sort_dir=desc&sort_key=name&sort_dir=asc"
    )
    assert names(by_shared, "networks") == ["alpha", "beta", "gamma"]
    neutron_error(client.get("/v2.0/networks?sort_key=nope"), 400, "BadRequest")
    neutron_error(client.get("/v2.0/networks?sort_key=name&sort_dir=up"), 400, "BadRequest")


def test_limit_and_marker_page_through_with_next_links(
    three_networks: list[dict[str, Any]], client: TestClient
) -> None:
    first = client.get("/v2.0/networks?limit=2&sort_key=name").json()
    assert [n["name"] for n in first["networks"]] == ["alpha", "beta"]
    [link] = first["networks_links"]
    assert link["rel"] == "next"
    second = client.get(link["href"]).json()
    assert [n["name"] for n in second["networks"]] == ["gamma"]
    assert "networks_links" not in second
    neutron_error(client.get("/v2.0/networks?limit=x"), 400, "BadRequest")
    neutron_error(client.get("/v2.0/networks?marker=missing"), 400, "BadRequest")


@pytest.mark.parametrize("resource", sorted(views.ATTRIBUTES))
def test_filterable_attributes_are_exactly_the_shown_ones(
    topology: Topology, api: Api, client: TestClient, resource: str
) -> None:
    api.floating_ip(topology.public["id"])
    collection = f"{resource}s"
    [first, *_] = client.get(f"/v2.0/{collection}").json()[collection]
    assert set(first) == views.ATTRIBUTES[resource]


def test_column_filters_keep_the_null_and_empty_spellings(
    topology: Topology, api: Api, client: TestClient
) -> None:
    """Lists narrow in SQL first; what a value meaning "empty" or "null" matches must not change."""
    network_id = topology.private["id"]
    api.port(network_id, name="vm", device_id="vm-1")
    api.port(network_id, name="spare")  # device_id ""
    spare_and_vm = client.get(f"/v2.0/ports?network_id={network_id}&device_id=vm-1&device_id=")
    assert sorted(names(spare_and_vm, "ports")) == ["spare", "vm"]
    assert names(client.get(f"/v2.0/ports?network_id={network_id}&device_id="), "ports") == [
        "spare"
    ]
    assert names(client.get("/v2.0/ports?name=vm&name=nothing"), "ports") == ["vm"]
    unbound = api.floating_ip(topology.public["id"])
    for spelling in ("None", "null", ""):
        listed = client.get(f"/v2.0/floatingips?fixed_ip_address={spelling}").json()
        assert [fip["id"] for fip in listed["floatingips"]] == [unbound["id"]]
