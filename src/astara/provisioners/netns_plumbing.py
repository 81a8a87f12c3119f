"""The kernel side of the netns provisioner: namespaces, bridges, veth pairs.

Links go through the shared netlink helpers (privsep entrypoints, like the
interface drivers); namespaces and sysctls through ``ip`` and ``sysctl`` via
rootwrap. Only what those helpers lack lives here: creating a network's
bridge, and emptying a namespace of its processes before deleting it (a
process left inside would keep the namespace alive, unreachable, forever).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from astara.common.linux import netlink
from astara.common.linux.interface import bridge_name_for_network
from astara.common.privileged import PrivilegedCommandError, network_admin, run_privileged
from astara.provisioners.base import ProvisionerError
from astara.provisioners.netns_records import PluggedPort

LOG = logging.getLogger(__name__)

#: Where ``ip netns add`` mounts named namespaces.
NETNS_RUN_DIR = Path("/run/netns")
#: Seconds a process in a dying namespace gets between SIGTERM and SIGKILL.
STOP_GRACE = 5.0
_POLL = 0.05


def namespace_exists(name: str) -> bool:
    return (NETNS_RUN_DIR / name).exists()


def create_namespace(name: str) -> None:
    """Create namespace ``name`` with loopback up; an existing one is refused (not ours)."""
    if namespace_exists(name):
        raise ProvisionerError(f"namespace {name} already exists")
    _run(["ip", "netns", "add", name])
    _run(["ip", "-n", name, "link", "set", "lo", "up"])


def delete_namespace(name: str) -> None:
    """Stop every process in namespace ``name``, then delete it; a missing one is fine."""
    if not namespace_exists(name):
        return
    stop_processes(_pids_in(name))
    _run(["ip", "netns", "delete", name])


def disable_dad(device: str, namespace: str | None) -> None:
    """Make IPv6 addresses on ``device`` usable at once (no duplicate address detection).

    Management addresses come from IPAM, which already guarantees they are
    unique; a tentative address could not be bound for a second or two.
    """
    inside = ["ip", "netns", "exec", namespace] if namespace else []
    _run([*inside, "sysctl", "-w", f"net.ipv6.conf.{device}.accept_dad=0"])


@network_admin.entrypoint
def stable_mac(seed: str) -> str:
    """A locally administered unicast MAC derived from ``seed``: the same one every time.

    Neighbours keep their ARP/ND entries for a host port across orchestrator
    restarts and replugs, and for a bridge across changes of its ports.
    """
    digest = hashlib.sha256(seed.encode()).digest()
    return ":".join(f"{byte:02x}" for byte in (0x02, *digest[:5]))


def ensure_bridge(name: str, mtu: int | None) -> bool:
    """Create Linux bridge ``name`` (up, with ``mtu``) unless it exists; True if created.

    Multicast snooping is off, as Neutron's linuxbridge agent leaves it on
    only with an MLD/IGMP querier: without one, IPv6 neighbour discovery
    across the bridge would depend on the snooping table's guesses.

    The bridge's MAC is set, not left to the kernel: a bridge without one
    takes the lowest MAC of its ports and changes it when ports come and go
    (an HA member replugged), while the host answers ARP for its addresses
    on the bridge with the bridge's MAC; appliances then sent to a stale MAC
    until their neighbour entry expired (tens of seconds without traffic).
    """
    settings = {"mtu": mtu} if mtu is not None else {}
    try:
        with IPRoute() as ipr:
            created = not ipr.link_lookup(ifname=name)
            if created:
                try:
                    ipr.link("add", ifname=name, kind="bridge", br_mcast_snooping=0,
                             address=stable_mac(name), **settings)  # fmt: skip
                except NetlinkError as exc:
                    if exc.code != 17:  # EEXIST: made by a concurrent caller meanwhile
                        raise
                    created = False
            ipr.link("set", index=ipr.link_lookup(ifname=name)[0], state="up")
    except (NetlinkError, OSError) as exc:
        raise netlink.LinkError(f"create bridge {name}: {exc}") from None
    return created


def bridge_members(name: str) -> list[str]:
    """The links enslaved to bridge ``name`` (empty when it does not exist)."""
    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=name)
        if not found:
            return []
        return [str(link.get("IFLA_IFNAME")) for link in ipr.get_links(master=found[0])]


def plug_port(namespace: str, plugged: PluggedPort, mtu: int | None) -> bool:
    """Plug ``plugged`` into ``namespace`` and its network's bridge; True if the bridge was made."""
    bridge = bridge_name_for_network(plugged.port.network_id)
    try:
        created = ensure_bridge(bridge, mtu)
        netlink.create_veth(
            plugged.ifname, plugged.outer, plugged.port.mac_address, mtu, namespace, bridge
        )
    except netlink.LinkError as exc:
        raise ProvisionerError(
            f"cannot plug port {plugged.port.port_id} into {namespace}: {exc}"
        ) from exc
    LOG.info(
        "%s: plugged port %s as %s (%s on %s)",
        namespace,
        plugged.port.port_id,
        plugged.ifname,
        plugged.outer,
        bridge,
    )
    return created


def unplug_port(namespace: str, plugged: PluggedPort) -> None:
    """Remove ``plugged``'s veth pair (deleting the host end deletes both)."""
    try:
        netlink.delete_link(plugged.outer, None)
    except netlink.LinkError as exc:
        raise ProvisionerError(f"cannot unplug {plugged.outer} from {namespace}: {exc}") from exc
    LOG.info("%s: unplugged port %s (%s)", namespace, plugged.port.port_id, plugged.ifname)


def delete_bridge(name: str) -> None:
    try:
        netlink.delete_link(name, None)
    except netlink.LinkError as exc:
        raise ProvisionerError(f"cannot delete bridge {name}: {exc}") from exc


def stop_processes(pids: Sequence[int], grace: float = STOP_GRACE) -> None:
    """SIGTERM ``pids``, SIGKILL whatever is left after ``grace`` seconds, reap our children."""
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(process_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(_POLL)
    for pid in pids:
        if process_alive(pid):
            _signal(pid, signal.SIGKILL)
    while any(process_alive(pid) for pid in pids):
        time.sleep(_POLL)


def process_start_time(pid: int) -> str | None:
    """The start time of a live process from ``/proc`` (None if gone or a zombie).

    A pid and its start time together survive pid reuse.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces: count from its closing parenthesis.
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def process_alive(pid: int) -> bool:
    """True while ``pid`` runs; reaps it first when it is a dead child of ours."""
    # Not our child: init (or whoever started it) reaps it.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    return process_start_time(pid) is not None


def _signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _pids_in(namespace: str) -> list[int]:
    out = _run(["ip", "netns", "pids", namespace]).stdout.decode()
    return [int(token) for token in out.split() if token.isdigit()]


def _run(argv: list[str]) -> subprocess.CompletedProcess[bytes]:
    try:
        return run_privileged(argv)
    except PrivilegedCommandError as exc:
        raise ProvisionerError(str(exc)) from exc
