"""``PUT /v2.0/astara/routerstatus/{router_id}``: the orchestrator's status report.

Neutron keeps a router's ``status`` read-only; Astara's orchestrator is the
one party that knows whether the router's appliance is BUILD, ACTIVE, ERROR
or DOWN, and records it here with ``{"routerstatus": {"status": "ACTIVE"}}``
(the original system's Neutron extension served the same body at
``/v2.0/dhrouterstatus/{router_id}``). The answer is
``{"routerstatus": {"id", "tenant_id", "status"}}``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body

from astara.localapi.schemas import RouterStatusUpdate, parse, unwrap
from astara.localapi.store import Store

PATH = "/v2.0/astara/routerstatus/{router_id}"


def build(store: Store) -> APIRouter:
    router = APIRouter()

    @router.put(PATH)
    def update_router_status(router_id: str, body: Annotated[Any, Body()] = None) -> dict[str, Any]:
        update = parse(RouterStatusUpdate, unwrap(body, "routerstatus"))
        return {"routerstatus": store.set_router_status(router_id, update.status)}

    return router
