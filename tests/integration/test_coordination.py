"""Three orchestrators, each in its own process, share a hash ring on a real backend.

Backends: the machine's Redis on 127.0.0.1:6379 (a group and member ids of the
test's own, deleted afterwards) and a private ZooKeeper server that this
module starts from Debian's ``zookeeper`` package (its own port and data
directory, stopped at the end whatever happens; see ``tests.zookeeper_server``).
Each is skipped with the reason when it cannot be had.

Every member process reports each membership it is told about, with the keys
it owns among 300 router ids and the (system-wide) monotonic time. The tests
check that the members agree and that each key has exactly one owner, through
a kill -9, a restart, a SIGTERM and (ZooKeeper) a backend restart. How long
the survivors took to notice is printed, never asserted.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import queue
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event as ProcessEvent
from typing import Any

import pytest

from astara.orchestrator.coordination import Membership, MembershipSettings
from astara.orchestrator.hash_ring import HashRing
from tests.zookeeper_server import PrivateZooKeeper, ZooKeeperUnavailable, private_zookeeper

pytestmark = pytest.mark.integration

HEARTBEAT = 1.0  # the configuration's default, so the printed figures are the real ones
KEYS = tuple(str(uuid.UUID(int=index * 7919 + 1, version=4)) for index in range(300))
SETTLE = 60.0  # seconds to wait for agreement before declaring the cluster stuck
CONTEXT = multiprocessing.get_context("spawn")


@dataclass(frozen=True)
class Report:
    """One on_change call in one member process."""

    member: str
    members: frozenset[str]
    owned: frozenset[str]
    at: float


# -- the member process ----------------------------------------------------------


def run_member(settings: MembershipSettings, reports: Any, started: ProcessEvent) -> None:
    """An orchestrator's coordination part: join, report every change, leave on SIGTERM."""
    logging.basicConfig(level=logging.WARNING)
    # SIGTERM is taken synchronously by sigwait below; blocked before any
    # thread starts, so no thread of the process receives it instead.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})

    def report(members: frozenset[str], ring: HashRing) -> None:
        owned = frozenset(key for key in KEYS if ring.owns(settings.member_id, key))
        reports.put(Report(settings.member_id, members, owned, time.monotonic()))

    membership = Membership(settings, report)
    membership.start()
    started.set()
    signal.sigwait({signal.SIGTERM})
    membership.stop()


