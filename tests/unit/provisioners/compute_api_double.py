"""A local stand-in for Nova's Compute API v2.1, for testing the nova provisioner.

Nova cannot run on a test machine, so this server answers the requests the
provisioner makes as the Compute API reference documents them: version
discovery with microversion headers, servers (create, list with ``name``
regex and ``all_tenants``, show, delete), and interface attachments, with
Nova's response shapes and its error bodies (``{"itemNotFound": {"code":
404, "message": ...}}``). It is FastAPI under uvicorn on 127.0.0.1, on a port
the kernel picks, in a daemon thread, so openstacksdk and keystoneauth1 talk
to it over a real socket.

Switches let a test act as Nova's back end (a server becomes ACTIVE or goes
to ERROR, a deletion lingers in task state ``deleting``) or make it misbehave
(the next requests fail with 503, or hang until the client gives up).
Every API request is recorded, discovery excluded, so tests check what was sent.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from keystoneauth1 import plugin

MIN_VERSION = "2.1"
MAX_VERSION = "2.96"
TOKEN = "compute-double-token"
#: Nova's names for error statuses, the key of its error bodies.
_FAULT_NAMES = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    406: "notAcceptable",
    409: "conflictingRequest",
    429: "overLimit",
    503: "serviceUnavailable",
}
_FAULT_MESSAGES = {
    404: "The resource could not be found.",
    503: "The server is currently unavailable.",
}
_DISCOVERY_PATHS = frozenset({"/", "/v2.1", "/v2.1/"})
#: How long a hung request waits at most for the test to release it.
_HANG_LIMIT = 30.0


class NovaFault(Exception):
    """An error answered in Nova's shape."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class _Fault:
    """One injected misbehaviour: an error ``status``, or else a hang."""

    method: str | None
    path_start: str = ""
    status: int | None = None
    after_handling: bool = False


@dataclass
class DoublePort:
    """A Neutron port the double knows, so it can be attached and described."""

    port_id: str
    network_id: str
    mac_address: str
    fixed_ips: tuple[str, ...]


@dataclass
class DoubleServer:
    id: str
    name: str
    tenant_id: str
    image_id: str
    flavor_id: str
    status: str = "BUILD"
    task_state: str | None = "spawning"
    created: str = "2024-05-01T12:00:00Z"
    port_ids: list[str] = field(default_factory=list)
    config_drive: bool = False
    user_data: str | None = None


def _version_doc(base: str) -> dict[str, Any]:
    return {
        "id": "v2.1",
        "status": "CURRENT",
        "version": MAX_VERSION,
        "min_version": MIN_VERSION,
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": f"{base}/v2.1/"}],
        "media-types": [
            {"base": "application/json",
             "type": "application/vnd.openstack.compute+json;version=2.1"}
        ],
    }


def _version_tuple(version: str) -> tuple[int, int]:
    major, _, minor = version.partition(".")
    return int(major), int(minor)


def _requested_version(request: Request) -> str:
    """The microversion a request asks for, as Nova reads its two headers."""
    header = request.headers.get("OpenStack-API-Version", "")
    match = re.fullmatch(r"\s*compute\s+(\S+)\s*", header)
    version = match.group(1) if match else request.headers.get("X-OpenStack-Nova-API-Version")
    if not version:
        return MIN_VERSION
    return MAX_VERSION if version == "latest" else version


