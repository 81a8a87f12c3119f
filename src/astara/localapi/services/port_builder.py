"""Creating ports and (re)assigning their addresses.

Shared by the port API and by the resources that own ports of their own:
router gateways, router interfaces and floating IPs.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from astara.localapi import macs, models
from astara.localapi.errors import Conflict
from astara.localapi.schemas import FixedIP
from astara.localapi.services.allocation import Address, choose_addresses


def new_port(
    session: Session,
    network: models.Network,
    *,
    project_id: str,
    fixed_ips: list[FixedIP] | None,
    mac_address: str | None = None,
    ipv4_only: bool = False,
    **attributes: Any,
) -> models.Port:
    """A stored port on ``network`` with its addresses chosen (see :mod:`.allocation`)."""
    attributes.setdefault("port_security_enabled", network.port_security_enabled)
    attributes.setdefault("security_groups", [])
    port = models.Port(
        id=models.new_id(session),
        network=network,
        project_id=project_id,
        mac_address=_available_mac(session, mac_address),
        **attributes,
    )
    session.add(port)
    assign_addresses(session, port, choose_addresses(session, port, fixed_ips, ipv4_only=ipv4_only))
    return port


def assign_addresses(session: Session, port: models.Port, addresses: list[Address]) -> None:
    """Replace the port's addresses; old rows go first so a kept address can be re-added."""
    port.fixed_ips.clear()
    session.flush()
    port.fixed_ips.extend(
        models.IPAllocation(subnet_id=address.subnet.id, ip_address=str(address.ip), position=index)
        for index, address in enumerate(addresses)
    )
    session.flush()


def router_port_status(router: models.Router) -> str:
    """A router's ports are up exactly when its appliance says the router is."""
    return "ACTIVE" if router.status == "ACTIVE" else "DOWN"


def _available_mac(session: Session, requested: str | None) -> str:
    if requested is not None:
        mac = macs.normalise_mac(requested)
        if _mac_in_use(session, mac):
            raise Conflict(
                f"Unable to complete operation. MAC address {mac} is in use.", "MacAddressInUse"
            )
        return mac
    mac = macs.random_mac()
    while _mac_in_use(session, mac):
        mac = macs.random_mac()
    return mac


def _mac_in_use(session: Session, mac: str) -> bool:
    statement = select(models.Port.id).where(models.Port.mac_address == mac)
    return session.scalars(statement).first() is not None
