"""Routers: create, update (gateway, extra routes), delete, and appliance status."""

from __future__ import annotations

from typing import Any

from astara.localapi import ipam, lookups, models, views
from astara.localapi.errors import BadRequest, Conflict
from astara.localapi.notifications import Notification, create_or_update, deleted
from astara.localapi.schemas import Route, RouterCreate, RouterStatus, RouterUpdate
from astara.localapi.services.port_builder import router_port_status
from astara.localapi.services.router_gateway import set_gateway
from astara.localapi.transaction import Transaction

#: Appliance states the orchestrator reports (Neutron's router statuses).
STATUSES: tuple[RouterStatus, ...] = ("ACTIVE", "BUILD", "DOWN", "ERROR")


def create(tx: Transaction, body: RouterCreate) -> dict[str, Any]:
    router = models.Router(
        id=models.new_id(tx.session),
        project_id=body.owner(tx.context.project_id),
        name=body.name,
        description=body.description,
        admin_state_up=body.admin_state_up,
        ha=body.ha,
        routes=[],
    )
    tx.session.add(router)
    tx.session.flush()
    if "external_gateway_info" in body.model_fields_set:
        set_gateway(tx.session, router, body.external_gateway_info)
    if body.routes:
        router.routes = _checked_routes(tx, router, body.routes)
    tx.session.flush()
    view = views.router(tx.session, router)
    tx.announce(create_or_update("router", "create", view))
    return view


def update(tx: Transaction, router_id: str, body: RouterUpdate) -> dict[str, Any]:
    router = lookups.get(tx.session, models.Router, router_id)
    changes = body.given()
    if "external_gateway_info" in changes:
        set_gateway(tx.session, router, body.external_gateway_info)
    if "routes" in changes:
        router.routes = _checked_routes(tx, router, body.routes)
    for name in ("name", "description", "admin_state_up", "ha"):
        if name in changes:
            setattr(router, name, changes[name])
    tx.session.flush()
    view = views.router(tx.session, router)
    tx.announce(create_or_update("router", "update", view))
    return view


def delete(tx: Transaction, router_id: str) -> None:
    router = lookups.get(tx.session, models.Router, router_id)
    if lookups.interface_ports(tx.session, router_id):
        raise Conflict(f"Router {router_id} still has ports", "RouterInUse")
    view = views.router(tx.session, router)
    set_gateway(tx.session, router, None)
    tx.session.delete(router)
    tx.session.flush()
    tx.announce(deleted("router", view))


def set_status(tx: Transaction, router_id: str, status: str) -> dict[str, Any]:
    """Record the appliance's state on the router and its ports.

    The notification is ``routerstatus.update.end``, never ``router.update.end``:
    the orchestrator reports this status itself and must not be woken by it.
    """
    if status not in STATUSES:
        raise BadRequest(f"Invalid router status {status!r}: expected one of {', '.join(STATUSES)}")
    router = lookups.get(tx.session, models.Router, router_id)
    router.status = status
    for port in _router_ports(tx, router_id):
        port.status = router_port_status(router)
    tx.session.flush()
    view = {"id": router.id, "tenant_id": router.project_id, "status": router.status}
    tx.announce(Notification("routerstatus.update.end", {"routerstatus": view}))
    return view


def _router_ports(tx: Transaction, router_id: str) -> list[models.Port]:
    gateway = lookups.gateway_port(tx.session, router_id)
    return lookups.interface_ports(tx.session, router_id) + ([gateway] if gateway else [])


def _checked_routes(
    tx: Transaction, router: models.Router, routes: list[Route]
) -> list[dict[str, str]]:
    """Extra routes must leave through a subnet the router is attached to."""
    connected = [
        ipam.parse_cidr(lookups.get(tx.session, models.Subnet, allocation.subnet_id).cidr)
        for port in _router_ports(tx, router.id)
        for allocation in port.fixed_ips
    ]
    own = {
        allocation.ip_address
        for port in _router_ports(tx, router.id)
        for allocation in port.fixed_ips
    }
    checked: list[dict[str, str]] = []
    for route in routes:
        destination = ipam.parse_cidr(route.destination, "routes")
        nexthop = ipam.parse_ip(route.nexthop, "routes")
        if str(nexthop) in own or not any(nexthop in cidr for cidr in connected):
            raise BadRequest(
                f"Invalid format for routes: {route.model_dump()}, the nexthop is not "
                "connected with router",
                "InvalidRoutes",
            )
        entry = {"destination": str(destination), "nexthop": str(nexthop)}
        if entry not in checked:
            checked.append(entry)
    return checked
