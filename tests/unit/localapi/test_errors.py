"""Every failure leaves in Neutron's error shape, never as a traceback or a 422."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from .helpers import neutron_error


def test_an_unknown_url_is_a_neutron_404(client: TestClient) -> None:
    neutron_error(client.get("/v2.0/widgets"), 404, "HTTPNotFound")


def test_a_wrong_method_is_a_neutron_405(client: TestClient) -> None:
    neutron_error(client.patch("/v2.0/networks"), 405, "HTTPMethodNotAllowed")


def test_malformed_json_is_a_400(client: TestClient) -> None:
    response = client.post(
        "/v2.0/networks", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    neutron_error(response, 400, "BadRequest")


def test_a_body_without_the_resource_key_is_a_400(client: TestClient) -> None:
    message = neutron_error(client.post("/v2.0/networks", json={"net": {}}), 400, "BadRequest")
    assert message == "Unable to find 'network' in request body"
    neutron_error(client.post("/v2.0/networks", json={"network": []}), 400, "BadRequest")
    neutron_error(client.post("/v2.0/networks"), 400, "BadRequest")


def test_a_missing_required_attribute_is_named(client: TestClient) -> None:
    message = neutron_error(client.post("/v2.0/subnets", json={"subnet": {}}), 400, "BadRequest")
    assert "network_id" in message


def test_an_unexpected_failure_is_a_neutron_500(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]

    def broken(router_id: str, status: str) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store, "set_router_status", broken)
    with TestClient(client.app, raise_server_exceptions=False) as quiet:
        response = quiet.put(
            "/v2.0/astara/routerstatus/r", json={"routerstatus": {"status": "DOWN"}}
        )
    message = neutron_error(response, 500, "HTTPInternalServerError")
    assert "disk on fire" not in message
