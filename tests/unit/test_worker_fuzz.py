"""Whatever events and commands reach a worker, it never raises and keeps running."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from astara.orchestrator.commands import Command
from astara.orchestrator.debug_flags import DebugFlags
from astara.orchestrator.event import Crud, Event, Resource
from astara.orchestrator.machine import Machine
from astara.orchestrator.worker import Worker
from tests.orchestrator_doubles_wiring import MemoryDebugStore, ScriptedFactory, doubles_machine

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)
command_names = st.sampled_from([str(c) for c in Command]) | st.text(max_size=12) | json_values
command_bodies = st.fixed_dictionaries(
    {"command": command_names},
    optional={
        "enabled": json_values,
        "reason": json_values,
        "image_uuid": json_values,
        "tenant_id": json_values,
        "resource_id": json_values,
    },
)
resources = st.builds(
    Resource,
    driver=st.sampled_from(["router", "loadbalancer", "*", ""]) | st.text(max_size=6),
    id=st.sampled_from(["*", "error", "", "r1", "r2", "R1"]) | st.text(max_size=6),
    tenant_id=st.sampled_from(["t1", "t2", "*", "", "6b1d52a4-6d6e-4f5b-9d5c-2f1f3c7a9e01"])
    | st.text(max_size=6),
)
events = st.builds(
    Event,
    resource=resources,
    crud=st.sampled_from(list(Crud)),
    body=command_bodies | st.dictionaries(st.text(max_size=8), json_values, max_size=3),
)


def run_worker_on(factory: Callable[[Resource], Machine], inputs: list[Event]) -> Worker:
    worker = Worker(factory, DebugFlags(MemoryDebugStore()), threads=3)
    worker.start()
    try:
        for item in inputs:
            worker.handle(item)
        deadline = time.monotonic() + 10
        while worker.queue_depth and time.monotonic() < deadline:
            time.sleep(0.001)
        assert all(status.alive for status in worker.thread_statuses())
    finally:
        worker.stop(5)
    return worker


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(events, max_size=40))
def test_random_input_never_breaks_a_worker(inputs: list[Event]) -> None:
    factory = ScriptedFactory()
    run_worker_on(factory, inputs)
    assert all(machine.overlaps == 0 for machine in factory.built)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(events, max_size=25))
def test_random_input_never_breaks_a_worker_of_real_state_machines(inputs: list[Event]) -> None:
    built: list[Any] = []

    def factory(resource: Resource) -> Machine:
        machine = doubles_machine(resource)
        built.append(machine)
        return machine

    worker = run_worker_on(factory, inputs)
    assert len(worker.registry) <= len(built)
