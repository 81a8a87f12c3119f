"""Networks through the API: defaults, ownership, updates and deletion rules."""

from __future__ import annotations

from fastapi.testclient import TestClient

from astara.localapi.context import DEFAULT_PROJECT_ID

from .helpers import Api, Topology, neutron_error


def test_a_new_network_has_neutrons_defaults(api: Api) -> None:
    network = api.network(name="private")
    assert network["name"] == "private"
    assert network["admin_state_up"] is True
    assert network["shared"] is False
    assert network["router:external"] is False
    assert network["mtu"] == 1500
    assert network["status"] == "ACTIVE"
    assert network["port_security_enabled"] is True
    assert network["subnets"] == []
    assert network["tenant_id"] == network["project_id"] == DEFAULT_PROJECT_ID


def test_the_project_header_sets_the_owner(client: TestClient) -> None:
    response = client.post(
        "/v2.0/networks", json={"network": {"name": "n"}}, headers={"X-Project-Id": "tenant-a"}
    )
    assert response.status_code == 201
    assert response.json()["network"]["project_id"] == "tenant-a"
    assert response.json()["network"]["tenant_id"] == "tenant-a"


def test_an_admin_may_create_for_another_project(api: Api) -> None:
    network = api.network(name="n", tenant_id="tenant-b")
    assert network["project_id"] == "tenant-b"


def test_mismatched_tenant_and_project_are_refused(client: TestClient) -> None:
    body = {"network": {"tenant_id": "a", "project_id": "b"}}
    neutron_error(client.post("/v2.0/networks", json=body), 400, "BadRequest")


def test_show_and_list_return_what_was_created(api: Api, client: TestClient) -> None:
    network = api.network(name="shown", mtu=1450)
    assert api.show("networks", "network", network["id"]) == network
    assert client.get("/v2.0/networks").json() == {"networks": [network]}


def test_update_changes_only_the_given_attributes(api: Api, client: TestClient) -> None:
    network = api.network(name="before", shared=True)
    response = client.put(f"/v2.0/networks/{network['id']}", json={"network": {"name": "after"}})
    assert response.status_code == 200
    updated = response.json()["network"]
    assert updated["name"] == "after"
    assert updated["shared"] is True
    assert updated["revision_number"] > network["revision_number"]


def test_unknown_attributes_are_refused_and_nothing_is_created(client: TestClient) -> None:
    response = client.post("/v2.0/networks", json={"network": {"name": "n", "colour": "red"}})
    assert "colour" in neutron_error(response, 400, "BadRequest")
    assert client.get("/v2.0/networks").json() == {"networks": []}


def test_a_wrongly_typed_value_is_a_400_not_a_422(client: TestClient) -> None:
    response = client.post("/v2.0/networks", json={"network": {"mtu": "big"}})
    assert "mtu" in neutron_error(response, 400, "BadRequest")


def test_read_only_attributes_cannot_be_updated(api: Api, client: TestClient) -> None:
    network = api.network()
    response = client.put(f"/v2.0/networks/{network['id']}", json={"network": {"tenant_id": "x"}})
    assert "read-only" in neutron_error(response, 400, "BadRequest")


def test_a_missing_network_is_network_not_found(client: TestClient) -> None:
    message = neutron_error(client.get("/v2.0/networks/nope"), 404, "NetworkNotFound")
    assert message == "Network nope could not be found."
    neutron_error(client.delete("/v2.0/networks/nope"), 404, "NetworkNotFound")
    neutron_error(
        client.put("/v2.0/networks/nope", json={"network": {"name": "x"}}), 404, "NetworkNotFound"
    )


def test_a_network_with_ports_is_in_use(api: Api, client: TestClient) -> None:
    network = api.network()
    port = api.port(network["id"])
    neutron_error(client.delete(f"/v2.0/networks/{network['id']}"), 409, "NetworkInUse")
    assert client.delete(f"/v2.0/ports/{port['id']}").status_code == 204
    assert client.delete(f"/v2.0/networks/{network['id']}").status_code == 204
    neutron_error(client.get(f"/v2.0/networks/{network['id']}"), 404, "NetworkNotFound")


def test_deleting_a_network_deletes_its_subnets(api: Api, client: TestClient) -> None:
    network = api.network()
    subnet = api.subnet(network["id"], "10.0.0.0/24")
    assert client.delete(f"/v2.0/networks/{network['id']}").status_code == 204
    neutron_error(client.get(f"/v2.0/subnets/{subnet['id']}"), 404, "SubnetNotFound")


def test_an_external_network_with_gateways_cannot_become_internal(
    topology: Topology, client: TestClient
) -> None:
    body = {"network": {"router:external": False}}
    response = client.put(f"/v2.0/networks/{topology.public['id']}", json=body)
    neutron_error(response, 409, "ExternalNetworkInUse")
    shown = client.get(f"/v2.0/networks/{topology.public['id']}").json()["network"]
    assert shown["router:external"] is True
