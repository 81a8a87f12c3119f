"""IP address management: subnets, allocation pools and the next free address.

Pure functions over :mod:`ipaddress`; the services pass in the addresses a
subnet already uses and store what these functions choose. Pools are kept as
(first, last) pairs, inclusive, like Neutron's ``{"start", "end"}``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

from astara.localapi.errors import BadRequest, Conflict, invalid_input

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network
Pool = tuple[IPAddress, IPAddress]

#: IPv6 modes in which hosts pick their own address (EUI-64 from the MAC).
AUTO_ADDRESS_MODES = frozenset({"slaac", "dhcpv6-stateless"})
IPV6_MODES = frozenset({"slaac", "dhcpv6-stateful", "dhcpv6-stateless"})
_EUI64_PREFIX_LENGTH = 64


def parse_cidr(value: str, attribute: str = "cidr") -> IPNetwork:
    """A network given as ``address/prefix``; host bits set is refused, as Neutron does."""
    try:
        address, prefix = value.split("/", 1)
        network = ip_network(f"{address}/{int(prefix)}", strict=False)
    except ValueError:
        raise invalid_input(f"'{value}' is not a valid IP subnet for {attribute}.") from None
    if ip_address(address) != network.network_address:
        raise invalid_input(f"'{value}' isn't a recommended CIDR, use '{network}' instead.")
    return network


def parse_ip(value: str, attribute: str = "ip_address") -> IPAddress:
    try:
        return ip_address(value)
    except ValueError:
        raise invalid_input(f"'{value}' is not a valid IP address for {attribute}.") from None


def usable_range(network: IPNetwork) -> Pool:
    """The addresses hosts may use: IPv4 loses its network and broadcast addresses,
    IPv6 only the subnet-router anycast address; tiny subnets keep everything."""
    if network.num_addresses <= 2:
        return network[0], network[-1]
    if network.version == 4:
        return network[1], network[-2]
    return network[1], network[-1]


def default_gateway(network: IPNetwork) -> IPAddress:
    return usable_range(network)[0]


def within(ip: IPAddress, first: IPAddress, last: IPAddress) -> bool:
    """Whether ``first <= ip <= last``, false across IP versions."""
    return ip.version == first.version == last.version and int(first) <= int(ip) <= int(last)


def default_pools(network: IPNetwork, gateway: IPAddress | None) -> list[Pool]:
    """The whole usable range, with the gateway cut out of it."""
    first, last = usable_range(network)
    if gateway is None or not within(gateway, first, last):
        return [(first, last)]
    pools: list[Pool] = []
    if gateway != first:
        pools.append((first, gateway - 1))
    if gateway != last:
        pools.append((gateway + 1, last))
    return pools


def validate_gateway(network: IPNetwork, gateway: IPAddress) -> None:
    if gateway.version != network.version or gateway not in network:
        raise BadRequest(f"Gateway IP {gateway} is outside subnet CIDR {network}.", "InvalidInput")
    if not within(gateway, *usable_range(network)):
        raise invalid_input(f"Gateway IP {gateway} is not a usable address of {network}.")


def validate_pools(network: IPNetwork, pools: Sequence[Pool], gateway: IPAddress | None) -> None:
    """Refuse pools that are reversed, leave the subnet, overlap or hold the gateway."""
    first, last = usable_range(network)
    for start, end in pools:
        if start.version != network.version or not within(start, start, end):
            raise BadRequest(
                f"The allocation pool {start}-{end} is not valid.", "InvalidAllocationPool"
            )
        if not (within(start, first, last) and within(end, first, last)):
            raise BadRequest(
                f"The allocation pool {start}-{end} spans beyond the subnet cidr {network}.",
                "OutOfBoundsAllocationPool",
            )
    ordered = sorted(pools, key=lambda pool: int(pool[0]))
    for (start_a, end_a), (start_b, end_b) in itertools.pairwise(ordered):
        if int(start_b) <= int(end_a):
            raise BadRequest(
                f"Found overlapping allocation pools: {start_a}-{end_a} and {start_b}-{end_b} "
                f"for subnet {network}.",
                "OverlappingAllocationPools",
            )
    if gateway is not None:
        for start, end in pools:
            if within(gateway, start, end):
                raise Conflict(
                    f"Gateway ip {gateway} conflicts with allocation pool {start}-{end}.",
                    "GatewayConflictWithAllocationPools",
                )


def first_free(pools: Iterable[Pool], used: set[IPAddress]) -> IPAddress | None:
    """The lowest address of the pools not in ``used``, or None when they are full.

    Walks forward from each pool's start and stops at the first gap, so the
    cost grows with the addresses in use, never with the size of the pool.
    """
    for start, end in pools:
        candidate = start
        while within(candidate, start, end):
            if candidate not in used:
                return candidate
            candidate += 1
    return None


def eui64(network: IPNetwork, mac_address: str) -> IPv6Address:
    """The SLAAC address a host with ``mac_address`` gives itself on a /64 (RFC 4291)."""
    if network.version != 6 or network.prefixlen != _EUI64_PREFIX_LENGTH:
        raise invalid_input(f"EUI-64 addresses need an IPv6 /64 prefix, not {network}.")
    mac = bytes.fromhex(mac_address.replace(":", ""))
    interface_id = bytes([mac[0] ^ 0x02]) + mac[1:3] + b"\xff\xfe" + mac[3:6]
    return IPv6Address(int(network.network_address) | int.from_bytes(interface_id, "big"))
