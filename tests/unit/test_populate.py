"""Populate: replay saved events, then UPDATE every listed resource, retrying the network model."""

from __future__ import annotations

import threading

from astara.orchestrator.event import Crud, Event, Resource
from astara.orchestrator.populate import Populator, ResourceLister


def router(n: int, tenant: str = "t1") -> Resource:
    return Resource("router", f"r{n}", tenant)


class Sink:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.changed = threading.Condition()

    def dispatch(self, events: list[Event]) -> int:
        with self.changed:
            self.events.extend(events)
            self.changed.notify_all()
        return len(events)

    def wait_for(self, count: int) -> list[Event]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.events) >= count, 10)
            return list(self.events)


class Pending:
    def __init__(self, events: list[Event], failures: int = 0) -> None:
        self.events = events
        self.failures = failures

    def take_all(self) -> list[Event]:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database restarting")
        taken, self.events = self.events, []
        return taken


class Lister(ResourceLister):
    def __init__(self, driver: str, resources: list[Resource], failures: int = 0) -> None:
        self.driver = driver
        self.resources = resources
        self.failures = failures
        self.calls = 0

    def list_resources(self) -> list[Resource]:
        self.calls += 1
        if self.failures:
            self.failures -= 1
            raise ConnectionError("neutron is not up yet")
        return list(self.resources)


def populator(sink: Sink, pending: Pending, listers: list[ResourceLister]) -> Populator:
    return Populator(sink, pending, listers, first_wait=0.001, max_wait=0.004)


def test_saved_events_are_replayed_before_the_updates() -> None:
    saved = [Event(router(9), Crud.REBUILD, {"image_uuid": "img"}), Event(router(8), Crud.DELETE)]
    sink = Sink()
    lister = Lister("router", [router(1), router(2)])
    worker = populator(sink, Pending(saved), [lister])
    worker.start()
    events = sink.wait_for(4)
    worker.stop()
    assert events == [*saved, Event(router(1), Crud.UPDATE), Event(router(2), Crud.UPDATE)]


def test_every_driver_is_listed() -> None:
    sink = Sink()
    lb = Resource("loadbalancer", "lb1", "t2")
    worker = populator(sink, Pending([]), [Lister("router", [router(1)]), Lister("lb", [lb])])
    worker.start()
    events = sink.wait_for(2)
    worker.stop()
    assert {event.resource for event in events} == {router(1), lb}
    assert all(event.crud is Crud.UPDATE for event in events)


def test_an_unready_network_model_and_database_are_retried() -> None:
    sink = Sink()
    lister = Lister("router", [router(1)], failures=3)
    worker = populator(sink, Pending([Event(router(5), Crud.DELETE)], failures=2), [lister])
    worker.start()
    events = sink.wait_for(2)
    worker.stop()
    assert events == [Event(router(5), Crud.DELETE), Event(router(1), Crud.UPDATE)]
    assert lister.calls == 4


def test_stop_interrupts_the_retries() -> None:
    sink = Sink()
    lister = Lister("router", [router(1)], failures=10**9)
    worker = Populator(sink, Pending([]), [lister], first_wait=3600, max_wait=3600)
    worker.start()
    while lister.calls == 0:
        threading.Event().wait(0.001)
    worker.stop()
    assert sink.events == []
    assert lister.calls == 1, "no attempt after the stop"


def test_resync_sends_updates_only_to_the_chosen_resources() -> None:
    sink = Sink()
    resources = [router(1, "t1"), router(2, "t2"), router(3, "t1")]
    worker = populator(sink, Pending([]), [Lister("router", resources)])
    worker.start()
    sink.wait_for(3)
    worker.resync(lambda resource: resource.tenant_id == "t1")
    events = sink.wait_for(5)
    worker.stop()
    assert [event.resource.id for event in events[3:]] == ["r1", "r3"]
