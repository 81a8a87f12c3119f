"""``/metrics``: counters move as events flow, and every worker's families reach one exposition."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from astara.orchestrator import intake as intake_module
from astara.orchestrator.collapse import QUEUEABLE, collapse, discarded
from astara.orchestrator.debug_flags import DebugFlags
from astara.orchestrator.event import Crud, Event, Resource
from astara.orchestrator.intake import Intake, IntakeClosed
from astara.orchestrator.metrics import exposition
from astara.orchestrator.metrics_families import FamilyMerger
from astara.orchestrator.metrics_main import MainMetrics
from astara.orchestrator.outboxes import OutboxesClosed
from astara.orchestrator.report import WorkerReport
from astara.orchestrator.sharding import shard_of
from astara.orchestrator.worker import Worker, WorkerIdentity
from tests import waiting
from tests.orchestrator_doubles_wiring import MemoryDebugStore
from tests.unit.doubles import MachineRig, RigFactory, metric_value

TENANT = "6b1d52a46d6e4f5b9d5c2f1f3c7a9e01"
TRANSITIONS = "astara_state_transitions_total"


class Fleet:
    """Real workers over real state machines (on the doubles), each with its own metrics."""

    def __init__(
        self, count: int, prepare: Callable[[MachineRig], None] = lambda rig: None
    ) -> None:
        self.factories = [RigFactory(prepare=prepare) for _ in range(count)]
        self.workers = [
            Worker(
                factory,
                DebugFlags(MemoryDebugStore()),
                threads=2,
                identity=WorkerIdentity(index, count),
                metrics=factory.metrics,
            )
            for index, factory in enumerate(self.factories)
        ]

    def send(self, *events: Event) -> None:
        for worker in self.workers:
            worker.handle_batch(events)

    def wait_for(self, index: int, count: float, sample: str, **labels: str) -> None:
        """Wait until worker ``index`` counted ``count`` ``sample`` (the end of a walk)."""
        families = self.factories[index].metrics.families
        waiting.wait_until(
            lambda: metric_value(families(), sample, **labels) == count,
            f"{sample} {labels} reached {count} in worker {index}",
            interval=0.002,
        )

    def wait_configured(self, index: int, count: float) -> None:
        """Wait until worker ``index``'s machines finished ``count`` configurations."""
        self.wait_for(index, count, TRANSITIONS, from_state="ConfigureInstance",
                      to_state="CalcAction")  # fmt: skip

    def reports(self) -> list[WorkerReport]:
        return [worker.report() for worker in self.workers]


@pytest.fixture
def fleet() -> Iterator[Fleet]:
    built = Fleet(2)
    for worker in built.workers:
        worker.start()
    yield built
    for worker in built.workers:
        worker.stop(5)


def tenant_of(worker: int, count: int = 2) -> str:
    """A tenant that worker ``worker`` of ``count`` owns."""
    return next(t for n in range(1000) if shard_of(t := f"tenant-{n}", count) == worker)


def router(resource_id: str, tenant: str) -> Resource:
    return Resource("router", resource_id, tenant)


def create(resource: Resource) -> Event:
    return Event(resource, Crud.CREATE)


def value(report: WorkerReport, sample: str, **labels: str) -> float:
    return metric_value(report["metrics"], sample, **labels)


def samples(text: str, family: str) -> list[Sample]:
    return [
        sample
        for parsed in text_string_to_metric_families(text)
        if parsed.name == family
        for sample in parsed.samples
    ]


# -- a worker's counters --------------------------------------------------------------------


