"""Routers: gateways, interfaces, extra routes, deletion rules and appliance status."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from .helpers import Api, Topology, neutron_error


def router_ports(client: TestClient, router_id: str) -> list[dict[str, Any]]:
    ports: list[dict[str, Any]] = client.get("/v2.0/ports", params={"device_id": router_id}).json()[
        "ports"
    ]
    return ports


def test_a_new_router_has_no_gateway(api: Api) -> None:
    router = api.router(name="r1")
    assert router["external_gateway_info"] is None
    assert router["routes"] == []
    assert router["ha"] is False
    assert router["status"] == "ACTIVE"
    assert router["admin_state_up"] is True


def test_the_gateway_is_a_port_on_the_external_network(
    topology: Topology, client: TestClient
) -> None:
    info = topology.router["external_gateway_info"]
    assert info == {
        "network_id": topology.public["id"],
        "enable_snat": True,
        "external_fixed_ips": [
            {"subnet_id": topology.public_subnet["id"], "ip_address": "172.16.0.2"}
        ],
    }
    owners = {port["device_owner"]: port for port in router_ports(client, topology.router["id"])}
    gateway = owners["network:router_gateway"]
    assert gateway["network_id"] == topology.public["id"]
    assert gateway["fixed_ips"] == info["external_fixed_ips"]


def test_the_gateway_may_ask_for_an_address_and_disable_snat(api: Api) -> None:
    public = api.network(**{"router:external": True})
    subnet = api.subnet(public["id"], "172.16.0.0/24")
    gateway = {
        "network_id": public["id"],
        "enable_snat": False,
        "external_fixed_ips": [{"ip_address": "172.16.0.100"}],
    }
    router = api.router(external_gateway_info=gateway)
    assert router["external_gateway_info"] == {
        "network_id": public["id"],
        "enable_snat": False,
        "external_fixed_ips": [{"subnet_id": subnet["id"], "ip_address": "172.16.0.100"}],
    }


def test_a_gateway_needs_an_external_network_with_addresses(api: Api, client: TestClient) -> None:
    internal = api.network()
    api.subnet(internal["id"], "10.0.0.0/24")
    body = {"router": {"external_gateway_info": {"network_id": internal["id"]}}}
    neutron_error(client.post("/v2.0/routers", json=body), 400, "BadRequest")
    empty_external = api.network(**{"router:external": True})
    body = {"router": {"external_gateway_info": {"network_id": empty_external["id"]}}}
    neutron_error(client.post("/v2.0/routers", json=body), 400, "BadRequest")
    assert client.get("/v2.0/routers").json() == {"routers": []}


def test_clearing_the_gateway_removes_its_port(topology: Topology, client: TestClient) -> None:
    router_id = topology.router["id"]
    response = client.put(
        f"/v2.0/routers/{router_id}", json={"router": {"external_gateway_info": {}}}
    )
    assert response.status_code == 200, response.text
    assert response.json()["router"]["external_gateway_info"] is None
    owners = [port["device_owner"] for port in router_ports(client, router_id)]
    assert owners == ["network:router_interface"]


def test_moving_the_gateway_to_another_network_replaces_the_port(
    api: Api, topology: Topology, client: TestClient
) -> None:
    other = api.network(**{"router:external": True})
    api.subnet(other["id"], "192.0.2.0/24")
    body = {"router": {"external_gateway_info": {"network_id": other["id"]}}}
    router = client.put(f"/v2.0/routers/{topology.router['id']}", json=body).json()["router"]
    assert router["external_gateway_info"]["network_id"] == other["id"]
    assert router["external_gateway_info"]["external_fixed_ips"][0]["ip_address"] == "192.0.2.2"
    public_ports = client.get("/v2.0/ports", params={"network_id": topology.public["id"]}).json()
    assert public_ports == {"ports": []}


def test_an_interface_takes_the_subnet_gateway_address(
    topology: Topology, client: TestClient
) -> None:
    interfaces = [
        port
        for port in router_ports(client, topology.router["id"])
        if port["device_owner"] == "network:router_interface"
    ]
    assert len(interfaces) == 1
    assert interfaces[0]["fixed_ips"] == [
        {"subnet_id": topology.private_subnet["id"], "ip_address": "10.2.0.1"}
    ]
    assert interfaces[0]["project_id"] == topology.router["project_id"]


def test_add_interface_answers_with_the_interface_info(api: Api) -> None:
    network = api.network()
    subnet = api.subnet(network["id"], "10.5.0.0/24")
    router = api.router()
    info = api.add_interface(router["id"], subnet_id=subnet["id"])
    assert info["id"] == router["id"]
    assert info["subnet_id"] == subnet["id"]
    assert info["subnet_ids"] == [subnet["id"]]
    assert info["network_id"] == network["id"]
    assert info["tenant_id"] == info["project_id"] == router["project_id"]
    assert info["port_id"]


def test_an_existing_port_can_become_an_interface(api: Api, client: TestClient) -> None:
    network = api.network()
    subnet = api.subnet(network["id"], "10.6.0.0/24")
    port = api.port(network["id"], fixed_ips=[{"ip_address": "10.6.0.254"}])
    router = api.router()
    info = api.add_interface(router["id"], port_id=port["id"])
    assert (info["port_id"], info["subnet_id"]) == (port["id"], subnet["id"])
    adopted = api.show("ports", "port", port["id"])
    assert (adopted["device_owner"], adopted["device_id"]) == (
        "network:router_interface",
        router["id"],
    )
    other = api.router()
    response = client.put(
        f"/v2.0/routers/{other['id']}/add_router_interface", json={"port_id": port["id"]}
    )
    neutron_error(response, 409, "PortInUse")


def test_bad_interface_requests(api: Api, topology: Topology, client: TestClient) -> None:
    path = f"/v2.0/routers/{topology.router['id']}/add_router_interface"
    neutron_error(client.put(path, json={}), 400, "BadRequest")
    both = {"subnet_id": topology.private_subnet["id"], "port_id": "x"}
    neutron_error(client.put(path, json=both), 400, "BadRequest")
    again = {"subnet_id": topology.private_subnet["id"]}
    assert "already has a port" in neutron_error(client.put(path, json=again), 400, "BadRequest")
    overlapping_net = api.network()
    overlapping = api.subnet(overlapping_net["id"], "10.2.0.0/16")
    response = client.put(path, json={"subnet_id": overlapping["id"]})
    assert "overlaps" in neutron_error(response, 400, "BadRequest")
    no_gateway_net = api.network()
    no_gateway = api.subnet(no_gateway_net["id"], "10.7.0.0/24", gateway_ip=None)
    neutron_error(client.put(path, json={"subnet_id": no_gateway["id"]}), 400, "BadRequest")
    neutron_error(client.put(path, json={"subnet_id": "missing"}), 404, "SubnetNotFound")
    response = client.put("/v2.0/routers/missing/add_router_interface", json=again)
    neutron_error(response, 404, "RouterNotFound")


def test_the_gateway_address_taken_by_a_port_blocks_the_interface(
    api: Api, client: TestClient
) -> None:
    network = api.network()
    subnet = api.subnet(network["id"], "10.8.0.0/24")
    api.port(network["id"], fixed_ips=[{"ip_address": "10.8.0.1"}])
    router = api.router()
    response = client.put(
        f"/v2.0/routers/{router['id']}/add_router_interface", json={"subnet_id": subnet["id"]}
    )
    neutron_error(response, 409, "IpAddressInUse")


def test_remove_interface_by_subnet_deletes_its_port(
    topology: Topology, client: TestClient
) -> None:
    path = f"/v2.0/routers/{topology.router['id']}/remove_router_interface"
    response = client.put(path, json={"subnet_id": topology.private_subnet["id"]})
    assert response.status_code == 200, response.text
    info = response.json()
    assert info["subnet_id"] == topology.private_subnet["id"]
    neutron_error(client.get(f"/v2.0/ports/{info['port_id']}"), 404, "PortNotFound")
    again = client.put(path, json={"subnet_id": topology.private_subnet["id"]})
    neutron_error(again, 404, "RouterInterfaceNotFoundForSubnet")
    neutron_error(client.put(path, json={"port_id": "nope"}), 404, "RouterInterfaceNotFound")


def test_remove_interface_by_port(topology: Topology, client: TestClient) -> None:
    [interface] = [
        port
        for port in router_ports(client, topology.router["id"])
        if port["device_owner"] == "network:router_interface"
    ]
    path = f"/v2.0/routers/{topology.router['id']}/remove_router_interface"
    response = client.put(path, json={"port_id": interface["id"]})
    assert response.status_code == 200
    assert response.json()["port_id"] == interface["id"]


def test_a_router_with_interfaces_is_in_use(topology: Topology, client: TestClient) -> None:
    router_id = topology.router["id"]
    neutron_error(client.delete(f"/v2.0/routers/{router_id}"), 409, "RouterInUse")
    client.put(
        f"/v2.0/routers/{router_id}/remove_router_interface",
        json={"subnet_id": topology.private_subnet["id"]},
    )
    assert client.delete(f"/v2.0/routers/{router_id}").status_code == 204
    assert router_ports(client, router_id) == []
    neutron_error(client.get(f"/v2.0/routers/{router_id}"), 404, "RouterNotFound")


def test_router_ports_cannot_be_deleted_through_the_port_api(
    topology: Topology, client: TestClient
) -> None:
    for port in router_ports(client, topology.router["id"]):
        neutron_error(client.delete(f"/v2.0/ports/{port['id']}"), 409, "ServicePortInUse")


def test_extra_routes_must_go_through_an_attached_subnet(
    topology: Topology, client: TestClient
) -> None:
    path = f"/v2.0/routers/{topology.router['id']}"
    good = [{"destination": "192.168.0.0/16", "nexthop": "10.2.0.10"}]
    response = client.put(path, json={"router": {"routes": good}})
    assert response.status_code == 200, response.text
    assert response.json()["router"]["routes"] == good
    unreachable = [{"destination": "192.168.0.0/16", "nexthop": "10.99.0.1"}]
    response = client.put(path, json={"router": {"routes": unreachable}})
    neutron_error(response, 400, "InvalidRoutes")
    remove = client.put(
        f"{path}/remove_router_interface", json={"subnet_id": topology.private_subnet["id"]}
    )
    neutron_error(remove, 409, "RouterInterfaceInUse")


def test_ha_and_admin_state_can_be_set(api: Api, client: TestClient) -> None:
    router = api.router(ha=True)
    assert router["ha"] is True
    body = {"router": {"admin_state_up": False, "ha": False}}
    updated = client.put(f"/v2.0/routers/{router['id']}", json=body).json()["router"]
    assert (updated["admin_state_up"], updated["ha"]) == (False, False)


def test_router_status_is_reported_through_the_astara_path(
    topology: Topology, client: TestClient
) -> None:
    router_id = topology.router["id"]
    body = {"routerstatus": {"status": "ERROR"}}
    response = client.put(f"/v2.0/astara/routerstatus/{router_id}", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "routerstatus": {
            "id": router_id,
            "tenant_id": topology.router["project_id"],
            "status": "ERROR",
        }
    }
    assert client.get(f"/v2.0/routers/{router_id}").json()["router"]["status"] == "ERROR"
    assert {port["status"] for port in router_ports(client, router_id)} == {"DOWN"}
    client.put(
        f"/v2.0/astara/routerstatus/{router_id}", json={"routerstatus": {"status": "ACTIVE"}}
    )
    assert {port["status"] for port in router_ports(client, router_id)} == {"ACTIVE"}


def test_bad_router_status_reports(topology: Topology, client: TestClient) -> None:
    path = f"/v2.0/astara/routerstatus/{topology.router['id']}"
    neutron_error(client.put(path, json={"routerstatus": {"status": "HAPPY"}}), 400, "BadRequest")
    neutron_error(client.put(path, json={"status": "ACTIVE"}), 400, "BadRequest")
    missing = client.put(
        "/v2.0/astara/routerstatus/nope", json={"routerstatus": {"status": "DOWN"}}
    )
    neutron_error(missing, 404, "RouterNotFound")


def test_the_store_sets_router_status_for_the_orchestrator(
    topology: Topology, client: TestClient
) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]
    store.set_router_status(topology.router["id"], "BUILD")
    shown = client.get(f"/v2.0/routers/{topology.router['id']}").json()["router"]
    assert shown["status"] == "BUILD"
