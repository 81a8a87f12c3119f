"""Benchmark: failover, of the orchestrators' routers and of an HA router's traffic.

Control plane: three real ``astara-orchestrator`` processes (each a main
process and two workers, over ``tests.orchestrator_doubles_wiring``, so no
cloud) share 300 routers on a hash ring kept in the machine's Redis (tooz),
as ``tests/integration/test_cluster_ring.py`` starts them (the harness is
``tests.cluster_harness``). Once they settled (each drives its ring share and
every router got its first UPDATE), each trial:

1. ``kill -9`` of one member's process group (the members take turns);
2. measures the seconds from the kill until every router it owned has been
   verified (an UPDATE in the record file) by its new owner, once the
   survivors saw its lease run out: ``control_plane_reown_s``;
3. restarts it under the same name and waits until the cluster settled again,
   its routers back and each UPDATEd by it (the rejoin time is printed too).

A take-over must verify a router, never rebuild it: the routers that got a
REBUILD in any record are counted (``control_plane_rebuilt_without_need``,
which should be 0).

Prints each trial, p50/p95/max, the machine, and RESULT lines. Needs Redis on
127.0.0.1:6379; its keys (a namespace of the run's own) and every process
started are removed at the end, whatever happens.

Data plane (:func:`data_plane`, one kill): a real single-host installation
(``astara-orchestrator --single-host`` in a state dir, API ports and
management prefix of the run's own, as ``bench/router_ready.py`` starts it)
with the topology of ``tests/e2e/singlehost/test_ha_router.py``: an HA router
(``ha=True``: two appliances, keepalived moving the router's addresses,
conntrackd syncing the connection table), two test instances on its private
network, one leaving through SNAT and one reached on a floating IP. While
two ping flows run at 10 per second (the SNAT instance to the external peer,
the host; the host to the floating IP) and two TCP connections exchange a
numbered line every 100 ms (instance -> host through SNAT, host -> the other
instance through its floating IP), the primary appliance dies as a VM losing
power (its NICs deleted, its processes SIGKILLed: ``tests.ha_traffic``'s
``power_off``; both members refuse mid-stream TCP pick-up, so a connection
survives only on the state conntrackd synced). Then:

* ``data_plane_failover_s``: the longest time either ping flow went without
  an answer (``tests.ha_traffic.data_plane_failover_s``, the figure the e2e
  test prints), over pings running from before the kill until the backup
  holds every router address (external, interface and floating IP) and both
  TCP connections exchanged 20 more lines. That silence runs from the last
  answer before the kill (at most one ping interval, 0.1 s, before it) to the
  first answer through the backup, which needs the backup to hold the
  addresses both flows use, i.e. all of them: it is the outage from the kill
  until the backup holds every router address and traffic flows again, in
  steps of the ping interval. Also printed: the seconds from the kill until
  the backup was seen holding every address, and until each flow's first
  answer after the outage.
* ``lost_pings``: echo requests of the SNAT flow (instance -> external peer)
  that got no answer, from before the kill until the end of the failover;
  ``lost_pings_floating_ip``: the same for the host -> floating IP flow.
* ``tcp_survived``: 1 if both TCP connections went on exchanging lines on
  their same sockets after the failover and again after the rebuild, 0 if
  either broke.
* ``ha_member_rebuilt_s``: from the kill until the pair is two members again,
  configured: the orchestrator, unattended, went DEGRADED and is back to
  ``configured`` on its control API, the lost member is a new namespace
  running keepalived and conntrackd, and the router is ACTIVE
  (``tests.ha_traffic.pair_rebuilt``, as the test checks it).

Everything is named with the ``astb`` marker (``[singlehost] id_prefix``, so
every id, and every namespace and device named after one, carries it) and
removed at the end, also on failure: traffic stopped, instances deleted,
Astara stopped and ``python -m astara.singlehost.teardown --state-dir`` run,
conntrackd's leftover control sockets removed. Needs root, keepalived and
conntrackd.

Run: ``.venv/bin/python bench/failover.py [--trials N] [--skip-control-plane]
[--skip-data-plane]`` (``--trials`` counts control-plane kills, default 5;
the data plane kills once).
"""