def test_a_workers_report_carries_counters_that_moved_with_its_events(fleet: Fleet) -> None:
    mine = tenant_of(0)
    fleet.send(create(router("r1", mine)), create(router("r2", mine)))
    fleet.wait_configured(0, 2)
    report, other = fleet.reports()
    assert value(report, "astara_instance_boots_total", driver="router") == 2
    assert value(report, "astara_config_pushes_total", driver="router", outcome="ok") == 2
    assert value(report, "astara_config_push_seconds_count", driver="router") == 2
    assert value(report, "astara_state_transitions_total", to_state="ConfigureInstance") == 2
    polls = value(report, "astara_health_poll_seconds_count", driver="router")
    assert polls >= 2
    assert value(other, "astara_instance_boots_total") == 0, "the other worker owns neither"

    fleet.send(Event(router("*", "*"), Crud.POLL))
    fleet.wait_for(0, 2, TRANSITIONS, from_state="Alive", to_state="CalcAction")
    (report, _) = fleet.reports()
    assert value(report, "astara_health_poll_seconds_count", driver="router") == polls + 2
    assert value(report, "astara_health_poll_failures_total") == 0


def test_events_a_machine_collapses_are_counted_by_action(fleet: Fleet) -> None:
    """The batch's events all reach the machine's queue before a thread runs it."""
    resource = router("r1", tenant_of(0))
    update, poll = Event(resource, Crud.UPDATE), Event(resource, Crud.POLL)
    fleet.send(update, update, poll, update)
    fleet.wait_configured(0, 1)
    (report, _) = fleet.reports()
    assert value(report, "astara_events_collapsed_total", crud="update") == 2
    assert value(report, "astara_events_collapsed_total", crud="poll") == 1
    assert value(report, "astara_config_pushes_total") == 1, "one push served four events"


def test_the_report_names_the_last_failure_and_configuration() -> None:
    fleet = Fleet(1, prepare=fail_boots_of("bad"))
    (worker,) = fleet.workers
    worker.start()
    try:
        fleet.send(create(router("good", TENANT)), create(router("bad", TENANT)))
        fleet.wait_configured(0, 1)
        # Its retries wake on the worker's timers, at a pace these doubles do not set.
        waiting.wait_until(
            lambda: value(worker.report(), "astara_instance_boot_failures_total") >= 1,
            "the bad router's boot failed",
        )
        (report,) = fleet.reports()
    finally:
        worker.stop(5)
    rigs = fleet.factories[0].rigs
    by_id = {resource["id"]: resource for resource in report["resources"]}
    assert by_id["good"]["last_configured_at"] == rigs["good"].clock.now
    assert by_id["good"]["last_error"] is None and by_id["good"]["last_error_at"] is None
    assert by_id["bad"]["last_configured_at"] is None
    assert "no host has room" in str(by_id["bad"]["last_error"])
    assert by_id["bad"]["last_error_at"] == rigs["bad"].clock.now


def fail_boots_of(resource_id: str) -> Callable[[MachineRig], None]:
    def prepare(rig: MachineRig) -> None:
        if rig.machine.resource.id == resource_id:
            rig.provisioner.boot_error = RuntimeError("no host has room")

    return prepare


@given(st.lists(st.sampled_from(sorted(QUEUEABLE))))
def test_a_collapse_discards_everything_it_does_not_keep(pending: list[Crud]) -> None:
    kept = collapse(pending)
    assert discarded(pending, kept) == dict(Counter(pending) - Counter(kept))


# -- the exposition ---------------------------------------------------------------------------


