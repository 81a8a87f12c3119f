"""VRRP for HA routers: keepalived moves the router's addresses and routes to the live appliance.

Both appliances of an HA pair receive the same networks; only the one that
is VRRP master holds the router's addresses on the tenant and external
networks (floating IPs included) and the routes through them.  One VRRP
instance covers the addresses of every network: its advertisements go
unicast to the peers over the management network (never onto tenant
networks, where they would reach tenants' VMs), so instances per network
would all travel the same path and only add a sync group.  Every network's
interface is tracked, so a dead link on the master hands the router over.

Fixes over the original: the priority comes from ``ha_config``; both
appliances start as BACKUP with ``nopreempt`` (a recovered appliance does not
take the router back and cut connections twice); the virtual router id and
the advertisement password are derived from the router's sorted network ids
(identical on both appliances, independent of the order of a PUT); addresses
and routes no longer configured are dropped from the file, so keepalived
removes them on reload.  The VRRPv2 password is sent in clear text: it keeps
two routers on one management network from answering each other's
advertisements, it is no defence against someone who can read that network
(VRRPv3, used when the management network is IPv6, has no authentication).

keepalived refuses an instance without a VIP of its own family (the family
of ``unicast_src_ip``): "No VIP specified; at least one is required", and its
VRRP process exits while the start command still succeeds.  A router with
only IPv4 addresses on an IPv6 management network (single-host mode's and
the install guide's layout) therefore had no keepalived at all, and both
members kept no addresses.  Such an instance advertises a link-local
placeholder on the management NIC instead (:func:`placeholder_vip`), and all
the router's addresses are excluded VIPs, moved with the state but not
advertised.  IPv6 link-local addresses are never touched by the addresses
service, so it does not fight keepalived over it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
from collections.abc import Sequence
from pathlib import Path

from astara.appliance.model import IPInterface
from astara.appliance.netns import Namespace
from astara.appliance.services.addresses import desired_addresses
from astara.appliance.services.base import Service, Target
from astara.appliance.services.conntrack_sync import failover_script, ha_management
from astara.appliance.services.daemon_process import ConfiguredDaemon
from astara.appliance.services.routes import desired_routes

LOG = logging.getLogger(__name__)

CONFIG_FILE = "keepalived.conf"
INSTANCE = "astara_router"
_IFNAME = re.compile(r"^[A-Za-z0-9_.:@+-]{1,15}$")


def virtual_router_id(target: Target) -> int:
    """1..255, the same on both appliances of the pair."""
    return 1 + _digest(target)[0] % 255


#: Seconds between advertisements. The backup takes over after three missed
#: ones (plus a skew under a second), so this sets the failover time. VRRPv3
#: (an IPv6 management network, the default) takes fractions: 0.5 s gives a
#: failover under 2 s while a loaded host still sends every advertisement in
#: time; VRRPv2 (IPv4) counts whole seconds.
ADVERT_INT_V3 = 0.5
ADVERT_INT_V2 = 1


def advert_password(target: Target) -> str:
    return _digest(target)[1:5].hex()


def _digest(target: Target) -> bytes:
    ids = "\n".join(sorted(n.network_id for n in target.config.networks))
    return hashlib.sha256(b"astara-vrrp\n" + ids.encode()).digest()


def virtual_addresses(target: Target) -> list[tuple[IPInterface, str]]:
    """Every address the master holds: those of all networks but management, with the FIPs.

    Ordered by network id, so the order of networks in a PUT changes nothing.
    """
    result = []
    for net in sorted(target.config.networks, key=lambda n: n.network_id):
        if net.network_type == "management":
            continue
        ifname = _ifname(target.ifname(net))
        for address in sorted(desired_addresses(target.config, net), key=_address_key):
            result.append((address, ifname))
    return result


def placeholder_vip(target: Target) -> IPInterface:
    """A link-local IPv6 VIP for an IPv6 VRRP instance that has no IPv6 router address.

    Derived from the router's networks like the virtual router id, so both
    members advertise the same one and other routers' pairs differ.
    """
    interface_id = int.from_bytes(_digest(target)[5:13], "big")
    return ipaddress.IPv6Interface(f"{ipaddress.IPv6Address((0xFE80 << 112) | interface_id)}/64")


def render(target: Target, notify_script: Path | None) -> str | None:
    """keepalived.conf, or None when this appliance is not half of an HA pair."""
    ha = ha_management(target)
    cfg = target.config
    if ha is None or cfg.ha_config is None:
        return None
    own, mgt_ifname, peers = ha
    vips = virtual_addresses(target)
    advertised = [v for v in vips if v[0].version == own.version][:1]
    excluded = [v for v in vips if v not in advertised]
    if not advertised and own.version == 6:
        advertised = [(placeholder_vip(target), _ifname(mgt_ifname))]
    tracked = sorted(
        {_ifname(target.ifname(n)) for n in cfg.networks if n.network_type != "management"}
    )
    lines = [
        "# Written by astara-appliance; changes are overwritten.",
        "global_defs {",
        "\trouter_id astara",
        "\tscript_user root",
        "\tenable_script_security",
        f"\tvrrp_version {2 if own.version == 4 else 3}",
        "}",
        f"vrrp_instance {INSTANCE} {{",
        "\tstate BACKUP",
        "\tnopreempt",
        f"\tinterface {_ifname(mgt_ifname)}",
        f"\tvirtual_router_id {virtual_router_id(target)}",
        f"\tpriority {int(cfg.ha_config.priority)}",
        f"\tadvert_int {ADVERT_INT_V2 if own.version == 4 else ADVERT_INT_V3}",
        f"\tunicast_src_ip {own}",
        *_block("unicast_peer", [str(p) for p in peers]),
    ]
    if own.version == 4:
        lines += _block(
            "authentication", ["auth_type PASS", f"auth_pass {advert_password(target)}"]
        )
    lines += _block("track_interface", tracked)
    lines += _block("virtual_ipaddress", [f"{a} dev {i}" for a, i in advertised])
    lines += _block("virtual_ipaddress_excluded", [f"{a} dev {i}" for a, i in excluded])
    lines += _block("virtual_routes", sorted(str(route) for route in desired_routes(target)))
    if notify_script is not None:
        lines += [
            f'\tnotify_{state} "{notify_script} {argument}"'
            for state, argument in (("master", "primary"), ("backup", "backup"), ("fault", "fault"))
        ]
    lines.append("}")
    return "\n".join(lines) + "\n"


class VrrpService:
    """One keepalived (VRRP only) per appliance; reloaded with SIGHUP when its file changes.

    A keepalived that stops as master removes the addresses and routes it
    held, after the services that own them outside HA (``released_to``) have
    already converged: so when HA is switched off they converge once more,
    and the appliance keeps its addresses and routes.
    """

    name = "vrrp"

    def __init__(
        self,
        ns: Namespace,
        directory: Path,
        conntrack_directory: Path,
        released_to: Sequence[Service] = (),
    ) -> None:
        self._dir = directory
        self._notify_script = failover_script(conntrack_directory)
        self._released_to = tuple(released_to)
        # keepalived's start returns 0 even when the instance is unusable (it
        # exits at once, e.g. "No VIP specified"); its config test says so.
        self.daemon = ConfiguredDaemon(
            ns, "keepalived", directory / CONFIG_FILE, start_argv=self._start_argv,
            check_argv=lambda path: ["keepalived", "--config-test", "--use-file", str(path)],
        )  # fmt: skip

    def apply(self, current: Target, target: Target) -> None:
        notify = self._notify_script if self._notify_script.exists() else None
        if self.daemon.converge(render(target, notify)) == "stop":
            for owner in self._released_to:
                owner.apply(current, target)

    def rollback(self, attempted: Target, previous: Target) -> None:
        self.apply(attempted, previous)

    def _start_argv(self, config: Path) -> list[str]:
        pid = self._dir / "keepalived"
        return [
            "keepalived",
            "--vrrp",
            "--use-file",
            str(config),
            f"--pid={pid}.pid",
            f"--vrrp_pid={pid}-vrrp.pid",
            f"--checkers_pid={pid}-checkers.pid",
            f"--bfd_pid={pid}-bfd.pid",
        ]


def _block(name: str, items: list[str]) -> list[str]:
    if not items:
        return []
    return [f"\t{name} {{", *(f"\t\t{item}" for item in items), "\t}"]


def _ifname(name: str) -> str:
    if not _IFNAME.match(name):
        raise ValueError(f"refusing to render interface name {name!r}")
    return name


def _address_key(address: IPInterface) -> tuple[int, int]:
    return (address.version, int(address.ip))
