"""The workers-debug report: what one worker process is doing, as data.

The original only logged free text. Here the report is a plain dict (JSON
ready), so the same content is logged for the operator reading the log *and*
returned to the main process, which gathers one per worker for the control
API and ``astara-ctl workers debug``.

Only the operator's workers-debug command logs a report; the control API and
``/metrics`` ask for reports often and must not fill the log. A report also
carries the worker's metric families (:mod:`~astara.orchestrator.metrics_families`),
which :func:`render` leaves out of the log.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Protocol, TypedDict

from astara.orchestrator.cluster_view import ClusterView
from astara.orchestrator.debug_flags import DebugFlags
from astara.orchestrator.machine import Machine, Outcomes
from astara.orchestrator.metrics_families import FamilyData
from astara.orchestrator.worker_threads import ThreadStatus


class ThreadReport(TypedDict):
    name: str
    alive: bool
    doing: str
    for_seconds: float


class ResourceReport(TypedDict):
    driver: str
    id: str
    tenant_id: str
    state: str
    instance_state: str
    queue_depth: int
    #: The operator's reason when debug mode holds the resource, else None.
    debug: str | None
    #: The last failure (a boot, a config push, an exception in a state) and when (epoch s).
    last_error: str | None
    last_error_at: float | None
    #: Epoch seconds of the last configuration an appliance accepted.
    last_configured_at: float | None


class WorkerReport(TypedDict):
    worker: str
    pid: int
    generated_at: float
    threads: list[ThreadReport]
    work_queue_depth: int
    timers_pending: int
    tenants: int
    resources: list[ResourceReport]
    debug: dict[str, Any]
    #: Whether clustered, this orchestrator's name and the members its ring is made of.
    cluster: dict[str, Any]
    metrics: list[FamilyData]


class Reportable(Protocol):
    """The parts of a worker the report reads."""

    debug: DebugFlags
    cluster: ClusterView

    @property
    def queue_depth(self) -> int: ...

    @property
    def timers_pending(self) -> int: ...

    def thread_statuses(self) -> list[ThreadStatus]: ...

    def machines(self) -> list[Machine]: ...

    def tenant_count(self) -> int: ...

    def name(self) -> str: ...

    def metric_families(self) -> list[FamilyData]: ...


def _resource(machine: Machine, debug: DebugFlags) -> ResourceReport:
    resource = machine.resource
    # A machine that keeps no outcomes (a test double scripting or wrapping one) reports none.
    outcomes: Outcomes = getattr(machine, "outcomes", None) or Outcomes()
    error = outcomes.last_error
    return ResourceReport(
        driver=resource.driver,
        id=resource.id,
        tenant_id=resource.tenant_id,
        state=machine.current_state_name,
        instance_state=str(machine.instance_state),
        queue_depth=machine.queue_depth(),
        debug=debug.ignores(resource),
        last_error=None if error is None else error[0],
        last_error_at=None if error is None else error[1],
        last_configured_at=outcomes.last_configured_at,
    )


def build(worker: Reportable) -> WorkerReport:
    """Read ``worker``'s state into a report (safe while its threads run)."""
    return WorkerReport(
        worker=worker.name(),
        pid=os.getpid(),
        generated_at=time.time(),
        threads=[
            ThreadReport(
                name=status.name,
                alive=status.alive,
                doing=status.doing,
                for_seconds=round(status.for_seconds, 3),
            )
            for status in worker.thread_statuses()
        ],
        work_queue_depth=worker.queue_depth,
        timers_pending=worker.timers_pending,
        tenants=worker.tenant_count(),
        resources=[_resource(machine, worker.debug) for machine in worker.machines()],
        debug=worker.debug.describe(),
        cluster=worker.cluster.describe(),
        metrics=worker.metric_families(),
    )


def render(report: WorkerReport) -> str:
    """The report as log text: a summary line, then the report as JSON (without metrics)."""
    busy = sum(1 for thread in report["threads"] if thread["doing"].startswith("updating"))
    dead = [thread["name"] for thread in report["threads"] if not thread["alive"]]
    summary = (
        f"workers-debug {report['worker']} (pid {report['pid']}): "
        f"{len(report['resources'])} resources in {report['tenants']} tenants, "
        f"{busy}/{len(report['threads'])} threads busy, "
        f"{report['work_queue_depth']} resources queued"
    )
    if dead:
        summary += f", DEAD threads: {', '.join(dead)}"
    logged = {key: value for key, value in report.items() if key != "metrics"}
    return f"{summary}\n{json.dumps(logged, indent=2, sort_keys=True)}"
