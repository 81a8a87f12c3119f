"""Three real orchestrators share 300 routers on a hash ring kept in a real Redis.

Each orchestrator is a real ``astara-orchestrator`` (a main process and two
worker processes) over ``tests.orchestrator_doubles_wiring``, with its own
host name, configuration, control API, SQLite database and record file (the
doubles' state machines append ``<crud> router <id>`` to it for each action
they run). They join one tooz group in the machine's Redis, under a group and
a namespace of the test's own (tooz's Redis driver keys heartbeats by member
name alone, so the namespace keeps two concurrent runs of this file apart),
deleted afterwards.

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
by its new owner) is printed as ``control_plane_reown_s``, never asserted:
waits are bounded only so that a broken cluster fails instead of hanging.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from astara.db import migration
from astara.orchestrator.hash_ring import DEFAULT_PARTITION_EXPONENT, HashRing
from tests.integration.test_orchestrator_process import ORCHESTRATOR, REPO, WIRING
from tests.orchestrator_doubles_wiring import (
    DELAY_ENV,
    RECORD_ENV,
    RESOURCES_ENV,
    listed_router,
    read_record,
)
from tests.ports import free_port
from tests.waiting import wait_until

pytestmark = pytest.mark.integration

REDIS_URL = "redis://127.0.0.1:6379"
HOSTS = ("astt-a", "astt-b", "astt-c")
#: The one killed and restarted.
VICTIM = "astt-b"
ROUTERS = 300
ROUTER_IDS = frozenset(listed_router(n).id for n in range(ROUTERS))
HEARTBEAT_S = 0.5
#: The configuration's default points per member (the orchestrators are given no other),
#: whose balance tests/unit/test_hash_ring.py establishes; the original's 5 would split
#: these names 123/91/86.
PARTITION_EXPONENT = DEFAULT_PARTITION_EXPONENT
#: Each member's share may stray this far from a third (ring + 300 ids' own unevenness).
BALANCE_TOLERANCE = 0.15
#: Bounds, not expectations: start-up of nine Python processes on two cores, and a
#: take-over that should need the lease (a few heartbeats) and one UPDATE per orphan.
SETTLE_S = 90.0
REOWN_BOUND_S = 30.0
HTTP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0

Record = list[tuple[str, str, str]]


def ring_of(hosts: Iterable[str]) -> HashRing:
    return HashRing(frozenset(hosts), PARTITION_EXPONENT)


def split_of(ring: HashRing) -> dict[str, frozenset[str]]:
    """Which routers each member of ``ring`` owns."""
    return {
        host: frozenset(rid for rid in ROUTER_IDS if ring.owner(rid) == host)
        for host in ring.members
    }


@dataclass
class Node:
    """One orchestrator: its files, its process group and a client of its control API."""

    host: str
    root: Path
    url: str
    group: str
    namespace: str
    process: subprocess.Popen[bytes] | None = None
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        database = f"sqlite:///{self.root / 'astara.db'}"
        migration.upgrade(database)
        self.port = free_port()
        self.config = self.root / "orchestrator.ini"
        self.record = self.root / "record.txt"
        self.stderr = self.root / "stderr.txt"
        self.log = self.root / "orchestrator.log"
        self.token_file = self.root / "control-api.token"
        self.config.write_text(
            "[DEFAULT]\n"
            f"host = {self.host}\n"
            "num_worker_processes = 2\n"
            "num_worker_threads = 3\n"
            "health_check_period = 3600\n"
            f"log_file = {self.log}\n"
            "api_listen = 127.0.0.1\n"
            f"api_port = {self.port}\n"
            "api_auth_strategy = token_file\n"
            f"api_token_file = {self.token_file}\n"
            "[database]\n"
            f"connection = {database}\n"
            "[coordination]\n"
            "enabled = true\n"
            f"url = {self.url}?namespace={self.namespace}\n"
            f"group_id = {self.group}\n"
            f"heartbeat_interval = {HEARTBEAT_S}\n"
        )
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=HTTP_TIMEOUT_S)

    # -- the process group ---------------------------------------------------------------

    def start(self) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            RECORD_ENV: str(self.record),
            DELAY_ENV: "0",
            RESOURCES_ENV: str(ROUTERS),
        }
        with self.stderr.open("ab") as stderr:
            self.process = subprocess.Popen(
                [str(ORCHESTRATOR), "--config-file", str(self.config), "--wiring", WIRING],
                env=env,
                start_new_session=True,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )

    def kill(self) -> None:
        """``kill -9`` of the main process and its workers, as a dead host would be."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT_S)
        # A new server on the same port after a restart: no kept-alive connection to the old.
        self.http.close()
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=HTTP_TIMEOUT_S)

    def terminate(self) -> None:
        """SIGTERM the group (a clean stop, leaving the group at once); no wait."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)

    def reap(self, deadline: float) -> None:
        """Wait for the stop until ``deadline``, then SIGKILL whatever is left of the group."""
        if self.process is None:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        with contextlib.suppress(ProcessLookupError):  # stragglers, even with the main gone
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=STOP_TIMEOUT_S)
        self.http.close()

    def alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(
                f"{self.host} exited with {self.process.returncode}:\n"
                f"{self.stderr.read_text()[-3000:]}"
            )

    # -- the control API -------------------------------------------------------------------

    def get(self, path: str) -> dict[str, Any] | None:
        """The body of ``GET path``; None while the API does not answer yet."""
        self.alive()
        if not self.token_file.exists():
            return None
        token = self.token_file.read_text().strip()
        try:
            response = self.http.get(path, headers={"X-Auth-Token": token})
        except httpx.TransportError:
            return None
        assert response.status_code == 200, (self.host, path, response.text)
        body: dict[str, Any] = response.json()
        return body

    def put(self, path: str) -> dict[str, Any]:
        token = self.token_file.read_text().strip()
        response = self.http.put(path, headers={"X-Auth-Token": token})
        assert response.status_code == 200, (self.host, path, response.text)
        body: dict[str, Any] = response.json()
        return body

    def routers(self) -> frozenset[str] | None:
        """The routers this orchestrator's workers drive; None unless every worker answered."""
        body = self.get("/v1/resources")
        if body is None or body["unanswered_workers"]:
            return None
        return frozenset(row["id"] for row in body["resources"] if row["driver"] == "router")

    def members(self) -> set[tuple[str, ...]] | None:
        """The members each worker's ring is made of (one tuple per worker that knows one)."""
        body = self.get("/v1/workers")
        if body is None:
            return None
        return {tuple(report["cluster"]["members"] or ()) for report in body["workers"]}

    # -- the record ------------------------------------------------------------------------

    def mark(self) -> int:
        return len(read_record(self.record))

    def since(self, mark: int) -> Record:
        return read_record(self.record)[mark:]

    def updated_since(self, mark: int) -> set[str]:
        return {rid for crud, _, rid in self.since(mark) if crud == "update"}

    def rebuilt(self) -> set[str]:
        return {rid for crud, _, rid in read_record(self.record) if crud == "rebuild"}


