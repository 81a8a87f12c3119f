"""The appliance's NICs as the kernel sees them (read-only).

Interfaces are matched to the configuration's networks by MAC address: kernel
names depend on plug order and driver, MACs are what the orchestrator chose.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

from astara.appliance.model import RouterConfig
from astara.appliance.netns import Namespace

IFF_UP = 0x1
IFF_LOOPBACK = 0x8
COUNTER_KEYS = ("rx_bytes", "tx_bytes", "rx_packets", "tx_packets")


class InterfaceInfo(TypedDict):
    ifname: str
    lladdr: str
    addresses: list[str]
    mtu: int
    state: str
    groups: list[str]
    description: str


class UnknownInterfaceError(LookupError):
    """The configuration names a MAC that no NIC of this appliance has."""


def _nics(ns: Namespace) -> list[Any]:
    with ns.netlink() as ipr:
        return [link for link in ipr.get_links() if not link["flags"] & IFF_LOOPBACK]


def list_interfaces(ns: Namespace) -> list[InterfaceInfo]:
    with ns.netlink() as ipr:
        links = [link for link in ipr.get_links() if not link["flags"] & IFF_LOOPBACK]
        addresses: dict[int, list[str]] = {}
        for addr in ipr.get_addr():
            cidr = f"{addr.get('IFA_ADDRESS')}/{addr['prefixlen']}"
            addresses.setdefault(addr["index"], []).append(cidr)
    return [
        InterfaceInfo(
            ifname=link.get("IFLA_IFNAME"),
            lladdr=link.get("IFLA_ADDRESS") or "",
            addresses=addresses.get(link["index"], []),
            mtu=link.get("IFLA_MTU"),
            state="up" if link["flags"] & IFF_UP else "down",
            groups=[],
            description=link.get("IFLA_IFALIAS") or "",
        )
        for link in links
    ]


def counters(ns: Namespace) -> dict[str, dict[str, int]]:
    result = {}
    for link in _nics(ns):
        stats = link.get("IFLA_STATS64") or {}
        result[link.get("IFLA_IFNAME")] = {key: int(stats.get(key, 0)) for key in COUNTER_KEYS}
    return result


def resolve_ifnames(ns: Namespace, config: RouterConfig) -> Mapping[str, str]:
    """network_id -> kernel ifname, by MAC; raise UnknownInterfaceError for a missing NIC."""
    by_mac = {link.get("IFLA_ADDRESS"): link.get("IFLA_IFNAME") for link in _nics(ns)}
    missing = [n.interface.lladdr for n in config.networks if n.interface.lladdr not in by_mac]
    if missing:
        raise UnknownInterfaceError(
            "no interface with MAC " + ", ".join(missing) + " is plugged into this appliance"
        )
    return {n.network_id: by_mac[n.interface.lladdr] for n in config.networks}
