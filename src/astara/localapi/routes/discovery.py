"""Version and extension discovery, as clients expect them from Neutron.

keystoneauth asks ``GET /`` which API versions exist before any other call;
the ``openstack`` CLI asks ``/v2.0/extensions/<alias>`` before using optional
features, so the list here must name exactly what this API implements.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from astara.localapi.errors import NotFound

_UPDATED = "2025-01-01T00:00:00-00:00"

#: alias -> (name, description) of every extension this API implements.
EXTENSIONS: dict[str, tuple[str, str]] = {
    "router": ("Neutron L3 Router", "Router abstraction for basic L3 forwarding"),
    "external-net": ("Neutron external network", "Adds external network attribute to network"),
    "ext-gw-mode": (
        "Neutron L3 Configurable external gateway mode",
        "Extension of the router abstraction for specifying whether SNAT is enabled",
    ),
    "extraroute": ("Neutron Extra Route", "Extra routes configuration for L3 router"),
    "l3-ha": ("HA Router extension", "Adds HA capability to routers."),
    "net-mtu": ("Network MTU", "Provides MTU attribute for a network resource."),
    "port-security": ("Port Security", "Provides port security"),
    "binding": ("Port Binding", "Expose port bindings of a virtual port to external application"),
    "project-id": (
        "project_id field enabled",
        "Extension that indicates that project_id is enabled.",
    ),
    "standard-attr-description": (
        "standard-attr-description",
        "Extension to add descriptions to standard attributes",
    ),
    "standard-attr-timestamp": (
        "Resource timestamps",
        "Adds created_at and updated_at fields to all resources",
    ),
    "standard-attr-revisions": (
        "Resource revision numbers",
        "This extension will display the revision number of resources.",
    ),
    "astara-routerstatus": (
        "Astara router status",
        "Lets the orchestrator record the state of "
        "a router's appliance: PUT /v2.0/astara/routerstatus/{router_id}.",
    ),
}

#: The collections listed by ``GET /v2.0/``.
COLLECTIONS = (
    ("network", "networks"),
    ("subnet", "subnets"),
    ("port", "ports"),
    ("router", "routers"),
    ("floatingip", "floatingips"),
)


def _extension(alias: str) -> dict[str, Any]:
    name, description = EXTENSIONS[alias]
    return {
        "alias": alias,
        "name": name,
        "description": description,
        "updated": _UPDATED,
        "links": [],
    }


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def build() -> APIRouter:
    router = APIRouter()

    @router.get("/")
    def versions(request: Request) -> dict[str, Any]:
        link = {"href": f"{_base(request)}/v2.0/", "rel": "self"}
        return {"versions": [{"id": "v2.0", "status": "CURRENT", "links": [link]}]}

    @router.get("/v2.0")
    @router.get("/v2.0/")
    def resources(request: Request) -> dict[str, Any]:
        return {
            "resources": [
                {
                    "name": name,
                    "collection": collection,
                    "links": [{"href": f"{_base(request)}/v2.0/{collection}", "rel": "self"}],
                }
                for name, collection in COLLECTIONS
            ]
        }

    @router.get("/v2.0/extensions")
    def list_extensions() -> dict[str, Any]:
        return {"extensions": [_extension(alias) for alias in EXTENSIONS]}

    @router.get("/v2.0/extensions/{alias}")
    def show_extension(alias: str) -> dict[str, Any]:
        if alias not in EXTENSIONS:
            raise NotFound(f"Extension with alias {alias} does not exist", "ExtensionNotFound")
        return {"extension": _extension(alias)}

    return router