class ComputeApiDouble:
    """The Compute API double; use as a context manager, then point a session at ``endpoint``."""

    def __init__(self, project_id: str = "astara-service") -> None:
        self.project_id = project_id
        self.images: set[str] = {"appliance-image"}
        self.flavors: set[str] = {"appliance-flavor"}
        self.ports: dict[str, DoublePort] = {}
        self.servers: dict[str, DoubleServer] = {}
        #: (method, path with query, JSON body or None) of every API request.
        self.requests: list[tuple[str, str, Any]] = []
        self.linger_deletes = False
        self._faults: list[_Fault] = []
        self._released = threading.Event()
        self._clock = itertools.count(1)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        config = uvicorn.Config(self._app(), log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    @property
    def endpoint(self) -> str:
        """The compute endpoint as a Keystone catalog lists it."""
        return f"{self.base_url}/v2.1"

    def __enter__(self) -> ComputeApiDouble:
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the compute API double did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._released.set()
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()

    # -- switches for tests -----------------------------------------------------------

    def add_port(self, port_id: str, network_id: str, mac: str, *ips: str) -> None:
        self.ports[port_id] = DoublePort(port_id, network_id, mac, tuple(ips))

    def add_server(self, name: str, status: str = "ACTIVE", *, tenant_id: str | None = None,
                   port_ids: tuple[str, ...] = (), created: str = "2024-05-01T12:00:00Z") -> str:
        """A server that exists before the test starts (booted by someone else)."""
        server = DoubleServer(
            id=str(uuid.uuid4()), name=name, tenant_id=tenant_id or self.project_id,
            image_id="appliance-image", flavor_id="appliance-flavor", status=status,
            task_state=None, created=created, port_ids=list(port_ids),
        )
        self.servers[server.id] = server
        return server.id

    def set_status(self, server_id: str, status: str) -> None:
        """Act as Nova's back end: the boot finished (ACTIVE) or failed (ERROR)."""
        server = self.servers[server_id]
        server.status = status
        server.task_state = None

    def fail_next(
        self, count: int, status: int = 503, method: str | None = None, path_start: str = ""
    ) -> None:
        """The next ``count`` API requests (of ``method``, to ``path_start``...) get ``status``."""
        self._faults.extend([_Fault(method, path_start, status=status)] * count)

    def hang_next(
        self, count: int, method: str | None = None, after_handling: bool = False
    ) -> None:
        """The next ``count`` API requests get no answer until the double stops.

        With ``after_handling`` the request takes effect first, like a request
        whose answer is lost on the way back.
        """
        self._faults.extend([_Fault(method, after_handling=after_handling)] * count)

    def api_requests(self, method: str, path_start: str = "") -> list[tuple[str, str, Any]]:
        return [r for r in self.requests if r[0] == method and r[1].startswith(path_start)]

    # -- the API ----------------------------------------------------------------------

    def _app(self) -> FastAPI:
        app = FastAPI()

        @app.exception_handler(NovaFault)
        async def fault(_: Request, error: NovaFault) -> JSONResponse:
            return _fault(error.status, error.message)

        @app.middleware("http")
        async def nova_behaviour(
            request: Request, call_next: Callable[[Request], Awaitable[Response]]
        ) -> Response:
            return await self._around(request, call_next)

        @app.get("/")
        def versions() -> dict[str, Any]:
            v20 = {"id": "v2.0", "status": "DEPRECATED", "version": "", "min_version": "",
                   "updated": "2025-07-04T12:00:00Z",
                   "links": [{"rel": "self", "href": f"{self.base_url}/v2/"}]}
            return {"versions": [v20, _version_doc(self.base_url)]}

        @app.get("/v2.1")
        @app.get("/v2.1/")
        def version() -> dict[str, Any]:
            return {"version": _version_doc(self.base_url)}

        @app.post("/v2.1/servers", status_code=202)
        async def create(request: Request, response: Response) -> dict[str, Any]:
            server = self._create(await request.json())
            response.headers["Location"] = f"{self.endpoint}/servers/{server.id}"
            return {"server": {
                "id": server.id,
                "links": self._links("servers", server.id),
                "OS-DCF:diskConfig": "MANUAL",
                "security_groups": [{"name": "default"}],
                "adminPass": "double-admin-pass",
            }}

        @app.get("/v2.1/servers/detail")
        def detail(request: Request) -> dict[str, Any]:
            query = request.query_params
            everyone = query.get("all_tenants", "0").lower() in {"1", "true", "yes"}
            try:
                pattern = re.compile(query["name"]) if "name" in query else None
            except re.error:
                raise NovaFault(400, f"Invalid regular expression {query['name']!r}") from None
            servers = [
                self._view(s) for s in self.servers.values()
                if (everyone or s.tenant_id == self.project_id)
                and (pattern is None or pattern.search(s.name))
            ]
            return {"servers": servers}

        @app.get("/v2.1/servers/{server_id}")
        def show(server_id: str) -> dict[str, Any]:
            return {"server": self._view(self._server_named(server_id))}

        @app.delete("/v2.1/servers/{server_id}", status_code=204)
        def delete(server_id: str) -> Response:
            server = self._server_named(server_id)
            if self.linger_deletes:
                server.task_state = "deleting"
            else:
                del self.servers[server_id]
            return Response(status_code=204)

        @app.get("/v2.1/servers/{server_id}/os-interface")
        def interfaces(server_id: str) -> dict[str, Any]:
            server = self._server_named(server_id)
            return {"interfaceAttachments": [self._attachment(p) for p in server.port_ids]}

        @app.post("/v2.1/servers/{server_id}/os-interface")
        async def attach(server_id: str, request: Request) -> dict[str, Any]:
            server = self._server_named(server_id)
            body = await request.json()
            port_id = _require(body, "interfaceAttachment", dict).get("port_id")
            if server.status == "BUILD":
                raise NovaFault(409, f"Cannot 'attach_interface' instance {server_id} while it "
                                     "is in vm_state building")
            if port_id not in self.ports:
                raise NovaFault(404, f"Port id {port_id} could not be found.")
            if self._attached_to(port_id):
                raise NovaFault(409, f"Port {port_id} is still in use.")
            server.port_ids.append(port_id)
            return {"interfaceAttachment": self._attachment(port_id)}

        @app.delete("/v2.1/servers/{server_id}/os-interface/{port_id}", status_code=202)
        def detach(server_id: str, port_id: str) -> Response:
            server = self._server_named(server_id)
            if port_id not in server.port_ids:
                raise NovaFault(404, f"Port {port_id} is not attached")
            server.port_ids.remove(port_id)
            return Response(status_code=202)

        return app

    async def _around(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """Nova's behaviour around every request: auth, microversions, injected faults."""
        path = request.url.path
        if path in _DISCOVERY_PATHS:
            return await call_next(request)
        body = await request.body()
        query = f"?{request.url.query}" if request.url.query else ""
        self.requests.append((request.method, path + query, _json_or_none(body)))
        if not request.headers.get("X-Auth-Token"):
            return _fault(401, "The request you have made requires authentication.")
        version = _requested_version(request)
        if not (_version_tuple(MIN_VERSION) <= _version_tuple(version)
                <= _version_tuple(MAX_VERSION)):
            return _fault(406, f"Version {version} is not supported by the API. Minimum is "
                               f"{MIN_VERSION} and maximum is {MAX_VERSION}.")
        fault = self._take_fault(request.method, path)
        if fault is not None and fault.status:
            return _fault(fault.status, _FAULT_MESSAGES.get(fault.status, "injected fault"))
        if fault is not None and not fault.after_handling:
            return await self._hang()
        response = await call_next(request)
        if fault is not None:
            return await self._hang()
        response.headers["OpenStack-API-Version"] = f"compute {version}"
        response.headers["X-OpenStack-Nova-API-Version"] = version
        response.headers["Vary"] = "OpenStack-API-Version, X-OpenStack-Nova-API-Version"
        return response

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        for index, fault in enumerate(self._faults):
            if fault.method in (None, method) and path.startswith(fault.path_start):
                return self._faults.pop(index)
        return None

    async def _hang(self) -> Response:
        """Answer only once the double stops (the client has long given up by then)."""
        deadline = time.monotonic() + _HANG_LIMIT
        while not self._released.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return _fault(503, "hung request released")

    def _create(self, body: Any) -> DoubleServer:
        spec = _require(body, "server", dict)
        name = _require(spec, "name", str)
        if not 1 <= len(name) <= 255:
            raise NovaFault(400, "Invalid input for field/attribute name.")
        image_id = _require(spec, "imageRef", str)
        flavor_id = _require(spec, "flavorRef", str)
        if image_id not in self.images:
            raise NovaFault(400, f"Image {image_id} could not be found.")
        if flavor_id not in self.flavors:
            raise NovaFault(400, f"Flavor {flavor_id} could not be found.")
        port_ids = []
        for network in _require(spec, "networks", list):
            if not isinstance(network, dict) or set(network) != {"port"}:
                raise NovaFault(400, f"Invalid input for field/attribute networks: {network}")
            if network["port"] not in self.ports:
                raise NovaFault(400, f"Port id {network['port']} could not be found.")
            if self._attached_to(network["port"]):
                raise NovaFault(409, f"Port {network['port']} is still in use.")
            port_ids.append(network["port"])
        user_data = spec.get("user_data")
        if user_data is not None:
            try:
                base64.b64decode(user_data, validate=True)
            except (binascii.Error, TypeError):
                raise NovaFault(400, "User data needs to be valid base 64.") from None
        config_drive = spec.get("config_drive", False)
        if not isinstance(config_drive, bool):
            raise NovaFault(400, "Invalid input for field/attribute config_drive.")
        self._check_scheduler_hints(scheduler_hints(body))
        server = DoubleServer(
            id=str(uuid.uuid4()), name=name, tenant_id=self.project_id,
            image_id=image_id, flavor_id=flavor_id, port_ids=port_ids,
            config_drive=config_drive, user_data=user_data,
            created=f"2024-05-01T12:{next(self._clock) % 60:02d}:00Z",
        )
        self.servers[server.id] = server
        return server

    def _check_scheduler_hints(self, hints: Any) -> None:
        """``different_host`` lists server UUIDs (Nova refuses one it does not know)."""
        if hints is None:
            return
        if not isinstance(hints, dict):
            raise NovaFault(400, "Invalid input for field/attribute os:scheduler_hints.")
        different = hints.get("different_host", [])
        if isinstance(different, str):
            different = [different]
        for server_id in different:
            if server_id not in self.servers:
                raise NovaFault(400, f"Invalid input for different_host: {server_id}")

    def _server_named(self, server_id: str) -> DoubleServer:
        server = self.servers.get(server_id)
        if server is None:
            raise NovaFault(404, f"Instance {server_id} could not be found.")
        return server

    def _attached_to(self, port_id: str) -> str | None:
        return next((s.id for s in self.servers.values() if port_id in s.port_ids), None)

    def _attachment(self, port_id: str) -> dict[str, Any]:
        port = self.ports[port_id]
        return {
            "fixed_ips": [{"ip_address": ip, "subnet_id": f"subnet-of-{port.network_id}"}
                          for ip in port.fixed_ips],
            "mac_addr": port.mac_address,
            "net_id": port.network_id,
            "port_id": port.port_id,
            "port_state": "ACTIVE",
            "tag": None,
        }

    def _links(self, collection: str, item_id: str) -> list[dict[str, str]]:
        return [
            {"rel": "self", "href": f"{self.endpoint}/{collection}/{item_id}"},
            {"rel": "bookmark", "href": f"{self.base_url}/{collection}/{item_id}"},
        ]

    def _view(self, server: DoubleServer) -> dict[str, Any]:
        """A server as ``GET /servers/{id}`` shows it at a recent microversion."""
        addresses: dict[str, list[dict[str, Any]]] = {}
        for port_id in server.port_ids:
            port = self.ports[port_id]
            addresses.setdefault(f"net-{port.network_id}", []).extend(
                {"version": 6 if ":" in ip else 4, "addr": ip, "OS-EXT-IPS:type": "fixed",
                 "OS-EXT-IPS-MAC:mac_addr": port.mac_address}
                for ip in port.fixed_ips
            )
        return {
            "id": server.id,
            "name": server.name,
            "status": server.status,
            "tenant_id": server.tenant_id,
            "user_id": "astara",
            "metadata": {},
            "hostId": "",
            "image": {"id": server.image_id, "links": self._links("images", server.image_id)},
            "flavor": {"vcpus": 1, "ram": 512, "disk": 3, "ephemeral": 0, "swap": 0,
                       "original_name": server.flavor_id, "extra_specs": {}},
            "created": server.created,
            "updated": server.created,
            "addresses": addresses,
            "accessIPv4": "",
            "accessIPv6": "",
            "links": self._links("servers", server.id),
            "OS-DCF:diskConfig": "MANUAL",
            "progress": 0,
            "OS-EXT-AZ:availability_zone": "nova",
            "config_drive": "True" if server.config_drive else "",
            "key_name": None,
            "OS-SRV-USG:launched_at": None,
            "OS-SRV-USG:terminated_at": None,
            "security_groups": [{"name": "default"}],
            "OS-EXT-STS:task_state": server.task_state,
            "OS-EXT-STS:vm_state": server.status.lower(),
            "OS-EXT-STS:power_state": 1 if server.status == "ACTIVE" else 0,
            "os-extended-volumes:volumes_attached": [],
            "locked": False,
            "locked_reason": None,
            "description": None,
            "tags": [],
            "trusted_image_certificates": None,
            "server_groups": [],
        }


def scheduler_hints(body: Any) -> Any:
    """The hints beside ``server`` in a create request: ``os:scheduler_hints``, or its
    documented alias ``OS-SCH-HNT:scheduler_hints`` (which openstacksdk sends)."""
    return body.get("os:scheduler_hints", body.get("OS-SCH-HNT:scheduler_hints"))


def _require(body: Any, key: str, kind: type) -> Any:
    """``body[key]`` when it is a ``kind``; Nova's 400 otherwise."""
    if not isinstance(body, dict) or not isinstance(body.get(key), kind):
        raise NovaFault(400, f"Invalid input for field/attribute {key}.")
    return body[key]


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def _fault(status: int, message: str) -> JSONResponse:
    name = _FAULT_NAMES.get(status, "computeFault")
    return JSONResponse({name: {"code": status, "message": message}}, status)


class DoubleAuth(plugin.FixedEndpointPlugin):
    """A keystoneauth1 plugin with a fixed token, endpoint and project: no Keystone needed.

    It stands for a project-scoped service token, so the provisioner sees a
    project id as it would with Keystone.
    """

    def __init__(self, endpoint: str, project_id: str | None) -> None:
        super().__init__(endpoint)
        self._project_id = project_id

    def get_token(self, session: Any) -> str:
        return TOKEN

    def get_project_id(self, session: Any) -> str | None:
        return self._project_id
