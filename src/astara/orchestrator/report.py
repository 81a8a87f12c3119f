"""The workers-debug report: what one worker process is doing, as data.

The original only logged free text. Here the report is a plain dict (JSON
ready), so the same content is logged for the operator reading the log *and*
returned to the main process, which gathers one per worker for the control
API and ``astara-ctl workers debug``.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Protocol, TypedDict

from astara.orchestrator.debug_flags import DebugFlags
from astara.orchestrator.machine import Machine
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


class Reportable(Protocol):
    """The parts of a worker the report reads."""

    debug: DebugFlags

    @property
    def queue_depth(self) -> int: ...

    @property
    def timers_pending(self) -> int: ...

    def thread_statuses(self) -> list[ThreadStatus]: ...

    def machines(self) -> list[Machine]: ...

    def tenant_count(self) -> int: ...

    def name(self) -> str: ...


def _resource(machine: Machine, debug: DebugFlags) -> ResourceReport:
    resource = machine.resource
    return ResourceReport(
        driver=resource.driver,
        id=resource.id,
        tenant_id=resource.tenant_id,
        state=machine.current_state_name,
        instance_state=str(machine.instance_state),
        queue_depth=machine.queue_depth(),
        debug=debug.ignores(resource),
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
    )


def render(report: WorkerReport) -> str:
    """The report as log text: a summary line, then the full report as JSON."""
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
    return f"{summary}\n{json.dumps(report, indent=2, sort_keys=True)}"
