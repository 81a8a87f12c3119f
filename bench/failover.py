"""Benchmark: how long a cluster of orchestrators takes to take over a dead member's routers.

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

Run: ``.venv/bin/python bench/failover.py [--trials N]`` (default 5).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
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
from tests.waiting import wait_until

from benchlib import machine, percentile

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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--trials", type=int, default=DEFAULT_TRIALS, help=f"kills (default {DEFAULT_TRIALS})"
    )
    args = parser.parse_args(argv)
    if args.trials < 1:
        parser.error("--trials must be at least 1")
    print(f"machine: {machine()}")
    report_control_plane(control_plane(args.trials))
    return 0


if __name__ == "__main__":
    sys.exit(main())
