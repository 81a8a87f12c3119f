"""Subnets: addressing checks on create and update, and delete only when unused."""

from __future__ import annotations

from typing import Any

from astara.localapi import ipam, lookups, models, views
from astara.localapi.errors import BadRequest, Conflict, invalid_input
from astara.localapi.notifications import create_or_update, deleted
from astara.localapi.schemas import AllocationPool, Route, SubnetCreate, SubnetUpdate
from astara.localapi.transaction import Transaction


def create(tx: Transaction, body: SubnetCreate) -> dict[str, Any]:
    network = lookups.get(tx.session, models.Network, body.network_id)
    cidr = ipam.parse_cidr(body.cidr)
    _check_version_and_modes(cidr, body)
    _refuse_overlap(network, cidr)
    given = body.model_fields_set
    if "gateway_ip" in given:
        gateway = _gateway(cidr, body.gateway_ip)
    else:
        gateway = ipam.default_gateway(cidr)
    if "allocation_pools" in given:
        pools = _pools(body.allocation_pools)
        ipam.validate_pools(cidr, pools, gateway)
    else:
        pools = ipam.default_pools(cidr, gateway)
    subnet = models.Subnet(
        id=models.new_id(tx.session),
        project_id=body.owner(tx.context.project_id),
        network=network,
        name=body.name,
        description=body.description,
        ip_version=cidr.version,
        cidr=str(cidr),
        gateway_ip=None if gateway is None else str(gateway),
        enable_dhcp=body.enable_dhcp,
        ipv6_ra_mode=body.ipv6_ra_mode,
        ipv6_address_mode=body.ipv6_address_mode,
        allocation_pools=_pool_dicts(pools),
        dns_nameservers=_nameservers(cidr, body.dns_nameservers),
        host_routes=_routes(cidr, body.host_routes),
    )
    tx.session.add(subnet)
    tx.session.flush()
    view = views.subnet(subnet)
    tx.announce(create_or_update("subnet", "create", view))
    return view


def update(tx: Transaction, subnet_id: str, body: SubnetUpdate) -> dict[str, Any]:
    subnet = lookups.get(tx.session, models.Subnet, subnet_id)
    cidr = ipam.parse_cidr(subnet.cidr)
    changes = body.given()
    if "gateway_ip" in changes:
        gateway = _gateway(cidr, body.gateway_ip)
        new_gateway = None if gateway is None else str(gateway)
        if new_gateway != subnet.gateway_ip:
            _refuse_if_gateway_in_use(tx, subnet)
            subnet.gateway_ip = new_gateway
    if "gateway_ip" in changes or "allocation_pools" in changes:
        pools = (
            _pools(body.allocation_pools)
            if "allocation_pools" in changes
            else [
                (ipam.parse_ip(pool["start"]), ipam.parse_ip(pool["end"]))
                for pool in subnet.allocation_pools
            ]
        )
        current_gateway = None if subnet.gateway_ip is None else ipam.parse_ip(subnet.gateway_ip)
        ipam.validate_pools(cidr, pools, current_gateway)
        subnet.allocation_pools = _pool_dicts(pools)
    if "dns_nameservers" in changes:
        subnet.dns_nameservers = _nameservers(cidr, body.dns_nameservers)
    if "host_routes" in changes:
        subnet.host_routes = _routes(cidr, body.host_routes)
    for name in ("name", "description", "enable_dhcp"):
        if name in changes:
            setattr(subnet, name, changes[name])
    tx.session.flush()
    view = views.subnet(subnet)
    tx.announce(create_or_update("subnet", "update", view))
    return view


def delete(tx: Transaction, subnet_id: str) -> None:
    subnet = lookups.get(tx.session, models.Subnet, subnet_id)
    if lookups.allocations_on_subnet(tx.session, subnet_id):
        raise Conflict(
            f"Unable to complete operation on subnet {subnet_id}: "
            "One or more ports have an IP allocation from this subnet.",
            "SubnetInUse",
        )
    view = views.subnet(subnet)
    tx.session.delete(subnet)
    tx.session.flush()
    tx.announce(deleted("subnet", view))


