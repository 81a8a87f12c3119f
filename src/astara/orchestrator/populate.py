"""Populate: at start, take charge of every resource that already exists.

The orchestrator keeps no state of its own between runs (it is level-triggered):
at start it asks the network model for every resource of every enabled driver
and sends each one an UPDATE. Its state machine then checks the appliance and
reconfigures it only if it drifted; a healthy router is verified, not rebuilt.
Before that, the events that were still queued when the orchestrator last
stopped are replayed, so an operator's rebuild or a deletion is not forgotten.

The network model may not answer yet (Neutron starting with us after a power
cut): listing is retried with exponential back-off until it does, or until the
orchestrator stops. The same listing runs again, for one worker's tenants, when
a worker process died and was restarted with no state machines.
"""

from __future__ import annotations

import logging
import queue
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Protocol, TypeVar

import tenacity

from astara.orchestrator.event import Crud, Event, Resource
from astara.orchestrator.event_sink import EventSink

LOG = logging.getLogger(__name__)

T = TypeVar("T")

#: Chooses the resources a re-population is for (those of one worker).
ResourceFilter = Callable[[Resource], bool]


class ResourceLister(ABC):
    """Lists the resources of one driver that exist in the network model."""

    #: The driver whose resources this lists (for log messages).
    driver: str

    @abstractmethod
    def list_resources(self) -> list[Resource]:
        """Every resource of the driver; raises when the network model cannot tell."""


class PendingEventSource(Protocol):
    """Where the last run left its unhandled events (:class:`astara.db.api.PendingEventStore`)."""

    def take_all(self) -> list[Event]: ...


class _Stopped(Exception):
    """The orchestrator is stopping: give up retrying."""


class Populator:
    """A thread that replays pending events, then sends an UPDATE to every resource."""

    def __init__(
        self,
        sink: EventSink,
        pending: PendingEventSource,
        listers: list[ResourceLister],
        *,
        first_wait: float = 1.0,
        max_wait: float = 60.0,
    ) -> None:
        self._sink = sink
        self._pending = pending
        self._listers = listers
        self._first_wait = first_wait
        self._max_wait = max_wait
        self._stopping = threading.Event()
        self._resyncs: queue.SimpleQueue[ResourceFilter | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="populate", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def resync(self, accept: ResourceFilter) -> None:
        """List the resources again and send an UPDATE to those ``accept`` picks."""
        self._resyncs.put(accept)

    def stop(self) -> None:
        self._stopping.set()
        self._resyncs.put(None)
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        try:
            saved = self._retrying("read pending events", self._pending.take_all)
            replayed = self._sink.dispatch(saved)
            LOG.info("populate: replayed %d event(s) saved at the last shutdown", replayed)
            self._populate(lambda resource: True)
            while (accept := self._resyncs.get()) is not None:
                self._populate(accept)
        except _Stopped:
            LOG.info("populate: stopped before it finished")
        except Exception:
            LOG.exception("populate failed; resources are taken in charge by their next event")

    def _populate(self, accept: ResourceFilter) -> None:
        for lister in self._listers:
            resources = self._retrying(f"list {lister.driver} resources", lister.list_resources)
            events = [Event(resource, Crud.UPDATE) for resource in resources if accept(resource)]
            sent = self._sink.dispatch(events)
            LOG.info("populate: sent UPDATE to %d %s resource(s)", sent, lister.driver)

    def _sleep(self, seconds: float) -> None:
        """Wait between retries, cut short when the orchestrator stops."""
        self._stopping.wait(seconds)

    def _retrying(self, what: str, call: Callable[[], T]) -> T:
        """``call()`` until it succeeds, backing off; raises _Stopped once stopping."""

        def log_failure(state: tenacity.RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0.0
            LOG.warning("populate: could not %s (%s); retrying in %.0f s", what, error, wait)

        def attempt() -> T:
            if self._stopping.is_set():
                raise _Stopped
            return call()

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_not_exception_type(_Stopped),
            wait=tenacity.wait_exponential(multiplier=self._first_wait, max=self._max_wait),
            sleep=self._sleep,
            before_sleep=log_failure,
        )
        return retrying(attempt)
