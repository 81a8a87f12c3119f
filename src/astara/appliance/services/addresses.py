"""Addresses, MTU and link state of the appliance's NICs (netlink, via pyroute2).

Each configured NIC ends up with exactly the configured addresses (plus, on
the external NIC, the floating IPs with their subnet's prefix, so the appliance
answers ARP for them).  IPv6 link-local addresses belong to the kernel and are
never touched.  NICs that the previous configuration used and the new one does
not lose the addresses that configuration gave them.

IPv6 addresses on non-external NICs are added with NODAD: they are the
router's own gateway addresses on networks it alone serves, and a tentative
address would delay RAs and DHCPv6 for seconds after every apply.

In an HA pair keepalived holds every address but the management network's
(only the VRRP master may have them, see ``vrrp``): this service then only
sets those NICs' link state and MTU.  On the switch to HA it withdraws the
addresses it had given them itself, so the appliance that ends up VRRP
backup keeps none; it never touches what keepalived added.  On the switch
back it owns them again, and the VRRP service has it converge once more
after keepalived, which releases its addresses when it stops.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from typing import Any

from pyroute2 import IPRoute

from astara.appliance.model import IPInterface, Network, RouterConfig
from astara.appliance.netns import Namespace
from astara.appliance.services.base import Target
from astara.appliance.services.conntrack_sync import ha_management

LOG = logging.getLogger(__name__)

IFA_F_NODAD = 0x02
IFF_UP = 0x1
LINK_LOCAL_V6 = ipaddress.IPv6Network("fe80::/10")


def desired_addresses(config: RouterConfig, network: Network) -> set[IPInterface]:
    addresses: set[IPInterface] = set(network.interface.addresses)
    if network.network_type == "external":
        addresses |= set(config.floating_ip_interfaces())
    return addresses


def held_by_keepalived(target: Target, network: Network) -> bool:
    return network.network_type != "management" and ha_management(target) is not None


def owned_addresses(target: Target, network: Network) -> set[IPInterface]:
    """The addresses this service keeps on a network's NIC: none of those keepalived holds."""
    if held_by_keepalived(target, network):
        return set()
    return desired_addresses(target.config, network)


class AddressService:
    name = "addresses"

    def __init__(self, ns: Namespace) -> None:
        self._ns = ns

    def apply(self, current: Target, target: Target) -> None:
        with self._ns.netlink() as ipr:
            links = {link.get("IFLA_IFNAME"): link for link in ipr.get_links()}
            have = self._addresses(ipr)
            for net in target.config.networks:
                link = links[target.ifname(net)]
                present = have.get(link["index"], set())
                wanted = owned_addresses(target, net)
                removable = _removable(current, target, net, present)
                self._converge_link(ipr, link, net, wanted - present, removable - wanted)
            kept_macs = {n.interface.lladdr for n in target.config.networks}
            for net in current.config.networks:
                link = links.get(current.ifname(net))
                if net.interface.lladdr in kept_macs or link is None:
                    continue
                given = owned_addresses(current, net) & have.get(link["index"], set())
                for address in sorted(given, key=_sort_key):
                    self._delete(ipr, link, address)

    def rollback(self, attempted: Target, previous: Target) -> None:
        self.apply(attempted, previous)

    def _converge_link(
        self,
        ipr: IPRoute,
        link: Any,
        net: Network,
        missing: set[IPInterface],
        unwanted: set[IPInterface],
    ) -> None:
        ifname = link.get("IFLA_IFNAME")
        mtu = net.effective_mtu
        if mtu and link.get("IFLA_MTU") != mtu:
            ipr.link("set", index=link["index"], mtu=mtu)
            LOG.info("%s: %s mtu %d", self._ns, ifname, mtu)
        if not link["flags"] & IFF_UP:
            ipr.link("set", index=link["index"], state="up")
            LOG.info("%s: %s up", self._ns, ifname)
        for address in sorted(missing, key=_sort_key):
            self._add(ipr, link, address, nodad=net.network_type != "external")
        for address in sorted(unwanted, key=_sort_key):
            self._delete(ipr, link, address)

    @staticmethod
    def _addresses(ipr: IPRoute) -> dict[int, set[IPInterface]]:
        """Every address of the namespace by interface index, in one netlink dump."""
        found: dict[int, set[IPInterface]] = {}
        for msg in ipr.get_addr():
            address = ipaddress.ip_interface(f"{msg.get('IFA_ADDRESS')}/{msg['prefixlen']}")
            if address.ip not in LINK_LOCAL_V6:
                found.setdefault(msg["index"], set()).add(address)
        return found

    def _add(self, ipr: IPRoute, link: Any, address: IPInterface, nodad: bool) -> None:
        extra: dict[str, Any] = {}
        if address.version == 4 and address.network.prefixlen < 31:
            extra["broadcast"] = str(address.network.broadcast_address)
        elif address.version == 6 and nodad:
            extra["flags"] = IFA_F_NODAD
        ipr.addr(
            "add",
            index=link["index"],
            address=str(address.ip),
            prefixlen=address.network.prefixlen,
            family=socket.AF_INET if address.version == 4 else socket.AF_INET6,
            **extra,
        )
        LOG.info("%s: %s add %s", self._ns, link.get("IFLA_IFNAME"), address)

    def _delete(self, ipr: IPRoute, link: Any, address: IPInterface) -> None:
        ipr.addr(
            "del",
            index=link["index"],
            address=str(address.ip),
            prefixlen=address.network.prefixlen,
            family=socket.AF_INET if address.version == 4 else socket.AF_INET6,
        )
        LOG.info("%s: %s del %s", self._ns, link.get("IFLA_IFNAME"), address)


def _removable(
    current: Target, target: Target, net: Network, present: set[IPInterface]
) -> set[IPInterface]:
    """What may go from a NIC: anything but keepalived's addresses, which only it removes.

    While keepalived holds a NIC's addresses, the only ones this service may
    delete are those it had given the NIC itself under the current
    configuration (the switch to HA).
    """
    if not held_by_keepalived(target, net):
        return present
    lladdr = net.interface.lladdr
    previous = next((n for n in current.config.networks if n.interface.lladdr == lladdr), None)
    return present & owned_addresses(current, previous) if previous else set()


def _sort_key(address: IPInterface) -> tuple[int, int]:
    return (address.version, int(address.ip))
