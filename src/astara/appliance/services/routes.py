"""Routes: the default routes, the subnets' host routes and the static routes.

Every route the agent installs carries its own routing protocol number
(``ROUTE_PROTOCOL``), so the kernel itself records which routes are ours: an
apply lists them, removes those the configuration no longer asks for (a
default gateway that went away included) and adds the missing ones.  No cache
file is needed and a restarted agent converges the same way.

In an HA pair keepalived installs the routes (``vrrp`` lists them as virtual
routes) on the VRRP master only, so this service installs none and removes
those it had installed before the switch to HA.  keepalived's routes carry
keepalived's protocol number, so they are never mistaken for ours.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from astara.appliance.model import IPAddress, IPNetwork, Network
from astara.appliance.netns import Namespace
from astara.appliance.services.base import Target
from astara.appliance.services.conntrack_sync import ha_management

LOG = logging.getLogger(__name__)

ROUTE_PROTOCOL = 77
"""rtnetlink protocol number marking the agent's routes (unassigned by iproute2)."""
MAIN_TABLE = 254
DEFAULTS: dict[int, IPNetwork] = {
    4: ipaddress.IPv4Network("0.0.0.0/0"),
    6: ipaddress.IPv6Network("::/0"),
}


@dataclass(frozen=True, order=True)
class Route:
    destination: IPNetwork
    gateway: IPAddress
    ifname: str

    def __str__(self) -> str:
        return f"{self.destination} via {self.gateway} dev {self.ifname}"


def desired_routes(target: Target) -> list[Route]:
    """Default routes first, then static routes, then host routes; first one per destination."""
    by_destination: dict[IPNetwork, Route] = {}
    for route in _candidate_routes(target):
        by_destination.setdefault(route.destination, route)
    return list(by_destination.values())


def _candidate_routes(target: Target) -> Iterator[Route]:
    cfg = target.config
    own = {a.ip for n in cfg.networks for a in n.interface.addresses}
    ext = cfg.external_network
    if ext is not None:
        gateways: dict[int, IPAddress] = {}
        if cfg.default_v4_gateway:
            gateways[4] = cfg.default_v4_gateway
        for subnet in ext.subnets:
            if subnet.gateway_ip and subnet.gateway_ip not in own:
                gateways.setdefault(subnet.cidr.version, subnet.gateway_ip)
        for version, gateway in sorted(gateways.items()):
            yield Route(DEFAULTS[version], gateway, target.ifname(ext))
    for static in cfg.static_routes:
        net = _network_with(target, static.next_hop)
        if net is not None:
            yield Route(static.destination, static.next_hop, target.ifname(net))
    for net in cfg.networks:
        for subnet in net.subnets:
            for host_route in subnet.host_routes:
                if host_route.nexthop in own or host_route.destination.prefixlen == 0:
                    continue
                yield Route(host_route.destination, host_route.nexthop, target.ifname(net))


def _network_with(target: Target, address: IPAddress) -> Network | None:
    return next((n for n in target.config.networks if n.subnet_containing(address)), None)


class RouteService:
    name = "routes"

    def __init__(self, ns: Namespace) -> None:
        self._ns = ns

    def apply(self, current: Target, target: Target) -> None:
        with self._ns.netlink() as ipr:
            names = {link.get("IFLA_IFNAME"): link["index"] for link in ipr.get_links()}
            indexes = {index: name for name, index in names.items()}
            installed = {
                route
                for msg in ipr.get_routes(table=MAIN_TABLE)
                if (route := _ours(msg, indexes)) is not None
            }
            wanted = desired_routes(target) if ha_management(target) is None else []
            for route in sorted(installed - set(wanted), key=str):
                ipr.route("del", **_route_args(route, names))
                LOG.info("%s: route del %s", self._ns, route)
            for route in wanted:
                if route not in installed:
                    ipr.route("replace", **_route_args(route, names))
                    LOG.info("%s: route add %s", self._ns, route)

    def rollback(self, attempted: Target, previous: Target) -> None:
        self.apply(attempted, previous)


def _ours(msg: Any, indexes: dict[int, str]) -> Route | None:
    table = msg.get("RTA_TABLE") or msg["table"]
    if msg["proto"] != ROUTE_PROTOCOL or table != MAIN_TABLE:
        return None
    version = 4 if msg["family"] == socket.AF_INET else 6
    destination = msg.get("RTA_DST") or ("0.0.0.0" if version == 4 else "::")
    gateway = msg.get("RTA_GATEWAY")
    ifname = indexes.get(msg.get("RTA_OIF"))
    if gateway is None or ifname is None:
        return None
    return Route(
        ipaddress.ip_network(f"{destination}/{msg['dst_len']}"),
        ipaddress.ip_address(gateway),
        ifname,
    )


def _route_args(route: Route, names: dict[str, int]) -> dict[str, Any]:
    return {
        "family": socket.AF_INET if route.destination.version == 4 else socket.AF_INET6,
        "dst": str(route.destination.network_address),
        "dst_len": route.destination.prefixlen,
        "gateway": str(route.gateway),
        "oif": names[route.ifname],
        "proto": ROUTE_PROTOCOL,
        "table": MAIN_TABLE,
    }
