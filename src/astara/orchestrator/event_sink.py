"""Where the main process's event sources (health, populate, intake) send events.

The :class:`~astara.orchestrator.scheduler.Scheduler` is the real sink; naming
the one method the sources use keeps them free of multiprocessing, and lets
their tests collect events in a list.
"""

from __future__ import annotations

from typing import Protocol

from astara.orchestrator.event import Event


class EventSink(Protocol):
    def dispatch(self, events: list[Event]) -> int:
        """Schedule ``events`` on the workers that own them; return how many were taken."""
        ...
