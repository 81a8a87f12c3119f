"""The router appliance's configuration, as a pure function of the network model.

:func:`build_config` takes typed objects (the router, the networks the
appliance is plugged into, the ports on them) and returns the document the
appliance agent validates as :class:`astara.appliance.model.RouterConfig`.
No I/O happens here, so every rule below is checked by unit tests on plain
values.

What the appliance is told, per network it is plugged into:

- ``interface``: the NIC is the *appliance* port (its MAC is ``lladdr``), but
  the addresses it carries are those of the router's *logical* ports (the
  gateway port, the interface ports), because those are the addresses the
  tenant's hosts and Neutron know the router by. Two interfaces of the router
  on one network (two subnets) are two addresses on one NIC.
- ``subnets``: every subnet of the network, as Neutron describes it.
- ``allocations`` (internal networks only): the hosts DHCP serves, meaning every
  port on the network with an address, except appliance ports and the router's own.

Floating IPs the appliance would reject (the floating address outside every
external subnet, the fixed address outside every internal subnet, IPv6) are
left out with a warning, so one stale floating IP cannot block the router's
whole configuration.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from astara.network.base import FloatingIp, Network, Port, Router
from astara.network.fields import IPAddress, IPNetwork

LOG = logging.getLogger(__name__)

#: Names of ports created for appliances start with this (``ASTARA:VRRP:<id>``,
#: ``ASTARA:MGT:<id>``, ``ASTARA:LB:<id>``...); they are not tenant hosts.
APPLIANCE_PORT_PREFIX = "ASTARA:"


@dataclass(frozen=True, slots=True)
class Attachment:
    """One network the appliance is plugged into.

    ``appliance_port`` is the port plugged into the appliance; ``logical_ports``
    are the ports whose addresses the appliance answers on there (for the
    management network, the appliance port itself); ``neighbours`` are all
    ports on the network, read for the DHCP allocations of internal networks.
    """

    network: Network
    appliance_port: Port
    logical_ports: tuple[Port, ...]
    neighbours: tuple[Port, ...] = ()


@dataclass(frozen=True, slots=True)
class OrchestratorEndpoint:
    """Where the appliance reaches the orchestrator's metadata proxy."""

    address: str
    metadata_port: int
    host: str


@dataclass(frozen=True, slots=True)
class BgpSettings:
    asn: int
    neighbor_asn: int


def build_config(
    router: Router,
    *,
    management: Attachment,
    external: Attachment | None,
    internal: Sequence[Attachment],
    interfaces: Mapping[str, str],
    provider_rules: Mapping[str, Any],
    bgp: BgpSettings,
    orchestrator: OrchestratorEndpoint,
) -> dict[str, Any]:
    """The appliance configuration of ``router``.

    ``interfaces`` maps each MAC address the appliance reports to its
    interface name; ``provider_rules`` holds the operator's ``labels``,
    ``prerules`` and ``postrules`` (already validated).
    """
    networks = [_network(management, "management", interfaces, router.id)]
    if external is not None:
        networks.append(_network(external, "external", interfaces, router.id))
    networks += [_network(a, "internal", interfaces, router.id) for a in internal]
    return {
        **provider_rules,
        "asn": bgp.asn,
        "neighbor_asn": bgp.neighbor_asn,
        "default_v4_gateway": _default_v4_gateway(external),
        "networks": networks,
        "static_routes": [
            {"destination": str(route.destination), "next_hop": str(route.nexthop)}
            for route in router.routes
        ],
        "floating_ips": _floating_ips(router, external, internal),
        "tenant_id": router.tenant_id,
        "hostname": f"ak-{router.id}",
        "orchestrator": {
            "address": orchestrator.address,
            "metadata_port": orchestrator.metadata_port,
            "host": orchestrator.host,
        },
        "ha_resource": router.ha,
    }


def _network(
    attachment: Attachment, network_type: str, interfaces: Mapping[str, str], router_id: str
) -> dict[str, Any]:
    network = attachment.network
    mac = attachment.appliance_port.mac_address
    block: dict[str, Any] = {
        "network_id": network.id,
        "network_type": network_type,
        "mtu": network.mtu,
        "interface": {
            "ifname": interfaces.get(mac),
            "lladdr": mac,
            "addresses": _interface_addresses(network, attachment.logical_ports),
        },
        "subnets": [
            {
                "id": subnet.id,
                "cidr": str(subnet.cidr),
                "gateway_ip": str(subnet.gateway_ip) if subnet.gateway_ip else None,
                "dhcp_enabled": subnet.enable_dhcp,
                "dns_nameservers": [str(server) for server in subnet.dns_nameservers],
                "host_routes": [
                    {"destination": str(route.destination), "nexthop": str(route.nexthop)}
                    for route in subnet.host_routes
                ],
                "ipv6_ra_mode": subnet.ipv6_ra_mode,
                "ipv6_address_mode": subnet.ipv6_address_mode,
            }
            for subnet in network.subnets
        ],
    }
    if network_type == "internal":
        block["allocations"] = _allocations(network, attachment.neighbours, router_id)
    return block


