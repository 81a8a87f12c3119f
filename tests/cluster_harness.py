"""A cluster of real orchestrators on one hash ring, for the test and the benchmark of it.

``tests/integration/test_cluster_ring.py`` checks what such a cluster does
when a member dies and comes back; ``bench/failover.py`` times the same
take-over over several kills. Both need the same cluster, and the same
definition of "taken over", so it lives here, free of pytest (the benchmark
runs as a plain script): a failure is an ``AssertionError`` (as
``tests.waiting.wait_until`` raises) or :class:`RedisUnavailable`.

Each orchestrator (:class:`Node`) is a real ``astara-orchestrator`` (a main
process and two worker processes) over ``tests.orchestrator_doubles_wiring``,
with its own host name, configuration, control API, SQLite database and
record file (the doubles' state machines append ``<crud> router <id>`` to it
for each action they run). They join one tooz group of the run's own, at the
backend URL the caller gives: by default the machine's Redis, under a
namespace of the run's own too (:class:`RedisNamespace`: tooz's Redis driver
keys heartbeats by member name alone, so the namespace keeps two concurrent
runs apart), deleted afterwards; or any other tooz URL, such as a private
ZooKeeper server's ``kazoo://`` (``tests.zookeeper_server``), whose clean-up
is the caller's.

The orchestrators get ``PYTHONPATH`` set to the repository root, where the
wiring is imported from.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from astara.db import migration
from astara.orchestrator.hash_ring import DEFAULT_PARTITION_EXPONENT, HashRing
from tests.orchestrator_doubles_wiring import (
    DELAY_ENV,
    RECORD_ENV,
    RESOURCES_ENV,
    listed_router,
    read_record,
)
from tests.orchestrator_setup import ORCHESTRATOR, REPO, WIRING
from tests.ports import free_port
from tests.waiting import wait_until

if TYPE_CHECKING:
    import redis

REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}"
HOSTS = ("astt-a", "astt-b", "astt-c")
ROUTERS = 300
ROUTER_IDS = frozenset(listed_router(n).id for n in range(ROUTERS))
HEARTBEAT_S = 0.5
#: The configuration's default points per member (the orchestrators are given no other),
#: whose balance tests/unit/test_hash_ring.py establishes; the original's 5 would split
#: these names 123/91/86.
PARTITION_EXPONENT = DEFAULT_PARTITION_EXPONENT
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
    #: The tooz URL of the coordination backend, options included (the lease is
    #: the orchestrator's to add, from its heartbeat; see coordination_lease).
    url: str
    group: str
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
            f"url = {self.url}\n"
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

    @classmethod
    def of(cls, root: Path, hosts: Iterable[str], group: str, url: str | None = None) -> Cluster:
        """An orchestrator per host under ``root``, in tooz group ``group`` at ``url``.

        ``url`` defaults to the machine's Redis under namespace ``group`` (a
        :class:`RedisNamespace`'s name, as :func:`redis_url` makes it). None is
        started yet (see :meth:`start`).
        """
        backend = redis_url(group) if url is None else url
        return cls({host: Node(host, root / host, backend, group=group) for host in hosts})

    def start(self) -> float:
        """Start every orchestrator and wait until they settled and each router got its
        first UPDATE from its owner; the seconds that took."""
        for node in self.nodes.values():
            node.start()
        started = time.monotonic()
        hosts = tuple(self.nodes)
        wait_until(self.settled_on(hosts), f"the {len(hosts)} orchestrators settled",
                   SETTLE_S, 0.2)  # fmt: skip
        shares = split_of(ring_of(hosts))
        wait_until(
            lambda: all(shares[host] <= node.updated_since(0) for host, node in self.nodes.items()),
            "every router got its first UPDATE from its owner",
            SETTLE_S,
        )
        return time.monotonic() - started

    def stop(self) -> None:
        """SIGTERM every group at once, then SIGKILL whatever is left after a while."""
        for node in self.nodes.values():
            node.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for node in self.nodes.values():
            node.reap(deadline)

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


def wait_reowned(
    survivors: Mapping[str, Node], marks: Mapping[str, int], new_owner: Mapping[str, str]
) -> float:
    """When (``time.monotonic()``) every orphan had been verified by its new owner.

    ``new_owner`` maps each orphan to the survivor that inherits it; verified is
    an UPDATE in that survivor's record after its mark in ``marks``.
    """
    reowned_at: list[float] = []

    def every_orphan_verified() -> bool:
        updated = {host: node.updated_since(marks[host]) for host, node in survivors.items()}
        if all(rid in updated[owner] for rid, owner in new_owner.items()):
            reowned_at.append(time.monotonic())
            return True
        return False

    wait_until(every_orphan_verified, "each orphan got an UPDATE from its new owner",
               REOWN_BOUND_S, 0.02)  # fmt: skip
    return reowned_at[0]


def redis_url(namespace: str) -> str:
    """The tooz URL of the machine's Redis, keys under ``namespace``."""
    return f"{REDIS_URL}?namespace={namespace}"


class RedisUnavailable(Exception):
    """The machine's Redis, where the cluster keeps its group, does not answer."""


@dataclass
class RedisNamespace:
    """A namespace (and group) of one run's own in the machine's Redis; :meth:`delete` it."""

    name: str
    client: redis.Redis

    @classmethod
    def create(cls, prefix: str) -> RedisNamespace:
        """A fresh ``<prefix>-<random>`` namespace; RedisUnavailable if Redis does not answer."""
        import redis  # a dependency, but the test skips rather than fails without it

        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_connect_timeout=2)
        try:
            client.ping()
        except redis.RedisError as error:
            raise RedisUnavailable(
                f"Redis is not reachable on {REDIS_HOST}:{REDIS_PORT}: {error}"
            ) from error
        return cls(f"{prefix}-{uuid.uuid4().hex[:12]}", client)

    @property
    def url(self) -> str:
        """The tooz URL that keeps a cluster's keys in this namespace."""
        return redis_url(self.name)

    def delete(self) -> None:
        """Delete every key of the namespace (the group, heartbeats) and close the client."""
        for key in self.client.scan_iter(match=f"{self.name}*"):
            self.client.delete(key)
        self.client.close()
