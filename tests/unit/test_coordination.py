"""Membership: reports each real change once, survives backend outages, leaves on stop.

A scripted seat stands in for the coordination backend and runs in lockstep
with the test: each heartbeat blocks until the test says what the backend
answers, so every assertion is about what one beat did, never about timing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from tooz import coordination

from astara.common.config import parse_config
from astara.orchestrator.coordination import Membership, MembershipSettings
from astara.orchestrator.coordination_lease import default_member_timeout, with_member_timeout
from astara.orchestrator.hash_ring import HashRing

WAIT = 30.0  # seconds before a lockstep wait gives up: a hang, not a slow machine
A, B, C = "orch-a", "orch-b", "orch-c"
SETTINGS = MembershipSettings(url="file:///unused", group_id="astara.test", member_id=A,
                              heartbeat_interval=0.001, partition_exponent=3)


class ScriptedSeat:
    """A group session whose refreshes answer what the test scripts, one per beat."""

    def __init__(self) -> None:
        self._turn = threading.Condition()
        self._steps: list[frozenset[str] | Exception] = []
        self._refreshes = 0
        self._answered = 0
        self._free_run: frozenset[str] | None = None
        self.closed = False

    def refresh(self) -> frozenset[str]:
        with self._turn:
            self._refreshes += 1
            self._turn.notify_all()
            if not self._turn.wait_for(lambda: self._steps or self._free_run is not None, WAIT):
                raise AssertionError("the test scripted no answer for this heartbeat")
            if self._steps:
                self._answered += 1
                step = self._steps.pop(0)
            else:
                step = self._free_run
        if isinstance(step, Exception):
            raise step
        assert step is not None
        return step

    def close(self) -> None:
        self.closed = True

    def answer(self, step: frozenset[str] | Exception) -> None:
        """Queue the backend's next answer, without waiting (for the beat in start())."""
        with self._turn:
            self._steps.append(step)
            self._turn.notify_all()

    def beat(self, step: frozenset[str] | Exception) -> None:
        """Let the heartbeat thread do one beat with this answer and handle it fully."""
        with self._turn:
            self._steps.append(step)
            self._turn.notify_all()
            # Refresh number n answers the n-th step, and refresh n + 1 starts
            # only once that answer was handled.
            answered_by = self._answered + len(self._steps)
            assert self._turn.wait_for(lambda: self._refreshes > answered_by, WAIT)

    def run_freely(self, members: frozenset[str]) -> None:
        """Answer every later refresh at once (so the heartbeat thread can be stopped)."""
        with self._turn:
            self._free_run = members
            self._turn.notify_all()


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[frozenset[str], HashRing]] = []

    def __call__(self, members: frozenset[str], ring: HashRing) -> None:
        self.calls.append((members, ring))

    @property
    def member_sets(self) -> list[frozenset[str]]:
        return [members for members, _ in self.calls]


@pytest.fixture
def seat() -> ScriptedSeat:
    return ScriptedSeat()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def membership(seat: ScriptedSeat, recorder: Recorder) -> Iterator[Membership]:
    membership = Membership(SETTINGS, recorder, seat=seat)
    yield membership
    seat.run_freely(frozenset({A}))
    membership.stop()


def started(membership: Membership, seat: ScriptedSeat, first: frozenset[str]) -> Membership:
    seat.answer(first)
    membership.start()
    return membership


# -- reporting changes -----------------------------------------------------------


def test_start_reports_the_first_membership_before_returning(
        membership: Membership, seat: ScriptedSeat, recorder: Recorder) -> None:
    started(membership, seat, frozenset({A, B}))
    assert recorder.member_sets == [{A, B}]
    members, ring = recorder.calls[0]
    assert ring == HashRing(members, SETTINGS.partition_exponent)
    assert membership.members == {A, B}
    assert membership.ring == ring


def test_each_change_is_reported_once_with_its_ring(
        membership: Membership, seat: ScriptedSeat, recorder: Recorder) -> None:
    started(membership, seat, frozenset({A}))
    for step in ({A, B}, {A, B}, {A, B}, {A, B, C}, {A, C}, {A, C}):
        seat.beat(frozenset(step))
    assert recorder.member_sets == [{A}, {A, B}, {A, B, C}, {A, C}]
    assert all(ring.members == members for members, ring in recorder.calls)
    assert membership.ring.members == {A, C}


def test_a_failing_handler_does_not_stop_the_heartbeats(
        seat: ScriptedSeat, caplog: pytest.LogCaptureFixture) -> None:
    seen: list[frozenset[str]] = []

    def flaky(members: frozenset[str], ring: HashRing) -> None:
        seen.append(members)
        if len(seen) == 1:
            raise RuntimeError("worker queue full")

    membership = started(Membership(SETTINGS, flaky, seat=seat), seat, frozenset({A}))
    seat.beat(frozenset({A, B}))
    seat.run_freely(frozenset({A, B}))
    membership.stop()
    assert seen == [{A}, {A, B}]
    assert "membership change handler failed" in caplog.text


# -- backend outages -------------------------------------------------------------


