"""The agent's REST API (v1), as the orchestrator calls it.

Errors are answers, never tracebacks: 422 names the invalid field (nothing was
changed), 400 refuses a service this appliance does not run, 409 says a
network's interface is not plugged in (nothing was changed), 415 refuses a
body that is not JSON, and 500 says which apply step failed and that the
appliance is back on its last good configuration.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel

from astara.appliance.appliance import Appliance
from astara.appliance.links import UnknownInterfaceError, counters, list_interfaces
from astara.appliance.manager import ApplyError
from astara.appliance.model import RouterConfig
from astara.appliance.netns import CommandError
from astara.appliance.services.firewall import active_ruleset
from astara.appliance.status import connectivity

LOG = logging.getLogger(__name__)

WELCOME = "Astara appliance API service is active"


class Status(BaseModel):
    v4: bool
    v6: bool


class InterfaceModel(BaseModel):
    ifname: str
    lladdr: str
    addresses: list[str]
    mtu: int
    state: str
    groups: list[str]
    description: str


class InterfacesResponse(BaseModel):
    interfaces: list[InterfaceModel]


class InterfaceResponse(BaseModel):
    interface: InterfaceModel


class ConfigResponse(BaseModel):
    configuration: RouterConfig


class CountersResponse(BaseModel):
    interfaces: dict[str, dict[str, int]]


class ErrorDetail(BaseModel):
    detail: str


def _require_json(request: Request) -> None:
    """Accept ``application/json`` with or without parameters (e.g. a charset)."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise HTTPException(415, "the configuration must be sent as application/json")


def create_app(appliance: Appliance) -> FastAPI:
    app = FastAPI(title="Astara appliance agent", version="1.0")
    v1 = APIRouter(prefix="/v1")

    @v1.get("/base/", response_class=PlainTextResponse)
    def welcome() -> str:
        """Cheap alive probe."""
        return WELCOME

    @v1.get("/status/")
    def status() -> Status:
        """External connectivity per IP version (default route up and gateway answering)."""
        return Status(**connectivity(appliance.ns, appliance.manager.current))

    @v1.get("/system/interfaces")
    def interfaces() -> InterfacesResponse:
        return InterfacesResponse.model_validate({"interfaces": list_interfaces(appliance.ns)})

    @v1.get("/system/interface/{ifname}/", responses={404: {"model": ErrorDetail}})
    def interface(ifname: str) -> InterfaceResponse:
        for info in list_interfaces(appliance.ns):
            if info["ifname"] == ifname:
                return InterfaceResponse.model_validate({"interface": info})
        raise HTTPException(404, f"no interface named {ifname!r}")

    @v1.get("/system/counters")
    def system_counters() -> CountersResponse:
        """Traffic counters per interface: rx/tx bytes and packets."""
        return CountersResponse(interfaces=counters(appliance.ns))

    @v1.get("/system/config/")
    def get_config() -> ConfigResponse:
        return ConfigResponse(configuration=appliance.manager.current.config)

    @v1.put(
        "/system/config/",
        responses={
            400: {"model": ErrorDetail, "description": "a service this appliance does not run"},
            409: {"model": ErrorDetail, "description": "an interface is not plugged in"},
            415: {"model": ErrorDetail, "description": "the body is not JSON"},
            500: {"model": ErrorDetail, "description": "an apply step failed; rolled back"},
        },
    )
    def put_config(
        config: RouterConfig, _json: Annotated[None, Depends(_require_json)]
    ) -> ConfigResponse:
        """Apply a whole configuration, transactionally."""
        unknown = sorted(set(config.services) - appliance.services)
        if unknown:
            raise HTTPException(
                400, "this appliance cannot run the requested service(s): " + ", ".join(unknown)
            )
        try:
            appliance.manager.apply(config)
        except UnknownInterfaceError as exc:
            raise HTTPException(409, str(exc)) from exc
        except ApplyError as exc:
            raise HTTPException(500, str(exc)) from exc
        return ConfigResponse(configuration=config)

    @v1.get("/firewall/rules/", response_class=PlainTextResponse)
    def firewall_rules() -> str:
        """The active nftables ruleset, as ``nft list ruleset`` prints it."""
        return active_ruleset(appliance.ns)

    app.include_router(v1)

    @app.exception_handler(CommandError)
    def command_failed(request: Request, exc: CommandError) -> JSONResponse:
        LOG.error("%s %s: %s", request.method, request.url.path, exc)
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.exception_handler(Exception)
    def unexpected(request: Request, exc: Exception) -> JSONResponse:
        LOG.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse({"detail": f"internal error ({type(exc).__name__})"}, status_code=500)

    return app
