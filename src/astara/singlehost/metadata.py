"""The metadata path in single-host mode: who asks, and a small stand-in for Nova's service.

The orchestrator's metadata proxy (:mod:`astara.orchestrator.metadata_proxy`)
identifies the instance behind a request from the network model and signs
its id. With Nova, the signed request would go to Nova's metadata API; here
there is no Nova, so :func:`create_builtin_metadata_app` answers instead,
enough for an instance to learn who it is: its id, hostname, IPv4 address and
OpenStack's ``meta_data.json``. Like Nova it believes the instance id only
with a valid signature, so only the proxy (which holds the secret) can ask.
The proxy reaches it in-process (an ASGI transport), so it listens nowhere.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import FastAPI, Header
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from astara.network.base import NetworkModel, Port
from astara.orchestrator.metadata_proxy import is_instance_port, sign_instance_id

#: The EC2-style keys served under ``/<version>/meta-data/``.
META_DATA_KEYS = ("instance-id", "hostname", "local-ipv4")


def hostname_of(port: Port) -> str:
    """The port's name when it has one (the instance name), else one made from its id."""
    return port.name or f"host-{port.device_id[:8]}"


def create_builtin_metadata_app(network: NetworkModel, shared_secret: str) -> FastAPI:
    """Nova's metadata API, reduced to what an instance needs to know itself."""
    app = FastAPI(title="Astara single-host metadata", docs_url=None, redoc_url=None)

    def instance_port(instance_id: str, signature: str) -> Port | Response:
        expected = sign_instance_id(shared_secret, instance_id)
        if not instance_id or not hmac.compare_digest(expected, signature):
            return PlainTextResponse("invalid instance id signature", status_code=403)
        ports = [p for p in network.list_ports(device_id=instance_id) if is_instance_port(p)]
        if not ports:
            return PlainTextResponse("no such instance", status_code=404)
        return ports[0]

    @app.get("/{version}/meta-data/{key}")
    def meta_data(
        key: str,
        x_instance_id: str = Header(""),
        x_instance_id_signature: str = Header(""),
    ) -> Response:
        port = instance_port(x_instance_id, x_instance_id_signature)
        if isinstance(port, Response):
            return port
        values = {
            "instance-id": port.device_id,
            "hostname": hostname_of(port),
            "local-ipv4": next((str(ip) for ip in port.addresses if ip.version == 4), ""),
        }
        if key not in values:
            return PlainTextResponse("not found", status_code=404)
        return PlainTextResponse(values[key])

    @app.get("/{version}/meta-data/")
    def meta_data_index(
        x_instance_id: str = Header(""), x_instance_id_signature: str = Header("")
    ) -> Response:
        port = instance_port(x_instance_id, x_instance_id_signature)
        if isinstance(port, Response):
            return port
        return PlainTextResponse("\n".join(META_DATA_KEYS))

    @app.get("/openstack/{version}/meta_data.json")
    def openstack_meta_data(
        x_instance_id: str = Header(""), x_instance_id_signature: str = Header("")
    ) -> Response:
        port = instance_port(x_instance_id, x_instance_id_signature)
        if isinstance(port, Response):
            return port
        document: dict[str, Any] = {
            "uuid": port.device_id,
            "name": hostname_of(port),
            "hostname": hostname_of(port),
            "project_id": port.tenant_id,
        }
        return JSONResponse(document)

    return app
