"""dnsmasq's configuration for one appliance, rendered from the router config.

One dnsmasq serves every tenant network of the appliance.  Its files live in
one directory:

- ``dnsmasq.conf``: global settings and one ``conf-file`` line per interface;
- ``<ifname>.conf``: the interface and its DHCP ranges (and RA modes);
- ``<ifname>.hosts``: static leases (MAC, addresses, host name);
- ``<ifname>.opts``: DHCP options (router, DNS servers, classless routes, MTU).

The split follows what dnsmasq re-reads on SIGHUP: leases and options, not
ranges or interfaces.  A change confined to ``*.hosts``/``*.opts`` files is
therefore applied with a SIGHUP and clients keep being served; anything else
needs a restart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from astara.appliance.model import Allocation, IPAddress, IPNetwork, Network, Subnet
from astara.appliance.services.base import Target

LEASE_TIME = "86400s"
MAIN_FILE = "dnsmasq.conf"
PID_FILE = "dnsmasq.pid"
RELOADABLE_SUFFIXES = (".hosts", ".opts")

_IFNAME = re.compile(r"^[A-Za-z0-9_.@+-]{1,15}$")
_V6_MODES = {"slaac": "ra-only", "dhcpv6-stateless": "ra-stateless", "dhcpv6-stateful": "static"}

BASE_SETTINGS = (
    "# Written by astara-appliance; changes are overwritten.",
    "bind-dynamic",
    "except-interface=lo",
    "leasefile-ro",
    "no-hosts",
    "domain-needed",
    "bogus-priv",
    "dhcp-authoritative",
)


@dataclass(frozen=True)
class _Range:
    tag: str
    subnet: Subnet
    mode: str


def render(target: Target, directory: Path, *, keep_root: bool = False) -> dict[str, str]:
    """File name -> content; empty when no network needs dnsmasq.

    ``keep_root``: dnsmasq keeps its root privileges instead of becoming
    ``nobody``, for a ``directory`` that ``nobody`` cannot reach (see
    :mod:`astara.appliance.services.dhcp`).
    """
    files: dict[str, str] = {}
    includes: list[str] = []
    any_ra = False
    for net in target.config.tenant_networks:
        ifname = target.ifname(net)
        if not _IFNAME.match(ifname):
            raise ValueError(f"refusing to render interface name {ifname!r}")
        ranges = _ranges(ifname, net)
        if not ranges:
            continue
        any_ra = any_ra or any(r.subnet.ipv6_ra_mode for r in ranges)
        files[f"{ifname}.conf"] = _lines(
            f"interface={ifname}",
            *(_range_line(r) for r in ranges),
            f"dhcp-hostsfile={directory / f'{ifname}.hosts'}",
            f"dhcp-optsfile={directory / f'{ifname}.opts'}",
        )
        files[f"{ifname}.hosts"] = _lines(*_host_lines(net, ranges))
        files[f"{ifname}.opts"] = _lines(*_option_lines(net, ranges))
        includes.append(f"conf-file={directory / f'{ifname}.conf'}")
    if not files:
        return {}
    files[MAIN_FILE] = _lines(
        *BASE_SETTINGS,
        f"pid-file={directory / PID_FILE}",
        *(["user=root"] if keep_root else []),
        *(["enable-ra"] if any_ra else []),
        *includes,
    )
    return files


def _lines(*lines: str) -> str:
    return "".join(f"{line}\n" for line in lines)


def _ranges(ifname: str, net: Network) -> list[_Range]:
    ranges = []
    for i, subnet in enumerate(net.subnets):
        mode = _mode(subnet)
        if mode is not None:
            ranges.append(_Range(f"{ifname}_{i}", subnet, mode))
    return ranges


def _mode(subnet: Subnet) -> str | None:
    """dnsmasq's range mode for a subnet, None when dnsmasq does nothing there."""
    if subnet.cidr.version == 4:
        return "static" if subnet.dhcp_enabled else None
    mode = subnet.ipv6_mode
    if mode is None:
        return None
    if mode != "slaac" and not subnet.dhcp_enabled:
        return "ra-only" if subnet.ipv6_ra_mode else None
    return _V6_MODES[mode]


def _range_line(r: _Range) -> str:
    cidr = r.subnet.cidr
    if cidr.version == 4:
        shape = f"{cidr.network_address},static,{cidr.netmask}"
    else:
        shape = f"{cidr.network_address},{r.mode},{cidr.prefixlen}"
    return f"dhcp-range=set:{r.tag},{shape},{LEASE_TIME}"


def _host_lines(net: Network, ranges: list[_Range]) -> list[str]:
    served = [r.subnet.cidr for r in ranges if r.mode == "static"]
    return [line for a in net.allocations if (line := _host_line(a, served))]


def _host_line(allocation: Allocation, served: list[IPNetwork]) -> str:
    addresses = [ip for ip in allocation.dhcp_addresses if any(ip in cidr for cidr in served)]
    if not addresses:
        return ""
    fields = [allocation.mac_address, *(_host_address(ip) for ip in addresses)]
    if allocation.hostname:
        # dnsmasq wants a bare name here; the domain part would have to match its own.
        fields.append(allocation.hostname.split(".")[0])
    return ",".join(fields)


def _host_address(ip: IPAddress) -> str:
    return str(ip) if ip.version == 4 else f"[{ip}]"


def _option_lines(net: Network, ranges: list[_Range]) -> list[str]:
    lines = []
    for r in ranges:
        subnet = r.subnet
        if subnet.cidr.version == 4:
            lines += _v4_options(r.tag, net, subnet)
        elif subnet.dns_nameservers:
            servers = ",".join(f"[{ip}]" for ip in subnet.dns_nameservers if ip.version == 6)
            if servers:
                lines.append(f"tag:{r.tag},option6:dns-server,{servers}")
    return lines


def _v4_options(tag: str, net: Network, subnet: Subnet) -> list[str]:
    # An empty router option tells dnsmasq not to offer itself as the gateway.
    router = str(subnet.gateway_ip) if subnet.gateway_ip else ""
    lines = [f"tag:{tag},option:router" + (f",{router}" if router else "")]
    servers = [str(ip) for ip in subnet.dns_nameservers if ip.version == 4]
    if servers:
        lines.append(f"tag:{tag},option:dns-server,{','.join(servers)}")
    if subnet.host_routes:
        routes = [(str(r.destination), str(r.nexthop)) for r in subnet.host_routes]
        if subnet.gateway_ip and not any(r.destination.prefixlen == 0 for r in subnet.host_routes):
            # RFC 3442: a client given classless routes ignores the router option.
            routes.insert(0, ("0.0.0.0/0", router))
        flat = ",".join(f"{dst},{hop}" for dst, hop in routes)
        lines.append(f"tag:{tag},option:classless-static-route,{flat}")
    if net.effective_mtu:
        lines.append(f"tag:{tag},option:mtu,{net.effective_mtu}")
    return lines