def test_an_outage_keeps_the_last_members_and_is_logged_once(
        membership: Membership, seat: ScriptedSeat, recorder: Recorder,
        caplog: pytest.LogCaptureFixture) -> None:
    started(membership, seat, frozenset({A, B}))
    with caplog.at_level(logging.WARNING, "astara.orchestrator.coordination"):
        for _ in range(5):
            seat.beat(coordination.ToozConnectionError("connection refused"))
        assert membership.members == {A, B}
        seat.beat(frozenset({A, B}))
    assert recorder.member_sets == [{A, B}]
    messages = [record.getMessage() for record in caplog.records]
    assert sum("unreachable" in message for message in messages) == 1
    assert sum("reachable again" in message for message in messages) == 1


def test_after_an_outage_only_the_difference_is_reported(
        membership: Membership, seat: ScriptedSeat, recorder: Recorder) -> None:
    started(membership, seat, frozenset({A, B}))
    seat.beat(coordination.ToozConnectionError("connection reset"))
    seat.beat(OSError("any client error"))
    seat.beat(frozenset({A, C}))
    assert recorder.member_sets == [{A, B}, {A, C}]


def test_a_backend_down_at_start_delays_the_bootstrap_until_it_answers(
        membership: Membership, seat: ScriptedSeat, recorder: Recorder) -> None:
    started(membership, seat, coordination.ToozConnectionError("no route to host"))
    assert recorder.calls == []
    assert membership.members == frozenset()
    seat.beat(frozenset({A}))
    assert recorder.member_sets == [{A}]


# -- lifecycle -------------------------------------------------------------------


def test_stop_leaves_the_group(membership: Membership, seat: ScriptedSeat) -> None:
    started(membership, seat, frozenset({A}))
    seat.run_freely(frozenset({A}))
    membership.stop()
    assert seat.closed


def test_stop_from_the_change_handler_does_not_deadlock(seat: ScriptedSeat) -> None:
    stopped = threading.Event()

    def stop_on_change(members: frozenset[str], ring: HashRing) -> None:
        if len(members) > 1:
            membership.stop()
            stopped.set()

    membership = Membership(SETTINGS, stop_on_change, seat=seat)
    started(membership, seat, frozenset({A}))
    seat.answer(frozenset({A, B}))  # the heartbeat thread calls stop() on itself
    assert stopped.wait(WAIT)
    assert seat.closed
    membership.stop()


def test_start_twice_is_refused(membership: Membership, seat: ScriptedSeat) -> None:
    started(membership, seat, frozenset({A}))
    with pytest.raises(RuntimeError, match="already started"):
        membership.start()


# -- settings and the member lease -----------------------------------------------


def test_settings_come_from_the_coordination_section(tmp_path: Path) -> None:
    ini = tmp_path / "orchestrator.ini"
    ini.write_text(
        "[DEFAULT]\nhost = orch-7\nhash_partition_exponent = 9\n"
        "[coordination]\nenabled = true\nurl = kazoo://zk.localnet:2181?timeout=5\n"
        "group_id = astara.east\nheartbeat_interval = 0.5\n"
    )
    conf = parse_config(["--config-file", str(ini)], "astara-test")
    settings = MembershipSettings.from_config(conf)
    assert settings == MembershipSettings(
        url="kazoo://zk.localnet:2181?timeout=5", group_id="astara.east", member_id="orch-7",
        heartbeat_interval=0.5, partition_exponent=9,
    )
    assert settings.backend_url == "kazoo://zk.localnet:2181?timeout=5"


@pytest.mark.parametrize(("interval", "seconds"), [(1.0, 3), (0.1, 1), (1.5, 5), (10, 30)])
def test_the_default_lease_is_three_heartbeats_in_whole_seconds(
        interval: float, seconds: int) -> None:
    assert default_member_timeout(interval) == seconds


@pytest.mark.parametrize(("url", "expected"), [
    ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379?membership_timeout=3&timeout=3"),
    ("redis://:secret@h:6379?db=2", "redis://:secret@h:6379?db=2&membership_timeout=3&timeout=3"),
    ("kazoo://zk:2181", "kazoo://zk:2181?timeout=3"),
    ("zookeeper://zk:2181", "zookeeper://zk:2181?timeout=3"),
    ("memcached://m:11211", "memcached://m:11211?membership_timeout=3"),
    ("etcd3+http://e:2379", "etcd3+http://e:2379?membership_timeout=3"),
    ("file:///var/lib/astara/coord", "file:///var/lib/astara/coord"),
])
def test_the_lease_goes_in_each_backends_own_option(url: str, expected: str) -> None:
    assert with_member_timeout(url, 3) == expected


@pytest.mark.parametrize("url", [
    "kazoo://zookeeper.localnet:2181?timeout=5",
    "redis://h:6379?membership_timeout=10",
    "redis://h:6379?timeout=10",
])
def test_an_operators_own_lease_wins(url: str) -> None:
    assert with_member_timeout(url, 3) == url


def test_an_explicit_member_timeout_overrides_the_heartbeat_default() -> None:
    settings = MembershipSettings(url="redis://h:6379", group_id="g", member_id=A,
                                  heartbeat_interval=1.0, member_timeout=8)
    assert settings.backend_url == "redis://h:6379?membership_timeout=8&timeout=8"
