"""The appliance side of the metadata path: instances' requests, forwarded to the orchestrator.

An instance asks http://169.254.169.254/...; the firewall redirects that to
the address of the interface the request arrived on, at the port of that
tenant network (``RouterConfig.metadata_ports``).  Here one listener per
network and address accepts it and forwards it, whatever its method, path,
query and body, over the management network to the orchestrator's metadata
proxy, adding who asked: ``X-Forwarded-For`` (the instance's source address)
and ``X-Astara-Network-ID``/``X-Quantum-Network-ID`` (the network the
listener serves).  The orchestrator finds the instance, signs its id and asks
Nova: the appliance never holds the shared secret, and since the identity
headers are set here from the connection itself, whatever an instance puts in
them is discarded.

Only a few harmless client headers are passed on (a whitelist), so a request
cannot smuggle identity headers past this proxy.  One request per connection:
metadata clients fetch a handful of small documents.

The proxy runs in the agent process, as an asyncio loop in a thread of its
own that has entered the appliance's network namespace, so every socket it
opens (listeners and the connection to the orchestrator) belongs to that
namespace.  Listeners bind with IP_FREEBIND: in an HA pair the backup does not
hold the tenant addresses yet and must still be ready when it takes over.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import re
import socket
import threading
from dataclasses import dataclass, field

from astara.appliance.model import RouterConfig
from astara.appliance.namespace_thread import enter_namespace

LOG = logging.getLogger(__name__)

NETWORK_HEADERS = ("X-Astara-Network-ID", "X-Quantum-Network-ID")
FORWARDED_CLIENT_HEADERS = frozenset({"accept", "content-type", "user-agent"})
MAX_HEAD_BYTES = 16 * 1024
MAX_BODY_BYTES = 1024 * 1024
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
CLIENT_TIMEOUT_S = 10.0
UPSTREAM_TIMEOUT_S = 30.0
CONTROL_TIMEOUT_S = 10.0
IP_FREEBIND = 15

_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_TARGET = re.compile(r"^/[\x21-\x7e]*$")
_HEADER_VALUE = re.compile(r"^[\x20-\x7e]*$")


@dataclass(frozen=True)
class Listener:
    network_id: str
    address: ipaddress.IPv4Address
    port: int


@dataclass(frozen=True)
class Upstream:
    host: str
    port: int


@dataclass(frozen=True)
class ProxyPlan:
    """What the proxy serves: its listeners and where it forwards to."""

    listeners: frozenset[Listener] = field(default_factory=frozenset)
    upstream: Upstream | None = None


def plan_for(config: RouterConfig) -> ProxyPlan:
    """One listener per IPv4 address of each tenant network (the redirect is IPv4 only)."""
    if config.orchestrator is None:
        return ProxyPlan()
    ports = config.metadata_ports()
    listeners = frozenset(
        Listener(_header_safe(net.network_id), address.ip, ports[net.network_id])
        for net in config.tenant_networks
        for address in net.interface.addresses
        if isinstance(address, ipaddress.IPv4Interface)
    )
    if not listeners:
        return ProxyPlan()
    orchestrator = config.orchestrator
    return ProxyPlan(listeners, Upstream(str(orchestrator.address), orchestrator.metadata_port))


class RequestError(Exception):
    """The instance's request cannot be forwarded; ``status`` is what it is told."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class Request:
    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


