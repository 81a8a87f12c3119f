"""The real local API served by uvicorn on a free loopback port, for network-model tests.

openstacksdk speaks HTTP through requests, so the API must really listen;
each test gets its own server over its own SQLite file. :class:`Api` sets up
topologies and reads the API's state with plain HTTP, independently of the
client under test.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import tenacity
import uvicorn

from astara.localapi import create_app
from astara.network.neutron_api import NeutronNetworkModel
from astara.network.session import local_connection

#: An ASGI application (the local API, or a wrapper around it).
ASGIApplication = Callable[..., Any]
#: How long uvicorn may take to start listening: a bound, not an assertion.
STARTUP_LIMIT_SECONDS = 30.0


def local_api(database: Path) -> ASGIApplication:
    """A fresh local API over the SQLite file ``database``."""
    return create_app(f"sqlite:///{database}", lambda *_: None)


def bound_socket() -> socket.socket:
    """A socket bound to a free loopback port and not listening yet: connections are refused."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    return listener


def url_of(listener: socket.socket) -> str:
    return f"http://127.0.0.1:{listener.getsockname()[1]}"


@contextmanager
def serve(app: ASGIApplication, listener: socket.socket | None = None) -> Iterator[str]:
    """Serve ``app`` with uvicorn on ``listener`` (a new one by default); yields its URL."""
    listener = listener or bound_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_LIMIT_SECONDS
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    if not server.started:
        raise RuntimeError("uvicorn did not start serving the local API")
    try:
        yield url_of(listener)
    finally:
        server.should_exit = True
        thread.join(STARTUP_LIMIT_SECONDS)
        listener.close()


def model_for(url: str, **options: Any) -> NeutronNetworkModel:
    """The client under test, without waiting between retries."""
    options.setdefault("wait", tenacity.wait_none())
    return NeutronNetworkModel(local_connection(url), **options)


class Api:
    """Plain HTTP calls to the local API: set-up and independent checks."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=f"{url}/v2.0")

    def create(self, collection: str, resource: str, **attributes: Any) -> dict[str, Any]:
        response = self.http.post(f"/{collection}", json={resource: attributes})
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
        response = self.http.put(f"/routers/{router_id}/add_router_interface", json=body)
        assert response.status_code == 200, response.text
        info: dict[str, Any] = response.json()
        return info

    def show(self, collection: str, resource: str, item_id: str) -> dict[str, Any]:
        response = self.http.get(f"/{collection}/{item_id}")
        assert response.status_code == 200, response.text
        shown: dict[str, Any] = response.json()[resource]
        return shown

    def ports(self, **filters: Any) -> list[dict[str, Any]]:
        response = self.http.get("/ports", params=filters)
        assert response.status_code == 200, response.text
        ports: list[dict[str, Any]] = response.json()["ports"]
        return ports

    def delete(self, collection: str, item_id: str) -> None:
        response = self.http.delete(f"/{collection}/{item_id}")
        assert response.status_code == 204, response.text