@dataclass
class Cluster:
    nodes: dict[str, Node]

    def listings(self, hosts: Iterable[str]) -> dict[str, frozenset[str]] | None:
        found = {}
        for host in hosts:
            routers = self.nodes[host].routers()
            if routers is None:
                return None
            found[host] = routers
        return found

    def settled_on(self, hosts: Iterable[str]) -> Callable[[], bool]:
        """True once every worker of ``hosts`` knows exactly them and drives its ring share."""
        hosts = tuple(sorted(hosts))
        expected = split_of(ring_of(hosts))

        def settled() -> bool:
            if any(self.nodes[host].members() != {hosts} for host in hosts):
                return False
            return self.listings(hosts) == expected

        return settled


@pytest.fixture(scope="module")
def redis_namespace() -> Iterator[str]:
    """A namespace (and group) of this module's own in the machine's Redis, deleted after."""
    redis = pytest.importorskip("redis")
    client = redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.skip(f"Redis is not reachable on 127.0.0.1:6379: {error}")
    namespace = f"astt-ring-{uuid.uuid4().hex[:12]}"
    try:
        yield namespace
    finally:
        for key in client.scan_iter(match=f"{namespace}*"):
            client.delete(key)
        client.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, redis_namespace: str) -> Iterator[Cluster]:
    """The three orchestrators, started together and settled; every group killed at the end."""
    root = tmp_path_factory.mktemp("cluster-ring")
    nodes = {
        host: Node(host, root / host, REDIS_URL, group=redis_namespace, namespace=redis_namespace)
        for host in HOSTS
    }
    running = Cluster(nodes)
    try:
        for node in nodes.values():
            node.start()
        started = time.monotonic()
        wait_until(running.settled_on(HOSTS), "the three orchestrators settled", SETTLE_S, 0.2)
        shares = split_of(ring_of(HOSTS))
        wait_until(
            lambda: all(shares[host] <= node.updated_since(0) for host, node in nodes.items()),
            "every router got its first UPDATE from its owner",
            SETTLE_S,
        )
        print(f"\ncluster_settle_s={time.monotonic() - started:.2f}")
        yield running
    finally:
        for node in nodes.values():
            node.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for node in nodes.values():
            node.reap(deadline)


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


def test_a_killed_orchestrators_routers_are_taken_over_and_given_back(cluster: Cluster) -> None:
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
    reowned_at: list[float] = []

    def every_orphan_verified() -> bool:
        updated = {host: node.updated_since(marks[host]) for host, node in survivors.items()}
        if all(rid in updated[new_owner[rid]] for rid in orphans):
            reowned_at.append(time.monotonic())
            return True
        return False

    wait_until(every_orphan_verified, "each orphan got an UPDATE from its new owner",
               REOWN_BOUND_S, 0.02)  # fmt: skip
    print(f"\ncontrol_plane_reown_s={reowned_at[0] - killed_at:.2f} ({len(orphans)} routers)")
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
    print(f"rejoin_settle_s={time.monotonic() - restarted_at:.2f}")
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
