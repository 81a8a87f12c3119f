"""What the listener answers RabbitMQ for each notification: acknowledge or requeue.

A notification is acknowledged (HANDLED) only once the intake has queued its
events for their resources, so an orchestrator that dies between receiving
and queueing leaves the message on the bus for its next start. The decisions:

- the intake queued the events (or the notification asks for nothing, or is
  malformed: the intake logs why) → HANDLED;
- the message has no event type → logged, HANDLED: it can never succeed and
  must not come back forever;
- the intake is closed (the orchestrator is stopping) → REQUEUE: the message
  stays on the bus and is handled after the restart;
- the intake raised anything else → REQUEUE, for a fault that may pass; the
  same message failing :data:`MAX_ATTEMPTS` times is a poison message and is
  logged and HANDLED, so it cannot block the queue forever.

A requeued message goes back to the head of the queue and straight back to
this listener, so each REQUEUE first pauses (interruptibly, for a stop): a
stopping or failing intake does not spin the CPU and the broker.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Protocol

from oslo_messaging import NotificationResult

from astara.orchestrator.intake import IntakeClosed

LOG = logging.getLogger(__name__)

#: Failed attempts after which a message is dropped as poison.
MAX_ATTEMPTS = 5
#: Seconds a handler waits before requeueing a message.
REQUEUE_PAUSE_S = 1.0
#: Messages whose failures are remembered; the oldest are forgotten first.
_REMEMBERED_FAILURES = 1024


class NotificationSink(Protocol):
    """Where notifications go: :class:`~astara.orchestrator.intake.Intake` or the service."""

    def submit(self, event_type: str, payload: Any, context: Any = None) -> int: ...


class FailureCounts:
    """How many times each recent message failed, to recognise a poison message.

    Bounded: a burst of failing messages cannot grow it without limit.
    """

    def __init__(self, capacity: int = _REMEMBERED_FAILURES) -> None:
        self._capacity = capacity
        self._counts: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, message_id: str) -> int:
        """Count one more failure of ``message_id``; return its failures so far."""
        with self._lock:
            count = self._counts.pop(message_id, 0) + 1
            self._counts[message_id] = count
            while len(self._counts) > self._capacity:
                self._counts.popitem(last=False)
            return count

    def forget(self, message_id: str) -> None:
        with self._lock:
            self._counts.pop(message_id, None)


class NotificationEndpoint:
    """The oslo.messaging endpoint of the listener; it handles the INFO priority only.

    Neutron sends every change it announces at INFO; other priorities carry
    nothing an appliance must act on, so the listener does not even subscribe
    to them (oslo.messaging subscribes to the priorities its endpoints have
    methods for).
    """

    def __init__(
        self,
        sink: NotificationSink,
        requeue_pause: float = REQUEUE_PAUSE_S,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self._sink = sink
        self._requeue_pause = requeue_pause
        self._max_attempts = max_attempts
        self._failures = FailureCounts()
        self._stopping = threading.Event()

    def info(
        self,
        ctxt: Mapping[str, Any],
        publisher_id: str | None,
        event_type: Any,
        payload: Any,
        metadata: Mapping[str, Any],
    ) -> str:
        """Hand one notification to the sink; the answer tells oslo.messaging to ack or requeue."""
        message_id = metadata.get("message_id")
        if not isinstance(event_type, str) or not event_type:
            LOG.warning(
                "dropped message %s from %s: no event type (got %r)",
                message_id, publisher_id, event_type,
            )
            return NotificationResult.HANDLED
        try:
            scheduled = self._sink.submit(event_type, payload, ctxt)
        except IntakeClosed:
            LOG.info("%s (message %s) left on the bus: stopping", event_type, message_id)
            return self._requeue()
        except Exception:
            return self._failed(event_type, message_id)
        if isinstance(message_id, str):
            self._failures.forget(message_id)
        LOG.debug("%s (message %s): %d event(s) queued", event_type, message_id, scheduled)
        return NotificationResult.HANDLED

    def stop_pausing(self) -> None:
        """Requeue at once from now on: the listener is stopping and waits for its handlers."""
        self._stopping.set()

    def _failed(self, event_type: str, message_id: Any) -> str:
        """REQUEUE a message that failed, unless it keeps failing (or cannot be recognised)."""
        if not isinstance(message_id, str):
            LOG.exception(
                "dropped %s: the intake failed and the message has no id to retry it by",
                event_type,
            )
            return NotificationResult.HANDLED
        attempts = self._failures.add(message_id)
        if attempts >= self._max_attempts:
            LOG.exception(
                "dropped %s (message %s): the intake failed on it %d times",
                event_type, message_id, attempts,
            )
            self._failures.forget(message_id)
            return NotificationResult.HANDLED
        LOG.exception(
            "%s (message %s) requeued: the intake failed (attempt %d of %d)",
            event_type, message_id, attempts, self._max_attempts,
        )
        return self._requeue()

    def _requeue(self) -> str:
        self._stopping.wait(self._requeue_pause)
        return NotificationResult.REQUEUE
