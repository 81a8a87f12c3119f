"""The health monitor: every resource is looked at again every period.

Events say what changed; they do not say that an appliance silently died. So
every ``health_check_period`` the main process sends one wildcard POLL to every
worker, and each worker hands it to every state machine it has: a machine with a
healthy appliance checks it and goes back to sleep, one whose appliance is gone
rebuilds it. A state machine collapses a POLL into any other pending action, so a
busy resource is not made busier.
"""

from __future__ import annotations

import logging
import threading

from astara.orchestrator.event import ALL, Crud, Event, Resource
from astara.orchestrator.event_sink import EventSink

LOG = logging.getLogger(__name__)

#: The POLL that reaches every resource of every driver in every tenant.
POLL_EVERYTHING = Event(Resource(driver=ALL, id=ALL, tenant_id=ALL), Crud.POLL)


class HealthMonitor:
    """A thread that dispatches :data:`POLL_EVERYTHING` every ``period`` seconds."""

    def __init__(self, sink: EventSink, period: float) -> None:
        if period <= 0:
            raise ValueError(f"health check period must be positive, not {period}")
        self._sink = sink
        self._period = period
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="health", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stopping.wait(self._period):
            try:
                self._sink.dispatch([POLL_EVERYTHING])
            except Exception:
                LOG.exception("could not send the periodic health POLL")
