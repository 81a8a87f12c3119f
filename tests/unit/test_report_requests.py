"""Reports on demand: the operator's workers-debug logs them, the control API's reads do not."""

from __future__ import annotations

import queue
from types import SimpleNamespace
from typing import Any

import pytest

from astara.orchestrator.debug_flags import DebugFlags
from astara.orchestrator.ipc import Report, ReportRequest, StopWorker, pack
from astara.orchestrator.scheduler import Scheduler
from astara.orchestrator.service import OrchestratorService
from astara.orchestrator.worker import Worker
from astara.orchestrator.worker_process import WorkerSpec, _serve
from tests.orchestrator_doubles_wiring import MemoryDebugStore
from tests.unit.doubles import RigFactory


def serve(*requests: ReportRequest) -> list[Report]:
    """Run a worker process's loop (in this process) over ``requests``; return its replies."""
    factory = RigFactory()
    worker = Worker(factory, DebugFlags(MemoryDebugStore()), threads=1, metrics=factory.metrics)
    inbox: queue.Queue[Any] = queue.Queue()
    replies: queue.Queue[Any] = queue.Queue()
    inbox.put(pack([*requests, StopWorker(grace=0.0)]))
    _serve(worker, inbox, replies, SimpleNamespace(value=0))  # type: ignore[arg-type]
    return [replies.get_nowait() for _ in requests]


def test_a_report_request_is_answered_without_logging(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    (reply,) = serve(ReportRequest(7))
    assert reply.request_id == 7
    assert reply.report["worker"] == "p00"
    assert "metrics" in reply.report
    assert "workers-debug" not in caplog.text


def test_a_request_to_log_logs_the_report_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    quiet, logged = serve(ReportRequest(1), ReportRequest(2, log=True))
    assert (quiet.request_id, logged.request_id) == (1, 2)
    assert caplog.text.count("workers-debug p00") == 1
    assert '"metrics"' not in caplog.text, "the metric families stay out of the log"


@pytest.mark.parametrize("log", [False, True])
def test_the_scheduler_passes_the_log_flag_to_every_worker(log: bool) -> None:
    scheduler = Scheduler(lambda identity: WorkerSpec(identity, ()), 2)
    try:
        answers = scheduler.request_reports(0.0, log=log)
        sent = scheduler._outboxes.take()
    finally:
        for worker in scheduler._workers:
            worker.close()
        scheduler._replies.close()
    assert [answer["worker"] for answer in answers] == ["p00", "p01"]
    assert all("error" in answer for answer in answers), "nobody runs to answer"
    assert {index: batch for index, (batch, _) in sent.items()} == {
        0: [ReportRequest(1, log=log)],
        1: [ReportRequest(1, log=log)],
    }


class RecordingScheduler:
    def __init__(self) -> None:
        self.requests: list[tuple[float, bool]] = []

    def request_reports(self, timeout: float = 10.0, *, log: bool = False) -> list[dict[str, Any]]:
        self.requests.append((timeout, log))
        return [{"worker": "p00"}]


def test_workers_debug_logs_and_reports_do_not() -> None:
    scheduler = RecordingScheduler()
    service = SimpleNamespace(scheduler=scheduler)
    assert OrchestratorService.workers_debug(service, 3.0) == [{"worker": "p00"}]  # type: ignore[arg-type]
    assert OrchestratorService.reports(service) == [{"worker": "p00"}]  # type: ignore[arg-type]
    assert scheduler.requests == [(3.0, True), (10.0, False)]

