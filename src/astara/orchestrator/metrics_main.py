"""The metrics the main process keeps itself: what came in at the intake, what was dropped.

Everything else is counted where it happens, in the worker processes
(:mod:`~astara.orchestrator.metrics_worker`), and reaches ``/metrics`` through
their reports.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from astara.orchestrator.event import Crud
from astara.orchestrator.metrics_families import FamilyData, serialise

#: The ``crud`` label of a notification that was not turned into an event
#: (it asked for nothing, or came in while stopping).
NO_EVENT = "none"


class MainMetrics:
    """The counters of the main process's intake."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._received = Counter(
            "astara_events_received_total",
            "Events the intake received, by action; a notification that made none counts as none",
            ["crud"],
            registry=self.registry,
        )
        self._dropped = Counter(
            "astara_events_dropped_total",
            "Events the intake did not schedule, by action and reason",
            ["crud", "reason"],
            registry=self.registry,
        )

    def received(self, crud: Crud | None) -> None:
        self._received.labels(_label(crud)).inc()

    def dropped(self, crud: Crud | None, reason: str) -> None:
        self._dropped.labels(_label(crud), reason).inc()

    def families(self) -> list[FamilyData]:
        return serialise(self.registry)


def _label(crud: Crud | None) -> str:
    return NO_EVENT if crud is None else crud.value


#: The main process's metrics.
PROCESS = MainMetrics()
