"""The health monitor sends one wildcard POLL per period, and survives a failing sink."""

from __future__ import annotations

import threading

import pytest

from astara.orchestrator.event import Crud, Event
from astara.orchestrator.health import POLL_EVERYTHING, HealthMonitor


class Sink:
    def __init__(self, fail_first: int = 0) -> None:
        self.batches: list[list[Event]] = []
        self.fail_first = fail_first
        self.changed = threading.Condition()

    def dispatch(self, events: list[Event]) -> int:
        with self.changed:
            self.batches.append(events)
            self.changed.notify_all()
        if len(self.batches) <= self.fail_first:
            raise RuntimeError("scheduler hiccup")
        return len(events)

    def wait_for(self, count: int) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.batches) >= count, 10)


def test_poll_everything_is_a_wildcard_poll() -> None:
    assert POLL_EVERYTHING.crud is Crud.POLL
    resource = POLL_EVERYTHING.resource
    assert (resource.driver, resource.id, resource.tenant_id) == ("*", "*", "*")


def test_the_monitor_polls_every_period_until_stopped() -> None:
    sink = Sink()
    monitor = HealthMonitor(sink, period=0.01)
    monitor.start()
    sink.wait_for(3)
    monitor.stop()
    sent = len(sink.batches)
    assert all(batch == [POLL_EVERYTHING] for batch in sink.batches)
    threading.Event().wait(0.05)
    assert len(sink.batches) == sent, "nothing is sent after stop"


def test_a_failing_dispatch_does_not_stop_the_monitor() -> None:
    sink = Sink(fail_first=2)
    monitor = HealthMonitor(sink, period=0.01)
    monitor.start()
    sink.wait_for(4)
    monitor.stop()


def test_the_first_poll_waits_one_period() -> None:
    sink = Sink()
    monitor = HealthMonitor(sink, period=3600)
    monitor.start()
    monitor.stop()
    assert sink.batches == []


def test_period_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        HealthMonitor(Sink(), period=0)
