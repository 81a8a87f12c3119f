"""Connection-state sync between the appliances of an HA pair (conntrackd, FTFW over UDP).

When the backup takes over, the connections the master was carrying (TCP,
UDP and ICMP, NATed ones included) must survive: each appliance streams its
connection table to its peers over the management network, and keepalived's
state changes run ``failover.sh``, which commits what the peers sent into
the kernel on becoming master.

conntrackd's reliable protocol (FTFW) talks to one peer per channel, so the
appliance runs one conntrackd per peer (the original synced with
``peers[0]`` only).  Each pair of appliances uses its own UDP port, computed
from the sorted management addresses of the whole group, so both ends of a
pair pick the same port and the conntrackds of one appliance never collide.

Each conntrackd's control socket (``UNIX { Path }``) normally sits beside its
configuration, but conntrackd refuses a socket path longer than 107 bytes
(``sun_path``), which a deep state dir with an IPv6 peer in the name easily
exceeds (a netns appliance's state lives under
``<state root>/appliances/ak-router-<uuid>-ha1/conntrackd/``): conntrackd then
failed to start and the whole HA apply failed with it.  Such a socket goes
to :data:`SHORT_SOCKET_DIR` instead, named by a digest of the path it would
have had, so it stays unique per appliance and peer on a shared host.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from astara.appliance.files import read_or_none, write_atomically
from astara.appliance.model import IPAddress, RouterConfig
from astara.appliance.netns import Namespace
from astara.appliance.services.base import Target
from astara.appliance.services.daemon_process import ConfiguredDaemon

BASE_PORT = 3780
FAILOVER_SCRIPT = "failover.sh"
CONFIG_GLOB = "conntrackd-*.conf"
SYNCED_PROTOCOLS = ("TCP", "UDP", "ICMP", "IPv6-ICMP")
SOCKET_BUFFER = 1249280
#: The longest UNIX socket path conntrackd accepts (``sun_path`` less its NUL).
UNIX_PATH_MAX = 107
#: Where control sockets go whose path beside the configuration would be too long.
SHORT_SOCKET_DIR = Path("/run/astara-conntrackd")


@dataclass(frozen=True)
class SyncLink:
    """One conntrackd: this appliance's management address, one peer, their port."""

    local: IPAddress
    peer: IPAddress
    port: int
    interface: str


def ha_management(target: Target) -> tuple[IPAddress, str, list[IPAddress]] | None:
    """(own management address, its interface, peers) when this appliance is half of an HA pair.

    The own address is the one of the peers' IP version, so VRRP and the
    sync can reach them.  None when HA is off or cannot work (no peers, no
    management address of their version).
    """
    cfg = target.config
    mgt = cfg.management_network
    if not cfg.ha_resource or cfg.ha_config is None or not cfg.ha_config.peers or mgt is None:
        return None
    peers = sorted(set(cfg.ha_config.peers), key=lambda a: (a.version, int(a)))
    own = mgt.first_address(peers[0].version)
    if own is None:
        return None
    return own.ip, target.ifname(mgt), [p for p in peers if p.version == own.version]


def sync_links(target: Target) -> list[SyncLink]:
    ha = ha_management(target)
    if ha is None:
        return []
    local, interface, peers = ha
    group = sorted({local, *peers}, key=int)
    links = []
    for peer in peers:
        low, high = sorted((group.index(local), group.index(peer)))
        links.append(SyncLink(local, peer, BASE_PORT + low * len(group) + high, interface))
    return links


def control_socket(directory: Path, peer: IPAddress) -> Path:
    """The conntrackd control socket for ``peer``: beside its config, or in a short dir.

    See the module docstring: conntrackd cannot bind a path longer than
    :data:`UNIX_PATH_MAX`, so a longer one is replaced by a digest of it.
    """
    natural = directory / f"{_stem(peer)}.ctl"
    if len(os.fsencode(natural)) <= UNIX_PATH_MAX:
        return natural
    digest = hashlib.sha256(os.fsencode(natural)).hexdigest()[:32]
    return SHORT_SOCKET_DIR / f"{digest}.ctl"


