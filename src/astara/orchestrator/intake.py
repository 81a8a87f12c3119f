"""The orchestrator's one door for notifications: normalise, record, schedule.

The RabbitMQ listener and the single-host API both hand every notification to
:meth:`Intake.submit`. It turns the notification into events, writes a debug
command's flag to the database (once, here, rather than in every worker),
and gives the events to the scheduler. Once the orchestrator is stopping it
refuses new work with :class:`IntakeClosed`, so the caller can leave a message
unacknowledged on the bus instead of losing it.

It counts what it received and what it did not schedule, and why
(:mod:`~astara.orchestrator.metrics_main`): the events a worker never saw
cannot be counted anywhere else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from typing import Any

from astara.orchestrator import debug_commands, metrics_main
from astara.orchestrator.event import Crud, Event
from astara.orchestrator.event_sink import EventSink
from astara.orchestrator.notifications import normalise
from astara.orchestrator.outboxes import OutboxesClosed

LOG = logging.getLogger(__name__)

Normaliser = Callable[[str, Any, Any, Collection[str]], list[Event]]

#: Why the intake did not schedule an event (the ``reason`` of the dropped counter).
STOPPING = "stopping"
DEBUG_FLAG_NOT_RECORDED = "debug_flag_not_recorded"


class IntakeClosed(Exception):
    """The orchestrator is stopping and takes no new notification."""


class Intake:
    """Accepts notifications and schedules the events they ask for."""

    def __init__(
        self,
        sink: EventSink,
        debug_writer: debug_commands.DebugWriter,
        enabled_drivers: Collection[str],
        normaliser: Normaliser = normalise,
        metrics: metrics_main.MainMetrics = metrics_main.PROCESS,
    ) -> None:
        self._sink = sink
        self._metrics = metrics
        self._debug_writer = debug_writer
        self._enabled_drivers = frozenset(enabled_drivers)
        self._normalise = normaliser
        self._closed = False

    def submit(self, event_type: str, payload: Any, context: Any = None) -> int:
        """Schedule what the notification asks for; return how many events were scheduled.

        A notification that asks for nothing, or is malformed, schedules
        nothing (the normaliser logs why). Raises :class:`IntakeClosed` once
        :meth:`close` was called.
        """
        if self._closed:
            self._metrics.received(None)
            self._metrics.dropped(None, STOPPING)
            raise IntakeClosed("the orchestrator is stopping")
        events = self._normalise(event_type, payload, context, self._enabled_drivers)
        if not events:
            self._metrics.received(None)
        for event in events:
            self._metrics.received(event.crud)
        accepted = [event for event in events if self._accepts(event)]
        try:
            return self._sink.dispatch(accepted)
        except OutboxesClosed:
            for event in accepted:
                self._metrics.dropped(event.crud, STOPPING)
            raise IntakeClosed("the orchestrator is stopping") from None

    def close(self) -> None:
        """Refuse every later notification."""
        self._closed = True

    def _accepts(self, event: Event) -> bool:
        """False for a debug command whose flag could not be written (already logged)."""
        if event.crud is not Crud.COMMAND or not debug_commands.changes_debug_flags(event):
            return True
        if debug_commands.record(self._debug_writer, event):
            return True
        self._metrics.dropped(event.crud, DEBUG_FLAG_NOT_RECORDED)
        return False
