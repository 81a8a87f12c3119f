"""The messages between the main process and its worker processes.

The main process sends each worker *batches*: lists of events and control
messages, in order. Batching matters: one pickling and one pipe write carry
hundreds of events under load, where one message per event would make the
pipe, not the workers, the limit. Control messages travel in the same stream
as events, so a worker has handled everything sent before a stop or a report
request when it acts on it.

Events cross the pipe as plain tuples (:func:`pack`, :func:`unpack`): pickle
handles a frozen, slotted dataclass through Python-level calls, which made
(un)pickling cost more than routing and delivering the event together.

Workers answer on one shared reply queue.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from astara.orchestrator.event import Crud, Event, Resource


@dataclass(frozen=True, slots=True)
class StopWorker:
    """Finish the current steps within ``grace`` seconds, reply :class:`Stopped`, exit."""

    grace: float


@dataclass(frozen=True, slots=True)
class ReportRequest:
    """Reply a :class:`Report` of this worker, tagged with ``request_id``.

    ``log`` also logs the report: the operator's workers-debug asks for that,
    the control API's reads and ``/metrics`` scrapes (frequent) do not.
    """

    request_id: int
    log: bool = False


#: One item of a batch sent to a worker.
WorkerInput = Event | StopWorker | ReportRequest


@dataclass(frozen=True, slots=True)
class Report:
    request_id: int
    worker_index: int
    report: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Stopped:
    """A worker is about to exit; ``pending`` is the work it had not started."""

    worker_index: int
    pending: list[Event]


#: What a worker sends back.
WorkerReply = Report | Stopped


#: An event as it crosses the pipe: driver, id, tenant, action, body.
PackedEvent = tuple[str, str, str, str, Mapping[str, Any]]

_CRUDS = {crud.value: crud for crud in Crud}


def pack(batch: Iterable[WorkerInput]) -> list[PackedEvent | StopWorker | ReportRequest]:
    """The batch as sent: events as tuples, control messages as they are."""
    return [_pack_event(item) if isinstance(item, Event) else item for item in batch]


def _pack_event(event: Event) -> PackedEvent:
    resource = event.resource
    return (resource.driver, resource.id, resource.tenant_id, event.crud.value, event.body)


def unpack(packed: Iterable[PackedEvent | StopWorker | ReportRequest]) -> list[WorkerInput]:
    """The batch as it was before :func:`pack`."""
    return [
        Event(Resource(item[0], item[1], item[2]), _CRUDS[item[3]], item[4])
        if isinstance(item, tuple)
        else item
        for item in packed
    ]