async def read_request(reader: asyncio.StreamReader) -> Request:
    """Parse one HTTP/1.x request; refuse anything ambiguous rather than guess."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError as exc:
        raise RequestError(431, "request head too large") from exc
    except asyncio.IncompleteReadError as exc:
        raise RequestError(400, "incomplete request") from exc
    lines = head[:-4].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not _TOKEN.match(parts[0]) or not _TARGET.match(parts[1]):
        raise RequestError(400, "malformed request line")
    if parts[2] not in ("HTTP/1.0", "HTTP/1.1"):
        raise RequestError(505, "HTTP version not supported")
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        value = value.strip(" \t")
        if not sep or not _TOKEN.match(name) or not _HEADER_VALUE.match(value):
            raise RequestError(400, "malformed header line")
        headers.append((name.lower(), value))
    if any(name == "transfer-encoding" for name, _ in headers):
        raise RequestError(411, "send the body with a Content-Length")
    lengths = {value for name, value in headers if name == "content-length"}
    if len(lengths) > 1 or not all(v.isdigit() for v in lengths):
        raise RequestError(400, "bad Content-Length")
    length = int(lengths.pop()) if lengths else 0
    if length > MAX_BODY_BYTES:
        raise RequestError(413, "request body too large")
    try:
        body = await reader.readexactly(length)
    except asyncio.IncompleteReadError as exc:
        raise RequestError(400, "incomplete request body") from exc
    return Request(parts[0], parts[1], tuple(headers), body)


def upstream_request(request: Request, upstream: Upstream, client: str, network_id: str) -> bytes:
    """The request as sent to the orchestrator, identity headers set from the connection."""
    host = f"[{upstream.host}]" if ":" in upstream.host else upstream.host
    lines = [
        f"{request.method} {request.target} HTTP/1.1",
        f"Host: {host}:{upstream.port}",
        "Connection: close",
        f"Content-Length: {len(request.body)}",
        *(f"{n}: {v}" for n, v in request.headers if n in FORWARDED_CLIENT_HEADERS),
        f"X-Forwarded-For: {client}",
        *(f"{name}: {network_id}" for name in NETWORK_HEADERS),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + request.body


def error_response(status: int, reason: str) -> bytes:
    body = (reason + "\n").encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


class MetadataProxy:
    """The listeners of one appliance, converged to a ``ProxyPlan`` on each apply."""

    def __init__(self, namespace: str | None) -> None:
        self._namespace = namespace
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._servers: dict[Listener, asyncio.Server] = {}
        self._upstream: Upstream | None = None

    @property
    def listeners(self) -> frozenset[Listener]:
        return frozenset(self._servers)

    def update(self, plan: ProxyPlan) -> None:
        """Serve exactly ``plan``; raise if a listener cannot be opened."""
        if not plan.listeners:
            self.stop()
            return
        loop = self._running_loop()
        asyncio.run_coroutine_threadsafe(self._converge(plan), loop).result(CONTROL_TIMEOUT_S)

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._converge(ProxyPlan()), loop).result(
            CONTROL_TIMEOUT_S
        )
        loop.call_soon_threadsafe(loop.stop)
        thread.join(CONTROL_TIMEOUT_S)
        self._loop = self._thread = None

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is not None:
            return self._loop
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def run() -> None:
            try:
                enter_namespace(self._namespace)
            except OSError as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            asyncio.set_event_loop(loop)
            ready.set()
            loop.run_forever()
            loop.close()

        thread = threading.Thread(target=run, name=f"metadata-{self._namespace}", daemon=True)
        thread.start()
        ready.wait(CONTROL_TIMEOUT_S)
        if failure:
            raise failure[0]
        self._loop, self._thread = loop, thread
        return loop

    async def _converge(self, plan: ProxyPlan) -> None:
        self._upstream = plan.upstream
        for listener in set(self._servers) - plan.listeners:
            server = self._servers.pop(listener)
            server.close()
            await server.wait_closed()
            LOG.info("metadata proxy: closed %s:%d", listener.address, listener.port)
        for listener in sorted(plan.listeners - set(self._servers), key=_listener_key):
            handler = functools.partial(self._handle, listener.network_id)
            self._servers[listener] = await asyncio.start_server(
                handler, sock=_bound_socket(listener), limit=MAX_HEAD_BYTES
            )
            LOG.info(
                "metadata proxy: network %s on %s:%d",
                listener.network_id,
                listener.address,
                listener.port,
            )

    async def _handle(
        self, network_id: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        client = str(writer.get_extra_info("peername")[0])
        try:
            response = await self._answer(network_id, client, reader)
            writer.write(response)
            await writer.drain()
        except (ConnectionError, TimeoutError) as exc:
            LOG.debug("metadata proxy: client %s went away: %s", client, exc)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, network_id: str, client: str, reader: asyncio.StreamReader) -> bytes:
        upstream = self._upstream
        try:
            request = await asyncio.wait_for(read_request(reader), CLIENT_TIMEOUT_S)
        except RequestError as exc:
            return error_response(exc.status, str(exc))
        if upstream is None:
            return error_response(503, "metadata service not configured")
        wire = upstream_request(request, upstream, client, network_id)
        try:
            return await asyncio.wait_for(_exchange(upstream, wire), UPSTREAM_TIMEOUT_S)
        except TimeoutError:
            LOG.warning("metadata proxy: orchestrator %s timed out", upstream.host)
            return error_response(504, "metadata service timed out")
        except OSError as exc:
            LOG.warning("metadata proxy: orchestrator %s unreachable: %s", upstream.host, exc)
            return error_response(502, "metadata service unreachable")


async def _exchange(upstream: Upstream, wire: bytes) -> bytes:
    """Send one request and return the whole response (the upstream closes after it)."""
    reader, writer = await asyncio.open_connection(upstream.host, upstream.port)
    try:
        writer.write(wire)
        await writer.drain()
        chunks = []
        size = 0
        while chunk := await reader.read(65536):
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                return error_response(502, "metadata response too large")
            chunks.append(chunk)
        return b"".join(chunks) or error_response(502, "empty answer from metadata service")
    finally:
        writer.close()


def _bound_socket(listener: Listener) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
        sock.bind((str(listener.address), listener.port))
    except OSError:
        sock.close()
        raise
    return sock


def _listener_key(listener: Listener) -> tuple[int, int]:
    return (int(listener.address), listener.port)


def _header_safe(value: str) -> str:
    if not _HEADER_VALUE.match(value):
        raise ValueError(f"network id {value!r} cannot be sent in an HTTP header")
    return value
