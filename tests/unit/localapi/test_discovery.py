"""Version and extension discovery, as clients probe them before other calls."""

from __future__ import annotations

from fastapi.testclient import TestClient

from .helpers import neutron_error


def test_root_lists_v2_as_current(client: TestClient) -> None:
    body = client.get("/").json()
    [version] = body["versions"]
    assert version["id"] == "v2.0"
    assert version["status"] == "CURRENT"
    assert version["links"] == [{"href": "http://testserver/v2.0/", "rel": "self"}]


def test_v2_lists_its_collections(client: TestClient) -> None:
    for path in ("/v2.0/", "/v2.0"):
        resources = client.get(path).json()["resources"]
        assert {resource["collection"] for resource in resources} == {
            "networks",
            "subnets",
            "ports",
            "routers",
            "floatingips",
        }
        assert all(r["links"][0]["href"].endswith(r["collection"]) for r in resources)


def test_extensions_name_what_is_implemented(client: TestClient) -> None:
    extensions = client.get("/v2.0/extensions").json()["extensions"]
    aliases = {extension["alias"] for extension in extensions}
    assert {"router", "external-net", "extraroute", "l3-ha", "astara-routerstatus"} <= aliases
    assert all(set(e) == {"alias", "name", "description", "updated", "links"} for e in extensions)
    assert client.get("/v2.0/extensions/router").json()["extension"]["alias"] == "router"


def test_an_unknown_extension_is_not_found(client: TestClient) -> None:
    response = client.get("/v2.0/extensions/external-gateway-multihoming")
    neutron_error(response, 404, "ExtensionNotFound")
