"""Attaching routers to subnets (``add_router_interface``) and detaching them.

Given a subnet, the router gets a new ``network:router_interface`` port that
holds the subnet's gateway address; given a port, that port becomes the
interface. Both answer, and notify, with Neutron's ``router_interface`` info.
"""

from __future__ import annotations

from typing import Any

from astara.localapi import ipam, lookups, models
from astara.localapi.errors import BadRequest, Conflict, NotFound
from astara.localapi.notifications import Notification
from astara.localapi.schemas import FixedIP, RouterInterface
from astara.localapi.services.port_builder import new_port, router_port_status
from astara.localapi.transaction import Transaction


def add(tx: Transaction, router_id: str, body: RouterInterface) -> dict[str, Any]:
    router = lookups.get(tx.session, models.Router, router_id)
    _require_one_of(body)
    if body.port_id is not None:
        port = _adopt_port(tx, router, body.port_id)
    else:
        assert body.subnet_id is not None
        port = _port_for_subnet(tx, router, body.subnet_id)
    tx.session.flush()
    info = _interface_info(router, port, [a.subnet_id for a in port.fixed_ips])
    tx.announce(Notification("router.interface.create", {"router_interface": info}))
    return info


def remove(tx: Transaction, router_id: str, body: RouterInterface) -> dict[str, Any]:
    router = lookups.get(tx.session, models.Router, router_id)
    _require_one_of(body)
    port, subnet_ids = _find_interface(tx, router, body)
    _refuse_if_needed(tx, router, subnet_ids)
    info = _interface_info(router, port, subnet_ids)
    remaining = [a for a in port.fixed_ips if a.subnet_id not in subnet_ids]
    if remaining:
        port.fixed_ips = remaining
    else:
        tx.session.delete(port)
    tx.session.flush()
    tx.announce(Notification("router.interface.delete", {"router_interface": info}))
    return info


def _require_one_of(body: RouterInterface) -> None:
    if body.subnet_id is None and body.port_id is None:
        raise BadRequest("Bad router request: Either subnet_id or port_id must be specified.")
    if body.subnet_id is not None and body.port_id is not None:
        raise BadRequest("Bad router request: Cannot specify both subnet-id and port-id.")


def _port_for_subnet(tx: Transaction, router: models.Router, subnet_id: str) -> models.Port:
    subnet = lookups.get(tx.session, models.Subnet, subnet_id)
    if subnet.gateway_ip is None:
        raise BadRequest(
            f"Bad router request: Subnet {subnet.id} does not have a gateway IP; "
            "a router interface needs one."
        )
    _refuse_overlap(tx, router, [subnet])
    return new_port(
        tx.session,
        subnet.network,
        project_id=router.project_id,
        fixed_ips=[FixedIP(subnet_id=subnet.id, ip_address=subnet.gateway_ip)],
        device_owner=models.ROUTER_INTERFACE,
        device_id=router.id,
        status=router_port_status(router),
    )


def _adopt_port(tx: Transaction, router: models.Router, port_id: str) -> models.Port:
    port = lookups.get(tx.session, models.Port, port_id)
    if port.device_id or port.device_owner:
        raise Conflict(
            f"Unable to complete operation on port {port.id} for network {port.network_id}. "
            f"Port already has an attached device {port.device_id or port.device_owner}.",
            "PortInUse",
        )
    if not port.fixed_ips:
        raise BadRequest("Bad router request: Router port must have at least one fixed IP.")
    subnets = [lookups.get(tx.session, models.Subnet, a.subnet_id) for a in port.fixed_ips]
    _refuse_overlap(tx, router, subnets)
    port.device_owner = models.ROUTER_INTERFACE
    port.device_id = router.id
    port.status = router_port_status(router)
    return port


def _refuse_overlap(tx: Transaction, router: models.Router, subnets: list[models.Subnet]) -> None:
    """One router cannot route between two subnets whose addresses overlap."""
    for existing in lookups.interface_ports(tx.session, router.id):
        for allocation in existing.fixed_ips:
            attached = lookups.get(tx.session, models.Subnet, allocation.subnet_id)
            for subnet in subnets:
                if attached.id == subnet.id:
                    raise BadRequest(
                        f"Bad router request: Router already has a port on subnet {subnet.id}."
                    )
                if ipam.parse_cidr(attached.cidr).overlaps(ipam.parse_cidr(subnet.cidr)):
                    raise BadRequest(
                        f"Bad router request: Cidr {subnet.cidr} of subnet {subnet.id} overlaps "
                        f"with cidr {attached.cidr} of subnet {attached.id}."
                    )


def _find_interface(
    tx: Transaction, router: models.Router, body: RouterInterface
) -> tuple[models.Port, list[str]]:
    interfaces = lookups.interface_ports(tx.session, router.id)
    if body.port_id is not None:
        for port in interfaces:
            if port.id == body.port_id:
                return port, [a.subnet_id for a in port.fixed_ips]
        raise NotFound(
            f"Router {router.id} does not have an interface with id {body.port_id}",
            "RouterInterfaceNotFound",
        )
    lookups.get(tx.session, models.Subnet, str(body.subnet_id))
    for port in interfaces:
        if any(a.subnet_id == body.subnet_id for a in port.fixed_ips):
            return port, [str(body.subnet_id)]
    raise NotFound(
        f"Router {router.id} has no interface on subnet {body.subnet_id}",
        "RouterInterfaceNotFoundForSubnet",
    )


def _refuse_if_needed(tx: Transaction, router: models.Router, subnet_ids: list[str]) -> None:
    """Floating IPs and extra routes that go through the interface keep it in place."""
    for floating_ip in lookups.floating_ips_of_router(tx.session, router.id):
        port = lookups.get(tx.session, models.Port, str(floating_ip.fixed_port_id))
        if any(
            a.subnet_id in subnet_ids and a.ip_address == floating_ip.fixed_ip_address
            for a in port.fixed_ips
        ):
            raise Conflict(
                f"Router interface for subnet {subnet_ids[0]} on router {router.id} cannot be "
                "deleted, as it is required by one or more floating IPs.",
                "RouterInterfaceInUseByFloatingIP",
            )
    cidrs = [ipam.parse_cidr(lookups.get(tx.session, models.Subnet, s).cidr) for s in subnet_ids]
    for route in router.routes:
        nexthop = ipam.parse_ip(route["nexthop"])
        if any(nexthop in cidr for cidr in cidrs):
            raise Conflict(
                f"Router interface for subnet {subnet_ids[0]} on router {router.id} cannot be "
                "deleted, as it is required by one or more routes.",
                "RouterInterfaceInUse",
            )


def _interface_info(
    router: models.Router, port: models.Port, subnet_ids: list[str]
) -> dict[str, Any]:
    return {
        "id": router.id,
        "tenant_id": router.project_id,
        "project_id": router.project_id,
        "port_id": port.id,
        "subnet_id": subnet_ids[0] if subnet_ids else None,
        "subnet_ids": subnet_ids,
        "network_id": port.network_id,
    }
