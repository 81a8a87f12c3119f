"""A worker process: its start in the child, and its handle in the main process.

Worker processes are started with the ``spawn`` method: a fresh interpreter,
never a ``fork`` of a main process that already runs threads (a forked child
can inherit a lock held by a thread that does not exist in it). The child
therefore builds everything itself from a small picklable
:class:`WorkerSpec`: it parses the same command line, loads the same wiring
and creates its own database connections.

The child ignores SIGTERM and SIGINT. A service manager or a terminal sends
them to the whole process group at once, and the main process alone decides
how workers stop: it sends them :class:`~astara.orchestrator.ipc.StopWorker`
after the last event, so they can hand back the work they had not started.
If the main process disappears without doing so, the child notices and exits.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import multiprocessing.context
import multiprocessing.queues
import os
import queue
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass

from oslo_config import cfg
from oslo_log import log as oslo_log

from astara.common import log_context
from astara.common.config import parse_config
from astara.orchestrator.cli_options import PROG, WORKER_CLI_OPTS
from astara.orchestrator.cluster_view import ClusterView
from astara.orchestrator.debug_flags import DebugFlags, DebugRefresher
from astara.orchestrator.event import Event
from astara.orchestrator.ipc import (
    Report,
    ReportRequest,
    Stopped,
    StopWorker,
    WorkerInput,
    pack,
    unpack,
)
from astara.orchestrator.wiring import load_wiring
from astara.orchestrator.worker import Worker, WorkerIdentity

LOG = logging.getLogger(__name__)

#: How often an idle worker checks that the main process is still there.
_IDLE_CHECK_S = 1.0

Inbox = multiprocessing.queues.Queue  # of list[WorkerInput]
Replies = multiprocessing.queues.Queue  # of WorkerReply


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """Everything a worker process needs to build itself (sent to a fresh interpreter)."""

    identity: WorkerIdentity
    #: The orchestrator's command line (without the program name), parsed again.
    argv: tuple[str, ...]


def _parse(spec: WorkerSpec) -> cfg.ConfigOpts:
    return parse_config(spec.argv, PROG, WORKER_CLI_OPTS)


def _reload_config(spec: WorkerSpec) -> None:
    """config-reload: read the files again, check them and log every value.

    Settings fixed at start (process and thread counts, the wiring) need a
    restart; a file that no longer parses is reported and changes nothing.
    """
    try:
        conf = _parse(spec)
    except SystemExit:
        LOG.error("config-reload: the configuration files are invalid; nothing changed")
        return
    conf.log_opt_values(LOG, logging.INFO)


def run_worker(spec: WorkerSpec, inbox: Inbox, replies: Replies, handled: object) -> None:
    """The body of a worker process (the ``target`` given to multiprocessing)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conf = _parse(spec)
    oslo_log.setup(conf, "astara")
    log_context.install(conf)
    try:
        worker = _build_worker(spec, conf)
    except Exception as error:
        # One line for the operator (the supervisor restarts the worker); the
        # traceback only for whoever debugs the implementation that failed.
        LOG.error("worker %s could not start: %s", spec.identity.name, error)
        LOG.debug("worker start-up failure", exc_info=True)
        raise SystemExit(1) from None
    refresher = DebugRefresher(worker.debug, conf.health_check_period, worker.resume_ready)
    worker.start()
    refresher.start()
    LOG.info("worker %s started (pid %d)", spec.identity.name, os.getpid())
    stop = _serve(worker, inbox, replies, handled)
    refresher.stop()
    pending = worker.stop(stop.grace)
    replies.put(Stopped(spec.identity.index, pending))
    LOG.info(
        "worker %s stopped, handing back %d unstarted event(s)", spec.identity.name, len(pending)
    )


def _build_worker(spec: WorkerSpec, conf: cfg.ConfigOpts) -> Worker:
    wiring = load_wiring(conf.wiring, conf)
    debug = DebugFlags(wiring.debug_store())
    debug.refresh()
    cluster = ClusterView(
        conf.host,
        clustered=conf.coordination.enabled,
        partition_exponent=conf.hash_partition_exponent,
    )
    return Worker(
        wiring.machine_factory(),
        debug,
        threads=conf.num_worker_threads,
        identity=spec.identity,
        cluster=cluster,
        reload_config=functools.partial(_reload_config, spec),
    )


def _serve(worker: Worker, inbox: Inbox, replies: Replies, handled: object) -> StopWorker:
    """Handle batches until told to stop (or orphaned); return the stop request."""
    parent = multiprocessing.parent_process()
    while True:
        try:
            batch = unpack(inbox.get(timeout=_IDLE_CHECK_S))
        except queue.Empty:
            batch = []
            if parent is not None and not parent.is_alive():
                LOG.error("worker %s: the main process is gone; stopping", worker.name())
                return StopWorker(grace=0.0)
        events: list[Event] = []
        for item in batch:
            if isinstance(item, Event):
                events.append(item)
                continue
            # A control message acts after the events that came before it.
            worker.handle_batch(events)
            _count(handled, len(events))
            events = []
            if isinstance(item, ReportRequest):
                report = dict(worker.log_report() if item.log else worker.report())
                replies.put(Report(item.request_id, worker.identity.index, report))
            elif isinstance(item, StopWorker):
                return item
            else:
                LOG.error("worker %s: ignoring unexpected input %r", worker.name(), item)
        worker.handle_batch(events)
        _count(handled, len(events))


def _count(handled: object, events: int) -> None:
    """Add to the shared count of handled events (read by the main process)."""
    if events:
        handled.value += events  # type: ignore[attr-defined]


class WorkerProcess:
    """The main process's handle on one worker process and its inbox."""

    def __init__(
        self, spec: WorkerSpec, context: multiprocessing.context.SpawnContext, replies: Replies
    ) -> None:
        self.spec = spec
        self.inbox: Inbox = context.Queue()
        #: Events the worker has handled, written by the worker alone.
        self._handled = context.Value("q", 0, lock=False)
        #: Events sent to it, counted by the main process alone.
        self.sent = 0
        self.process = context.Process(
            target=run_worker,
            args=(spec, self.inbox, replies, self._handled),
            name=spec.identity.name,
            daemon=True,
        )

    @property
    def name(self) -> str:
        return self.spec.identity.name

    def start(self) -> None:
        self.process.start()

    def send(self, batch: Sequence[WorkerInput], events: int) -> None:
        """Queue ``batch`` (holding ``events`` events) for the worker; never blocks."""
        self.inbox.put(pack(batch))
        self.sent += events

    @property
    def unhandled(self) -> int:
        """Events sent but not handled yet (in the pipe, or in the batch being handled)."""
        return self.sent - int(self._handled.value)

    def take_unread(self, timeout: float = 0.5) -> list[WorkerInput]:
        """After the worker died: what it never read, to give to its successor.

        A worker killed in the middle of a read can leave the pipe unreadable;
        whatever cannot be read then is lost, and the count says so.
        """
        unread: list[WorkerInput] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                packed = self.inbox.get(timeout=max(0.0, deadline - time.monotonic()))
                unread.extend(unpack(packed))
            except queue.Empty:
                break
            except Exception as error:
                LOG.warning("worker %s: could not read what it left: %s", self.name, error)
                break
        return unread

    def close(self) -> None:
        """Release the inbox (its feeder thread must not keep the main process alive)."""
        self.inbox.cancel_join_thread()
        self.inbox.close()
