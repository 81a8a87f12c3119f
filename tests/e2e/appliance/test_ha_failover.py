"""An HA router pair driven through its real agents: an appliance dies, its peer carries on.

::

    orchestrator ns ── mgmt bridge ──┬── r1 ns (agent 192.168.100.2, priority 100)
    outside ns ─────── ext bridge ───┼── r2 ns (agent 192.168.100.3, priority 50)
    vm ns ──────────── int bridge ───┘

The VM has two addresses: 10.60.0.5 owns the floating IP, 10.60.0.6 has
none and reaches the outside through the router's SNAT.  While a ping runs
ten times a second each way (VM to outside through SNAT, outside to the
floating IP) and two TCP connections exchange a line every 100 ms (the VM to
the outside through SNAT, the outside to the VM through the floating IP),
the master appliance dies (its links vanish, its processes are killed) and
the backup takes over.  Both routers refuse mid-stream TCP pick-up
(``nf_conntrack_tcp_loose=0``), so a connection survives only on the state
conntrackd synced.  A replacement appliance then joins the survivor without
disturbing it, receives the connection state, and finally takes over in turn.

Lost pings are printed (``-s`` shows them), never asserted on.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

from astara.appliance.netns import Namespace
from astara.appliance.services.vrrp import VrrpService
from tests.ha_traffic import DEAF_BACKUP_PROMOTION_S, PING_INTERVAL_S, LineExchange, carry_on

from .conftest import (
    FLOATING_IP,
    HA_VIPS,
    OUTSIDE_IP,
    ROUTER_EXT_IP,
    ROUTER_INT_IP,
    VM_IP,
    HaLab,
    RouterLab,
)

SNAT_VM_IP = "10.60.0.6"
SNAT_PORT = 7101
FLOATING_PORT = 7102


@dataclass
class Pings:
    """``ping`` at 10 per second in a namespace until stopped; counts what it lost."""

    process: subprocess.Popen[str]

    def lost(self) -> int:
        self.process.send_signal(signal.SIGINT)
        out, _ = self.process.communicate(timeout=10)
        found = re.search(r"(\d+) packets transmitted, (\d+) received", out)
        assert found, out
        return int(found[1]) - int(found[2])


def _pings(lab: HaLab, member: RouterLab) -> dict[str, Pings]:
    """The VM to the outside through SNAT, and the outside to the VM's floating IP."""
    flows = {
        "vm->outside (SNAT)": (lab.vm, "-I", SNAT_VM_IP, OUTSIDE_IP),
        "outside->floating IP": (lab.outside, FLOATING_IP),
    }
    return {
        name: Pings(member.spawn(namespace, "ping", "-n", "-i", PING_INTERVAL_S, *target))
        for name, (namespace, *target) in flows.items()
    }


def _report(what: str, pings: dict[str, Pings]) -> dict[str, int]:
    lost = {name: p.lost() for name, p in pings.items()}
    print(f"\n{what}: lost pings at 10/s: {lost}")
    return lost


def _join(lab: HaLab, name: str) -> RouterLab:
    """Configure a member as half of the pair; it refuses mid-stream TCP pick-up."""
    member = lab.members[name]
    member.run(member.router, "sysctl", "-q", "-w", "net.netfilter.nf_conntrack_tcp_loose=0")
    lab.put(name, lab.ha_config(name))
    return member


def _synced_ports(member: RouterLab) -> str:
    """The external cache of the member's conntrackd: the connections its peer sent it."""
    (config,) = (member.state_dir / "conntrackd").glob("conntrackd-*.conf")
    return member.run(member.router, "conntrackd", "-C", str(config), "-e").stdout


def _keepalived_pids(member: RouterLab) -> list[int]:
    """The member's keepalived, found as its VRRP service finds it."""
    vrrp = VrrpService(
        Namespace(member.router), member.state_dir / "keepalived", member.state_dir / "conntrackd"
    )
    return vrrp.daemon.running_pids()


def _synced_both(member: RouterLab) -> bool:
    cache = _synced_ports(member)
    return all(f"dport={port}" in cache for port in (SNAT_PORT, FLOATING_PORT))


def _carries_on(exchanges: list[LineExchange], wait_until: Callable[..., None], what: str) -> None:
    """Each connection exchanges more lines, and none failed."""
    assert carry_on(wait_until, exchanges, what) == []


def test_the_backup_takes_over_and_a_replacement_rejoins_without_dropping_a_connection(
    ha_lab: HaLab, wait_until: Callable[..., None]
) -> None:
    lab = ha_lab
    all_vips = set(HA_VIPS)
    _join(lab, "r1")
    wait_until(lambda: lab.holds("r1") == all_vips, "r1 to become master")
    _join(lab, "r2")
    r1, r2 = lab.members["r1"], lab.members["r2"]
    for address in (VM_IP, SNAT_VM_IP):
        r1.run(lab.vm, "ip", "addr", "add", f"{address}/24", "dev", r1.vm_ifname)
    r1.run(lab.vm, "ip", "route", "add", "default", "via", ROUTER_INT_IP)
    exchanges: list[LineExchange] = []
    try:
        exchanges.append(
            LineExchange((lab.vm, SNAT_VM_IP), (lab.outside, OUTSIDE_IP), OUTSIDE_IP, SNAT_PORT)
        )
        exchanges.append(
            LineExchange((lab.outside, OUTSIDE_IP), (lab.vm, VM_IP), FLOATING_IP, FLOATING_PORT)
        )
        assert [e.seen_from for e in exchanges] == [ROUTER_EXT_IP, OUTSIDE_IP]
        wait_until(lambda: _synced_both(r2), "r2's conntrackd to receive both connections")
        assert lab.holds("r2") == set()

        pings = _pings(lab, r2)
        _carries_on(exchanges, wait_until, "before the failover")
        lab.die("r1")
        wait_until(lambda: lab.holds("r2") == all_vips, "r2 to take over")
        _carries_on(exchanges, wait_until, "after r1 died")
        _report("r1 died, r2 took over", pings)

        survivor = _keepalived_pids(r2)
        assert survivor
        pings = _pings(lab, r2)
        replacement = lab.add_member("r1")
        _join(lab, "r1")
        wait_until(
            lambda: _synced_both(replacement),
            "the replacement's conntrackd to receive both connections from r2",
        )
        time.sleep(DEAF_BACKUP_PROMOTION_S)
        _carries_on(exchanges, wait_until, "after the replacement joined")
        assert lab.holds("r1") == set()
        assert lab.holds("r2") == all_vips
        assert _keepalived_pids(r2) == survivor
        _report("replacement r1 joined the pair", pings)

        pings = _pings(lab, replacement)
        lab.die("r2")
        wait_until(lambda: lab.holds("r1") == all_vips, "the replacement to take over")
        _carries_on(exchanges, wait_until, "after r2 died")
        _report("r2 died, the replacement took over", pings)
    finally:
        for exchange in exchanges:
            exchange.close()
    assert [e.failure for e in exchanges] == [None, None]
