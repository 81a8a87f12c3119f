"""Shortcuts for the local API tests: a notification recorder, a client, error checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient


@dataclass
class Recorder:
    """The notify callback: keeps (event_type, payload, context) in order."""

    events: list[tuple[str, dict[str, Any], dict[str, Any]]] = field(default_factory=list)

    def __call__(self, event_type: str, payload: dict[str, Any], context: dict[str, Any]) -> None:
        self.events.append((event_type, payload, context))

    def types(self) -> list[str]:
        return [event_type for event_type, _, _ in self.events]

    def last(self, event_type: str) -> dict[str, Any]:
        for recorded_type, payload, _ in reversed(self.events):
            if recorded_type == event_type:
                return payload
        raise AssertionError(f"no {event_type} among {self.types()}")


class Api:
    """A TestClient with shortcuts for the calls most tests start with."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def create(self, collection: str, resource: str, **attributes: Any) -> dict[str, Any]:
        response = self.client.post(f"/v2.0/{collection}", json={resource: attributes})
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()[resource]
        return created

    def network(self, **attributes: Any) -> dict[str, Any]:
        return self.create("networks", "network", **attributes)

    def subnet(self, network_id: str, cidr: str, **attributes: Any) -> dict[str, Any]:
        return self.create("subnets", "subnet", network_id=network_id, cidr=cidr, **attributes)

    def port(self, network_id: str, **attributes: Any) -> dict[str, Any]:
        return self.create("ports", "port", network_id=network_id, **attributes)

    def router(self, **attributes: Any) -> dict[str, Any]:
        return self.create("routers", "router", **attributes)

    def floating_ip(self, network_id: str, **attributes: Any) -> dict[str, Any]:
        return self.create(
            "floatingips", "floatingip", floating_network_id=network_id, **attributes
        )

    def add_interface(self, router_id: str, **body: str) -> dict[str, Any]:
        response = self.client.put(f"/v2.0/routers/{router_id}/add_router_interface", json=body)
        assert response.status_code == 200, response.text
        info: dict[str, Any] = response.json()
        return info

    def show(self, collection: str, resource: str, item_id: str) -> dict[str, Any]:
        response = self.client.get(f"/v2.0/{collection}/{item_id}")
        assert response.status_code == 200, response.text
        shown: dict[str, Any] = response.json()[resource]
        return shown


@dataclass
class Topology:
    """The install guide's layout: public (external) and private, a router between."""

    public: dict[str, Any]
    public_subnet: dict[str, Any]
    private: dict[str, Any]
    private_subnet: dict[str, Any]
    router: dict[str, Any]


def neutron_error(response: Any, status: int, error_type: str) -> str:
    """Assert Neutron's error shape and return its message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"NeutronError"}
    error = body["NeutronError"]
    assert error["type"] == error_type, error
    assert error["detail"] == ""
    assert error["message"]
    message: str = error["message"]
    return message
