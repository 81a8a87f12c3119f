"""The store: a WAL-mode SQLite file, one writer at a time, no address handed out twice."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from astara.localapi import create_app
from astara.localapi.engine import make_engine
from astara.localapi.errors import NotFound
from astara.localapi.store import Store

from .helpers import Api, Recorder


def test_the_database_file_uses_wal(database_url: str, client: TestClient) -> None:
    path = database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_only_sqlite_urls_are_accepted() -> None:
    with pytest.raises(ValueError, match="SQLite"):
        make_engine("postgresql://localhost/astara")


def test_concurrent_port_creation_never_shares_an_address(api: Api, client: TestClient) -> None:
    network = api.network()
    api.subnet(network["id"], "10.0.0.0/24")

    def create_port(_: int) -> str:
        response = client.post("/v2.0/ports", json={"port": {"network_id": network["id"]}})
        assert response.status_code == 201, response.text
        address: str = response.json()["port"]["fixed_ips"][0]["ip_address"]
        return address

    with ThreadPoolExecutor(max_workers=8) as pool:
        addresses = list(pool.map(create_port, range(40)))
    assert len(set(addresses)) == 40


def test_data_survives_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kept.db'}"
    with TestClient(create_app(url, Recorder())) as client:
        client.post("/v2.0/networks", json={"network": {"name": "kept"}})
    with TestClient(create_app(url, Recorder())) as restarted:
        listed = restarted.get("/v2.0/networks").json()["networks"]
    assert [network["name"] for network in listed] == ["kept"]


def test_set_router_status_on_a_missing_router(database_url: str) -> None:
    recorder = Recorder()
    store = Store(database_url, recorder)
    try:
        with pytest.raises(NotFound):
            store.set_router_status("missing", "ACTIVE")
    finally:
        store.close()
    assert recorder.events == []
