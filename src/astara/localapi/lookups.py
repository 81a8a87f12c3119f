"""Reading rows by id or by role, with Neutron's 404 when they are missing."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from astara.localapi import models
from astara.localapi.errors import not_found

Row = TypeVar("Row", models.Network, models.Subnet, models.Port, models.Router, models.FloatingIP)

_LABELS: dict[type[object], str] = {
    models.Network: "Network",
    models.Subnet: "Subnet",
    models.Port: "Port",
    models.Router: "Router",
    models.FloatingIP: "Floating IP",
}


def get(session: Session, model: type[Row], row_id: str) -> Row:
    """The row with ``row_id``, or the resource's ``...NotFound`` error."""
    row = session.get(model, row_id)
    if row is None:
        raise not_found(_LABELS[model], row_id)
    return row


def ports_of_device(session: Session, device_id: str, device_owner: str) -> list[models.Port]:
    statement = (
        select(models.Port)
        .where(models.Port.device_id == device_id, models.Port.device_owner == device_owner)
        .order_by(models.Port.created_at, models.Port.id)
    )
    return list(session.scalars(statement))


def gateway_port(session: Session, router_id: str) -> models.Port | None:
    ports = ports_of_device(session, router_id, models.ROUTER_GATEWAY)
    return ports[0] if ports else None


def interface_ports(session: Session, router_id: str) -> list[models.Port]:
    return ports_of_device(session, router_id, models.ROUTER_INTERFACE)


def allocations_on_subnet(session: Session, subnet_id: str) -> list[models.IPAllocation]:
    statement = select(models.IPAllocation).where(models.IPAllocation.subnet_id == subnet_id)
    return list(session.scalars(statement))


def floating_ips_of_port(session: Session, port_id: str) -> list[models.FloatingIP]:
    statement = select(models.FloatingIP).where(models.FloatingIP.fixed_port_id == port_id)
    return list(session.scalars(statement))


def floating_ips_of_router(session: Session, router_id: str) -> list[models.FloatingIP]:
    statement = select(models.FloatingIP).where(models.FloatingIP.router_id == router_id)
    return list(session.scalars(statement))
