"""Routing events to worker outboxes, and taking them out in batches.

Routing: an event for a tenant goes to the one worker that owns the tenant
(:func:`~astara.orchestrator.sharding.shard_of`). An event that names no single
tenant (the health POLL, wildcards) and every operator command go to every
worker: a command names a resource, not its tenant, so each worker acts on the
machines it has, and debug commands make every worker re-read the flags.

Batching: putting only appends to a list; the scheduler's flusher takes
every non-empty list at once and sends each as one message. Under load,
hundreds of events share one pickling and one pipe write; when idle, an event
is taken as soon as it arrives. Whoever puts never waits on a pipe.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from astara.orchestrator.event import ALL, Crud, Event
from astara.orchestrator.ipc import WorkerInput
from astara.orchestrator.sharding import shard_of


class OutboxesClosed(Exception):
    """The orchestrator is stopping and takes no new event."""


def is_broadcast(event: Event) -> bool:
    """True when ``event`` must reach every worker rather than its tenant's."""
    return event.crud is Crud.COMMAND or event.resource.tenant_id in (ALL, "")


#: What the flusher takes for one worker: the batch, and how many events it holds.
Batch = tuple[list[WorkerInput], int]


class Outboxes:
    """One outbox per worker; thread-safe."""

    def __init__(self, count: int) -> None:
        if count < 1:
            raise ValueError(f"need at least one worker, not {count}")
        self._count = count
        self._boxes: list[list[WorkerInput]] = [[] for _ in range(count)]
        self._events = [0] * count
        self._filled = threading.Condition()
        self._closed = False

    def put_events(self, events: Iterable[Event]) -> int:
        """Route each event to its worker(s); return how many events were taken.

        Raises :class:`OutboxesClosed` once :meth:`close` was called.
        """
        taken = 0
        with self._filled:
            if self._closed:
                raise OutboxesClosed("the orchestrator is stopping")
            boxes, counts = self._boxes, self._events
            for event in events:
                if is_broadcast(event):
                    for index in range(self._count):
                        boxes[index].append(event)
                        counts[index] += 1
                else:
                    index = shard_of(event.resource.tenant_id, self._count)
                    boxes[index].append(event)
                    counts[index] += 1
                taken += 1
            if taken:
                self._filled.notify()
        return taken

    def put_everywhere(self, message: WorkerInput) -> None:
        """Queue a control message for every worker, after what is already queued."""
        with self._filled:
            if self._closed:
                raise OutboxesClosed("the orchestrator is stopping")
            for box in self._boxes:
                box.append(message)
            self._filled.notify()

    def close(self, last: WorkerInput) -> None:
        """Queue ``last`` for every worker and refuse anything after it."""
        with self._filled:
            self.put_everywhere(last)
            self._closed = True

    def queued(self) -> int:
        """Events waiting to be taken, counted once per worker they go to."""
        with self._filled:
            return sum(self._events)

    def wait(self) -> bool:
        """Wait until there is something to take; False once closed with nothing left."""
        with self._filled:
            while not any(self._boxes):
                if self._closed:
                    return False
                self._filled.wait()
            return True

    def take(self) -> dict[int, Batch]:
        """Everything queued, by worker index (empty if nothing is)."""
        with self._filled:
            taken = {
                index: (box, self._events[index]) for index, box in enumerate(self._boxes) if box
            }
            self._boxes = [[] for _ in range(self._count)]
            self._events = [0] * self._count
            return taken
