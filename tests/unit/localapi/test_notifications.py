"""Notifications: Neutron's event types and payload shapes, sent only after commit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from astara.localapi import create_app
from astara.localapi.context import DEFAULT_PROJECT_ID

from .helpers import Api, Recorder, Topology, neutron_error


def test_crud_notifications_carry_the_resource_as_shown(
    api: Api, client: TestClient, recorder: Recorder
) -> None:
    network = api.network(name="n")
    assert recorder.events[-1] == (
        "network.create.end",
        {"network": network},
        {"tenant_id": DEFAULT_PROJECT_ID, "project_id": DEFAULT_PROJECT_ID, "is_admin": True},
    )
    updated = client.put(f"/v2.0/networks/{network['id']}", json={"network": {"name": "m"}})
    assert recorder.last("network.update.end") == {"network": updated.json()["network"]}
    subnet = api.subnet(network["id"], "10.0.0.0/24")
    assert recorder.last("subnet.create.end") == {"subnet": subnet}
    port = api.port(network["id"])
    assert recorder.last("port.create.end") == {"port": port}
    client.delete(f"/v2.0/ports/{port['id']}")
    assert recorder.last("port.delete.end") == {"port_id": port["id"], "port": port}
    client.delete(f"/v2.0/subnets/{subnet['id']}")
    assert recorder.last("subnet.delete.end")["subnet_id"] == subnet["id"]
    client.delete(f"/v2.0/networks/{network['id']}")
    assert recorder.last("network.delete.end")["network_id"] == network["id"]


def test_the_context_names_the_requesting_project(client: TestClient, recorder: Recorder) -> None:
    client.post("/v2.0/networks", json={"network": {}}, headers={"X-Project-Id": "t1"})
    _, _, context = recorder.events[-1]
    assert context == {"tenant_id": "t1", "project_id": "t1", "is_admin": True}


def test_router_lifecycle_notifications(
    topology: Topology, api: Api, client: TestClient, recorder: Recorder
) -> None:
    assert recorder.types() == [
        "network.create.end",
        "subnet.create.end",
        "network.create.end",
        "subnet.create.end",
        "router.create.end",
        "router.interface.create",
    ]
    assert recorder.last("router.create.end") == {"router": topology.router}
    interface = recorder.last("router.interface.create")["router_interface"]
    assert set(interface) == {
        "id",
        "tenant_id",
        "project_id",
        "port_id",
        "subnet_id",
        "subnet_ids",
        "network_id",
    }
    assert interface["id"] == topology.router["id"]
    assert interface["subnet_id"] == topology.private_subnet["id"]
    assert interface["network_id"] == topology.private["id"]

    router_id = topology.router["id"]
    client.put(f"/v2.0/routers/{router_id}", json={"router": {"name": "renamed"}})
    assert recorder.last("router.update.end")["router"]["name"] == "renamed"
    client.put(
        f"/v2.0/routers/{router_id}/remove_router_interface",
        json={"subnet_id": topology.private_subnet["id"]},
    )
    assert recorder.last("router.interface.delete") == {"router_interface": interface}
    client.delete(f"/v2.0/routers/{router_id}")
    deleted = recorder.last("router.delete.end")
    assert deleted["router_id"] == router_id
    assert deleted["router"]["name"] == "renamed"


def test_floating_ip_notifications(
    topology: Topology, api: Api, client: TestClient, recorder: Recorder
) -> None:
    port = api.port(topology.private["id"])
    floating_ip = api.floating_ip(topology.public["id"])
    assert recorder.last("floatingip.create.end") == {"floatingip": floating_ip}
    response = client.put(
        f"/v2.0/floatingips/{floating_ip['id']}", json={"floatingip": {"port_id": port["id"]}}
    )
    assert recorder.last("floatingip.update.end") == response.json()
    client.delete(f"/v2.0/floatingips/{floating_ip['id']}")
    deleted = recorder.last("floatingip.delete.end")
    assert deleted["floatingip_id"] == floating_ip["id"]
    assert deleted["floatingip"]["port_id"] == port["id"]


def test_router_status_is_not_a_router_update(
    topology: Topology, client: TestClient, recorder: Recorder
) -> None:
    body = {"routerstatus": {"status": "ACTIVE"}}
    client.put(f"/v2.0/astara/routerstatus/{topology.router['id']}", json=body)
    assert recorder.types()[-1] == "routerstatus.update.end"
    assert "router.update.end" not in recorder.types()


def test_failed_requests_notify_nothing(
    topology: Topology, client: TestClient, recorder: Recorder
) -> None:
    before = list(recorder.events)
    neutron_error(client.delete(f"/v2.0/routers/{topology.router['id']}"), 409, "RouterInUse")
    neutron_error(client.post("/v2.0/networks", json={"network": {"x": 1}}), 400, "BadRequest")
    body = {
        "port": {"network_id": topology.private["id"], "fixed_ips": [{"ip_address": "10.2.0.1"}]}
    }
    neutron_error(client.post("/v2.0/ports", json=body), 409, "IpAddressInUse")
    assert recorder.events == before


def test_notifications_are_sent_after_the_commit(database_url: str) -> None:
    """The callback reads the database through the API: the change must already be there."""
    seen: list[Any] = []
    holder: dict[str, TestClient] = {}

    def notify(event_type: str, payload: dict[str, Any], context: dict[str, Any]) -> None:
        network_id = payload["network"]["id"]
        seen.append(holder["client"].get(f"/v2.0/networks/{network_id}").status_code)

    with TestClient(create_app(database_url, notify)) as client:
        holder["client"] = client
        assert client.post("/v2.0/networks", json={"network": {}}).status_code == 201
    assert seen == [200]


def test_a_failing_callback_does_not_fail_the_request(tmp_path: Path) -> None:
    def broken(event_type: str, payload: dict[str, Any], context: dict[str, Any]) -> None:
        raise RuntimeError("bus is down")

    with TestClient(create_app(f"sqlite:///{tmp_path / 'n.db'}", broken)) as client:
        response = client.post("/v2.0/networks", json={"network": {"name": "kept"}})
        assert response.status_code == 201
        assert [n["name"] for n in client.get("/v2.0/networks").json()["networks"]] == ["kept"]
