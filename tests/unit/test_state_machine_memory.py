"""A worker holds a state machine per resource, most of them idle: they must stay small."""

from __future__ import annotations

import gc
import logging
import tracemalloc

from astara.orchestrator.event import Crud, Event, Resource
from astara.orchestrator.instance_manager import InstanceManager
from astara.orchestrator.instance_state import InstanceState
from astara.orchestrator.state_machine import StateMachine
from tests.unit.doubles import ApplianceClientDouble, DriverDouble, FakeClock, ProvisionerDouble

MACHINES = 1000
BUDGET = 20 * 1024 * 1024


def test_a_thousand_idle_state_machines_cost_well_under_20_mb() -> None:
    clock = FakeClock()
    provisioner = ProvisionerDouble(clock=clock)
    client = ApplianceClientDouble(provisioner)
    # Log records kept by pytest's capture would be counted too: they are not the machines'.
    logging.disable(logging.CRITICAL)
    gc.collect()
    tracemalloc.start()
    try:
        baseline, _ = tracemalloc.get_traced_memory()
        machines = []
        for n in range(MACHINES):
            resource = Resource("router", f"00000000-0000-4000-8000-{n:012d}", f"tenant-{n % 50}")
            driver = DriverDouble(resource)
            instances = InstanceManager(
                driver, provisioner, client, clock=clock, sleep=clock.sleep, wall_clock=clock
            )
            machine = StateMachine(resource, driver, instances, clock=clock)
            if machine.send_message(Event(resource, Crud.CREATE)):
                machine.update()
            machines.append(machine)
        gc.collect()
        used, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        logging.disable(logging.NOTSET)
    assert all(m.instance_state is InstanceState.CONFIGURED for m in machines)
    assert all(not m.has_more_work() and m.wake_at() is None for m in machines)
    # The figure includes the doubles (the platform's instances, the drivers'
    # ports, the recorded configs), so the machines themselves cost less.
    assert used - baseline < BUDGET / 2
