"""Floating IPs: allocation on the external network, association and its router."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from .helpers import Api, Topology, neutron_error


def associate(client: TestClient, floating_ip_id: str, **body: Any) -> Any:
    return client.put(f"/v2.0/floatingips/{floating_ip_id}", json={"floatingip": body})


def test_a_floating_ip_takes_the_next_external_address(topology: Topology, api: Api) -> None:
    floating_ip = api.floating_ip(topology.public["id"])
    assert floating_ip["floating_ip_address"] == "172.16.0.3"  # .1 gateway, .2 router gateway
    assert floating_ip["floating_network_id"] == topology.public["id"]
    assert floating_ip["port_id"] is None
    assert floating_ip["fixed_ip_address"] is None
    assert floating_ip["router_id"] is None
    assert floating_ip["status"] == "DOWN"
    assert "name" not in floating_ip


def test_a_specific_floating_address_can_be_asked_for(
    topology: Topology, api: Api, client: TestClient
) -> None:
    floating_ip = api.floating_ip(topology.public["id"], floating_ip_address="172.16.0.200")
    assert floating_ip["floating_ip_address"] == "172.16.0.200"
    body = {
        "floatingip": {
            "floating_network_id": topology.public["id"],
            "floating_ip_address": "172.16.0.200",
        }
    }
    neutron_error(client.post("/v2.0/floatingips", json=body), 409, "IpAddressInUse")


def test_associating_resolves_the_router(topology: Topology, api: Api, client: TestClient) -> None:
    port = api.port(topology.private["id"])
    floating_ip = api.floating_ip(topology.public["id"])
    response = associate(client, floating_ip["id"], port_id=port["id"])
    assert response.status_code == 200, response.text
    associated = response.json()["floatingip"]
    assert associated["port_id"] == port["id"]
    assert associated["fixed_ip_address"] == "10.2.0.2"
    assert associated["router_id"] == topology.router["id"]
    assert associated["status"] == "ACTIVE"


def test_associate_at_creation(topology: Topology, api: Api) -> None:
    port = api.port(topology.private["id"])
    floating_ip = api.floating_ip(topology.public["id"], port_id=port["id"])
    assert (floating_ip["port_id"], floating_ip["router_id"]) == (port["id"], topology.router["id"])


def test_disassociating_with_a_null_port(topology: Topology, api: Api, client: TestClient) -> None:
    port = api.port(topology.private["id"])
    floating_ip = api.floating_ip(topology.public["id"], port_id=port["id"])
    cleared = associate(client, floating_ip["id"], port_id=None).json()["floatingip"]
    assert (cleared["port_id"], cleared["fixed_ip_address"], cleared["router_id"]) == (None,) * 3
    assert cleared["floating_ip_address"] == floating_ip["floating_ip_address"]


def test_a_port_unreachable_from_the_floating_network_is_refused(
    topology: Topology, api: Api, client: TestClient
) -> None:
    isolated = api.network()
    api.subnet(isolated["id"], "10.50.0.0/24")
    port = api.port(isolated["id"])
    floating_ip = api.floating_ip(topology.public["id"])
    response = associate(client, floating_ip["id"], port_id=port["id"])
    neutron_error(response, 404, "ExternalGatewayForFloatingIPNotFound")
    assert api.show("floatingips", "floatingip", floating_ip["id"])["port_id"] is None


def test_fixed_address_choice_and_errors(topology: Topology, api: Api, client: TestClient) -> None:
    port = api.port(
        topology.private["id"], fixed_ips=[{"ip_address": "10.2.0.10"}, {"ip_address": "10.2.0.11"}]
    )
    floating_ip = api.floating_ip(topology.public["id"])
    neutron_error(associate(client, floating_ip["id"], port_id=port["id"]), 400, "BadRequest")
    wrong = associate(client, floating_ip["id"], port_id=port["id"], fixed_ip_address="10.2.0.99")
    neutron_error(wrong, 400, "BadRequest")
    chosen = associate(client, floating_ip["id"], port_id=port["id"], fixed_ip_address="10.2.0.11")
    assert chosen.json()["floatingip"]["fixed_ip_address"] == "10.2.0.11"
    second = api.floating_ip(topology.public["id"])
    same = associate(client, second["id"], port_id=port["id"], fixed_ip_address="10.2.0.11")
    neutron_error(same, 409, "FloatingIPPortAlreadyAssociated")
    neutron_error(associate(client, second["id"], port_id="missing"), 404, "PortNotFound")


def test_only_external_networks_with_ipv4_hold_floating_ips(
    topology: Topology, api: Api, client: TestClient
) -> None:
    body = {"floatingip": {"floating_network_id": topology.private["id"]}}
    neutron_error(client.post("/v2.0/floatingips", json=body), 400, "BadRequest")
    v6_only = api.network(**{"router:external": True})
    api.subnet(v6_only["id"], "fd00::/64")
    body = {"floatingip": {"floating_network_id": v6_only["id"]}}
    neutron_error(client.post("/v2.0/floatingips", json=body), 400, "BadRequest")
    body = {"floatingip": {"floating_network_id": "missing"}}
    neutron_error(client.post("/v2.0/floatingips", json=body), 404, "NetworkNotFound")


def test_deleting_frees_the_address(topology: Topology, api: Api, client: TestClient) -> None:
    floating_ip = api.floating_ip(topology.public["id"])
    assert client.delete(f"/v2.0/floatingips/{floating_ip['id']}").status_code == 204
    neutron_error(client.get(f"/v2.0/floatingips/{floating_ip['id']}"), 404, "FloatingIPNotFound")
    again = api.floating_ip(topology.public["id"])
    assert again["floating_ip_address"] == floating_ip["floating_ip_address"]


def test_deleting_the_fixed_port_disassociates(
    topology: Topology, api: Api, client: TestClient
) -> None:
    port = api.port(topology.private["id"])
    floating_ip = api.floating_ip(topology.public["id"], port_id=port["id"])
    assert client.delete(f"/v2.0/ports/{port['id']}").status_code == 204
    shown = api.show("floatingips", "floatingip", floating_ip["id"])
    assert (shown["port_id"], shown["router_id"], shown["status"]) == (None, None, "DOWN")


def test_a_gateway_used_by_floating_ips_stays(
    topology: Topology, api: Api, client: TestClient
) -> None:
    port = api.port(topology.private["id"])
    api.floating_ip(topology.public["id"], port_id=port["id"])
    body = {"router": {"external_gateway_info": None}}
    response = client.put(f"/v2.0/routers/{topology.router['id']}", json=body)
    neutron_error(response, 409, "RouterExternalGatewayInUseByFloatingIp")