@dataclass
class Cluster:
    """The member processes of one test and everything they reported."""

    settings: Callable[[str], MembershipSettings]
    reports: Any
    processes: dict[str, BaseProcess]
    received: list[Report]

    def start(self, member: str) -> None:
        started = CONTEXT.Event()
        settings = self.settings(member)
        process = CONTEXT.Process(target=run_member, name=member,
                                  args=(settings, self.reports, started))
        process.start()
        self.processes[settings.member_id] = process
        if not started.wait(SETTLE):
            raise AssertionError(f"{member} did not join within {SETTLE} s")

    def kill(self, member: str) -> float:
        """kill -9: no goodbye; returns when it happened."""
        process = self.processes.pop(self.settings(member).member_id)
        assert process.pid is not None
        os.kill(process.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        process.join()
        return killed_at

    def signal(self, member: str, number: signal.Signals) -> float:
        """Send ``number`` to a member (SIGSTOP, SIGCONT); returns when it happened."""
        pid = self.processes[self.settings(member).member_id].pid
        assert pid is not None
        os.kill(pid, number)
        return time.monotonic()

    def terminate(self, member: str) -> tuple[float, int | None]:
        """SIGTERM, the orchestrator's stop path; returns when and the exit code."""
        process = self.processes.pop(self.settings(member).member_id)
        process.terminate()
        stopped_at = time.monotonic()
        process.join(SETTLE)
        return stopped_at, process.exitcode

    def latest(self) -> dict[str, Report]:
        """Each running member's last report, after reading all that arrived."""
        while True:
            try:
                self.received.append(self.reports.get_nowait())
            except queue.Empty:
                break
        latest: dict[str, Report] = {}
        for report in self.received:
            if report.member in self.processes:
                latest[report.member] = report
        return latest

    def wait_for_agreement(self, members: set[str],
                           among: set[str] | None = None) -> dict[str, Report]:
        """Block until the members ``among`` (all of ``members`` by default) last
        reported exactly ``members``; returns those reports."""
        reporters = members if among is None else among
        deadline = time.monotonic() + SETTLE
        while time.monotonic() < deadline:
            latest = {name: report for name, report in self.latest().items()
                      if name in reporters}
            if latest.keys() == reporters and all(r.members == members for r in latest.values()):
                return latest
            with contextlib.suppress(queue.Empty):
                self.received.append(self.reports.get(timeout=0.1))
        raise AssertionError(f"members never agreed on {sorted(members)}: {self.latest()}")

    def stop_all(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            process.join(SETTLE)
            if process.is_alive():
                process.kill()
                process.join()
        self.processes.clear()


def assert_each_key_has_one_owner(latest: dict[str, Report]) -> None:
    owners: dict[str, list[str]] = {key: [] for key in KEYS}
    for report in latest.values():
        for key in report.owned:
            owners[key].append(report.member)
    assert all(len(names) == 1 for names in owners.values()), "a key with 0 or 2+ owners"
    members = frozenset(latest)
    ring = HashRing(members)  # and this process, too, agrees with them
    assert all(names == [ring.owner(key)] for key, names in owners.items())


def print_figure(capsys: pytest.CaptureFixture[str], text: str) -> None:
    with capsys.disabled():
        print(f"\n{text}")


# -- backends --------------------------------------------------------------------


@dataclass
class Backend:
    name: str
    url: str
    token: str  # in every group and member id of the test, for clean-up


@pytest.fixture
def redis_backend() -> Iterator[Backend]:
    redis = pytest.importorskip("redis")
    client = redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.skip(f"Redis is not reachable on 127.0.0.1:6379: {error}")
    token = uuid.uuid4().hex[:12]
    yield Backend("redis", "redis://127.0.0.1:6379", token)
    for key in client.scan_iter(match=f"*{token}*"):
        client.delete(key)
    for group_set in client.scan_iter(match="*_groups"):
        for group in client.smembers(group_set):
            if token.encode() in group:
                client.srem(group_set, group)
    client.close()


@pytest.fixture(scope="module")
def zookeeper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateZooKeeper]:
    try:
        with private_zookeeper(tmp_path_factory.mktemp("zookeeper")) as server:
            yield server
    except ZooKeeperUnavailable as error:
        pytest.skip(str(error))


@pytest.fixture
def zookeeper_backend(zookeeper: PrivateZooKeeper) -> Backend:
    return Backend("zookeeper", zookeeper.url, uuid.uuid4().hex[:12])


@pytest.fixture(params=["redis", "zookeeper"])
def backend(request: pytest.FixtureRequest) -> Backend:
    return request.getfixturevalue(f"{request.param}_backend")  # type: ignore[no-any-return]


def make_cluster(backend: Backend) -> Cluster:
    def settings(member: str) -> MembershipSettings:
        return MembershipSettings(url=backend.url, group_id=f"astara.test.{backend.token}",
                                  member_id=f"{member}-{backend.token}",
                                  heartbeat_interval=HEARTBEAT)

    return Cluster(settings, CONTEXT.Queue(), {}, [])


@pytest.fixture
def cluster(backend: Backend) -> Iterator[Cluster]:
    cluster = make_cluster(backend)
    yield cluster
    cluster.stop_all()


def names(cluster: Cluster, *members: str) -> set[str]:
    return {cluster.settings(member).member_id for member in members}


# -- tests -----------------------------------------------------------------------


def test_members_agree_and_share_every_key_through_failures(
        backend: Backend, cluster: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    for member in ("a", "b", "c"):
        cluster.start(member)
    latest = cluster.wait_for_agreement(names(cluster, "a", "b", "c"))
    assert_each_key_has_one_owner(latest)
    print_figure(capsys, f"{backend.name}: 300 keys split "
                 f"{sorted(len(report.owned) for report in latest.values())}")

    # kill -9: the survivors notice when its lease runs out.
    killed_at = cluster.kill("c")
    latest = cluster.wait_for_agreement(names(cluster, "a", "b"))
    assert_each_key_has_one_owner(latest)
    detected = max(report.at for report in latest.values()) - killed_at
    print_figure(capsys, f"{backend.name}: kill -9 detected after {detected:.1f} s "
                 f"(heartbeat {HEARTBEAT} s)")

    # It comes back and takes its share again.
    cluster.start("c")
    assert_each_key_has_one_owner(cluster.wait_for_agreement(names(cluster, "a", "b", "c")))

    # SIGTERM: a stopped member leaves at once, without waiting for its lease.
    stopped_at, exit_code = cluster.terminate("b")
    assert exit_code == 0
    latest = cluster.wait_for_agreement(names(cluster, "a", "c"))
    assert_each_key_has_one_owner(latest)
    noticed = max(report.at for report in latest.values()) - stopped_at
    print_figure(capsys, f"{backend.name}: SIGTERM leave noticed after {noticed:.1f} s")


def test_a_frozen_member_is_dropped_and_rejoins_when_it_thaws(
        backend: Backend, cluster: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    """A long GC pause or a frozen VM: its lease runs out, then it must come back by itself."""
    cluster.start("a")
    cluster.start("b")
    a, b = names(cluster, "a"), names(cluster, "b")
    cluster.wait_for_agreement(a | b)

    frozen_at = cluster.signal("b", signal.SIGSTOP)
    latest = cluster.wait_for_agreement(a, among=a)
    assert_each_key_has_one_owner(latest)
    print_figure(capsys, f"{backend.name}: frozen member dropped after "
                 f"{latest[a.pop()].at - frozen_at:.1f} s")

    cluster.signal("b", signal.SIGCONT)
    assert_each_key_has_one_owner(cluster.wait_for_agreement(names(cluster, "a", "b")))


@pytest.mark.parametrize("data", ["kept", "lost"])
def test_a_zookeeper_restart_is_survived_without_a_flood_of_changes(
        zookeeper: PrivateZooKeeper, data: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The backend goes away and comes back, with its data or wiped: members
    keep or rebuild the group, and agree again."""
    cluster = make_cluster(Backend("zookeeper", zookeeper.url, uuid.uuid4().hex[:12]))
    group_id = cluster.settings("a").group_id
    try:
        cluster.start("a")
        cluster.start("b")
        everyone = names(cluster, "a", "b")
        cluster.wait_for_agreement(everyone)
        reports_before = len(cluster.received)

        zookeeper.stop()
        if data == "lost":
            zookeeper.wipe()
        zookeeper.start()
        deadline = time.monotonic() + SETTLE
        while zookeeper.members(group_id) != everyone:
            assert time.monotonic() < deadline, f"the group is {zookeeper.members(group_id)}"
            time.sleep(HEARTBEAT)
        assert_each_key_has_one_owner(cluster.wait_for_agreement(everyone))
        changes = len(cluster.received) - reports_before
        # Each member sees at most: the other dropped, the other back.
        assert changes <= 2 * len(everyone)
        print_figure(capsys, f"zookeeper restart, data {data}: {changes} membership changes "
                     "reported")
    finally:
        cluster.stop_all()
