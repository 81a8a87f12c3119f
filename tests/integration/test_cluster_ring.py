"""Three real orchestrators share 300 routers on a hash ring kept in a real backend.

Each orchestrator is a real ``astara-orchestrator`` (a main process and two
worker processes) over ``tests.orchestrator_doubles_wiring``, with its own
host name, configuration, control API, SQLite database and record file (the
doubles' state machines append ``<crud> router <id>`` to it for each action
they run). They join one tooz group of the test's own, and the whole scenario
runs once per backend (the ``cluster`` fixture's parameter):

- ``redis``: the machine's Redis on 127.0.0.1:6379, under a namespace of the
  test's own too (tooz's Redis driver keys heartbeats by member name alone, so
  the namespace keeps two concurrent runs of this file apart), deleted
  afterwards;
- ``zookeeper``: a private ZooKeeper server this module starts from Debian's
  ``zookeeper`` package (``kazoo://``; its own port and data directory,
  stopped at the end whatever happens; see ``tests.zookeeper_server``).

Each is skipped with the reason when it cannot be had.

What is checked is what an operator sees: each orchestrator's ``GET
/v1/resources`` (the routers its workers drive) and the record files.

- Settled, the three listings are disjoint, cover the 300 routers, and are
  exactly what the ring of the three names says, about a third each.
- After a ``kill -9`` of one orchestrator's process group, the two survivors
  take over its routers when its lease runs out: each orphan gets an UPDATE
  from its new owner (verified, never a REBUILD), and the listings again
  cover everything, disjoint.
- Restarted under the same name, it takes its routers back with UPDATEs, and
  the survivors let go of them.

How long the take-over took (from the kill until every orphan was verified
by its new owner) is printed as ``control_plane_reown_s``, with the backend,
never asserted: waits are bounded only so that a broken cluster fails instead
of hanging.
"""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest

from tests.cluster_harness import (
    HOSTS,
    REOWN_BOUND_S,
    ROUTER_IDS,
    ROUTERS,
    SETTLE_S,
    Cluster,
    Node,
    RedisNamespace,
    RedisUnavailable,
    ring_of,
    split_of,
    wait_reowned,
)
from tests.waiting import wait_until
from tests.zookeeper_server import ZooKeeperUnavailable, private_zookeeper

pytestmark = pytest.mark.integration

#: The one killed and restarted.
VICTIM = "astt-b"
#: Each member's share may stray this far from a third (ring + 300 ids' own unevenness).
BALANCE_TOLERANCE = 0.15
#: The ``cluster`` fixture's parameters: where the ring is kept.
BACKENDS = ("redis", "zookeeper")
GROUP_PREFIX = "astt-ring"


@contextlib.contextmanager
def redis_group() -> Iterator[tuple[str, str]]:
    """The tooz URL and group of a namespace of this run's own in the machine's Redis,
    deleted after."""
    pytest.importorskip("redis")
    try:
        namespace = RedisNamespace.create(GROUP_PREFIX)
    except RedisUnavailable as error:
        pytest.skip(str(error))
    try:
        yield namespace.url, namespace.name
    finally:
        namespace.delete()


@contextlib.contextmanager
def zookeeper_group(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The tooz URL of a private ZooKeeper server, stopped after, and a group of this run's
    own. The URL sets no session timeout: the orchestrators fill in their lease (3
    heartbeats), which the server's short tick lets through unchanged."""
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(private_zookeeper(tmp_path_factory.mktemp("zookeeper")))
        except ZooKeeperUnavailable as error:
            pytest.skip(str(error))
        yield server.url, f"{GROUP_PREFIX}-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module", params=BACKENDS)
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """The three orchestrators on the parameter's backend, started together and settled;
    every group killed, then the backend cleaned up, at the end."""
    name: str = request.param
    backend = redis_group() if name == "redis" else zookeeper_group(tmp_path_factory)
    with backend as (url, group):
        running = Cluster.of(tmp_path_factory.mktemp(f"cluster-ring-{name}"), HOSTS, group, url)
        try:
            print(f"\ncluster_settle_s={running.start():.2f} backend={name}")
            yield running
        finally:
            running.stop()


@pytest.fixture
def backend(request: pytest.FixtureRequest, cluster: Cluster) -> str:
    """The name of the backend ``cluster`` runs on (one of BACKENDS)."""
    name: str = request.node.callspec.params["cluster"]
    return name


#: A log line at ERROR or CRITICAL (the format: date time pid level logger ...).
LOGGED_ERROR = re.compile(r"^\S+ \S+ \d+ (ERROR|CRITICAL) ")


def logged_errors(node: Node) -> list[str]:
    lines = node.log.read_text().splitlines() if node.log.exists() else []
    return [line for line in lines if LOGGED_ERROR.match(line) or "Traceback" in line]