def render_conntrackd(link: SyncLink, directory: Path, config: RouterConfig) -> str:
    stem = directory / _stem(link.peer)
    family = "IPv4" if link.local.version == 4 else "IPv6"
    ignored = sorted(
        {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")}
        | {a.ip for n in config.networks for a in n.interface.addresses},
        key=lambda a: (a.version, int(a)),
    )
    lines = [
        "# Written by astara-appliance; changes are overwritten.",
        "General {",
        "\tHashSize 8192",
        "\tHashLimit 65535",
        "\tSyslog on",
        f"\tLockFile {stem}.lock",
        "\tUNIX {",
        f"\t\tPath {control_socket(directory, link.peer)}",
        "\t}",
        "\tNetlinkBufferSize 2097152",
        "\tNetlinkBufferSizeMaxGrowth 8388608",
        "\tFilter From Userspace {",
        "\t\tProtocol Accept {",
        *(f"\t\t\t{name}" for name in SYNCED_PROTOCOLS),
        "\t\t}",
        "\t\tAddress Ignore {",
        *(f"\t\t\tIPv{a.version}_address {a}" for a in ignored),
        "\t\t}",
        "\t}",
        "}",
        "Sync {",
        "\tMode FTFW {",
        "\t}",
        "\tUDP {",
        f"\t\t{family}_address {link.local}",
        f"\t\t{family}_Destination_Address {link.peer}",
        f"\t\tPort {link.port}",
        f"\t\tInterface {link.interface}",
        f"\t\tSndSocketBuffer {SOCKET_BUFFER}",
        f"\t\tRcvSocketBuffer {SOCKET_BUFFER}",
        "\t\tChecksum on",
        "\t}",
        "}",
    ]
    return "\n".join(lines) + "\n"


def render_failover_script(configs: list[Path]) -> str:
    """What keepalived runs on a state change: ``failover.sh primary|backup|fault``."""
    quoted = " ".join(shlex.quote(str(path)) for path in configs)
    return "\n".join(
        [
            "#!/bin/sh",
            "# Written by astara-appliance; keepalived runs it on every VRRP state change.",
            f"for conf in {quoted}; do",
            '\tcase "$1" in',
            "\tprimary)",
            "\t\t# take over: commit what the peer sent, then resync with the kernel",
            '\t\tconntrackd -C "$conf" -c; conntrackd -C "$conf" -f',
            '\t\tconntrackd -C "$conf" -R; conntrackd -C "$conf" -B ;;',
            "\tbackup)",
            '\t\tconntrackd -C "$conf" -n ;;',
            "\tfault)",
            '\t\tconntrackd -C "$conf" -t ;;',
            "\tesac",
            "done",
            "exit 0",
            "",
        ]
    )


def failover_script(directory: Path) -> Path:
    return directory / FAILOVER_SCRIPT


class ConntrackSyncService:
    """One conntrackd per HA peer; none, and no failover script, without HA."""

    name = "conntrack_sync"

    def __init__(self, ns: Namespace, directory: Path) -> None:
        self._ns = ns
        self._dir = directory

    def apply(self, current: Target, target: Target) -> None:
        self._dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        wanted = {
            self._dir / f"{_stem(link.peer)}.conf": render_conntrackd(
                link, self._dir, target.config
            )
            for link in sync_links(target)
        }
        for path in sorted(set(self._dir.glob(CONFIG_GLOB)) - set(wanted)):
            self.daemon(path).converge(None)
        for link in sync_links(target):
            # conntrackd binds its control socket but does not create its directory.
            control_socket(self._dir, link.peer).parent.mkdir(
                mode=0o755, parents=True, exist_ok=True
            )
        for path, text in sorted(wanted.items()):
            self.daemon(path).converge(text)
        script = failover_script(self._dir)
        if not wanted:
            script.unlink(missing_ok=True)
            return
        text = render_failover_script(sorted(wanted))
        if read_or_none(script) != text:
            write_atomically(script, text, mode=0o755)

    def rollback(self, attempted: Target, previous: Target) -> None:
        self.apply(attempted, previous)

    def daemon(self, path: Path) -> ConfiguredDaemon:
        return ConfiguredDaemon(
            self._ns,
            "conntrackd",
            path,
            start_argv=lambda conf: ["conntrackd", "-C", str(conf), "-d"],
            reload_signal=None,
        )


def _stem(peer: IPAddress) -> str:
    return "conntrackd-" + str(peer).replace(":", "_")