from __future__ import annotations

import argparse
import configparser
import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

# Benchmarks run with only src (and this directory) on the path; the cluster harness and
# the doubles' wiring live in the repository's tests package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.cluster_harness import (
    HOSTS,
    ROUTERS,
    SETTLE_S,
    Cluster,
    RedisNamespace,
    RedisUnavailable,
    ring_of,
    split_of,
    wait_reowned,
)
from tests.ha_traffic import (
    DEAF_BACKUP_PROMOTION_S,
    LineExchange,
    PingResult,
    Pings,
    StateWatch,
    Traffic,
    Wait,
    answers_ping,
    carry_on,
    control_sockets,
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
from tests.waiting import wait_until

from astara.provisioners.netns_records import RecordStore
from astara.singlehost.instance import INSTANCE_IFNAME, start_instance, stop_instance
from benchlib import machine, percentile
from router_ready import MARKER, Installation, free_subnets, ip_in

DEFAULT_TRIALS = 5


@dataclass(frozen=True)
class Trial:
    victim: str
    orphans: int
    reown_s: float
    rejoin_s: float


@dataclass(frozen=True)
class ControlPlane:
    settle_s: float
    trials: list[Trial]
    #: Routers that got a REBUILD in any orchestrator's record, over the whole run.
    rebuilt: int

    @property
    def reown_s(self) -> list[float]:
        return [trial.reown_s for trial in self.trials]


def trial(cluster: Cluster, victim_host: str) -> Trial:
    """Kill ``victim_host``, time the take-over of its routers, bring it back and settle."""
    victim = cluster.nodes[victim_host]
    survivors = {host: node for host, node in cluster.nodes.items() if host != victim_host}
    orphans = split_of(ring_of(HOSTS))[victim_host]
    two = ring_of(survivors)
    new_owner = {rid: two.owner(rid) for rid in orphans}

    marks = {host: node.mark() for host, node in survivors.items()}
    killed_at = time.monotonic()
    victim.kill()
    reown_s = wait_reowned(survivors, marks, new_owner) - killed_at
    wait_until(cluster.settled_on(survivors), "the survivors settled", SETTLE_S, 0.2)

    mark = victim.mark()
    restarted_at = time.monotonic()
    victim.start()
    wait_until(cluster.settled_on(HOSTS), f"{victim_host} took its share back", SETTLE_S, 0.2)
    wait_until(lambda: victim.updated_since(mark) >= orphans,
               f"each router given back got an UPDATE from {victim_host}", SETTLE_S)  # fmt: skip
    return Trial(victim_host, len(orphans), reown_s, time.monotonic() - restarted_at)


def control_plane(trials: int) -> ControlPlane:
    """Three orchestrators, ``trials`` kill -9 and rejoins; each trial printed as it ends."""
    try:
        namespace = RedisNamespace.create("astb-failover")
    except RedisUnavailable as error:
        raise SystemExit(f"failover.py needs Redis: {error}") from error
    try:
        with tempfile.TemporaryDirectory(prefix="astara-bench-failover-") as directory:
            cluster = Cluster.of(Path(directory), HOSTS, namespace.name)
            try:
                settle_s = cluster.start()
                print(
                    f"control plane: {len(HOSTS)} orchestrators x 2 workers, {ROUTERS} routers; "
                    f"settled {settle_s:.1f} s after the start"
                )
                print(f"{'trial':>5} {'killed':<8} {'routers':>7} {'reown s':>8} {'rejoin s':>9}")
                done = []
                for n in range(trials):
                    done.append(trial(cluster, HOSTS[n % len(HOSTS)]))
                    last = done[-1]
                    print(
                        f"{n + 1:>5} {last.victim:<8} {last.orphans:>7} {last.reown_s:>8.2f} "
                        f"{last.rejoin_s:>9.2f}",
                        flush=True,
                    )
                rebuilt = set().union(*(node.rebuilt() for node in cluster.nodes.values()))
            finally:
                cluster.stop()
    finally:
        namespace.delete()
    return ControlPlane(settle_s, done, len(rebuilt))


def report_control_plane(figures: ControlPlane) -> None:
    reown = figures.reown_s
    p50, p95 = percentile(reown, 50), percentile(reown, 95)
    print(
        f"control_plane_reown_s over {len(reown)} trials: p50 {p50:.2f} s, p95 {p95:.2f} s, "
        f"max {max(reown):.2f} s"
    )
    print(f"routers rebuilt without need: {figures.rebuilt}")
    print(f"RESULT control_plane_reown_s {p50:.2f} s")
    print(f"RESULT control_plane_reown_s_p95 {p95:.2f} s")
    print(f"RESULT control_plane_rebuilt_without_need {figures.rebuilt} routers")


# -- the data plane: an HA router in a single-host installation ------------------------

#: Bounds for a broken run; a healthy one takes a fraction of each.
DP_ROUTER_ACTIVE_TIMEOUT_S = 180.0
DP_PROBE_TIMEOUT_S = 30.0
#: The orchestrator's health check period, its retries, a boot and the first config push.
DP_REBUILD_TIMEOUT_S = 240.0
SNAT_FLOW = "instance->host (SNAT)"
FIP_FLOW = "host->floating IP"


@dataclass(frozen=True)
class DataPlane:
    #: The figure the e2e test prints: the longest silence of either ping flow.
    failover_s: float
    #: Kill -> the backup seen holding every router address (polled every 20 ms).
    vips_held_s: float
    #: Kill -> each flow's first answer after its outage (the end of its longest silence).
    first_answer_s: dict[str, float]
    #: What each flow lost, from before the kill to the end of the failover.
    pings: dict[str, PingResult]
    #: Why a TCP connection broke (none: both survived the failover and the rebuild).
    tcp_failures: list[str]
    #: The longest wait for an echo of each connection, through the failover.
    tcp_longest_echo_s: dict[str, float]
    #: The same while the orchestrator rebuilt the member.
    tcp_longest_echo_during_rebuild_s: dict[str, float]
    #: Kill -> the pair is two members again, configured.
    rebuilt_s: float
    #: The instance states the control API showed, in order.
    states: list[str]
    #: What each flow lost while the orchestrator rebuilt the member.
    pings_during_rebuild: dict[str, PingResult]
    #: The survivor kept every router address through the rebuild (``nopreempt``).
    survivor_kept_router: bool

    @property
    def tcp_survived(self) -> bool:
        return not self.tcp_failures


def waiter(installation: Installation, interval: float) -> Wait:
    """A ``tests.ha_traffic.Wait`` polling every ``interval`` s; stops at once if Astara died."""

    def wait(condition: Callable[[], bool], what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if (log := installation.died()) is not None:
                raise SystemExit(f"Astara exited while waiting for {what}:\n{log}")
            if time.monotonic() > deadline:
                raise SystemExit(f"gave up waiting for {what}; Astara's log: {installation.log}")
            time.sleep(interval)

    return wait


class HaRun:
    """One data-plane run: the installation, what was made in it, and its removal."""

    def __init__(self) -> None:
        root = Path(tempfile.mkdtemp(prefix=f"{MARKER}-failover-"))
        root.chmod(0o755)  # as a state dir under /var/lib would be: dnsmasq can drop root
        self.installation = Installation(root)
        #: Outside ``root``, which goes at the end: kept for a look at what took time.
        self.installation.log = Path(tempfile.gettempdir()) / f"{MARKER}-failover-astara.log"
        self.wait = waiter(self.installation, 0.1)
        #: Finer, for the figures timed by polling.
        self.wait_closely = waiter(self.installation, 0.02)
        self.traffic = Traffic()
        self.instances: list[str] = []
        self.members: tuple[str, ...] = ()
        self.sockets: set[Path] = set()

    @property
    def state_dir(self) -> Path:
        return self.installation.state_dir

    def control_port(self) -> int:
        """The control API's port, as ``Installation.start`` wrote it into the configuration."""
        config = configparser.ConfigParser()
        config.read(self.installation.config)
        return config.getint("DEFAULT", "api_port")

    def note_sockets(self) -> None:
        """conntrackd's control sockets (see ``tests.ha_traffic.control_sockets``)."""
        for member in self.members:
            self.sockets.update(control_sockets(self.state_dir, member))

    def remove_sockets(self) -> None:
        """Once no conntrackd of the installation runs: its names are this state dir's digests."""
        for path in self.sockets:
            path.unlink(missing_ok=True)

    def remove(self) -> None:
        """Everything, each step even if an earlier one failed."""
        with contextlib.ExitStack() as steps:  # unwound from the last callback to the first
            steps.callback(shutil.rmtree, self.installation.root, ignore_errors=True)
            steps.callback(lambda: print(f"Astara's log: {self.installation.log}"))
            steps.callback(self.remove_sockets)
            steps.callback(self.installation.stop_and_remove)
            steps.callback(self.note_sockets)
            for namespace in self.instances:
                steps.callback(stop_instance, namespace)
            steps.callback(self.traffic.close)

    def run(self) -> DataPlane:
        installation, wait, traffic = self.installation, self.wait, self.traffic
        installation.start()
        conn = installation.connection()
        [public_cidr] = free_subnets("172.16.0.0/12", 1)
        [private_cidr] = free_subnets("10.0.0.0/8", 1)
        public = conn.network.create_network(name=f"{MARKER}-public", is_router_external=True)
        public_subnet = conn.network.create_subnet(
            network_id=public.id, ip_version=4, cidr=str(public_cidr), name=f"{MARKER}-public"
        )
        private = conn.network.create_network(name=f"{MARKER}-private")
        private_subnet = conn.network.create_subnet(
            network_id=private.id, ip_version=4, cidr=str(private_cidr), name=f"{MARKER}-private"
        )
        router = conn.network.create_router(
            name=f"{MARKER}-ha-router", is_ha=True, external_gateway_info={"network_id": public.id}
        )
        self.members = (f"ak-router-{router.id}", f"ak-router-{router.id}-ha1")
        conn.network.add_interface_to_router(router, subnet=private_subnet.id)

        def router_active() -> bool:
            return bool(conn.network.get_router(router.id).status == "ACTIVE")

        wait(router_active, f"router {router.id} ACTIVE", DP_ROUTER_ACTIVE_TIMEOUT_S)
        self.note_sockets()
        external_peer = str(public_subnet.gateway_ip)
        gateway = str(private_subnet.gateway_ip)

        # Two instances, addressed statically (the figures are the router's, not a DHCP
        # client's): one reaches out through SNAT (an instance with a floating IP leaves
        # with that address instead), one is reached on its floating IP.
        records = RecordStore(self.state_dir / "netns")
        booted = []
        for role in ("snat", "fip"):
            port = conn.network.create_port(network_id=private.id, name=f"{MARKER}-vm-{role}")
            instance = start_instance(conn, port.id, records=records, dhcp=False)
            self.instances.append(instance.namespace)
            address = f"{instance.fixed_ips[0]}/{private_cidr.prefixlen}"
            ip_in(instance.namespace, "addr", "add", address, "dev", INSTANCE_IFNAME)
            ip_in(instance.namespace, "route", "add", "default", "via", gateway)
            booted.append(instance)
        inside, served = booted
        fip = conn.network.create_ip(floating_network_id=public.id, port_id=served.port_id)
        floating = str(fip.floating_ip_address)
        info = conn.network.get_router(router.id).external_gateway_info
        router_external_ip = str(info["external_fixed_ips"][0]["ip_address"])
        vips = {router_external_ip, gateway, floating}
        members = self.members

        wait(lambda: one_holds_all(vips, members),
             "exactly one member (the VRRP master) to hold every router address",
             DP_PROBE_TIMEOUT_S)  # fmt: skip
        primary = next(m for m, held in holders(vips, members).items() if held)
        backup = next(m for m in members if m != primary)
        print(f"data plane: HA router {router.id}: primary {primary}, backup {backup}, "
              f"router addresses {sorted(vips)}")  # fmt: skip
        wait(lambda: answers_ping(None, floating), f"the floating IP {floating} from the host",
             DP_PROBE_TIMEOUT_S)  # fmt: skip
        wait(lambda: answers_ping(inside.namespace, external_peer),
             "the host from the instance, through SNAT", DP_PROBE_TIMEOUT_S)  # fmt: skip

        for member in members:
            refuse_midstream_pickup(member)
        snat = LineExchange(
            (inside.namespace, inside.fixed_ips[0]), (None, external_peer), external_peer
        )
        traffic.exchanges.append(snat)
        through_fip = LineExchange(
            (None, external_peer), (served.namespace, served.fixed_ips[0]), floating
        )
        traffic.exchanges.append(through_fip)
        if snat.seen_from != router_external_ip:
            raise SystemExit(f"the instance was not SNATed: the host saw {snat.seen_from}")
        ports = [snat.port, through_fip.port]
        wait(lambda: synced(self.state_dir, backup, ports),
             "the backup's conntrackd to receive both connections", DP_PROBE_TIMEOUT_S)  # fmt: skip
        dead_inode = namespace_inode(primary)
        watch = StateWatch(self.control_port(), self.state_dir, router.id)
        traffic.watches.append(watch)
        if watch.now() != "configured":
            raise SystemExit(f"the router is {watch.now()!r} on the control API, not configured")
        watch.start()

        def start_pings() -> dict[str, Pings]:
            flows = {
                SNAT_FLOW: Pings.start(inside.namespace, external_peer),
                FIP_FLOW: Pings.start(None, floating),
            }
            traffic.pings.extend(flows.values())
            return flows

        # -- the primary dies ------------------------------------------------------------
        flows = start_pings()
        if failures := carry_on(wait, traffic.exchanges, "before the failover"):
            raise SystemExit(f"the connections broke before the kill: {failures}")
        killed_wall, killed_at = time.time(), time.monotonic()
        power_off(primary)
        wait_for_vips(self.wait_closely, backup, vips, DP_PROBE_TIMEOUT_S)
        vips_held_s = time.monotonic() - killed_at
        tcp_failures = carry_on(wait, traffic.exchanges, "after the primary died")
        pings = {name: flow.stop() for name, flow in flows.items()}
        longest_echo = {"snat": snat.take_longest_wait(),
                        "floating_ip": through_fip.take_longest_wait()}  # fmt: skip
        first_answer_s = {
            name: end - killed_wall
            for name, result in pings.items()
            if (end := result.end_of_longest_silence()) is not None
        }

        # -- the orchestrator rebuilds the lost member -------------------------------------
        flows = start_pings()
        degraded = f"ak-router-{router.id}: DEGRADED: 1 of 2 members left"

        def went_degraded() -> bool:
            """In the log (it may last under a second, too short for the control API)."""
            return degraded in installation.log.read_text(errors="replace")

        wait(lambda: pair_rebuilt(watch, primary, dead_inode, went_degraded, router_active),
             f"the orchestrator to rebuild {primary}", DP_REBUILD_TIMEOUT_S)  # fmt: skip
        rebuilt_s = time.monotonic() - killed_at
        watch.stop()
        self.note_sockets()
        # The pair is whole again: the replacement holds the connections' state too.
        wait(lambda: synced(self.state_dir, primary, ports),
             "the replacement's conntrackd to receive both connections from the survivor",
             DP_PROBE_TIMEOUT_S)  # fmt: skip
        # A replacement that cannot hear the survivor would promote itself meanwhile.
        time.sleep(DEAF_BACKUP_PROMOTION_S)
        tcp_failures += carry_on(wait, traffic.exchanges, "after the rebuild")
        survivor_kept = holders(vips, members) == {backup: vips, primary: set()}
        during_rebuild = {name: flow.stop() for name, flow in flows.items()}
        return DataPlane(
            failover_s=data_plane_failover_s(pings.values()),
            vips_held_s=vips_held_s,
            first_answer_s=first_answer_s,
            pings=pings,
            tcp_failures=tcp_failures,
            tcp_longest_echo_s=longest_echo,
            tcp_longest_echo_during_rebuild_s={
                "snat": snat.take_longest_wait(),
                "floating_ip": through_fip.take_longest_wait(),
            },
            rebuilt_s=rebuilt_s,
            states=list(watch.seen),
            pings_during_rebuild=during_rebuild,
            survivor_kept_router=survivor_kept,
        )


def data_plane() -> DataPlane:
    """An HA router's primary dies under traffic; the figures of the module's docstring."""
    if os.geteuid() != 0:
        raise SystemExit("the data plane needs root (namespaces, bridges); "
                         "--skip-data-plane leaves it out")  # fmt: skip
    for tool in ("ip", "ping", "dnsmasq", "nft", "keepalived", "conntrackd"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed; run `make deps`")
    run = HaRun()
    try:
        return run.run()
    finally:
        run.remove()


def report_data_plane(figures: DataPlane) -> None:
    snat, fip = figures.pings[SNAT_FLOW], figures.pings[FIP_FLOW]
    print(f"data plane: backup held every router address {figures.vips_held_s:.2f} s after "
          f"the kill")  # fmt: skip
    for name, result in figures.pings.items():
        first = figures.first_answer_s.get(name)
        after = f"{first:.2f} s" if first is not None else "never"
        print(f"  {name}: lost {result.lost}, longest silence {result.longest_silence_s:.2f} s, "
              f"first answer after the kill {after}")  # fmt: skip
    print("tcp_longest_echo_s " + " ".join(
        f"{name}={s:.2f}" for name, s in figures.tcp_longest_echo_s.items()))  # fmt: skip
    for failure in figures.tcp_failures:
        print(f"  TCP broke: {failure}")
    print(f"instance states: {figures.states}; pair rebuilt {figures.rebuilt_s:.1f} s after "
          f"the kill; the survivor kept the router: {figures.survivor_kept_router}")  # fmt: skip
    pings = ", ".join(f"{name} lost {r.lost}, longest silence {r.longest_silence_s:.2f} s"
                      for name, r in figures.pings_during_rebuild.items())  # fmt: skip
    echoes = " ".join(f"{name}={s:.2f}"
                      for name, s in figures.tcp_longest_echo_during_rebuild_s.items())  # fmt: skip
    print(f"during the rebuild: {pings}; tcp_longest_echo_s {echoes}")
    print(f"RESULT data_plane_failover_s {figures.failover_s:.2f} s")
    print(f"RESULT lost_pings {snat.lost} pings")
    print(f"RESULT lost_pings_floating_ip {fip.lost} pings")
    print(f"RESULT tcp_survived {int(figures.tcp_survived)}")
    print(f"RESULT ha_member_rebuilt_s {figures.rebuilt_s:.1f} s")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--trials", type=int, default=DEFAULT_TRIALS, help=f"kills (default {DEFAULT_TRIALS})"
    )
    parser.add_argument("--skip-control-plane", action="store_true",
                        help="leave out the orchestrators' take-over (needs Redis)")  # fmt: skip
    parser.add_argument("--skip-data-plane", action="store_true",
                        help="leave out the HA router's failover (needs root)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.trials < 1:
        parser.error("--trials must be at least 1")
    if args.skip_control_plane and args.skip_data_plane:
        parser.error("--skip-control-plane and --skip-data-plane leave nothing to measure")
    print(f"machine: {machine()}")
    if not args.skip_control_plane:
        report_control_plane(control_plane(args.trials))
    if not args.skip_data_plane:
        report_data_plane(data_plane())
    return 0


if __name__ == "__main__":
    sys.exit(main())
