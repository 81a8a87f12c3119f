"""The router appliance's services, in the order an apply runs them.

Adding a service is one class (see ``base.Service``) and one line here.  The
firewall comes first so that no address, route or daemon is ever exposed
without the rules that guard it; DHCP comes after the addresses it serves,
gratuitous ARP after the addresses it announces.  conntrackd comes before
keepalived, which runs the failover script conntrackd's service writes.
"""

from __future__ import annotations

from pathlib import Path

from astara.appliance.firewall.policy import AgentAccess
from astara.appliance.netns import Namespace
from astara.appliance.services.addresses import AddressService
from astara.appliance.services.arp import ArpService
from astara.appliance.services.base import Service
from astara.appliance.services.bgp import BgpService
from astara.appliance.services.conntrack_sync import ConntrackSyncService
from astara.appliance.services.dhcp import DhcpService
from astara.appliance.services.firewall import FirewallService
from astara.appliance.services.hostname import HostnameService
from astara.appliance.services.kernel import KernelService
from astara.appliance.services.metadata import MetadataService
from astara.appliance.services.routes import RouteService
from astara.appliance.services.vrrp import VrrpService


def router_services(ns: Namespace, state_dir: Path, access: AgentAccess) -> list[Service]:
    addresses, routes = AddressService(ns), RouteService(ns)
    return [
        FirewallService(ns, access),
        KernelService(ns),
        HostnameService(state_dir),
        addresses,
        routes,
        ArpService(ns),
        DhcpService(ns, state_dir / "dnsmasq"),
        MetadataService(ns),
        BgpService(ns, state_dir / "bird"),
        ConntrackSyncService(ns, state_dir / "conntrackd"),
        VrrpService(
            ns,
            state_dir / "keepalived",
            state_dir / "conntrackd",
            released_to=(addresses, routes),
        ),
    ]
