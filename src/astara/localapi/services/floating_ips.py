"""Floating IPs: an address on an external network, NATed to a port's fixed IP.

The floating address is held by a port on the external network
(``network:floatingip``), so the allocator sees it like any other address.
The router that does the NAT is not chosen by the client: it is the router
with a gateway on the floating network and an interface on the subnet of the
fixed IP, and without one the association is refused.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from astara.localapi import ipam, lookups, models, views
from astara.localapi.errors import BadRequest, Conflict, NotFound
from astara.localapi.notifications import create_or_update, deleted
from astara.localapi.schemas import FixedIP, FloatingIPCreate, FloatingIPUpdate
from astara.localapi.services.port_builder import new_port
from astara.localapi.transaction import Transaction


def create(tx: Transaction, body: FloatingIPCreate) -> dict[str, Any]:
    network = lookups.get(tx.session, models.Network, body.floating_network_id)
    if not network.external:
        raise BadRequest(
            f"Bad floatingip request: Network {network.id} is not a valid external network."
        )
    if not any(subnet.ip_version == 4 for subnet in network.subnets):
        raise BadRequest(
            f"Bad floatingip request: Network {network.id} does not contain any IPv4 subnet."
        )
    wanted = (
        [FixedIP(subnet_id=body.subnet_id, ip_address=body.floating_ip_address)]
        if body.subnet_id or body.floating_ip_address
        else None
    )
    floating_ip_id = models.new_id(tx.session)
    port = new_port(
        tx.session,
        network,
        project_id="",
        fixed_ips=wanted,
        ipv4_only=True,
        device_owner=models.FLOATING_IP,
        device_id=floating_ip_id,
    )
    floating_ip = models.FloatingIP(
        id=floating_ip_id,
        project_id=body.owner(tx.context.project_id),
        description=body.description,
        floating_network_id=network.id,
        floating_port_id=port.id,
        floating_ip_address=port.fixed_ips[0].ip_address,
    )
    tx.session.add(floating_ip)
    if body.port_id is not None:
        _associate(tx, floating_ip, body.port_id, body.fixed_ip_address)
    tx.session.flush()
    view = views.floating_ip(floating_ip)
    tx.announce(create_or_update("floatingip", "create", view))
    return view


def update(tx: Transaction, floating_ip_id: str, body: FloatingIPUpdate) -> dict[str, Any]:
    floating_ip = lookups.get(tx.session, models.FloatingIP, floating_ip_id)
    changes = body.given()
    if "description" in changes:
        floating_ip.description = body.description
    if "port_id" in changes:
        if body.port_id is None:
            _clear(floating_ip)
        else:
            _associate(tx, floating_ip, body.port_id, body.fixed_ip_address)
    tx.session.flush()
    view = views.floating_ip(floating_ip)
    tx.announce(create_or_update("floatingip", "update", view))
    return view


def delete(tx: Transaction, floating_ip_id: str) -> None:
    floating_ip = lookups.get(tx.session, models.FloatingIP, floating_ip_id)
    view = views.floating_ip(floating_ip)
    port = lookups.get(tx.session, models.Port, floating_ip.floating_port_id)
    tx.session.delete(floating_ip)
    tx.session.flush()
    tx.session.delete(port)
    tx.session.flush()
    tx.announce(deleted("floatingip", view))


def disassociate(tx: Transaction, floating_ip: models.FloatingIP) -> None:
    """Detach a floating IP whose port is going away, and say so."""
    _clear(floating_ip)
    tx.session.flush()
    tx.announce(create_or_update("floatingip", "update", views.floating_ip(floating_ip)))


def _clear(floating_ip: models.FloatingIP) -> None:
    floating_ip.fixed_port_id = None
    floating_ip.fixed_ip_address = None
    floating_ip.router_id = None
    floating_ip.status = "DOWN"


def _associate(
    tx: Transaction, floating_ip: models.FloatingIP, port_id: str, fixed_ip_address: str | None
) -> None:
    port = lookups.get(tx.session, models.Port, port_id)
    allocation = _fixed_ipv4(port, fixed_ip_address)
    _refuse_second_floating_ip(tx, floating_ip, port, allocation.ip_address)
    floating_ip.router_id = _router_for(tx, floating_ip, port, allocation.subnet_id)
    floating_ip.fixed_port_id = port.id
    floating_ip.fixed_ip_address = allocation.ip_address
    floating_ip.status = "ACTIVE"


def _fixed_ipv4(port: models.Port, fixed_ip_address: str | None) -> models.IPAllocation:
    ipv4 = [a for a in port.fixed_ips if ipam.parse_ip(a.ip_address).version == 4]
    if fixed_ip_address is not None:
        wanted = str(ipam.parse_ip(fixed_ip_address, "fixed_ip_address"))
        for allocation in ipv4:
            if allocation.ip_address == wanted:
                return allocation
        raise BadRequest(
            f"Bad floatingip request: Port {port.id} does not have fixed IPv4 address {wanted}."
        )
    if not ipv4:
        raise BadRequest(f"Bad floatingip request: Port {port.id} has no fixed IPv4 address.")
    if len(ipv4) > 1:
        raise BadRequest(
            f"Bad floatingip request: Port {port.id} has multiple fixed IPv4 addresses. "
            "Must provide a specific IPv4 address when assigning a floating IP."
        )
    return ipv4[0]


def _refuse_second_floating_ip(
    tx: Transaction, floating_ip: models.FloatingIP, port: models.Port, ip_address: str
) -> None:
    for other in lookups.floating_ips_of_port(tx.session, port.id):
        if other.id != floating_ip.id and other.fixed_ip_address == ip_address:
            raise Conflict(
                f"Cannot associate floating IP {floating_ip.floating_ip_address} "
                f"({floating_ip.id}) with port {port.id} using fixed IP {ip_address}, "
                f"as that fixed IP already has a floating IP ({other.id}).",
                "FloatingIPPortAlreadyAssociated",
            )


def _router_for(
    tx: Transaction, floating_ip: models.FloatingIP, port: models.Port, subnet_id: str
) -> str:
    """The router that links the fixed IP's subnet to the floating network."""
    statement = (
        select(models.Port.device_id)
        .join(models.IPAllocation, models.IPAllocation.port_id == models.Port.id)
        .where(
            models.Port.device_owner == models.ROUTER_INTERFACE,
            models.IPAllocation.subnet_id == subnet_id,
        )
    )
    for router_id in tx.session.scalars(statement):
        gateway = lookups.gateway_port(tx.session, router_id)
        if gateway is not None and gateway.network_id == floating_ip.floating_network_id:
            return router_id
    raise NotFound(
        f"External network {floating_ip.floating_network_id} is not reachable from subnet "
        f"{subnet_id}. Therefore, cannot associate Port {port.id} with a Floating IP.",
        "ExternalGatewayForFloatingIPNotFound",
    )