def test_the_exposition_parses_and_labels_each_workers_samples(fleet: Fleet) -> None:
    fleet.send(
        create(router("a", tenant_of(0))),
        create(router("b", tenant_of(1))),
        create(router("c", tenant_of(1))),
    )
    fleet.wait_configured(0, 1)
    fleet.wait_configured(1, 2)
    main = MainMetrics()
    main.received(Crud.CREATE)
    silent = {"worker": "p02", "error": "no answer within 10 s"}
    text = exposition([*map(dict, fleet.reports()), silent], main).decode()

    boots = {s.labels["worker"]: s.value for s in samples(text, "astara_instance_boots")}
    assert boots == {"p00": 1.0, "p01": 2.0}
    buckets = [s for s in samples(text, "astara_config_push_seconds") if s.name.endswith("_bucket")]
    assert {s.labels["worker"] for s in buckets} == {"p00", "p01"}
    assert all("le" in s.labels for s in buckets)
    assert not [s for s in samples(text, "astara_instance_boots") if s.name.endswith("_created")]

    up = {s.labels["worker"]: s.value for s in samples(text, "astara_worker_up")}
    assert up == {"p00": 1.0, "p01": 1.0, "p02": 0.0}
    resources = {(s.labels["driver"], s.labels["state"]): s.value
                 for s in samples(text, "astara_resources")}  # fmt: skip
    assert resources == {("router", "configured"): 3.0}
    depths = {s.labels["worker"]: s.value for s in samples(text, "astara_work_queue_depth")}
    assert depths == {"p00": 0.0, "p01": 0.0}

    (received,) = samples(text, "astara_events_received")
    assert received.labels == {"crud": "create"} and received.value == 1.0


def test_a_malformed_family_costs_only_itself(caplog: pytest.LogCaptureFixture) -> None:
    good: dict[str, Any] = {
        "name": "astara_instance_boots",
        "type": "counter",
        "documentation": "Appliance instances booted",
        "samples": [{"name": "astara_instance_boots_total", "labels": {}, "value": 3.0}],
    }
    merger = FamilyMerger()
    merger.add([{"name": "broken"}, good], {"worker": "p00"})
    merger.add([{**good, "type": "gauge"}], {"worker": "p01"})
    (metric,) = merger.metrics()
    assert [(s.labels, s.value) for s in metric.samples] == [({"worker": "p00"}, 3.0)]
    assert caplog.text.count("skipping a malformed metric family") == 2


# -- the intake ---------------------------------------------------------------------------------


class Sink:
    def __init__(self) -> None:
        self.closed = False

    def dispatch(self, events: list[Event]) -> int:
        if self.closed:
            raise OutboxesClosed("stopping")
        return len(events)


class RefusingStore(MemoryDebugStore):
    def enable_resource_debug(self, resource_id: str, reason: str | None = None) -> None:
        raise ConnectionError("database down")


def main_value(metrics: MainMetrics, sample: str, **labels: str) -> float:
    return metric_value(metrics.families(), sample, **labels)


def test_the_intake_counts_what_it_received() -> None:
    metrics = MainMetrics()
    intake = Intake(Sink(), MemoryDebugStore(), ["router"], metrics=metrics)
    payload = {"router": {"id": "r1", "tenant_id": TENANT}}
    intake.submit("router.create.end", payload, {})
    intake.submit("router.create.end", payload, {})
    intake.submit("compute.instance.create.end", {"instance_id": "x"}, {})
    assert main_value(metrics, "astara_events_received_total", crud="create") == 2
    assert main_value(metrics, "astara_events_received_total", crud="none") == 1
    assert main_value(metrics, "astara_events_dropped_total") == 0


def test_the_intake_counts_what_it_dropped_and_why() -> None:
    metrics = MainMetrics()
    sink = Sink()
    refusing = Intake(sink, RefusingStore(), ["router"], metrics=metrics)
    refusing.submit("astara.command", {"command": "resource-debug", "resource_id": "r1"})
    assert main_value(metrics, "astara_events_dropped_total", crud="command",
                      reason=intake_module.DEBUG_FLAG_NOT_RECORDED) == 1  # fmt: skip

    payload = {"router": {"id": "r1", "tenant_id": TENANT}}
    sink.closed = True
    with pytest.raises(IntakeClosed):
        refusing.submit("router.update.end", payload, {})
    refusing.close()
    with pytest.raises(IntakeClosed):
        refusing.submit("router.update.end", payload, {})
    stopping = intake_module.STOPPING
    assert main_value(metrics, "astara_events_dropped_total", crud="update", reason=stopping) == 1
    assert main_value(metrics, "astara_events_dropped_total", crud="none", reason=stopping) == 1
    assert main_value(metrics, "astara_events_received_total", crud="command") == 1
