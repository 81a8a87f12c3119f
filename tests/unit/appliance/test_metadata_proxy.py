"""The appliance-side metadata proxy: what it listens on and what it forwards."""

from __future__ import annotations

import asyncio
import http.client
import ipaddress
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from astara.appliance.metadata_proxy import (
    Listener,
    MetadataProxy,
    ProxyPlan,
    Request,
    RequestError,
    Upstream,
    plan_for,
    read_request,
    upstream_request,
)
from tests.ports import free_port

from .configs import config, router_body


def test_one_listener_per_tenant_v4_address_at_the_firewalls_port() -> None:
    cfg = config()
    plan = plan_for(cfg)
    ports = cfg.metadata_ports()
    assert plan.listeners == {
        Listener("int", ipaddress.IPv4Address("10.1.0.1"), ports["int"]),
        Listener("iso", ipaddress.IPv4Address("10.2.0.1"), ports["iso"]),
    }
    assert plan.upstream == Upstream("fd00:aa::1", 9697)


def test_nothing_to_serve_without_an_orchestrator() -> None:
    body = router_body()
    del body["orchestrator"]
    assert plan_for(config(body)) == ProxyPlan()


def test_a_network_id_that_would_break_a_header_is_refused() -> None:
    body = router_body()
    body["networks"][2]["network_id"] = "int\r\nX-Instance-ID: other"
    with pytest.raises(ValueError, match="HTTP header"):
        plan_for(config(body))


def _parse(raw: bytes) -> Request:
    async def parse() -> Request:
        reader = asyncio.StreamReader()
        reader.feed_data(raw)
        reader.feed_eof()
        return await read_request(reader)

    return asyncio.run(parse())


def test_parses_method_target_headers_and_body() -> None:
    request = _parse(
        b"PUT /a/b?c=d HTTP/1.1\r\nHost: 169.254.169.254\r\nContent-Length: 3\r\n\r\nxyz"
    )
    assert (request.method, request.target, request.body) == ("PUT", "/a/b?c=d", b"xyz")
    assert ("host", "169.254.169.254") in request.headers


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET /\r\n\r\n", 400),
        (b"GET / HTTP/2\r\n\r\n", 505),
        (b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411),
        (b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", 413),
        (b"GET / HTTP/1.1\r\nX: a\nX-Instance-ID: b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab", 400),
    ],
    ids=["no version", "http2", "chunked", "two lengths", "too big", "bare LF", "short body"],
)
def test_refuses_what_it_cannot_forward_faithfully(raw: bytes, status: int) -> None:
    with pytest.raises(RequestError) as caught:
        _parse(raw)
    assert caught.value.status == status


def test_identity_headers_come_from_the_connection_not_the_instance() -> None:
    request = Request(
        "GET",
        "/latest/meta-data/instance-id",
        (
            ("x-forwarded-for", "10.9.9.9"),
            ("x-astara-network-id", "someone-else"),
            ("x-instance-id", "forged"),
            ("accept", "text/plain"),
        ),
        b"",
    )
    wire = upstream_request(request, Upstream("fd00:aa::1", 9697), "10.1.0.5", "int")
    lines = wire.decode().split("\r\n")
    assert lines[0] == "GET /latest/meta-data/instance-id HTTP/1.1"
    assert "Host: [fd00:aa::1]:9697" in lines
    assert "X-Forwarded-For: 10.1.0.5" in lines
    assert "X-Astara-Network-ID: int" in lines
    assert "X-Quantum-Network-ID: int" in lines
    assert "accept: text/plain" in lines
    text = wire.decode().lower()
    assert "10.9.9.9" not in text
    assert "someone-else" not in text
    assert "forged" not in text


class _Recorder(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, dict[str, str], bytes]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length)
        self.seen.append((self.command, self.path, dict(self.headers), body))
        reply = b"i-123"
        self.send_response(200)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def orchestrator() -> Iterator[tuple[Upstream, list[tuple[str, str, dict[str, str], bytes]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    _Recorder.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Upstream("127.0.0.1", server.server_address[1]), _Recorder.seen
    server.shutdown()
    server.server_close()



def test_forwards_through_a_live_listener_and_closes_it(
    orchestrator: tuple[Upstream, list[tuple[str, str, dict[str, str], bytes]]],
) -> None:
    upstream, seen = orchestrator
    listener = Listener("net-1", ipaddress.IPv4Address("127.0.0.1"), free_port())
    proxy = MetadataProxy(None)
    proxy.update(ProxyPlan(frozenset({listener}), upstream))
    try:
        connection = http.client.HTTPConnection("127.0.0.1", listener.port, timeout=10)
        connection.request("POST", "/openstack/latest/password?x=1", body=b"pw")
        answer = connection.getresponse()
        assert (answer.status, answer.read()) == (200, b"i-123")
        proxy.update(ProxyPlan(frozenset({listener}), upstream))
        assert proxy.listeners == {listener}
    finally:
        proxy.update(ProxyPlan())
    ((method, path, headers, body),) = seen
    assert (method, path, body) == ("POST", "/openstack/latest/password?x=1", b"pw")
    assert headers["X-Forwarded-For"] == "127.0.0.1"
    assert headers["X-Astara-Network-ID"] == "net-1"
    assert proxy.listeners == frozenset()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", listener.port), timeout=5)


def test_an_unreachable_orchestrator_is_a_502() -> None:
    listener = Listener("net-1", ipaddress.IPv4Address("127.0.0.1"), free_port())
    proxy = MetadataProxy(None)
    proxy.update(ProxyPlan(frozenset({listener}), Upstream("127.0.0.1", free_port())))
    try:
        connection = http.client.HTTPConnection("127.0.0.1", listener.port, timeout=10)
        connection.request("GET", "/latest/")
        assert connection.getresponse().status == 502
    finally:
        proxy.stop()