def _interface_addresses(network: Network, ports: Sequence[Port]) -> list[str]:
    """``address/prefix`` for each fixed IP of ``ports`` on a subnet of ``network``.

    Sorted (IPv4 first), like everything else in the config, so the same
    network model always gives the same document whatever order the API
    listed it in, and the appliance sees no change where there is none.
    """
    addresses: list[tuple[IPAddress, str]] = []
    for port in ports:
        for fixed_ip in port.fixed_ips:
            subnet = network.subnet(fixed_ip.subnet_id)
            if subnet is None:
                LOG.warning(
                    "port %s: address %s is on subnet %s, not on network %s; left out",
                    port.id,
                    fixed_ip.ip_address,
                    fixed_ip.subnet_id,
                    network.id,
                )
                continue
            address = fixed_ip.ip_address
            addresses.append((address, f"{address}/{subnet.cidr.prefixlen}"))
    return [text for _, text in sorted(addresses, key=lambda pair: _address_order(pair[0]))]


def _allocations(network: Network, ports: Sequence[Port], router_id: str) -> list[dict[str, Any]]:
    allocations = []
    for port in sorted(ports, key=lambda p: p.mac_address):
        if port.name.startswith(APPLIANCE_PORT_PREFIX) or port.device_id == router_id:
            continue
        if not port.fixed_ips:
            continue
        ip_addresses: dict[str, bool] = {}
        for fixed_ip in port.fixed_ips:
            subnet = network.subnet(fixed_ip.subnet_id)
            ip_addresses[str(fixed_ip.ip_address)] = subnet is not None and subnet.enable_dhcp
        allocations.append(
            {
                "mac_address": port.mac_address,
                "ip_addresses": ip_addresses,
                "hostname": host_name(port.addresses),
                "device_id": port.device_id,
            }
        )
    return allocations


def host_name(addresses: Sequence[IPAddress]) -> str:
    """``host-10-1-0-5``: the name DHCP gives a host, from its lowest address (IPv4 first)."""
    lowest = min(addresses, key=_address_order)
    return "host-" + str(lowest).replace(".", "-").replace(":", "-")


def _address_order(address: IPAddress) -> tuple[int, int]:
    return (address.version, int(address))


def _default_v4_gateway(external: Attachment | None) -> str | None:
    """The gateway of the external IPv4 subnet the router's own address is on."""
    if external is None:
        return None
    for port in external.logical_ports:
        for fixed_ip in port.fixed_ips:
            subnet = external.network.subnet(fixed_ip.subnet_id)
            if fixed_ip.ip_address.version == 4 and subnet and subnet.gateway_ip:
                return str(subnet.gateway_ip)
    return None


def _floating_ips(
    router: Router, external: Attachment | None, internal: Sequence[Attachment]
) -> list[dict[str, str]]:
    external_cidrs = [s.cidr for s in external.network.subnets] if external else []
    internal_cidrs = [s.cidr for a in internal for s in a.network.subnets]
    pairs = []
    for fip in router.floating_ips:
        problem = _floating_ip_problem(fip, external_cidrs, internal_cidrs)
        if problem:
            LOG.warning("router %s: floating IP %s left out: %s", router.id, fip.id, problem)
            continue
        pairs.append(
            {"floating_ip": str(fip.floating_ip_address), "fixed_ip": str(fip.fixed_ip_address)}
        )
    return pairs


def _floating_ip_problem(
    fip: FloatingIp, external_cidrs: Sequence[IPNetwork], internal_cidrs: Sequence[IPNetwork]
) -> str | None:
    floating, fixed = fip.floating_ip_address, fip.fixed_ip_address
    if fixed is None:
        return "not associated with a port"
    if floating.version != 4 or fixed.version != 4:
        return "floating IPs are IPv4 only"
    if not any(floating in cidr for cidr in external_cidrs):
        return f"{floating} is not on the router's external network"
    if not any(fixed in cidr for cidr in internal_cidrs):
        return f"{fixed} is not on any of the router's internal networks"
    return None
