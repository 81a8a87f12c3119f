"""Metric families as plain data: how a worker's metrics cross to the main process.

Each worker process keeps its metrics in its own registry (not
prometheus-client's multiprocess mode, whose files outlive the processes and
need a shared directory). Its report carries them as JSON-ready data,
:func:`serialise`; the main process turns the families of every worker back
into metrics with a ``worker`` label, :class:`FamilyMerger`, and serves them
all in one exposition.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

from prometheus_client import CollectorRegistry, Metric

LOG = logging.getLogger(__name__)

#: Types whose ``_created`` samples are dropped: a worker's start time says
#: nothing an operator needs, and the text format serves them as extra gauges.
_WITH_CREATED = frozenset({"counter", "histogram", "summary"})


class SampleData(TypedDict):
    name: str
    labels: dict[str, str]
    value: float


class FamilyData(TypedDict):
    name: str
    type: str
    documentation: str
    samples: list[SampleData]


def serialise(registry: CollectorRegistry) -> list[FamilyData]:
    """Every family of ``registry`` with its current samples, as plain data."""
    families: list[FamilyData] = []
    for metric in registry.collect():
        drop_created = metric.type in _WITH_CREATED
        families.append(
            FamilyData(
                name=metric.name,
                type=metric.type,
                documentation=metric.documentation,
                samples=[
                    SampleData(name=s.name, labels=dict(s.labels), value=float(s.value))
                    for s in metric.samples
                    if not (drop_created and s.name.endswith("_created"))
                ],
            )
        )
    return families


class FamilyMerger:
    """Gathers families from several sources into one metric per name.

    The text format allows each family once, so the same family from two
    workers must become one metric whose samples differ by their labels.
    """

    def __init__(self) -> None:
        self._metrics: dict[str, Metric] = {}

    def add(self, families: Iterable[Mapping[str, Any]], labels: Mapping[str, str]) -> None:
        """Add ``families`` (as :func:`serialise` made them), each sample with ``labels`` too.

        A malformed family is skipped (and logged): one bad report must not
        cost the scrape the others.
        """
        for family in families:
            try:
                self._add(family, labels)
            except (KeyError, TypeError, ValueError) as error:
                LOG.warning(
                    "skipping a malformed metric family: %s: %s", type(error).__name__, error
                )

    def add_metric(self, metric: Metric) -> None:
        """Add a metric built here (by the main process)."""
        self._metrics[metric.name] = metric

    def metrics(self) -> list[Metric]:
        return list(self._metrics.values())

    def _add(self, family: Mapping[str, Any], labels: Mapping[str, str]) -> None:
        name, kind = str(family["name"]), str(family["type"])
        samples = [
            (
                str(s["name"]),
                {**{str(k): str(v) for k, v in s["labels"].items()}, **labels},
                float(s["value"]),
            )
            for s in family["samples"]
        ]
        metric = self._metrics.get(name)
        if metric is None:
            metric = self._metrics[name] = Metric(name, str(family["documentation"]), kind)
        elif metric.type != kind:
            raise ValueError(f"{name} is a {metric.type} elsewhere, not a {kind}")
        for sample_name, sample_labels, value in samples:
            metric.add_sample(sample_name, sample_labels, value)
