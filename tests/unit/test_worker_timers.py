"""Wake-up timers and per-resource failure back-off."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from astara.orchestrator.backoff import FailureBackoff
from astara.orchestrator.wake_timers import WakeTimers


class Woken:
    def __init__(self) -> None:
        self.keys: list[str] = []
        self.changed = threading.Condition()

    def __call__(self, key: str) -> None:
        with self.changed:
            self.keys.append(key)
            self.changed.notify_all()

    def wait_for(self, count: int) -> list[str]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.keys) >= count, 10)
            return list(self.keys)


@pytest.fixture
def woken() -> Woken:
    return Woken()


@pytest.fixture
def timers(woken: Woken) -> Iterator[WakeTimers[str]]:
    started: WakeTimers[str] = WakeTimers(woken)
    started.start()
    yield started
    started.stop()


def test_keys_wake_in_deadline_order(timers: WakeTimers[str], woken: Woken) -> None:
    now = time.monotonic()
    timers.schedule("late", now + 0.06)
    timers.schedule("early", now + 0.02)
    timers.schedule("already", now - 1)
    assert woken.wait_for(3) == ["already", "early", "late"]
    assert timers.pending() == 0


def test_a_key_keeps_its_earliest_deadline(timers: WakeTimers[str], woken: Woken) -> None:
    now = time.monotonic()
    timers.schedule("k", now + 0.03)
    timers.schedule("k", now + 60)
    assert woken.wait_for(1) == ["k"]
    timers.schedule("other", time.monotonic())
    assert woken.wait_for(2) == ["k", "other"], "k woke once, not again at its later deadline"


def test_an_earlier_deadline_replaces_a_later_one(timers: WakeTimers[str], woken: Woken) -> None:
    timers.schedule("k", time.monotonic() + 60)
    timers.schedule("k", time.monotonic())
    assert woken.wait_for(1) == ["k"]
    assert timers.pending() == 0


def test_cancelled_keys_do_not_wake(timers: WakeTimers[str], woken: Woken) -> None:
    timers.schedule("gone", time.monotonic() + 0.01)
    timers.cancel("gone")
    timers.schedule("marker", time.monotonic() + 0.03)
    assert woken.wait_for(1) == ["marker"]


def test_a_failing_callback_does_not_stop_the_timers(woken: Woken) -> None:
    def callback(key: str) -> None:
        if key == "bad":
            raise RuntimeError("boom")
        woken(key)

    timers: WakeTimers[str] = WakeTimers(callback)
    timers.start()
    try:
        timers.schedule("bad", time.monotonic())
        timers.schedule("good", time.monotonic() + 0.01)
        assert woken.wait_for(1) == ["good"]
    finally:
        timers.stop()


def test_stop_ends_the_thread_even_with_deadlines_pending(woken: Woken) -> None:
    timers: WakeTimers[str] = WakeTimers(woken)
    timers.start()
    timers.schedule("far", time.monotonic() + 3600)
    timers.stop()
    assert woken.keys == []


def test_backoff_doubles_per_key_up_to_the_cap() -> None:
    backoff: FailureBackoff[str] = FailureBackoff(first=1, cap=5)
    assert [backoff.failed("a") for _ in range(5)] == [1, 2, 4, 5, 5]
    assert backoff.failed("b") == 1, "another key has its own delay"
    backoff.forget("a")
    assert backoff.failed("a") == 1


def test_backoff_survives_endless_failures() -> None:
    backoff: FailureBackoff[str] = FailureBackoff(first=0.5, cap=60)
    delays = [backoff.failed("a") for _ in range(2000)]
    assert delays[-1] == 60


def test_backoff_rejects_nonsense_limits() -> None:
    with pytest.raises(ValueError, match="first"):
        FailureBackoff(first=5, cap=1)