def _check_version_and_modes(cidr: ipam.IPNetwork, body: SubnetCreate) -> None:
    if body.ip_version is not None and body.ip_version != cidr.version:
        raise invalid_input(f"cidr {cidr} does not match ip_version {body.ip_version}.")
    modes = {body.ipv6_ra_mode, body.ipv6_address_mode} - {None}
    if not modes:
        return
    if cidr.version == 4:
        raise invalid_input("ipv6_ra_mode or ipv6_address_mode cannot be set for IPv4 subnets.")
    if body.ipv6_ra_mode and body.ipv6_address_mode and len(modes) > 1:
        raise invalid_input(
            f"ipv6_ra_mode set to '{body.ipv6_ra_mode}' with ipv6_address_mode set to "
            f"'{body.ipv6_address_mode}' is not valid. If both attributes are set, "
            "they must be the same value."
        )
    if body.ipv6_address_mode in ipam.AUTO_ADDRESS_MODES and cidr.prefixlen != 64:
        raise invalid_input(
            f"Invalid CIDR {cidr} for IPv6 address mode. EUI-64 addresses need a /64 prefix."
        )


def _refuse_overlap(network: models.Network, cidr: ipam.IPNetwork) -> None:
    for other in network.subnets:
        if ipam.parse_cidr(other.cidr).overlaps(cidr):
            raise BadRequest(
                f"Invalid input for operation: Requested subnet with cidr: {cidr} for network: "
                f"{network.id} overlaps with another subnet.",
                "InvalidInput",
            )


def _gateway(cidr: ipam.IPNetwork, value: str | None) -> ipam.IPAddress | None:
    if value is None:
        return None
    gateway = ipam.parse_ip(value, "gateway_ip")
    ipam.validate_gateway(cidr, gateway)
    return gateway


def _refuse_if_gateway_in_use(tx: Transaction, subnet: models.Subnet) -> None:
    """A router interface holds the gateway address; moving it would strand the router."""
    for allocation in lookups.allocations_on_subnet(tx.session, subnet.id):
        if (
            allocation.ip_address == subnet.gateway_ip
            and allocation.port.device_owner == models.ROUTER_INTERFACE
        ):
            raise Conflict(
                f"Current gateway ip {subnet.gateway_ip} already in use by port "
                f"{allocation.port_id}. Unable to update.",
                "GatewayIpInUse",
            )


def _pools(pools: list[AllocationPool]) -> list[ipam.Pool]:
    return [
        (ipam.parse_ip(pool.start, "allocation_pools"), ipam.parse_ip(pool.end, "allocation_pools"))
        for pool in pools
    ]


def _pool_dicts(pools: list[ipam.Pool]) -> list[dict[str, str]]:
    return [{"start": str(start), "end": str(end)} for start, end in pools]


def _nameservers(cidr: ipam.IPNetwork, nameservers: list[str]) -> list[str]:
    addresses = [str(ipam.parse_ip(server, "dns_nameservers")) for server in nameservers]
    if len(set(addresses)) != len(addresses):
        raise invalid_input(f"Duplicate nameserver in {nameservers} for subnet {cidr}.")
    return addresses


def _routes(cidr: ipam.IPNetwork, routes: list[Route]) -> list[dict[str, str]]:
    checked = []
    for route in routes:
        destination = ipam.parse_cidr(route.destination, "host_routes")
        nexthop = ipam.parse_ip(route.nexthop, "host_routes")
        if destination.version != cidr.version or nexthop.version != cidr.version:
            raise invalid_input(
                f"Host route {route.destination} via {route.nexthop} is not "
                f"of the IP version of subnet {cidr}."
            )
        checked.append({"destination": str(destination), "nexthop": str(nexthop)})
    return checked
