"""``/metrics``: the Prometheus exposition of the whole orchestrator, from the workers' reports.

The control API gathers one report per worker (``OrchestratorService.reports``)
and hands them to :func:`exposition`, which serves, in the text format:

- the main process's own metrics (:mod:`~astara.orchestrator.metrics_main`);
- every worker's families (:mod:`~astara.orchestrator.metrics_worker`) with a
  ``worker`` label; a worker that did not answer (its report holds an
  ``error``) is left out and shows as ``astara_worker_up 0``;
- gauges read from the reports themselves: resources by driver and instance
  state, and each worker's queue depths.

Building the metrics from reports on each scrape, rather than keeping gauges
up to date, means a scrape can never show a resource that a worker forgot.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Metric, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily
from prometheus_client.registry import Collector

from astara.orchestrator import metrics_main
from astara.orchestrator.metrics_families import FamilyMerger

#: The content type of :func:`exposition`'s answer.
CONTENT_TYPE = CONTENT_TYPE_LATEST


def exposition(
    reports: list[dict[str, Any]], main: metrics_main.MainMetrics | None = None
) -> bytes:
    """The text exposition of ``main`` (this process's metrics) and of ``reports``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ReportsCollector(reports, main or metrics_main.PROCESS))
    return generate_latest(registry)


class _ReportsCollector(Collector):
    """One scrape's metrics: the main process's, and those the reports carry or imply."""

    def __init__(self, reports: list[dict[str, Any]], main: metrics_main.MainMetrics) -> None:
        self._reports = reports
        self._main = main

    def collect(self) -> Iterable[Metric]:
        merger = FamilyMerger()
        merger.add(self._main.families(), {})
        answered = [report for report in self._reports if "error" not in report]
        for report in answered:
            merger.add(report.get("metrics", ()), {"worker": str(report["worker"])})
        for metric in (*_worker_gauges(self._reports), _resources(answered)):
            merger.add_metric(metric)
        return merger.metrics()


def _worker_gauges(reports: Iterable[Mapping[str, Any]]) -> list[Metric]:
    up = GaugeMetricFamily(
        "astara_worker_up", "1 when the worker answered this scrape", labels=["worker"]
    )
    work = GaugeMetricFamily(
        "astara_work_queue_depth",
        "Resources waiting for a worker thread",
        labels=["worker"],
    )
    machines = GaugeMetricFamily(
        "astara_machine_queue_depth",
        "Actions queued in the worker's state machines (after collapsing)",
        labels=["worker"],
    )
    for report in reports:
        worker = [str(report.get("worker", "?"))]
        up.add_metric(worker, 0.0 if "error" in report else 1.0)
        if "error" not in report:
            work.add_metric(worker, float(report.get("work_queue_depth", 0)))
            queued = sum(int(r.get("queue_depth", 0)) for r in report.get("resources", ()))
            machines.add_metric(worker, float(queued))
    return [up, work, machines]


def _resources(reports: Iterable[Mapping[str, Any]]) -> Metric:
    counts = Counter(
        (str(r.get("driver")), str(r.get("instance_state")))
        for report in reports
        for r in report.get("resources", ())
    )
    gauge = GaugeMetricFamily(
        "astara_resources",
        "Resources the workers hold, by driver and appliance (instance) state",
        labels=["driver", "state"],
    )
    for (driver, state), count in sorted(counts.items()):
        gauge.add_metric([driver, state], float(count))
    return gauge
