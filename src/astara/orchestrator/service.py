"""The orchestrator's main process, assembled: workers, health monitor, populate, intake.

Start order: the worker processes first (everything else sends them events),
then populate (replay, then every existing resource), then the health monitor.
Stop order is the reverse of intake: no new notification is taken, the
event sources stop, each worker finishes the steps it is in and hands back
the events it had not started, and those are saved in one transaction to be
replayed at the next start.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from oslo_config import cfg

from astara.db.api import PendingEventStore
from astara.orchestrator.cluster_view import describe_ring
from astara.orchestrator.event import Crud, Event
from astara.orchestrator.health import HealthMonitor
from astara.orchestrator.intake import Intake
from astara.orchestrator.populate import Populator
from astara.orchestrator.scheduler import Scheduler
from astara.orchestrator.wiring import Wiring
from astara.orchestrator.worker import WorkerIdentity
from astara.orchestrator.worker_process import WorkerSpec

if TYPE_CHECKING:
    from astara.orchestrator.cluster import Cluster

LOG = logging.getLogger(__name__)

#: Seconds a stop may take: workers finish their current steps in about 60%
#: of it, the rest is for saving their queued events and for stragglers.
#: systemd's default stop timeout (90 s) leaves room around it.
STOP_TIMEOUT_S = 30.0


class PendingSaver:
    """Saves the events the workers handed back, refusing only those that cannot be stored."""

    def __init__(self, wiring: Wiring) -> None:
        self._wiring = wiring

    def save(self, events: list[Event]) -> bool:
        """Save ``events``; False (logged) if some are lost."""
        if not events:
            return True
        store = self._wiring.pending_store()
        try:
            saved = store.save(events)
        except ValueError:
            # One bad event must not cost the others: save them one by one.
            saved = sum(self._save_one(store, event) for event in events)
        except Exception as error:
            LOG.error("could not save %d pending event(s); they are lost: %s", len(events), error)
            return False
        LOG.info("saved %d pending event(s) for the next start", saved)
        return saved == len(events)

    @staticmethod
    def _save_one(store: PendingEventStore, event: Event) -> int:
        try:
            return store.save([event])
        except ValueError as error:
            LOG.error("not saved: %s", error)
            return 0


class OrchestratorService:
    """Everything the main process runs, with :meth:`submit` as its door for notifications."""

    def __init__(self, conf: cfg.ConfigOpts, wiring: Wiring, argv: Sequence[str]) -> None:
        self._conf = conf
        self._wiring = wiring
        self.scheduler = Scheduler(
            lambda identity: _spec(identity, argv),
            conf.num_worker_processes,
            on_worker_restart=self._repopulate_worker,
        )
        self.intake = Intake(self.scheduler, wiring.debug_store(), conf.enabled_drivers)
        self._populator = Populator(
            self.scheduler, wiring.pending_store(), wiring.resource_listers()
        )
        self._health = HealthMonitor(self.scheduler, conf.health_check_period)
        self.cluster = (
            _cluster(conf, self.scheduler, self._populator) if conf.coordination.enabled else None
        )

    def start(self) -> None:
        """The cluster's first members reach the workers before populate's first UPDATE."""
        self.scheduler.start()
        if self.cluster is not None:
            self.cluster.start()
        self._populator.start()
        self._health.start()

    def submit(self, event_type: str, payload: Any, context: Any = None) -> int:
        """Normalise a notification and schedule its events (see :class:`Intake`)."""
        return self.intake.submit(event_type, payload, context)

    def workers_debug(self, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The workers-debug report of every worker process, each also logged by its worker."""
        return self.scheduler.request_reports(timeout, log=True)

    def reports(self, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The same reports, not logged: the control API reads them often (``/metrics``)."""
        return self.scheduler.request_reports(timeout)

    def cluster_view(self) -> dict[str, Any]:
        """Whether clustered, this orchestrator's name and the members it knows of."""
        ring = self.cluster.ring if self.cluster is not None else None
        return describe_ring(self._conf.host, self.cluster is not None, ring)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> bool:
        """Stop everything; True when no queued event was lost."""
        LOG.info("stopping: no new notification is taken")
        self.intake.close()
        if self.cluster is not None:
            self.cluster.stop()
        self._health.stop()
        self._populator.stop()
        pending = self.scheduler.stop(timeout)
        # A REBALANCE describes the members of its moment: replayed later it would be stale.
        pending = [event for event in pending if event.crud is not Crud.REBALANCE]
        return PendingSaver(self._wiring).save(pending)

    def _repopulate_worker(self, index: int) -> None:
        if self.cluster is not None:
            self.cluster.resend()
        shard_of = self.scheduler.shard_of
        self._populator.resync(lambda resource: shard_of(resource.tenant_id) == index)


def _cluster(conf: cfg.ConfigOpts, scheduler: Scheduler, populator: Populator) -> Cluster:
    """Imported only when clustering is on: tooz pulls in eventlet and warns at import."""
    from astara.orchestrator.cluster import Cluster

    return Cluster(conf, scheduler, populator.resync)


def _spec(identity: WorkerIdentity, argv: Sequence[str]) -> WorkerSpec:
    return WorkerSpec(identity=identity, argv=tuple(argv))