# -- the settled cluster ----------------------------------------------------------------


def test_the_three_share_every_router_once_and_evenly(cluster: Cluster) -> None:
    listings = cluster.listings(HOSTS)
    assert listings is not None
    counts = Counter({host: len(routers) for host, routers in listings.items()})
    print(f"\nrouters_per_orchestrator={dict(sorted(counts.items()))}")
    assert frozenset().union(*listings.values()) == ROUTER_IDS
    assert sum(counts.values()) == ROUTERS, "a router is driven by two orchestrators"
    assert listings == split_of(ring_of(HOSTS)), "each owner is the one the ring names"
    mean = ROUTERS / len(HOSTS)
    for host, count in counts.items():
        assert abs(count - mean) <= BALANCE_TOLERANCE * mean, (host, count)
    assert not any(node.rebuilt() for node in cluster.nodes.values())


def test_the_workers_report_names_the_cluster(cluster: Cluster) -> None:
    node = cluster.nodes["astt-a"]
    listed = node.get("/v1/workers")
    assert listed is not None
    for body in (listed, node.put("/workers/debug")):
        assert [report["worker"] for report in body["workers"]] == ["p00", "p01"]
        for report in body["workers"]:
            assert report["cluster"] == {
                "clustered": True,
                "host": "astt-a",
                "members": sorted(HOSTS),
            }


# -- a member dies, then comes back ---------------------------------------------------------


def test_a_killed_orchestrators_routers_are_taken_over_and_given_back(
    cluster: Cluster, backend: str
) -> None:
    victim = cluster.nodes[VICTIM]
    survivors = {host: node for host, node in cluster.nodes.items() if host != VICTIM}
    three, two = ring_of(HOSTS), ring_of(survivors)
    orphans = split_of(three)[VICTIM]
    new_owner = {rid: two.owner(rid) for rid in orphans}
    assert set(new_owner.values()) == set(survivors), "both survivors inherit some"

    # kill -9: every orphan is verified (an UPDATE, never a REBUILD) by its new owner.
    marks = {host: node.mark() for host, node in survivors.items()}
    killed_at = time.monotonic()
    victim.kill()
    reowned_at = wait_reowned(survivors, marks, new_owner)
    print(
        f"\ncontrol_plane_reown_s={reowned_at - killed_at:.2f} backend={backend} "
        f"({len(orphans)} routers)"
    )
    wait_until(cluster.settled_on(survivors), "the survivors settled", REOWN_BOUND_S, 0.2)
    listings = cluster.listings(survivors)
    assert listings is not None
    assert frozenset().union(*listings.values()) == ROUTER_IDS
    assert sum(map(len, listings.values())) == ROUTERS, "a router is driven twice"
    states = Counter(
        (row["state"], row["instance_state"])
        for node in survivors.values()
        for row in (node.get("/v1/resources") or {"resources": []})["resources"]
        if row["id"] in orphans
    )
    print(f"orphan_states_at_new_owners={dict(states)}")
    for host, node in survivors.items():
        # A survivor took over its orphans and nothing else (it owned the rest already).
        assert node.updated_since(marks[host]) == {r for r in orphans if new_owner[r] == host}
        assert not node.rebuilt(), f"{host} rebuilt {sorted(node.rebuilt())[:5]}"

    # The same name again: its routers move back, each verified by it, none rebuilt.
    marks = {host: node.mark() for host, node in cluster.nodes.items()}
    restarted_at = time.monotonic()
    victim.start()
    wait_until(cluster.settled_on(HOSTS), "the restarted orchestrator took its share back",
               SETTLE_S, 0.2)  # fmt: skip
    print(f"rejoin_settle_s={time.monotonic() - restarted_at:.2f} backend={backend}")
    listings = cluster.listings(HOSTS)
    assert listings is not None
    assert listings[VICTIM] == orphans, "the ring gives it back exactly what it had"
    wait_until(lambda: victim.updated_since(marks[VICTIM]) >= orphans,
               "each router given back got an UPDATE from the restarted one", SETTLE_S)  # fmt: skip
    for host in survivors:
        assert not listings[host] & orphans, f"{host} still drives routers it gave back"
    for host, node in cluster.nodes.items():
        assert not node.rebuilt(), f"{host} rebuilt {sorted(node.rebuilt())[:5]}"


def test_no_orchestrator_logged_an_error(cluster: Cluster) -> None:
    """Through starts, a kill -9 and a rejoin, nothing failed (the logs of all runs)."""
    for node in cluster.nodes.values():
        errors = logged_errors(node)
        assert not errors, f"{node.host}:\n" + "\n".join(errors[:20])
        assert "Traceback" not in node.stderr.read_text(), node.stderr.read_text()[-3000:]
