"""The orchestrator's RPC methods, called directly with a service double."""

from __future__ import annotations

from typing import Any

import oslo_messaging
import pytest

from astara.orchestrator.intake import IntakeClosed
from astara.orchestrator.outboxes import OutboxesClosed
from astara.orchestrator.rpc import OrchestratorEndpoint, OrchestratorStopping

POLL = {"command": "poll"}
REPORTS = [{"worker": "p00", "threads": []}, {"worker": "p01", "threads": []}]


class ServiceDouble:
    """Records submits and report requests; ``stopping`` makes both refuse as the real one does."""

    def __init__(self, scheduled: int = 1) -> None:
        self.scheduled = scheduled
        self.stopping = False
        self.submitted: list[tuple[str, Any, Any]] = []
        self.report_waits: list[float] = []

    def submit(self, event_type: str, payload: Any, context: Any = None) -> int:
        if self.stopping:
            raise IntakeClosed("the orchestrator is stopping")
        self.submitted.append((event_type, payload, context))
        return self.scheduled

    def workers_debug(self, timeout: float = 10.0) -> list[dict[str, Any]]:
        if self.stopping:
            raise OutboxesClosed()
        self.report_waits.append(timeout)
        return REPORTS


def test_a_command_is_submitted_as_an_astara_command_notification() -> None:
    service = ServiceDouble(scheduled=3)
    endpoint = OrchestratorEndpoint(service, "orch-1")

    reply = endpoint.command({"user": "admin"}, POLL)

    assert reply == {"host": "orch-1", "scheduled": 3}
    assert service.submitted == [("astara.command", POLL, {"user": "admin"})]


def test_a_refused_command_schedules_nothing() -> None:
    endpoint = OrchestratorEndpoint(ServiceDouble(scheduled=0), "orch-1")

    assert endpoint.command({}, {"command": "nonsense"})["scheduled"] == 0


def test_workers_debug_returns_the_reports_waiting_as_long_as_asked() -> None:
    service = ServiceDouble()
    endpoint = OrchestratorEndpoint(service, "orch-1")

    assert endpoint.workers_debug({}, wait=4.5) == REPORTS
    assert service.report_waits == [4.5]


def test_ping_names_the_orchestrator() -> None:
    assert OrchestratorEndpoint(ServiceDouble(), "orch-7").ping({}) == {"host": "orch-7"}


@pytest.mark.parametrize(
    "call",
    [
        lambda endpoint: endpoint.command({}, POLL),
        lambda endpoint: endpoint.workers_debug({}),
    ],
    ids=["command", "workers_debug"],
)
def test_a_stopping_orchestrator_answers_with_an_expected_error(call: Any) -> None:
    service = ServiceDouble()
    service.stopping = True

    with pytest.raises(oslo_messaging.ExpectedException) as raised:
        call(OrchestratorEndpoint(service, "orch-1"))

    original = raised.value.exc_info[1]
    assert isinstance(original, OrchestratorStopping)
    assert str(original) == "orchestrator orch-1 is stopping"


def test_only_the_rpc_methods_are_reachable_from_the_bus() -> None:
    endpoint = OrchestratorEndpoint(ServiceDouble(), "orch-1")
    exposed = {
        name
        for name in dir(endpoint)
        if getattr(getattr(endpoint, name), "exposed", False)
    }

    assert exposed == {"ping", "command", "workers_debug"}
