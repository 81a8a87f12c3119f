"""The scheduler: sends events to the worker processes and keeps those alive.

Where each event goes, and how events are batched, is decided by
:mod:`~astara.orchestrator.outboxes`; one flusher thread here sends each batch
to its worker's inbox. The other duties of the main process towards its
workers live here too:

- **Reports**: :meth:`Scheduler.request_reports` asks every worker for its
  workers-debug report (logged there only when asked to) and gathers the answers.
- **Supervision**: a worker process that dies is logged with what was lost and
  restarted. The events it had not read yet go to its successor, and
  ``on_worker_restart`` lets the main process re-populate that worker's
  resources (their state machines died with it). A worker that keeps dying is
  restarted less and less often.
- **Stop**: every worker gets a stop message after its last event, finishes
  the steps it is in, and hands back the events it had not started.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import multiprocessing.connection
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from astara.orchestrator.event import Event
from astara.orchestrator.ipc import Report, ReportRequest, Stopped, StopWorker, WorkerReply
from astara.orchestrator.outboxes import Outboxes, OutboxesClosed
from astara.orchestrator.sharding import shard_of
from astara.orchestrator.worker import WorkerIdentity
from astara.orchestrator.worker_process import Replies, WorkerProcess, WorkerSpec

LOG = logging.getLogger(__name__)

#: Builds the spec of worker ``identity`` (the same command line for all).
SpecFactory = Callable[[WorkerIdentity], WorkerSpec]

#: Delay before restarting a worker that died within _HEALTHY_AFTER_S of its
#: start; it doubles with each such death, up to the maximum.
_RESTART_FIRST_DELAY_S = 1.0
_RESTART_MAX_DELAY_S = 60.0
#: A worker that lived this long is healthy: its next death restarts it at once.
_HEALTHY_AFTER_S = 60.0
#: How long a stop waits for the reply of a worker that has already exited.
_LAST_REPLY_S = 1.0
#: Part of a stop's time the workers may spend finishing their current steps.
_WORKER_GRACE_SHARE = 0.6

#: Raised by :meth:`Scheduler.dispatch` once the scheduler is stopping.
SchedulerStopped = OutboxesClosed


class Scheduler:
    """Runs ``count`` worker processes and sends them their events."""

    def __init__(
        self,
        spec_for: SpecFactory,
        count: int,
        *,
        on_worker_restart: Callable[[int], None] = lambda index: None,
    ) -> None:
        self._spec_for = spec_for
        self._count = count
        self._on_worker_restart = on_worker_restart
        self._outboxes = Outboxes(count)
        self._context = multiprocessing.get_context("spawn")
        self._replies: Replies = self._context.Queue()
        self._workers = [self._new_worker(index) for index in range(count)]
        # Held while sending, and while a dead worker's inbox is swapped for a new one.
        self._sending = threading.Lock()
        self._stop_requested = threading.Event()
        self._request_ids = itertools.count(1)
        self._reports: dict[int, dict[int, dict[str, Any]]] = {}
        self._stopped: dict[int, list[Event]] = {}
        self._replied = threading.Condition()
        self._flusher = threading.Thread(target=self._flush, name="scheduler-flush", daemon=True)
        self._reader = threading.Thread(target=self._read, name="scheduler-replies", daemon=True)
        self._supervisor = threading.Thread(
            target=self._supervise, name="scheduler-supervise", daemon=True
        )

    def shard_of(self, tenant_id: str) -> int:
        return shard_of(tenant_id, self._count)

    def start(self) -> None:
        for worker in self._workers:
            worker.start()
        for thread in (self._flusher, self._reader, self._supervisor):
            thread.start()
        LOG.info("started %d worker processes", self._count)

    def dispatch(self, events: Iterable[Event]) -> int:
        """Queue each event for the worker(s) it belongs to; return how many were queued.

        Never blocks on a worker. Raises :class:`SchedulerStopped` once
        :meth:`stop` has begun.
        """
        return self._outboxes.put_events(events)

    def unhandled(self) -> int:
        """Events not yet handled by their worker(s), counted once per worker.

        Zero means every event dispatched so far is in its state machines' queues.
        """
        with self._sending:
            return self._outboxes.queued() + sum(worker.unhandled for worker in self._workers)

    def _flush(self) -> None:
        while self._outboxes.wait():
            # Taking and sending under one lock: unhandled() never sees an event
            # that has left its outbox but is not counted as sent yet.
            with self._sending:
                for index, (batch, events) in self._outboxes.take().items():
                    self._workers[index].send(batch, events)

    # -- reports -----------------------------------------------------------------

    def request_reports(self, timeout: float = 10.0, *, log: bool = False) -> list[dict[str, Any]]:
        """The workers-debug report of every worker, in worker order.

        A worker that does not answer within ``timeout`` seconds is listed
        with an ``error`` instead of being waited for forever. With ``log``
        each worker also logs its report (the operator's workers-debug).
        """
        request_id = next(self._request_ids)
        with self._replied:
            self._reports[request_id] = {}
        try:
            self._outboxes.put_everywhere(ReportRequest(request_id, log=log))
        except OutboxesClosed:
            with self._replied:
                del self._reports[request_id]
            raise
        with self._replied:
            self._replied.wait_for(lambda: len(self._reports[request_id]) == self._count, timeout)
            answers = self._reports.pop(request_id)
        return [
            answers.get(index)
            or {"worker": f"p{index:02d}", "error": f"no answer within {timeout:g} s"}
            for index in range(self._count)
        ]

    def _read(self) -> None:
        while (reply := self._replies.get()) is not None:
            self._record(reply)

    def _record(self, reply: WorkerReply) -> None:
        with self._replied:
            if isinstance(reply, Report):
                if reply.request_id in self._reports:
                    self._reports[reply.request_id][reply.worker_index] = reply.report
            elif isinstance(reply, Stopped):
                self._stopped[reply.worker_index] = reply.pending
            self._replied.notify_all()

    # -- supervision -----------------------------------------------------------

    def _new_worker(self, index: int) -> WorkerProcess:
        spec = self._spec_for(WorkerIdentity(index=index, count=self._count))
        return WorkerProcess(spec, self._context, self._replies)

    def _supervise(self) -> None:
        started = [time.monotonic()] * self._count
        delays = [0.0] * self._count
        while not self._stop_requested.is_set():
            workers = list(self._workers)
            ready = multiprocessing.connection.wait(
                [worker.process.sentinel for worker in workers], timeout=1.0
            )
            for dead in (worker for worker in workers if worker.process.sentinel in ready):
                if self._stop_requested.is_set():
                    return
                index = dead.spec.identity.index
                if time.monotonic() - started[index] >= _HEALTHY_AFTER_S:
                    delays[index] = 0.0
                else:
                    delays[index] = min(
                        max(delays[index] * 2, _RESTART_FIRST_DELAY_S), _RESTART_MAX_DELAY_S
                    )
                self._restart(dead, delays[index])
                started[index] = time.monotonic()

    def _restart(self, dead: WorkerProcess, delay: float) -> None:
        index = dead.spec.identity.index
        dead.process.join()
        successor = self._new_worker(index)
        with self._sending:
            # Nothing is sent meanwhile: nothing lands in the dead inbox after it
            # was emptied, and everything from now on goes to the successor.
            unread = [item for item in dead.take_unread() if isinstance(item, Event)]
            if unread:
                successor.send(unread, len(unread))
            self._workers[index] = successor
        LOG.error(
            "worker %s (pid %s) died with exit code %s: it had not handled %d event(s), "
            "%d of which go to its successor; the work queued in its state machines is "
            "lost and its resources are read again",
            dead.name,
            dead.process.pid,
            dead.process.exitcode,
            dead.unhandled,
            len(unread),
        )
        dead.close()
        if delay:
            LOG.warning("worker %s keeps dying; restarting it in %g s", dead.name, delay)
            self._stop_requested.wait(delay)
        successor.start()
        LOG.info("worker %s restarted (pid %s)", successor.name, successor.process.pid)
        try:
            self._on_worker_restart(index)
        except Exception:
            LOG.exception("re-populating worker %s failed", successor.name)

    # -- stop ------------------------------------------------------------------

    def stop(self, timeout: float) -> list[Event]:
        """Stop every worker within about ``timeout`` seconds; return their unstarted events.

        No event is taken after this is called. Each worker handles what was
        already sent, lets its running state machines finish their step, and
        hands back what is still queued; a worker that does not finish in time
        is killed and its queued work is lost (and logged).
        """
        deadline = time.monotonic() + timeout
        self._stop_requested.set()
        self._outboxes.close(StopWorker(grace=timeout * _WORKER_GRACE_SHARE))
        self._flusher.join()
        self._supervisor.join()
        pending = self._wait_for_stopped(deadline)
        for worker in self._workers:
            worker.process.join(max(0.1, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.close()
        self._replies.put(None)
        self._reader.join()
        self._replies.close()
        return pending

    def _wait_for_stopped(self, deadline: float) -> list[Event]:
        with self._replied:
            while len(self._stopped) < self._count and time.monotonic() < deadline:
                if not any(
                    worker.process.is_alive()
                    for worker in self._workers
                    if worker.spec.identity.index not in self._stopped
                ):
                    # The dead never reply; a reply sent just before exiting may
                    # still be in the pipe, so give it a moment.
                    deadline = min(deadline, time.monotonic() + _LAST_REPLY_S)
                self._replied.wait(min(0.2, max(0.0, deadline - time.monotonic())))
            silent = [w.name for w in self._workers if w.spec.identity.index not in self._stopped]
            if silent:
                LOG.error("worker(s) %s did not stop in time; their queued work is lost", silent)
            return [event for events in self._stopped.values() for event in events]
