"""The orchestrator side of the metadata path: identify the instance, sign, ask Nova.

Appliances forward their instances' metadata requests here over the
management network, saying which tenant network the request arrived on
(``X-Astara-Network-ID``, or the older ``X-Quantum-Network-ID``) and from
which address (``X-Forwarded-For``).  The pair (network, address) names at
most one instance port; only then is the request passed to Nova's metadata
service, with the instance id signed by the secret Nova shares with us.  A
network or address without an instance gets 404, so a tenant can only ever
read the metadata of the instance it is.

This service must listen on the management address only: the identity
headers are trusted because only appliances can reach it.
"""

from __future__ import annotations

import abc
import hashlib
import hmac
import ipaddress
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from oslo_config import cfg
from starlette.concurrency import run_in_threadpool

from astara.common.http_server import ThreadedServer
from astara.network.base import NetworkModel, Port

LOG = logging.getLogger(__name__)

DEFAULT_PORT = 9697
UPSTREAM_TIMEOUT_S = 10.0
NETWORK_HEADERS = ("x-astara-network-id", "x-quantum-network-id")
PASSED_THROUGH = frozenset({200, 403, 404, 500})
FORWARDED_REQUEST_HEADERS = ("accept", "content-type", "user-agent")
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]


#: ``device_owner`` prefix of ports Nova attached to an instance.
COMPUTE_OWNER_PREFIX = "compute:"


class InstanceLookup(abc.ABC):
    """Which instance owns an address on a network (ports whose owner is ``compute:*``)."""

    @abc.abstractmethod
    def find_instance(self, network_id: str, fixed_ip: str) -> tuple[str, str] | None:
        """``(instance_id, tenant_id)``, or None when no instance has that address there."""


class NetworkModelInstanceLookup(InstanceLookup):
    """An instance is the device of a ``compute:*`` port holding the address."""

    def __init__(self, network: NetworkModel) -> None:
        self._network = network

    def find_instance(self, network_id: str, fixed_ip: str) -> tuple[str, str] | None:
        port = self._network.find_instance_port(network_id, fixed_ip)
        if port is None or not is_instance_port(port):
            return None
        return port.device_id, port.tenant_id


def is_instance_port(port: Port) -> bool:
    """Nova attached the port to an instance (which is then its ``device_id``)."""
    return port.device_owner.startswith(COMPUTE_OWNER_PREFIX) and bool(port.device_id)


def nova_metadata_url(conf: cfg.ConfigOpts) -> str:
    """Nova's metadata API, ``[DEFAULT] nova_metadata_ip`` and ``nova_metadata_port``."""
    host = conf.nova_metadata_ip
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{conf.nova_metadata_port}"


def metadata_proxy_server(
    conf: cfg.ConfigOpts,
    network: NetworkModel,
    address: str,
    upstream_url: str,
    *,
    upstream_transport: httpx.AsyncBaseTransport | None = None,
) -> ThreadedServer:
    """The proxy on ``address``:``astara_metadata_port``, asking ``upstream_url`` (not started)."""
    app = create_metadata_app(
        NetworkModelInstanceLookup(network),
        upstream_url,
        conf.neutron_metadata_proxy_shared_secret,
        upstream_transport=upstream_transport,
    )
    return ThreadedServer("metadata proxy", app, address, conf.astara_metadata_port)


def sign_instance_id(shared_secret: str, instance_id: str) -> str:
    """The signature Nova checks: HMAC-SHA256 of the instance id, hex."""
    key, message = shared_secret.encode(), instance_id.encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def create_metadata_app(
    lookup: InstanceLookup,
    nova_metadata_url: str,
    shared_secret: str,
    *,
    upstream_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The proxy as an ASGI app; ``upstream_transport`` replaces the network (tests, TLS)."""
    base_url = nova_metadata_url.rstrip("/")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(
            timeout=UPSTREAM_TIMEOUT_S, transport=upstream_transport, trust_env=False
        ) as client:
            app.state.nova = client
            yield

    app = FastAPI(title="Astara metadata proxy", lifespan=lifespan, docs_url=None, redoc_url=None)

    @app.api_route("/{path:path}", methods=METHODS)
    async def proxy(request: Request) -> Response:
        network_id = next(
            (request.headers[h] for h in NETWORK_HEADERS if request.headers.get(h)), None
        )
        if network_id is None:
            return PlainTextResponse("missing X-Astara-Network-ID header", status_code=400)
        client = _client_address(request.headers.get("x-forwarded-for", ""))
        if client is None:
            return PlainTextResponse("missing or invalid X-Forwarded-For", status_code=400)
        found = await run_in_threadpool(lookup.find_instance, network_id, client)
        if found is None:
            LOG.info("metadata: no instance at %s on network %s", client, network_id)
            return PlainTextResponse("no instance at this address", status_code=404)
        instance_id, tenant_id = found
        headers = {
            "X-Forwarded-For": client,
            "X-Instance-ID": instance_id,
            "X-Tenant-ID": tenant_id,
            "X-Instance-ID-Signature": sign_instance_id(shared_secret, instance_id),
            **{h: request.headers[h] for h in FORWARDED_REQUEST_HEADERS if h in request.headers},
        }
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        query = f"?{request.url.query}" if request.url.query else ""
        url = base_url + raw_path.decode("latin-1") + query
        nova: httpx.AsyncClient = request.app.state.nova
        try:
            answer = await nova.request(
                request.method,
                url,
                content=await request.body(),
                headers=headers,
            )
        except httpx.TimeoutException:
            LOG.warning("metadata: %s timed out", base_url)
            return PlainTextResponse("the metadata service timed out", status_code=504)
        except httpx.HTTPError as exc:
            LOG.warning("metadata: %s unreachable: %s", base_url, exc)
            return PlainTextResponse("the metadata service is unreachable", status_code=502)
        if answer.status_code not in PASSED_THROUGH:
            LOG.warning("metadata: %s answered %d", base_url, answer.status_code)
            return PlainTextResponse(
                f"the metadata service answered with unexpected status {answer.status_code}",
                status_code=502,
            )
        return Response(
            content=answer.content,
            status_code=answer.status_code,
            media_type=answer.headers.get("content-type", "text/plain"),
        )

    return app


def _client_address(value: str) -> str | None:
    """The instance's address: exactly one IP, as the appliance proxy sends it."""
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None
