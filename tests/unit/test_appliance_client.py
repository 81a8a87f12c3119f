"""HttpApplianceClient against a small real HTTP server (FastAPI under uvicorn, in a thread).

The server speaks the appliance agent's API on 127.0.0.1 and on ::1, on a
port the kernel picks, so the client's URL building (bracketed IPv6),
status handling, error messages and timeouts are tested over real sockets.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from astara.orchestrator.appliance_client import (
    ApplianceConfigError,
    ApplianceError,
    HttpApplianceClient,
    base_url,
)

INTERFACES = [
    {"ifname": "ge0", "lladdr": "fa:16:3e:00:00:01", "addresses": [], "mtu": 1280, "state": "up"},
    {"ifname": "ge1", "lladdr": "fa:16:3e:00:00:02", "addresses": [], "mtu": 1500, "state": "up"},
]
COUNTERS = {"ge1": {"rx_bytes": 100, "tx_bytes": 200, "rx_packets": 3, "tx_packets": 4}}


def agent_app(slow: threading.Event) -> FastAPI:
    """The agent's API, with switches: ``{"invalid": true}`` is refused; ``slow`` stalls PUTs."""
    app = FastAPI()

    @app.get("/v1/base/")
    def base() -> PlainTextResponse:
        return PlainTextResponse("Astara appliance API service is active")

    @app.get("/v1/system/interfaces")
    def interfaces() -> dict[str, Any]:
        return {"interfaces": INTERFACES}

    @app.put("/v1/system/config/")
    async def put_config(request: Request) -> JSONResponse:
        body = await request.json()
        if slow.is_set():
            await asyncio.sleep(1)
        if body.get("invalid"):
            return JSONResponse({"detail": "The config failed to validate.\nno asn"}, 422)
        if body.get("unvalidated"):
            return JSONResponse({"detail": [{"loc": ["body", "asn"], "msg": "missing"}]}, 422)
        if body.get("crash"):
            return PlainTextResponse("Internal Server Error", 500)
        return JSONResponse({"configuration": body})

    @app.get("/v1/system/counters")
    def counters() -> dict[str, Any]:
        return {"interfaces": COUNTERS}

    return app


class AgentServer:
    """uvicorn serving the agent app on one loopback address, in a daemon thread."""

    def __init__(self, host: str) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.host = host
        self.port: int = self.sock.getsockname()[1]
        self.slow = threading.Event()
        config = uvicorn.Config(agent_app(self.slow), log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> AgentServer:
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError(f"the test agent on {self.host} did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


ADDRESSES = [
    "127.0.0.1",
    pytest.param(
        "::1",
        marks=pytest.mark.skipif(
            not _has_ipv6_loopback(), reason="this machine has no IPv6 loopback (::1)"
        ),
    ),
]


@pytest.fixture(params=ADDRESSES, scope="module")
def agent(request: pytest.FixtureRequest) -> Iterator[AgentServer]:
    with AgentServer(request.param) as server:
        yield server


@pytest.fixture
def client(agent: AgentServer) -> Iterator[HttpApplianceClient]:
    http = HttpApplianceClient(port=agent.port)
    yield http
    http.close()


def test_base_url_brackets_ipv6_literals() -> None:
    assert base_url("fdca:3ba5:a17a:acda::5", 5000) == "http://[fdca:3ba5:a17a:acda::5]:5000/v1/"
    assert base_url("192.0.2.7", 5000) == "http://192.0.2.7:5000/v1/"
    assert base_url("appliance.example", 5001) == "http://appliance.example:5001/v1/"


def test_is_alive(agent: AgentServer, client: HttpApplianceClient) -> None:
    assert client.is_alive(agent.host, timeout=5)


def test_is_alive_is_false_when_nothing_listens(agent: AgentServer) -> None:
    family = socket.AF_INET6 if ":" in agent.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as unused:
        unused.bind((agent.host, 0))
        closed_port = unused.getsockname()[1]
    http = HttpApplianceClient(port=closed_port)
    assert not http.is_alive(agent.host, timeout=5)
    with pytest.raises(ApplianceError, match="GET system/interfaces failed"):
        http.get_interfaces(agent.host)


def test_get_interfaces(agent: AgentServer, client: HttpApplianceClient) -> None:
    assert client.get_interfaces(agent.host) == INTERFACES


def test_read_counters(agent: AgentServer, client: HttpApplianceClient) -> None:
    assert client.read_counters(agent.host) == COUNTERS


def test_put_config_returns_the_applied_configuration(
    agent: AgentServer, client: HttpApplianceClient
) -> None:
    config = {"asn": 64512, "networks": [], "orchestrator": {"address": "fdca::1"}}
    assert client.put_config(agent.host, config, timeout=5) == config


def test_put_config_refused_carries_the_agents_message(
    agent: AgentServer, client: HttpApplianceClient
) -> None:
    with pytest.raises(ApplianceConfigError) as refused:
        client.put_config(agent.host, {"invalid": True}, timeout=5)
    assert refused.value.status_code == 422
    assert refused.value.detail == "The config failed to validate.\nno asn"
    assert "HTTP 422" in str(refused.value)


def test_put_config_validation_errors_are_readable(
    agent: AgentServer, client: HttpApplianceClient
) -> None:
    with pytest.raises(ApplianceConfigError) as refused:
        client.put_config(agent.host, {"unvalidated": True}, timeout=5)
    assert refused.value.detail == '[{"loc": ["body", "asn"], "msg": "missing"}]'


def test_put_config_server_error_without_json(
    agent: AgentServer, client: HttpApplianceClient
) -> None:
    with pytest.raises(ApplianceConfigError) as failed:
        client.put_config(agent.host, {"crash": True}, timeout=5)
    assert failed.value.status_code == 500
    assert failed.value.detail == "Internal Server Error"


def test_put_config_timeout_is_an_appliance_error(agent: AgentServer) -> None:
    http = HttpApplianceClient(port=agent.port)
    agent.slow.set()
    try:
        with pytest.raises(ApplianceError, match="config push failed: timed out") as timed_out:
            http.put_config(agent.host, {"asn": 1}, timeout=0.2)
    finally:
        agent.slow.clear()
        http.close()
    assert not isinstance(timed_out.value, ApplianceConfigError)


def test_proxy_settings_of_the_environment_are_ignored(
    agent: AgentServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(variable, "http://192.0.2.1:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    http = HttpApplianceClient(port=agent.port)
    try:
        assert http.is_alive(agent.host, timeout=5)
    finally:
        http.close()


def test_client_is_shared_by_threads(agent: AgentServer, client: HttpApplianceClient) -> None:
    results: list[bool] = []

    def probe() -> None:
        for _ in range(5):
            results.append(client.is_alive(agent.host, timeout=5))

    threads = [threading.Thread(target=probe) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [True] * 40
