"""Events for resources a worker is gaining from a live orchestrator, held until they are its own.

During a hand-over (:mod:`~astara.orchestrator.cluster_view`) neither
orchestrator acts on the resource: the giver has let go, the taker waits for
the giver's step in hand to end. A notification that arrives in between must
not be lost: a DELETE in particular, which no later UPDATE could stand in
for (the resource is gone from the network model, so nothing would list it).
So the taker keeps such events and delivers them, in arrival order, once the
window has closed; the worker's intake thread asks for the due ones before
each batch (at least once a second), because only that thread creates
machines.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from astara.orchestrator.event import Event


class HandoverHold:
    """Held events, each with the wall-clock time it may be delivered."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._held: list[tuple[float, Event]] = []

    def hold(self, event: Event, until: float) -> None:
        with self._lock:
            self._held.append((until, event))

    def due(self) -> list[Event]:
        """The events whose window has closed, in the order they arrived; they leave the hold."""
        now = self._clock()
        with self._lock:
            ready = [event for until, event in self._held if until <= now]
            if ready:
                self._held = [(until, event) for until, event in self._held if until > now]
        return ready

    def take_all(self) -> list[Event]:
        """Everything still held (at stop: saved with the unstarted events, not lost)."""
        with self._lock:
            held, self._held = self._held, []
        return [event for _, event in held]
