"""One worker process's share of the resources: which state machine runs, when, on which thread.

The guarantees, in the manner of client-go's workqueue:

- **A resource is never processed by two threads at once**, and is queued at
  most once: its events merge in its state machine's collapsed queue, and the
  resource itself waits in a :class:`~astara.orchestrator.work_queue.WorkQueue`
  that hands a key to one thread at a time.
- **No resource waits for another**: any free thread takes the next resource;
  a slow appliance holds one thread, not the queue.
- **Failures requeue with per-resource back-off**: an ``update()`` that raises
  is retried later and later (:mod:`~astara.orchestrator.backoff`), and only for
  that resource.
- **Nothing busy-waits**: a machine that wants to be looked at later (an
  appliance booting) names a deadline, and one timer thread wakes it with a POLL.

Events arrive in batches (one per message from the main process); the
resources of a batch are queued for the threads once, at its end, so a thread
starts on a resource with all of the batch's events for it already merged.
On stop, threads finish the ``update()`` they are in and the events no thread
had started on are handed back to be saved (:mod:`~astara.orchestrator.unstarted`).

Events reach machines through the :class:`~astara.orchestrator.registry.MachineRegistry`
(which also fans wildcard and tenant-wide events out), unless debug mode holds
the resource (:mod:`~astara.orchestrator.debug_flags`, in memory). Operator
commands are dispatched by :mod:`~astara.orchestrator.command_handlers`; the
workers-debug report is built by :mod:`~astara.orchestrator.report`.

Log lines written while a thread works on one resource (delivering its event,
running its machine) name that resource and its tenant
(:mod:`~astara.common.log_context`), down to the drivers and clients below.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from astara.common import log_context
from astara.orchestrator import metrics_worker
from astara.orchestrator import report as reporting
from astara.orchestrator.backoff import FailureBackoff
from astara.orchestrator.cluster_view import HANDOVER_UNTIL, MEMBERS, PREVIOUS, ClusterView
from astara.orchestrator.command_handlers import dispatch_command
from astara.orchestrator.debug_flags import DebugFlags
from astara.orchestrator.event import Crud, Event
from astara.orchestrator.handover_hold import HandoverHold
from astara.orchestrator.machine import Machine, MachineFactory
from astara.orchestrator.metrics_families import FamilyData
from astara.orchestrator.registry import MachineKey, MachineRegistry, is_concrete, key_of
from astara.orchestrator.sharding import shard_of
from astara.orchestrator.unstarted import UnstartedEvents
from astara.orchestrator.wake_timers import WakeTimers
from astara.orchestrator.work_queue import WorkQueue
from astara.orchestrator.worker_threads import ThreadStatus, WorkerThreads

LOG = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WorkerIdentity:
    """Which share of the tenants a worker owns: tenants whose shard is ``index`` of ``count``."""

    index: int = 0
    count: int = 1

    @property
    def name(self) -> str:
        return f"p{self.index:02d}"

    def owns(self, tenant_id: str) -> bool:
        return shard_of(tenant_id, self.count) == self.index


def _describe(key: MachineKey) -> str:
    return f"{key[0]} {key[1]}"


class Worker:
    """Delivers events to state machines and runs those with work on a thread pool."""

    def __init__(
        self,
        factory: MachineFactory,
        debug: DebugFlags,
        *,
        threads: int,
        identity: WorkerIdentity | None = None,
        cluster: ClusterView | None = None,
        reload_config: Callable[[], None] = lambda: None,
        failure_backoff: FailureBackoff[MachineKey] | None = None,
        metrics: metrics_worker.WorkerMetrics = metrics_worker.PROCESS,
    ) -> None:
        """``metrics`` must be the one ``factory``'s machines count in: the report carries it."""
        self.identity = identity or WorkerIdentity()
        self.cluster = cluster or ClusterView("", clustered=False)
        self._metrics = metrics
        self.debug = debug
        self.registry = MachineRegistry(factory)
        self.reload_config = reload_config
        self._queue: WorkQueue[MachineKey] = WorkQueue()
        self._backoff = failure_backoff or FailureBackoff()
        self._unstarted: UnstartedEvents[MachineKey] = UnstartedEvents()
        self._handover = HandoverHold()
        self._timers: WakeTimers[MachineKey] = WakeTimers(self._wake, name="timers")
        self._threads = WorkerThreads(self._queue, self._run, count=threads, describe=_describe)

    def start(self) -> None:
        self._timers.start()
        self._threads.start()

    # -- intake (one thread: the process's reader of its inbox) ---------------

    def handle(self, event: Event) -> None:
        """Act on one event (see :meth:`handle_batch`)."""
        self.handle_batch((event,))

    def handle_batch(self, events: Iterable[Event]) -> None:
        """Act on each event in order; a bad event is logged and dropped, never raised.

        The resources that took an event are queued for the threads once, at
        the end: a thread then starts on a resource with every event of the
        batch for it already merged in its machine's queue. Events held during
        a cluster hand-over whose window has closed go first
        (:mod:`~astara.orchestrator.handover_hold`).
        """
        ready: dict[MachineKey, None] = {}
        for event in (*self._handover.due(), *events):
            try:
                if event.crud is Crud.COMMAND:
                    dispatch_command(self, event)
                elif event.crud is Crud.REBALANCE:
                    self._rebalance(event)
                else:
                    self._deliver(event, ready)
            except Exception as error:
                kind = type(error).__name__
                LOG.error("could not handle %s: %s: %s", _summary(event), kind, error)
                LOG.debug("failure details", exc_info=True)
        self._queue.add_all(ready)

    def deliver(self, event: Event) -> int:
        """Queue ``event`` on every machine it addresses; return how many took it."""
        ready: dict[MachineKey, None] = {}
        delivered = self._deliver(event, ready)
        self._queue.add_all(ready)
        return delivered

    def _deliver(self, event: Event, ready: dict[MachineKey, None]) -> int:
        """Give ``event`` to the machines it addresses, noting in ``ready`` those that took it.

        A concrete resource of a tenant this worker owns gets a machine on its
        first event; wildcard and tenant-wide events only reach existing ones,
        and only those they may concern (a VM's port reaches the routers on its
        network, not every router of the tenant). Resources in debug mode do
        not see the event.
        """
        resource = event.resource
        if is_concrete(resource) and self.identity.owns(resource.tenant_id):
            with log_context.about(resource):
                if not self.cluster.owns(resource.id):
                    handed_over_at = self.cluster.handed_over_at(resource.id)
                    if handed_over_at is not None:
                        self._handover.hold(event, handed_over_at)
                    return 0
                if self.debug.ignores(resource) is not None:
                    return 0
                machine = self.registry.get_or_create(resource)
                return int(self._offer(machine, event, ready, retry=True))
        delivered = 0
        for machine in self.registry.addressed_by(resource):
            with log_context.about(machine.resource):
                if self.debug.ignores(machine.resource) is None and machine.concerns(event):
                    # Each machine gets the event as its own: saved, it names the resource.
                    own = Event(machine.resource, event.crud, event.body)
                    delivered += self._offer(machine, own, ready, retry=False)
        return delivered

    def _rebalance(self, event: Event) -> None:
        """Take the ring of the new members and let go of what this orchestrator lost.

        A released machine leaves the registry at once; a thread that is
        running it finishes that step, and nothing runs it again (its key is
        gone, its timer cancelled, its unstarted events dropped: the new
        owner's UPDATE reads the resource afresh).
        """
        body = event.body
        self.cluster.rebalance(body[MEMBERS], body.get(PREVIOUS), body.get(HANDOVER_UNTIL, 0.0))
        released = 0
        for machine in self.registry.all():
            if self.cluster.owns(machine.resource.id):
                continue
            key = key_of(machine.resource)
            if self.registry.remove(key, machine):
                self._timers.cancel(key)
                self._unstarted.started(key)
                released += 1
        LOG.info("rebalance: members %s; released %d resource(s), %d kept",
                 ", ".join(event.body[MEMBERS]), released, len(self.registry))  # fmt: skip

    def resume_ready(self) -> int:
        """Queue every machine with work that debug mode no longer holds (after a manage)."""
        resumed = 0
        for machine in self.registry.all():
            if machine.has_more_work() and self.debug.ignores(machine.resource) is None:
                self._queue.add(key_of(machine.resource))
                resumed += 1
        return resumed

    def report(self) -> reporting.WorkerReport:
        """The workers-debug report, not logged (for the control API and ``/metrics``)."""
        return reporting.build(self)

    def log_report(self) -> reporting.WorkerReport:
        """Build the workers-debug report, log it, and return it."""
        built = self.report()
        LOG.info("%s", reporting.render(built))
        return built

    def metric_families(self) -> list[FamilyData]:
        """This process's worker metrics (one registry per process), as the report carries them."""
        return self._metrics.families()

    def _offer(
        self, machine: Machine, event: Event, ready: dict[MachineKey, None], *, retry: bool
    ) -> bool:
        """Give ``event`` (which names ``machine``'s resource) to ``machine``."""
        if machine.send_message(event):
            key = key_of(event.resource)
            self._unstarted.given(key, event)
            ready[key] = None
            return True
        if retry and machine.deleted:
            # It finished deleting between lookup and delivery: this event is for
            # a resource with the same id, so a fresh machine takes it.
            self.registry.remove(key_of(machine.resource), machine)
            fresh = self.registry.get_or_create(machine.resource)
            return self._offer(fresh, event, ready, retry=False)
        return False

    # -- threads ---------------------------------------------------------------

    def _run(self, key: MachineKey) -> None:
        """One step of one resource; called by one thread at a time per key."""
        machine = self.registry.get(key)
        if machine is None:
            return
        if self.debug.ignores(machine.resource) is not None:
            # Held: its queued work stays in the machine until a manage command
            # resumes it (resume_ready). The key is released, no lock is held.
            return
        self._unstarted.started(key)
        with log_context.about(machine.resource):
            try:
                machine.update()
            except Exception:
                delay = self._backoff.failed(key)
                LOG.exception("update of %s failed; retrying in %.0f s", _describe(key), delay)
                self._timers.schedule(key, time.monotonic() + delay)
                return
        self._backoff.forget(key)
        if machine.deleted:
            self.registry.remove(key, machine)
            self._timers.cancel(key)
        elif machine.has_more_work():
            self._queue.add(key)
        elif (wake_at := machine.wake_at()) is not None:
            self._timers.schedule(key, wake_at)

    def _wake(self, key: MachineKey) -> None:
        """A deadline passed: POLL the machine so it looks at its appliance again."""
        machine = self.registry.get(key)
        if machine is not None and self.debug.ignores(machine.resource) is None:
            # Straight to this machine: only the intake thread may create machines.
            ready: dict[MachineKey, None] = {}
            with log_context.about(machine.resource):
                self._offer(machine, Event(machine.resource, Crud.POLL), ready, retry=False)
            self._queue.add_all(ready)

    # -- status and shutdown -----------------------------------------------------

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    @property
    def timers_pending(self) -> int:
        return self._timers.pending()

    def thread_statuses(self) -> list[ThreadStatus]:
        return self._threads.statuses()

    def machines(self) -> list[Machine]:
        return self.registry.all()

    def tenant_count(self) -> int:
        return self.registry.tenants()

    def name(self) -> str:
        return self.identity.name

    def stop(self, timeout: float) -> list[Event]:
        """Let running machines finish their step, then return the work nobody started.

        Threads take no new resource once this is called; each finishes the
        ``update()`` it is in, for up to ``timeout`` seconds. The events still
        given to machines that had not started on them are returned, to be
        saved and replayed at the next start (see :mod:`~astara.orchestrator.unstarted`).
        """
        self._queue.close()
        if not self._threads.join(timeout):
            LOG.warning(
                "worker %s (pid %d): threads still busy after %.0f s: %s",
                self.identity.name,
                os.getpid(),
                timeout,
                ", ".join(
                    f"{status.name} {status.doing}"
                    for status in self._threads.statuses()
                    if status.alive
                ),
            )
        self._timers.stop()
        return [*self._unstarted.take_all(), *self._handover.take_all()]


def _summary(event: Event) -> str:
    """A one-line description of an event that never fails, whatever it holds."""
    try:
        resource = event.resource
        return f"{event.crud} for {resource.driver} {resource.id} (tenant {resource.tenant_id})"
    except Exception:
        return repr(event)
