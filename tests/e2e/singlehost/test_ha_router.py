"""An HA router in single-host mode: the primary appliance dies, the backup carries on.

The install guide's topology, with ``openstack router create --ha``: the
orchestrator boots two appliances (``ak-router-<id>`` and ``…-ha1``), and
keepalived moves the router's addresses (gateway, interface, floating IP)
to whichever is VRRP master while conntrackd streams the connection table
to the other. Two instances are on the private network, one of them with a
floating IP (an instance with one leaves through it, not through SNAT).
While pings run ten times a second (the first instance to the host, the
external peer, through SNAT; the host to the floating IP) and two TCP
connections exchange a numbered line every 100 ms (instance → host through
SNAT, host → the other instance through its floating IP), the primary dies
as a VM does when it loses power: its NICs vanish, every process in it is
killed. Both appliances refuse mid-stream TCP pick-up
(``nf_conntrack_tcp_loose=0``), so a connection survives only on the state
conntrackd synced.

Then the orchestrator, unattended, finds the member dead, goes DEGRADED and
rebuilds it (CLUSTER_REBUILD) without touching the survivor, which keeps the
router (``nopreempt``) with the same namespace and daemons.

Printed, never asserted (``-s`` shows them): ``lost_pings=<n>`` (both ping
flows together, each also shown) and ``data_plane_failover_s=<x>`` (the
longest time either flow went without an answer), and the same during the
rebuild (``…_during_rebuild``).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.singlehost.conftest import (
    BOOT_TIMEOUT_S,
    HEALTH_CHECK_PERIOD_S,
    ROUTER_READY_TIMEOUT_S,
    SingleHost,
    build_guide_topology,
    ha_members,
)
from tests.e2e.singlehost.test_single_host import (
    PROBE_TIMEOUT_S,
    InstanceFactory,
    _wait_for_lease,
    instance_factory,
)
from tests.ha_traffic import (
    DAEMONS,
    DEAF_BACKUP_PROMOTION_S,
    LineExchange,
    Pings,
    StateWatch,
    Traffic,
    answers_ping,
    carry_on,
    control_sockets,
    daemons,
    data_plane_failover_s,
    holders,
    namespace_inode,
    one_holds_all,
    pair_rebuilt,
    power_off,
    refuse_midstream_pickup,
    synced,
    wait_for_vips,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        shutil.which("keepalived") is None or shutil.which("conntrackd") is None,
        reason="keepalived and conntrackd are needed",
    ),
]

__all__ = ["instance_factory"]  # the fixture, used by name below

#: The most the orchestrator may take to notice the dead member and rebuild it:
#: the next health check, its retries, a boot, the first config push.
REBUILD_TIMEOUT_S = HEALTH_CHECK_PERIOD_S + BOOT_TIMEOUT_S + ROUTER_READY_TIMEOUT_S


# -- the router and its appliances ---------------------------------------------------


# -- fixtures (the traffic and appliance helpers are in tests/ha_traffic.py) ----------


@pytest.fixture
def conntrackd_sockets() -> Iterator[set[Path]]:
    """Control sockets the appliances' conntrackds used; those left behind go at teardown.

    A short-path socket (see ``astara.appliance.services.conntrack_sync``) lives
    outside the appliance's state dir, and a conntrackd killed with its
    appliance cannot remove it. Requested before ``single_host``, so this runs
    after the installation is torn down (no conntrackd of it runs then); the
    names are digests of this test's state dir, so no one else's.
    """
    used: set[Path] = set()
    yield used
    for path in used:
        path.unlink(missing_ok=True)


@pytest.fixture
def traffic() -> Iterator[Traffic]:
    started = Traffic()
    try:
        yield started
    finally:
        started.close()


def _carries_on(host: SingleHost, exchanges: list[LineExchange], what: str) -> None:
    """Each connection exchanges more lines on the same socket, and none failed."""
    failures = carry_on(host.wait, exchanges, what)
    assert not failures, failures


# -- the test --------------------------------------------------------------------------


def test_the_backup_takes_over_keeps_connections_and_the_pair_is_rebuilt_unattended(
    conntrackd_sockets: set[Path],
    single_host: SingleHost,
    instance_factory: InstanceFactory,
    traffic: Traffic,
) -> None:
    host = single_host
    topology = build_guide_topology(host, ha=True)
    router_id = topology.router["id"]

    def note_sockets() -> None:
        for member in ha_members(router_id):
            conntrackd_sockets.update(control_sockets(host.state_dir, member))

    assert host.openstack("router", "show", router_id)["ha"] is True
    host.wait_router_active(router_id)
    note_sockets()
    members = ha_members(router_id)
    for member in members:
        assert namespace_inode(member) is not None, f"{member} was not booted"

    # Two instances: one reaches out through SNAT (an instance with a floating IP
    # leaves with that address instead), one is reached on its floating IP.
    inside = instance_factory(topology.private_network["id"])
    served = instance_factory(topology.private_network["id"])
    for instance in (inside, served):
        _wait_for_lease(host, instance, topology.private_subnet["gateway_ip"])
    floating = host.openstack(
        "floating", "ip", "create", "--port", served.port_id, topology.public_network["id"]
    )["floating_ip_address"]
    host.adopt_all_ports()
    info = host.openstack("router", "show", router_id)["external_gateway_info"]
    router_external_ip = info["external_fixed_ips"][0]["ip_address"]
    vips = {router_external_ip, topology.private_subnet["gateway_ip"], floating}

    host.wait(lambda: one_holds_all(vips, members),
              "exactly one member (the VRRP master) to hold every router address",
              PROBE_TIMEOUT_S)  # fmt: skip
    primary = next(m for m, held in holders(vips, members).items() if held)
    backup = next(m for m in members if m != primary)
    print(f"\nprimary={primary} backup={backup}")
    host.wait(lambda: answers_ping(None, floating), f"the floating IP {floating} from the host",
              PROBE_TIMEOUT_S)  # fmt: skip
    host.wait(lambda: answers_ping(inside.namespace, topology.external_gateway),
              "the host from the instance, through SNAT", PROBE_TIMEOUT_S)  # fmt: skip

    for member in members:
        refuse_midstream_pickup(member)
    snat = LineExchange(
        (inside.namespace, inside.fixed_ips[0]),
        (None, topology.external_gateway),
        topology.external_gateway,
    )
    traffic.exchanges.append(snat)
    through_fip = LineExchange(
        (None, topology.external_gateway), (served.namespace, served.fixed_ips[0]), floating
    )
    traffic.exchanges.append(through_fip)
    assert snat.seen_from == router_external_ip, "the instance was not SNATed"
    assert through_fip.seen_from == topology.external_gateway
    host.wait(lambda: synced(host.state_dir, backup, [snat.port, through_fip.port]),
              "the backup's conntrackd to receive both connections", PROBE_TIMEOUT_S)  # fmt: skip

    survivor_inode, survivor_daemons = namespace_inode(backup), daemons(backup)
    assert sorted(set(survivor_daemons.values())) == sorted(DAEMONS), survivor_daemons
    dead_inode = namespace_inode(primary)
    watch = StateWatch(host.control_port, host.state_dir, router_id)
    traffic.watches.append(watch)
    assert watch.now() == "configured"
    watch.start()

    def start_pings() -> dict[str, Pings]:
        flows = {
            "instance->host (SNAT)": Pings.start(inside.namespace, topology.external_gateway),
            "host->floating IP": Pings.start(None, floating),
        }
        traffic.pings.extend(flows.values())
        return flows

    def report(flows: dict[str, Pings], suffix: str) -> None:
        results = {name: pings.stop() for name, pings in flows.items()}
        print(f"lost_pings{suffix}={sum(r.lost for r in results.values())}")
        print(f"data_plane_failover_s{suffix}={data_plane_failover_s(results.values()):.2f}")
        for name, r in results.items():
            print(f"  {name}: lost {r.lost}, longest silence {r.longest_silence_s:.2f} s")

    # -- the primary dies --------------------------------------------------------------
    flows = start_pings()
    _carries_on(host, traffic.exchanges, "before the failover")
    power_off(primary)
    wait_for_vips(host.wait, backup, vips, PROBE_TIMEOUT_S)
    _carries_on(host, traffic.exchanges, "after the primary died")
    report(flows, "")
    print(f"tcp_longest_echo_s snat={snat.longest_wait:.2f} "
          f"floating_ip={through_fip.longest_wait:.2f}")  # fmt: skip

    # -- the orchestrator rebuilds the lost member ------------------------------------
    flows = start_pings()

    def went_degraded() -> bool:
        """In the log (it may last under a second, too short for the control API)."""
        return f"ak-router-{router_id}: DEGRADED: 1 of 2 members left" in host.log()

    def rebuilt() -> bool:
        return pair_rebuilt(
            watch, primary, dead_inode, went_degraded,
            lambda: host.router_status(router_id) == "ACTIVE",
        )  # fmt: skip

    host.wait(rebuilt, f"the orchestrator to rebuild {primary}", REBUILD_TIMEOUT_S)
    watch.stop()
    note_sockets()
    print(f"instance_states={watch.seen}")
    assert watch.seen[0] == "configured"
    # The pair is whole again: the replacement holds the connections' state too.
    host.wait(lambda: synced(host.state_dir, primary, [snat.port, through_fip.port]),
              "the replacement's conntrackd to receive both connections from the survivor",
              PROBE_TIMEOUT_S)  # fmt: skip
    # A replacement that cannot hear the survivor would promote itself meanwhile.
    time.sleep(DEAF_BACKUP_PROMOTION_S)
    _carries_on(host, traffic.exchanges, "after the rebuild")
    held = holders(vips, members)
    assert held == {backup: vips, primary: set()}, "the survivor must keep the router"
    assert namespace_inode(backup) == survivor_inode, "the survivor's namespace was replaced"
    assert daemons(backup) == survivor_daemons, "the survivor's daemons were restarted"
    report(flows, "_during_rebuild")

    for exchange in list(traffic.exchanges):
        exchange.close()
        traffic.exchanges.remove(exchange)
        assert exchange.failure is None, exchange.failure
