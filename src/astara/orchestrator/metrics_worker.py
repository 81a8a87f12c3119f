"""The metrics a worker process keeps: what its state machines and instance managers did.

One :class:`WorkerMetrics` per process (:data:`PROCESS`), in a registry of
its own that the workers-debug report carries to the main process
(:mod:`~astara.orchestrator.metrics_families`); the main process adds the
``worker`` label. Tests give each machine a fresh one instead.

Label names live here, behind one method per fact, so the call sites in the
state machine and the instance manager stay one line and cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram

from astara.orchestrator.event import Crud
from astara.orchestrator.metrics_families import FamilyData, serialise

#: Seconds, from a quick local answer to a config push that takes its full timeout.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class WorkerMetrics:
    """The counters and histograms of one worker process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self._collapsed = Counter(
            "astara_events_collapsed_total",
            "Actions a state machine's queue discarded because a stronger or equal one serves them",
            ["crud"],
            registry=registry,
        )
        self._transitions = Counter(
            "astara_state_transitions_total",
            "State-machine transitions",
            ["from_state", "to_state"],
            registry=registry,
        )
        self._boots = Counter(
            "astara_instance_boots_total",
            "Appliance instances booted",
            ["driver"],
            registry=registry,
        )
        self._boot_failures = Counter(
            "astara_instance_boot_failures_total",
            "Appliance boots that failed to start or did not answer within the boot timeout",
            ["driver"],
            registry=registry,
        )
        self._rebuilds = Counter(
            "astara_instance_rebuilds_total",
            "Appliances replaced by a REBUILD",
            ["driver"],
            registry=registry,
        )
        self._config_pushes = Counter(
            "astara_config_pushes_total",
            "Configuration pushes to an appliance instance, retries included, by outcome",
            ["driver", "outcome"],
            registry=registry,
        )
        self._config_seconds = Histogram(
            "astara_config_push_seconds",
            "Time a configuration push took, retries included",
            ["driver"],
            registry=registry,
            buckets=LATENCY_BUCKETS,
        )
        self._poll_seconds = Histogram(
            "astara_health_poll_seconds",
            "Time an appliance's liveness probe took",
            ["driver"],
            registry=registry,
            buckets=LATENCY_BUCKETS,
        )
        self._poll_failures = Counter(
            "astara_health_poll_failures_total",
            "Liveness probes an appliance that had answered before did not answer",
            ["driver"],
            registry=registry,
        )

    def collapsed(self, discarded: Mapping[Crud, int]) -> None:
        for crud, count in discarded.items():
            self._collapsed.labels(crud.value).inc(count)

    def transition(self, from_state: str, to_state: str) -> None:
        self._transitions.labels(from_state, to_state).inc()

    def booted(self, driver: str) -> None:
        self._boots.labels(driver).inc()

    def boot_failed(self, driver: str) -> None:
        self._boot_failures.labels(driver).inc()

    def rebuilt(self, driver: str) -> None:
        self._rebuilds.labels(driver).inc()

    def config_pushed(self, driver: str, *, ok: bool, seconds: float) -> None:
        self._config_pushes.labels(driver, "ok" if ok else "failed").inc()
        self._config_seconds.labels(driver).observe(seconds)

    def health_polled(self, driver: str, *, seconds: float, failed: bool) -> None:
        self._poll_seconds.labels(driver).observe(seconds)
        if failed:
            self._poll_failures.labels(driver).inc()

    def families(self) -> list[FamilyData]:
        return serialise(self.registry)


#: The metrics of this process's worker (every machine it builds reports here).
PROCESS = WorkerMetrics()
