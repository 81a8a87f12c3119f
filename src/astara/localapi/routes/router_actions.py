"""``PUT /v2.0/routers/{id}/add_router_interface`` and ``.../remove_router_interface``.

Unlike the other calls, these take and return a bare object (no resource
key): ``{"subnet_id": ...}`` or ``{"port_id": ...}`` in, the interface info out.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request

from astara.localapi import context
from astara.localapi.schemas import RouterInterface, parse
from astara.localapi.services import router_interfaces
from astara.localapi.store import Store


def build(store: Store) -> APIRouter:
    router = APIRouter(prefix="/v2.0/routers/{router_id}")

    @router.put("/add_router_interface")
    def add_router_interface(
        router_id: str, request: Request, body: Annotated[Any, Body()] = None
    ) -> dict[str, Any]:
        interface = parse(RouterInterface, body)
        with store.writing(context.from_headers(request.headers, store.default_project_id)) as tx:
            return router_interfaces.add(tx, router_id, interface)

    @router.put("/remove_router_interface")
    def remove_router_interface(
        router_id: str, request: Request, body: Annotated[Any, Body()] = None
    ) -> dict[str, Any]:
        interface = parse(RouterInterface, body)
        with store.writing(context.from_headers(request.headers, store.default_project_id)) as tx:
            return router_interfaces.remove(tx, router_id, interface)

    return router
