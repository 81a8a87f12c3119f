"""Ports through the port API (router and floating IP ports are built elsewhere)."""

from __future__ import annotations

from typing import Any

from astara.localapi import lookups, models, views
from astara.localapi.errors import Conflict
from astara.localapi.notifications import create_or_update, deleted
from astara.localapi.schemas import PortCreate, PortUpdate
from astara.localapi.services import floating_ips
from astara.localapi.services.allocation import choose_addresses
from astara.localapi.services.port_builder import assign_addresses, new_port
from astara.localapi.transaction import Transaction

_CREATE_ONLY = ("network_id", "mac_address", "fixed_ips", "tenant_id", "project_id")


def create(tx: Transaction, body: PortCreate) -> dict[str, Any]:
    network = lookups.get(tx.session, models.Network, body.network_id)
    attributes = body.given()
    for name in _CREATE_ONLY:
        attributes.pop(name, None)
    port = new_port(
        tx.session,
        network,
        project_id=body.owner(tx.context.project_id),
        fixed_ips=body.fixed_ips if "fixed_ips" in body.model_fields_set else None,
        mac_address=body.mac_address,
        **attributes,
    )
    view = views.port(port)
    tx.announce(create_or_update("port", "create", view))
    return view


def update(tx: Transaction, port_id: str, body: PortUpdate) -> dict[str, Any]:
    port = lookups.get(tx.session, models.Port, port_id)
    changes = body.given()
    fixed_ips = changes.pop("fixed_ips", None)
    for name, value in changes.items():
        setattr(port, name, value)
    if fixed_ips is not None:
        assign_addresses(tx.session, port, choose_addresses(tx.session, port, body.fixed_ips))
    tx.session.flush()
    view = views.port(port)
    tx.announce(create_or_update("port", "update", view))
    return view


def delete(tx: Transaction, port_id: str) -> None:
    port = lookups.get(tx.session, models.Port, port_id)
    if port.device_owner in models.ROUTER_OWNED:
        raise Conflict(
            f"Port {port_id} cannot be deleted directly via the port API: "
            f"has device owner {port.device_owner}.",
            "ServicePortInUse",
        )
    for floating_ip in lookups.floating_ips_of_port(tx.session, port_id):
        floating_ips.disassociate(tx, floating_ip)
    view = views.port(port)
    tx.session.delete(port)
    tx.session.flush()
    tx.announce(deleted("port", view))
