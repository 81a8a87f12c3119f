"""Clustering inside one orchestrator: REBALANCE in the workers, takeovers in the main process.

Three orchestrators on real processes and a real Redis are in
tests/integration/test_cluster_ring.py; here one worker (with scripted state
machines) and the main-process :class:`Cluster` (with a scripted tooz seat)
show the rules one by one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from astara.orchestrator import cluster as cluster_module
from astara.orchestrator.cluster import Cluster, rebalance_event
from astara.orchestrator.cluster_view import ClusterView
from astara.orchestrator.coordination import Membership
from astara.orchestrator.debug_flags import DebugFlags
from astara.orchestrator.event import Crud, Event, Resource
from astara.orchestrator.handover_hold import HandoverHold
from astara.orchestrator.hash_ring import DEFAULT_PARTITION_EXPONENT, HashRing
from astara.orchestrator.populate import ResourceFilter
from astara.orchestrator.worker import Worker
from tests import waiting
from tests.orchestrator_doubles_wiring import MemoryDebugStore, ScriptedFactory

HOSTS = frozenset({"astt-a", "astt-b", "astt-c"})
ROUTERS = [f"router-{n:03d}" for n in range(60)]


def router(resource_id: str) -> Resource:
    return Resource("router", resource_id, "tenant-1")


def owned_by(host: str, members: frozenset[str] = HOSTS) -> list[str]:
    ring = HashRing(members)
    return [r for r in ROUTERS if ring.owns(host, r)]


class Harness:
    def __init__(self, host: str = "astt-a", *, clustered: bool = True) -> None:
        self.factory = ScriptedFactory()
        self.worker = Worker(
            self.factory, DebugFlags(MemoryDebugStore()), threads=2,
            cluster=ClusterView(host, clustered=clustered),
        )  # fmt: skip

    def updated(self) -> set[str]:
        return {m.resource.id for m in self.factory.built if m.ran}

    def driven(self) -> set[str]:
        return {m.resource.id for m in self.worker.registry.all()}

    def settle(self) -> None:
        waiting.wait_until(lambda: self.worker.queue_depth == 0 and all(
            s.doing == "waiting for work" for s in self.worker.thread_statuses()),
            "the worker went idle", timeout=10.0, interval=0.002)  # fmt: skip

    def update_all(self) -> None:
        self.worker.handle_batch([Event(router(r), Crud.UPDATE) for r in ROUTERS])
        self.settle()


@pytest.fixture
def harness() -> Iterator[Harness]:
    built = Harness()
    built.worker.start()
    yield built
    built.worker.stop(5)


def test_before_the_first_rebalance_a_clustered_worker_drives_nothing(harness: Harness) -> None:
    harness.update_all()
    assert harness.driven() == set()


def test_an_unclustered_worker_drives_everything() -> None:
    harness = Harness(clustered=False)
    harness.worker.start()
    try:
        harness.update_all()
        assert harness.driven() == set(ROUTERS)
    finally:
        harness.worker.stop(5)


def test_after_a_rebalance_the_worker_drives_exactly_what_its_host_owns(harness: Harness) -> None:
    harness.worker.handle(rebalance_event(HOSTS))
    harness.update_all()
    mine = owned_by("astt-a")
    assert harness.driven() == set(mine) == harness.updated()
    assert 0 < len(mine) < len(ROUTERS)


def test_a_rebalance_releases_what_moved_away_and_keeps_the_rest(harness: Harness) -> None:
    harness.worker.handle(rebalance_event(frozenset({"astt-a"})))
    harness.update_all()
    assert harness.driven() == set(ROUTERS)
    kept = {id(m): m.resource.id for m in harness.worker.registry.all() if m.resource.id
            in owned_by("astt-a")}  # fmt: skip

    harness.worker.handle(rebalance_event(HOSTS))
    assert harness.driven() == set(owned_by("astt-a"))
    assert {id(m) for m in harness.worker.registry.all()} == set(kept), \
        "the resources it kept are the same machines: nothing rebuilt"
    # Events for released resources are dropped from now on.
    before = len(harness.factory.built)
    harness.update_all()
    assert len(harness.factory.built) == before


def test_a_released_machine_finishes_its_step_and_is_not_run_again(harness: Harness) -> None:
    harness.worker.handle(rebalance_event(frozenset({"astt-a"})))
    moving = next(r for r in ROUTERS if r not in owned_by("astt-a"))
    harness.worker.handle(Event(router(moving), Crud.UPDATE))
    harness.settle()
    [machine] = [m for m in harness.factory.built if m.resource.id == moving]
    gate = machine.hold()
    harness.worker.handle(Event(router(moving), Crud.UPDATE))
    waiting.wait_until(machine.started.is_set, "the step began", timeout=5.0)

    harness.worker.handle(rebalance_event(HOSTS))
    harness.worker.handle(Event(router(moving), Crud.UPDATE))
    gate.set()
    harness.settle()
    assert machine.ran == [Crud.UPDATE, Crud.UPDATE], "the step in hand finished, no more"
    assert moving not in harness.driven()


def test_the_report_shows_the_ring(harness: Harness) -> None:
    harness.worker.handle(rebalance_event(HOSTS))
    cluster = harness.worker.report()["cluster"]
    assert cluster == {"clustered": True, "host": "astt-a", "members": sorted(HOSTS)}


# -- the main process ----------------------------------------------------------------


class Seat:
    """A tooz group whose members the test sets."""

    def __init__(self, members: frozenset[str]) -> None:
        self.members = members

    def refresh(self) -> frozenset[str]:
        return self.members

    def close(self) -> None:
        pass


class Sink:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def dispatch(self, events: list[Event]) -> int:
        self.events.extend(events)
        return len(events)


class Conf:
    """The options Cluster reads."""

    host = "astt-a"
    hash_partition_exponent = DEFAULT_PARTITION_EXPONENT

    class coordination:
        url = "redis://127.0.0.1:6379"
        group_id = "astt"
        heartbeat_interval = 3600.0


MainSide = tuple[Cluster, "Seat", "Sink", list[ResourceFilter]]


@pytest.fixture
def main_side(monkeypatch: pytest.MonkeyPatch) -> Iterator[MainSide]:
    seat = Seat(frozenset({"astt-a"}))

    def membership(settings: object, on_change: Callable[..., None]) -> Membership:
        return Membership(settings, on_change, seat)  # type: ignore[arg-type]

    monkeypatch.setattr(cluster_module, "Membership", membership)
    sink, takeovers = Sink(), []
    cluster = Cluster(Conf(), sink, takeovers.append)  # type: ignore[arg-type]
    yield cluster, seat, sink, takeovers
    cluster.stop()


def beat(cluster: Cluster) -> None:
    cluster._membership._beat()  # one heartbeat, now


def test_the_bootstrap_reaches_the_workers_and_takes_nothing_over(
    main_side: MainSide,
) -> None:
    cluster, _, sink, takeovers = main_side
    cluster.start()
    assert [e.crud for e in sink.events] == [Crud.REBALANCE]
    assert sink.events[0].body == {"members": ["astt-a"]}
    assert takeovers == [], "populate's first pass serves the bootstrap's resources"


def test_a_member_leaving_makes_the_survivor_take_over_only_what_it_gained(
    main_side: MainSide,
) -> None:
    cluster, seat, sink, takeovers = main_side
    seat.members = HOSTS
    cluster.start()
    seat.members = frozenset({"astt-a", "astt-b"})
    beat(cluster)

    assert sink.events[-1].body["members"] == ["astt-a", "astt-b"]
    assert sink.events[-1].body["previous_members"] == sorted(HOSTS)
    gained = takeovers[0]  # at once: everything gained came from astt-c, which left
    taken = {r for r in ROUTERS if gained(router(r))}
    assert taken == set(owned_by("astt-a", seat.members)) - set(owned_by("astt-a"))
    assert taken, "astt-c's routers are shared by the survivors"


def test_a_late_bootstrap_takes_over_everything_owned(
    main_side: MainSide,
) -> None:
    cluster, seat, _, takeovers = main_side
    seat.members = frozenset()  # the backend has not answered yet: no members
    cluster.start()
    seat.members = HOSTS
    beat(cluster)
    gained = takeovers[0]
    assert {r for r in ROUTERS if gained(router(r))} == set(owned_by("astt-a"))


def test_resend_repeats_the_ring_for_a_restarted_worker(
    main_side: MainSide,
) -> None:
    cluster, _, sink, _ = main_side
    cluster.start()
    cluster.resend()
    assert [e.body for e in sink.events] == [{"members": ["astt-a"]}] * 2


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_resource_gained_from_a_live_member_waits_for_the_handover_window() -> None:
    clock = Clock()
    view = ClusterView("astt-c", clustered=True, clock=clock)
    before = frozenset({"astt-a", "astt-b"})
    view.rebalance(HOSTS, before, handover_until=clock.now + 5)
    ring, old = HashRing(HOSTS), HashRing(before)
    gained = [r for r in ROUTERS if ring.owns("astt-c", r)]
    assert gained and all(old.owner(r) in before for r in gained)

    assert not any(view.owns(r) for r in gained), "the live giver may still be in a step"
    clock.now += 5
    assert all(view.owns(r) for r in gained)


def test_a_resource_whose_owner_left_is_taken_at_once() -> None:
    clock = Clock()
    view = ClusterView("astt-a", clustered=True, clock=clock)
    survivors = frozenset({"astt-a", "astt-b"})
    view.rebalance(survivors, HOSTS, handover_until=clock.now + 5)
    ring, old = HashRing(survivors), HashRing(HOSTS)
    from_the_dead = [r for r in ROUTERS if ring.owns("astt-a", r) and old.owner(r) == "astt-c"]
    kept = [r for r in ROUTERS if old.owns("astt-a", r)]
    assert from_the_dead and kept
    assert all(view.owns(r) for r in from_the_dead + kept)


def test_a_joining_member_gets_its_share_after_the_window(
    main_side: MainSide, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster, seat, sink, takeovers = main_side
    monkeypatch.setattr(cluster, "_handover_s", 0.05)
    seat.members = frozenset({"astt-b"})
    cluster.start()
    seat.members = frozenset({"astt-a", "astt-b"})
    beat(cluster)

    event = sink.events[-1]
    assert event.body["previous_members"] == ["astt-b"]
    assert event.body["handover_until"] > 0
    immediate = takeovers[0]
    assert not any(immediate(router(r)) for r in ROUTERS), "everything came from live astt-b"
    waiting.wait_until(lambda: len(takeovers) == 2, "the delayed take-over", timeout=5)
    delayed = takeovers[1]
    joined = HashRing(seat.members)
    assert {r for r in ROUTERS if delayed(router(r))} == {r for r in ROUTERS
                                                         if joined.owns("astt-a", r)}


def test_an_event_for_a_resource_being_handed_over_is_held_then_delivered() -> None:
    clock = Clock()
    factory = ScriptedFactory()
    view = ClusterView("astt-c", clustered=True, clock=clock)
    worker = Worker(factory, DebugFlags(MemoryDebugStore()), threads=1, cluster=view)
    worker._handover = HandoverHold(clock)  # the worker's hold on the test's clock
    worker.start()
    try:
        before = frozenset({"astt-a", "astt-b"})
        worker.handle(rebalance_event(HOSTS, HashRing(before), clock.now + 5))
        gained = next(r for r in ROUTERS if HashRing(HOSTS).owns("astt-c", r))
        worker.handle(Event(router(gained), Crud.DELETE))
        assert factory.built == [], "nobody may act during the hand-over"

        clock.now += 5
        worker.handle_batch([])  # the intake's idle tick
        waiting.wait_until(lambda: bool(factory.built) and factory.built[0].ran == [Crud.DELETE],
                           "the held DELETE delivered", timeout=5)  # fmt: skip
    finally:
        worker.stop(5)


def test_events_still_held_at_stop_are_handed_back_to_be_saved() -> None:
    clock = Clock()
    view = ClusterView("astt-c", clustered=True, clock=clock)
    worker = Worker(ScriptedFactory(), DebugFlags(MemoryDebugStore()), threads=1, cluster=view)
    worker.start()
    before = frozenset({"astt-a", "astt-b"})
    worker.handle(rebalance_event(HOSTS, HashRing(before), clock.now + 3600))
    gained = next(r for r in ROUTERS if HashRing(HOSTS).owns("astt-c", r))
    held = Event(router(gained), Crud.UPDATE)
    worker.handle(held)
    assert worker.stop(5) == [held]
