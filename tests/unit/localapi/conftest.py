"""A fresh local API over a temporary SQLite file, recording its notifications."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from astara.localapi import create_app

from .helpers import Api, Recorder, Topology


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'network.db'}"


@pytest.fixture
def client(database_url: str, recorder: Recorder) -> Iterator[TestClient]:
    with TestClient(create_app(database_url, recorder)) as test_client:
        yield test_client


@pytest.fixture
def api(client: TestClient) -> Api:
    return Api(client)


@pytest.fixture
def topology(api: Api) -> Topology:
    public = api.network(name="public", **{"router:external": True})
    public_subnet = api.subnet(public["id"], "172.16.0.0/24", name="public-subnet")
    private = api.network(name="private")
    private_subnet = api.subnet(private["id"], "10.2.0.0/24", name="private-subnet")
    router = api.router(name="MyRouter", external_gateway_info={"network_id": public["id"]})
    api.add_interface(router["id"], subnet_id=private_subnet["id"])
    return Topology(public, public_subnet, private, private_subnet, router)
