"""Gratuitous ARP: tell each network at once when an address arrives or moves.

When a floating IP is added (or the router's external address changes, or
the external NIC is replaced), the upstream router may still map the address
to another MAC, or to none, and would drop traffic until its cache expires.
On a tenant network, instances that were already sending to their gateway
before the router's interface came up hold an unresolved ARP entry for it
and would learn it only at their next probe, up to a second later (measured
by ``bench/router_ready.py``); the announcement resolves it at once.
The appliance announces each new (address, interface) pair itself, from
Python through a raw packet socket opened in its namespace: an ARP request
announcement (RFC 5227) and an unsolicited reply, for devices that only
learn from one or the other.

HA appliances announce nothing here: only the VRRP master holds the
addresses, and keepalived announces them when it takes over; a backup must
never claim them.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import struct

from astara.appliance.namespace_thread import run_in_namespace
from astara.appliance.netns import Namespace
from astara.appliance.services.addresses import desired_addresses
from astara.appliance.services.base import Target

LOG = logging.getLogger(__name__)

ETH_P_ARP = 0x0806
BROADCAST = b"\xff" * 6
ARP_REQUEST = 1
ARP_REPLY = 2


def announced_addresses(target: Target) -> set[tuple[ipaddress.IPv4Address, str]]:
    """(IPv4 address, interface) pairs the router answers ARP for: external and tenant networks."""
    cfg = target.config
    if cfg.ha_resource:
        return set()
    networks = [*cfg.networks_of_type("external"), *cfg.tenant_networks]
    return {
        (address.ip, target.ifname(network))
        for network in networks
        for address in desired_addresses(cfg, network)
        if isinstance(address, ipaddress.IPv4Interface)
    }


def arp_frame(opcode: int, mac: bytes, address: ipaddress.IPv4Address) -> bytes:
    """A broadcast ARP frame whose sender and target are both (mac, address)."""
    target_mac = b"\x00" * 6 if opcode == ARP_REQUEST else mac
    ethernet = BROADCAST + mac + struct.pack("!H", ETH_P_ARP)
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, opcode)
    return ethernet + arp + mac + address.packed + target_mac + address.packed


class ArpService:
    name = "arp"

    def __init__(self, ns: Namespace) -> None:
        self._ns = ns

    def apply(self, current: Target, target: Target) -> None:
        new = sorted(announced_addresses(target) - announced_addresses(current))
        if new:
            run_in_namespace(self._ns.name, lambda: _announce(new))
            for address, ifname in new:
                LOG.info("%s: gratuitous ARP for %s on %s", self._ns, address, ifname)

    def rollback(self, attempted: Target, previous: Target) -> None:
        self.apply(attempted, previous)


def _announce(pairs: list[tuple[ipaddress.IPv4Address, str]]) -> None:
    for address, ifname in pairs:
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP)) as raw:
            raw.bind((ifname, ETH_P_ARP))
            mac = raw.getsockname()[4]
            for opcode in (ARP_REQUEST, ARP_REPLY):
                raw.send(arp_frame(opcode, mac, address))
