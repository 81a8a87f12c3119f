"""An id prefix marks every resource the API creates, and only the start of the id."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from astara.localapi import create_app

from .helpers import Api, Recorder

PREFIX = "astt"


@pytest.fixture
def marked_api(tmp_path: Path) -> Iterator[Api]:
    app = create_app(f"sqlite:///{tmp_path / 'network.db'}", Recorder(), id_prefix=PREFIX)
    with TestClient(app) as client:
        yield Api(client)


def _uuid_shaped(resource_id: str) -> bool:
    """Same length and dashes as a UUID; the rest of it still a valid UUID's hex."""
    padded = "0" * len(PREFIX) + resource_id[len(PREFIX) :]
    return str(uuid.UUID(padded)) == padded


def test_every_kind_of_resource_gets_the_prefix(marked_api: Api) -> None:
    public = marked_api.network(name="public", **{"router:external": True})
    public_subnet = marked_api.subnet(public["id"], "172.16.0.0/24")
    private = marked_api.network(name="private")
    private_subnet = marked_api.subnet(private["id"], "10.2.0.0/24")
    router = marked_api.router(name="r", external_gateway_info={"network_id": public["id"]})
    interface = marked_api.add_interface(router["id"], subnet_id=private_subnet["id"])
    port = marked_api.port(private["id"])
    floating_ip = marked_api.floating_ip(public["id"], port_id=port["id"])
    ids = [
        public["id"], public_subnet["id"], private["id"], private_subnet["id"], router["id"],
        interface["port_id"], port["id"], floating_ip["id"],
    ]  # fmt: skip
    for owner in ("network:router_gateway", "network:floatingip"):
        owned = marked_api.client.get("/v2.0/ports", params={"device_owner": owner}).json()
        ids += [p["id"] for p in owned["ports"]]
    assert all(i.startswith(PREFIX) and len(i) == 36 and _uuid_shaped(i) for i in ids), ids
    assert len(set(ids)) == len(ids)


def test_without_a_prefix_ids_are_plain_uuids(api: Api) -> None:
    network = api.network(name="n")
    assert str(uuid.UUID(network["id"])) == network["id"]


@pytest.mark.parametrize("prefix", ["ASTT", "astt-", "toolongprefix", "a.b"])
def test_a_prefix_that_would_break_the_ids_is_refused(tmp_path: Path, prefix: str) -> None:
    with pytest.raises(ValueError, match="id prefix"):
        create_app(f"sqlite:///{tmp_path / 'n.db'}", Recorder(), id_prefix=prefix)
