"""The REST API's contract, with recording services instead of real ones."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from astara.appliance.api import WELCOME, create_app
from astara.appliance.manager import Manager
from astara.appliance.model import RouterConfig
from astara.appliance.netns import Namespace
from astara.appliance.state import ConfigStore

from .test_manager import Recorder

FAILING = RouterConfig(hostname="fails")


@pytest.fixture
def journal() -> list[str]:
    return []


@pytest.fixture
def client(tmp_path: Path, journal: list[str]) -> TestClient:
    ns = Namespace(None)
    services = [Recorder("firewall", journal), Recorder("dhcp", journal, fail_on=FAILING)]
    appliance: Any = SimpleNamespace(
        ns=ns,
        manager=Manager(ns, services, ConfigStore(tmp_path / "config.json")),
        services=frozenset({"router"}),
    )
    return TestClient(create_app(appliance), raise_server_exceptions=False)


def test_alive_probe(client: TestClient) -> None:
    response = client.get("/v1/base/")
    assert response.status_code == 200
    assert response.text == WELCOME


def test_config_round_trip_with_charset_in_content_type(client: TestClient) -> None:
    body = {"hostname": "r1", "tenant_id": "t"}
    put = client.put(
        "/v1/system/config/",
        content=RouterConfig(**body).model_dump_json(),
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert put.status_code == 200, put.text
    got = client.get("/v1/system/config/").json()["configuration"]
    assert (got["hostname"], got["tenant_id"]) == ("r1", "t")


def test_invalid_body_is_422_naming_the_field_and_changes_nothing(
    client: TestClient, journal: list[str]
) -> None:
    body = {"networks": [{"network_id": "n", "interface": {"lladdr": "nope"}}]}
    response = client.put("/v1/system/config/", json=body)
    assert response.status_code == 422
    locs = [e["loc"] for e in response.json()["detail"]]
    assert ["body", "networks", 0, "interface", "lladdr"] in locs
    assert journal == []


def test_body_that_is_not_json_is_415(client: TestClient) -> None:
    response = client.put(
        "/v1/system/config/", content="hostname=x", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 415


def test_unknown_service_is_400(client: TestClient, journal: list[str]) -> None:
    response = client.put("/v1/system/config/", json={"services": {"loadbalancer": {"id": "x"}}})
    assert response.status_code == 400
    assert "loadbalancer" in response.json()["detail"]
    assert journal == []


def test_unplugged_interface_is_409(client: TestClient, journal: list[str]) -> None:
    body = {"networks": [{"network_id": "n", "interface": {"lladdr": "02:00:5e:ff:ff:fe"}}]}
    response = client.put("/v1/system/config/", json=body)
    assert response.status_code == 409
    assert "02:00:5e:ff:ff:fe" in response.json()["detail"]
    assert journal == []


def test_failed_apply_is_500_naming_the_step_and_keeps_the_last_good_config(
    client: TestClient,
) -> None:
    assert client.put("/v1/system/config/", json={"hostname": "good"}).status_code == 200
    response = client.put("/v1/system/config/", json={"hostname": "fails"})
    assert response.status_code == 500
    assert response.json() == {
        "detail": "apply failed at step dhcp: dhcp cannot do it; "
        "rolled back to the last good configuration"
    }
    assert client.get("/v1/system/config/").json()["configuration"]["hostname"] == "good"


def test_status_without_external_network_is_down(client: TestClient) -> None:
    assert client.get("/v1/status/").json() == {"v4": False, "v6": False}


def test_unknown_interface_is_404(client: TestClient) -> None:
    assert client.get("/v1/system/interface/astt-none/").status_code == 404


def test_openapi_documents_the_config_body(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    put = spec["paths"]["/v1/system/config/"]["put"]
    assert put["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "RouterConfig"
    )
    assert {"400", "409", "415", "422", "500"} <= set(put["responses"])
