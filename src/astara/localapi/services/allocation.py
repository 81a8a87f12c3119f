"""Choosing a port's addresses on its network's subnets.

The rules follow Neutron's:

* no ``fixed_ips`` in the request: one address from the first IPv4 subnet
  with room, one from the first stateful IPv6 subnet with room;
* ``{"subnet_id"}``: the next free address of that subnet's pools;
* ``{"ip_address"}`` (with or without ``subnet_id``): exactly that address,
  which may lie outside the pools but not outside the subnet;
* on SLAAC and DHCPv6-stateless subnets a host configures its own EUI-64
  address, so every port except a router interface gets that address and no
  other; a router interface instead takes the address it is given (the
  subnet's gateway) or one from the pools.

All of it runs inside the store's single write transaction, so "free" cannot
change between choosing an address and storing it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from astara.localapi import ipam, lookups, models
from astara.localapi.errors import BadRequest, Conflict
from astara.localapi.schemas import FixedIP


@dataclass(frozen=True, slots=True)
class Address:
    subnet: models.Subnet
    ip: ipam.IPAddress


def is_auto_address(subnet: models.Subnet) -> bool:
    return subnet.ipv6_address_mode in ipam.AUTO_ADDRESS_MODES


class _AddressBook:
    """The addresses each subnet of one network already uses, minus one port's own."""

    def __init__(self, session: Session, port: models.Port) -> None:
        self._session = session
        self._port_id = port.id
        self._used: dict[str, set[ipam.IPAddress]] = {}

    def used(self, subnet: models.Subnet) -> set[ipam.IPAddress]:
        if subnet.id not in self._used:
            self._used[subnet.id] = {
                ipam.parse_ip(allocation.ip_address)
                for allocation in lookups.allocations_on_subnet(self._session, subnet.id)
                if allocation.port_id != self._port_id
            }
        return self._used[subnet.id]

    def next_free(self, subnet: models.Subnet) -> ipam.IPAddress | None:
        pools = [
            (ipam.parse_ip(pool["start"]), ipam.parse_ip(pool["end"]))
            for pool in subnet.allocation_pools
        ]
        return ipam.first_free(pools, self.used(subnet))

    def take(self, subnet: models.Subnet, ip: ipam.IPAddress) -> Address:
        if ip in self.used(subnet):
            raise Conflict(
                f"Unable to complete operation for network {subnet.network_id}. "
                f"The IP address {ip} is in use.",
                "IpAddressInUse",
            )
        self.used(subnet).add(ip)
        return Address(subnet, ip)


def choose_addresses(
    session: Session,
    port: models.Port,
    requests: list[FixedIP] | None,
    *,
    ipv4_only: bool = False,
) -> list[Address]:
    """The addresses ``port`` should have, given the client's ``fixed_ips`` request.

    ``requests`` is None when the client left ``fixed_ips`` out. ``ipv4_only``
    serves floating IPs, which are IPv4 addresses and nothing else. Addresses
    the port already holds are kept when the request names them (updates).
    """
    subnets = [subnet for subnet in port.network.subnets if not ipv4_only or subnet.ip_version == 4]
    book = _AddressBook(session, port)
    current = [(a.subnet_id, ipam.parse_ip(a.ip_address)) for a in port.fixed_ips]
    if requests is None:
        chosen = _stateful_automatic(book, subnets)
    else:
        chosen = [_requested(book, port, subnets, request, current) for request in requests]
    if _configures_itself(port):
        requested_subnets = {address.subnet.id for address in chosen}
        chosen += [
            _slaac(book, port, subnet)
            for subnet in subnets
            if is_auto_address(subnet) and subnet.id not in requested_subnets
        ]
    return chosen


def _configures_itself(port: models.Port) -> bool:
    """Whether the port's owner takes SLAAC addresses (router interfaces advertise them)."""
    return port.device_owner != models.ROUTER_INTERFACE


def _slaac(book: _AddressBook, port: models.Port, subnet: models.Subnet) -> Address:
    return book.take(subnet, ipam.eui64(ipam.parse_cidr(subnet.cidr), port.mac_address))


def _stateful_automatic(book: _AddressBook, subnets: list[models.Subnet]) -> list[Address]:
    chosen: list[Address] = []
    for version in (4, 6):
        stateful = [s for s in subnets if s.ip_version == version and not is_auto_address(s)]
        for subnet in stateful:
            ip = book.next_free(subnet)
            if ip is not None:
                chosen.append(book.take(subnet, ip))
                break
        else:
            if stateful:
                raise Conflict(
                    f"No more IP addresses available on network {stateful[0].network_id}.",
                    "IpAddressGenerationFailure",
                )
    return chosen


def _requested(
    book: _AddressBook,
    port: models.Port,
    subnets: list[models.Subnet],
    request: FixedIP,
    current: list[tuple[str, ipam.IPAddress]],
) -> Address:
    subnet = _subnet_of_request(port, subnets, request)
    if request.ip_address is None:
        for subnet_id, held in current:
            if subnet_id == subnet.id and held not in book.used(subnet):
                return book.take(subnet, held)
        if is_auto_address(subnet) and _configures_itself(port):
            return _slaac(book, port, subnet)
        free = book.next_free(subnet)
        if free is None:
            raise Conflict(
                f"No more IP addresses available for subnet {subnet.id}.",
                "IpAddressGenerationFailure",
            )
        return book.take(subnet, free)
    ip = ipam.parse_ip(request.ip_address)
    if is_auto_address(subnet) and _configures_itself(port):
        raise BadRequest(
            f"IPv6 address {ip} cannot be directly assigned to a port on subnet {subnet.id} "
            "as the subnet is configured for automatic addresses.",
            "InvalidInput",
        )
    return book.take(subnet, ip)


def _subnet_of_request(
    port: models.Port, subnets: list[models.Subnet], request: FixedIP
) -> models.Subnet:
    ip = ipam.parse_ip(request.ip_address) if request.ip_address is not None else None
    if request.subnet_id is not None:
        subnet = next((s for s in subnets if s.id == request.subnet_id), None)
        if subnet is None:
            raise BadRequest(
                f"Failed to create port on network {port.network_id}, because fixed_ips "
                f"included invalid subnet {request.subnet_id}.",
                "InvalidInput",
            )
        if ip is not None and not _usable(subnet, ip):
            raise BadRequest(
                f"IP address {ip} is not a valid IP for the specified subnet.",
                "InvalidIpForSubnet",
            )
        return subnet
    if ip is None:
        raise BadRequest("A fixed IP needs a subnet_id, an ip_address or both.", "InvalidInput")
    subnet = next((s for s in subnets if _usable(s, ip)), None)
    if subnet is None:
        raise BadRequest(
            f"IP address {ip} is not a valid IP for any of the subnets on the specified network.",
            "InvalidIpForNetwork",
        )
    return subnet


def _usable(subnet: models.Subnet, ip: ipam.IPAddress) -> bool:
    return ipam.within(ip, *ipam.usable_range(ipam.parse_cidr(subnet.cidr)))
