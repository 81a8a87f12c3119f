"""bird2's configuration for one appliance: announce the tenant IPv6 prefixes over BGP.

Tenant IPv6 networks are routed, not NATed, so the upstream routers must
learn them: the appliance peers with the gateway of each external IPv6 subnet
(``RouterConfig.bgp_peers``, the same peers the firewall admits on port 179)
and announces its internal networks' IPv6 subnets, nothing else.

Differences from the original (BIRD 1.x ``bird6``), on purpose:

- no ``kernel`` protocol: whatever the peers announce never reaches the
  appliance's routing table (the original exported every BGP-learned route
  into the kernel), and BGP imports nothing at all, so a peer sending a full
  table costs no memory;
- the router id is the external IPv4 address, or else the low 32 bits of the
  external IPv6 address, never a random value that changes on every push;
- prefixes are announced only while the tenant interface is up (``direct``
  routes), and no ``rr client`` towards the upstream.

Every value printed is an ``ipaddress`` object, an integer or an interface
name checked against the kernel's naming rules.
"""

from __future__ import annotations

import ipaddress
import re

from astara.appliance.model import IPAddress, IPNetwork, RouterConfig
from astara.appliance.services.base import Target

EXPORT_FILTER = "astara_tenant_prefixes"
_IFNAME = re.compile(r"^[A-Za-z0-9_.:@+-]{1,15}$")


def router_id(config: RouterConfig) -> ipaddress.IPv4Address | None:
    """A stable BGP router id: the external v4 address, else derived from the external v6."""
    if config.external_v4_address is not None:
        return config.external_v4_address
    ext = config.external_network
    v6 = ext.first_address(6) if ext else None
    return ipaddress.IPv4Address(int(v6.ip) & 0xFFFFFFFF) if v6 else None


def tenant_prefixes(config: RouterConfig) -> list[IPNetwork]:
    """The internal networks' IPv6 subnets: what the upstream must route to this router."""
    prefixes = {
        subnet.cidr
        for net in config.networks_of_type("internal")
        for subnet in net.subnets
        if subnet.cidr.version == 6
    }
    return sorted(prefixes, key=lambda p: (int(p.network_address), p.prefixlen))


def render(target: Target) -> str | None:
    """The bird.conf text, or None when this router has no BGP to speak."""
    cfg = target.config
    rid = router_id(cfg)
    peers: list[IPAddress] = sorted(set(cfg.bgp_peers()), key=int)
    prefixes = tenant_prefixes(cfg)
    if cfg.neighbor_asn is None or rid is None or not peers or not prefixes:
        return None
    interfaces = sorted(
        _ifname(target.ifname(n))
        for n in cfg.networks_of_type("internal")
        if any(s.cidr.version == 6 for s in n.subnets)
    )
    lines = [
        "# Written by astara-appliance; changes are overwritten.",
        "log syslog { info, warning, error, fatal };",
        f"router id {rid};",
        "",
        "protocol device {",
        "}",
        "",
        "protocol direct tenant_networks {",
        "\tipv6;",
        "\tinterface " + ", ".join(f'"{name}"' for name in interfaces) + ";",
        "}",
        "",
        f"filter {EXPORT_FILTER} {{",
        "\tif net ~ [ " + ", ".join(str(p) for p in prefixes) + " ] then accept;",
        "\treject;",
        "}",
    ]
    for index, peer in enumerate(peers, start=1):
        lines += [
            "",
            f"protocol bgp upstream{index} {{",
            f"\tlocal as {int(cfg.asn)};",
            f"\tneighbor {peer} as {int(cfg.neighbor_asn)};",
            "\tipv6 {",
            "\t\timport none;",
            f"\t\texport filter {EXPORT_FILTER};",
            "\t};",
            "}",
        ]
    return "\n".join(lines) + "\n"


def _ifname(name: str) -> str:
    if not _IFNAME.match(name):
        raise ValueError(f"refusing to render interface name {name!r}")
    return name
