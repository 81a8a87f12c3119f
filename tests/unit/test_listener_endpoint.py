"""The listener's decisions: acknowledge a notification only once its events are queued."""

from __future__ import annotations

import threading
from typing import Any

from oslo_messaging import NotificationResult

from astara.orchestrator.event import Event
from astara.orchestrator.intake import Intake, IntakeClosed
from astara.orchestrator.listener import pool_name
from astara.orchestrator.messaging_endpoint import FailureCounts, NotificationEndpoint

HANDLED = NotificationResult.HANDLED
REQUEUE = NotificationResult.REQUEUE

ROUTER_CREATED = {
    "router": {
        "id": "7d5c1e2a-0000-4000-8000-000000000001",
        "tenant_id": "tenant-1",
        "name": "r1",
    }
}
CONTEXT = {"project_id": "tenant-1", "user_id": "admin"}
#: For an intake that is given no debug command, so never writes a flag.
NO_DEBUG_WRITER: Any = None


class IntakeDouble:
    """Records what it is given; ``failures`` are raised, one per call, before it accepts."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.calls: list[tuple[str, Any, Any]] = []
        self.accepted: list[tuple[str, Any, Any]] = []

    def submit(self, event_type: str, payload: Any, context: Any = None) -> int:
        self.calls.append((event_type, payload, context))
        if self.failures:
            raise self.failures.pop(0)
        self.accepted.append((event_type, payload, context))
        return 1


class EventSinkDouble:
    """The scheduler's ``dispatch``, recording the events."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def dispatch(self, events: list[Event]) -> int:
        self.events.extend(events)
        return len(events)


def deliver(
    endpoint: NotificationEndpoint,
    event_type: Any = "router.create.end",
    payload: Any = None,
    message_id: str | None = "msg-1",
) -> str:
    """Call the endpoint the way oslo.messaging's dispatcher does."""
    metadata = {"message_id": message_id, "timestamp": "2024-01-01 00:00:00"}
    body = ROUTER_CREATED if payload is None else payload
    return endpoint.info(CONTEXT, "network.host-1", event_type, body, metadata)


def test_a_queued_notification_is_acknowledged() -> None:
    intake = IntakeDouble()

    assert deliver(NotificationEndpoint(intake, requeue_pause=0)) == HANDLED
    assert intake.accepted == [("router.create.end", ROUTER_CREATED, CONTEXT)]


def test_a_closed_intake_leaves_the_message_on_the_bus() -> None:
    intake = IntakeDouble(IntakeClosed("stopping"))
    endpoint = NotificationEndpoint(intake, requeue_pause=0)

    assert deliver(endpoint) == REQUEUE
    assert deliver(endpoint) == HANDLED
    assert len(intake.accepted) == 1


def test_a_closed_intake_never_turns_into_a_drop() -> None:
    closed = [IntakeClosed("stopping") for _ in range(20)]
    endpoint = NotificationEndpoint(IntakeDouble(*closed), requeue_pause=0, max_attempts=3)

    assert {deliver(endpoint) for _ in closed} == {REQUEUE}


def test_a_failing_intake_requeues_then_drops_a_poison_message() -> None:
    intake = IntakeDouble(*(RuntimeError("bug") for _ in range(3)))
    endpoint = NotificationEndpoint(intake, requeue_pause=0, max_attempts=3)

    assert [deliver(endpoint) for _ in range(3)] == [REQUEUE, REQUEUE, HANDLED]
    assert intake.accepted == []


def test_a_success_clears_the_failures_of_a_message() -> None:
    intake = IntakeDouble(RuntimeError("blip"), RuntimeError("blip"))
    endpoint = NotificationEndpoint(intake, requeue_pause=0, max_attempts=3)
    assert [deliver(endpoint) for _ in range(3)] == [REQUEUE, REQUEUE, HANDLED]

    intake.failures = [RuntimeError("again"), RuntimeError("again")]
    assert [deliver(endpoint) for _ in range(2)] == [REQUEUE, REQUEUE]


def test_failures_are_counted_per_message() -> None:
    intake = IntakeDouble(*(RuntimeError("bug") for _ in range(4)))
    endpoint = NotificationEndpoint(intake, requeue_pause=0, max_attempts=3)

    first = [deliver(endpoint, message_id="a"), deliver(endpoint, message_id="b")]
    second = [deliver(endpoint, message_id="a"), deliver(endpoint, message_id="b")]
    assert first + second == [REQUEUE] * 4


def test_a_failure_without_a_message_id_is_dropped_not_looped() -> None:
    endpoint = NotificationEndpoint(IntakeDouble(RuntimeError("bug")), requeue_pause=0)

    assert deliver(endpoint, message_id=None) == HANDLED


def test_a_message_without_event_type_is_dropped_without_reaching_the_intake() -> None:
    intake = IntakeDouble()
    endpoint = NotificationEndpoint(intake, requeue_pause=0)

    assert deliver(endpoint, event_type=None) == HANDLED
    assert deliver(endpoint, event_type="") == HANDLED
    assert deliver(endpoint, event_type=42) == HANDLED
    assert intake.calls == []


def test_a_malformed_payload_is_acknowledged_by_the_real_intake() -> None:
    sink = EventSinkDouble()
    endpoint = NotificationEndpoint(Intake(sink, NO_DEBUG_WRITER, ["router"]), requeue_pause=0)

    assert deliver(endpoint, payload=["not", "a", "mapping"]) == HANDLED
    assert deliver(endpoint, "astara.command", {"command": "no-such-command"}) == HANDLED
    assert sink.events == []
    assert deliver(endpoint) == HANDLED
    assert [event.resource.id for event in sink.events] == [ROUTER_CREATED["router"]["id"]]


def test_stopping_wakes_a_handler_pausing_before_a_requeue() -> None:
    endpoint = NotificationEndpoint(IntakeDouble(IntakeClosed("stopping")), requeue_pause=3600)
    answers: list[str] = []
    handler = threading.Thread(target=lambda: answers.append(deliver(endpoint)))
    handler.start()

    endpoint.stop_pausing()
    handler.join(timeout=60)

    assert answers == [REQUEUE]


def test_failure_counts_forget_the_oldest_message_first() -> None:
    counts = FailureCounts(capacity=2)
    assert [counts.add("a"), counts.add("a"), counts.add("b"), counts.add("c")] == [1, 2, 1, 1]

    assert counts.add("a") == 1
    assert counts.add("c") == 2


def test_each_orchestrator_listens_on_its_own_queue() -> None:
    assert pool_name("orch-1") != pool_name("orch-2")
    assert pool_name("orch-1") == "astara.notifications.orch-1"
