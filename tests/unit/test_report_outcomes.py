"""A resource's last failure and last configuration, as the state machine records them."""

from __future__ import annotations

from astara.orchestrator.appliance_client import ApplianceConfigError
from astara.orchestrator.event import Crud
from astara.orchestrator.instance_state import InstanceState
from astara.provisioners.base import ProvisionerError
from tests.unit.doubles import MachineRig, metric_value, rejecting


def value(rig: MachineRig, sample: str, **labels: str) -> float:
    return metric_value(rig.metrics.families(), sample, **labels)


def test_a_good_config_push_sets_the_configuration_time_and_no_error() -> None:
    rig = MachineRig()
    rig.converge()
    assert rig.state is InstanceState.CONFIGURED
    assert rig.machine.outcomes.last_configured_at == rig.clock.now
    assert rig.machine.outcomes.last_error is None
    assert value(rig, "astara_config_pushes_total", driver="router", outcome="ok") == 1
    assert value(rig, "astara_config_pushes_total", outcome="failed") == 0


def test_a_refused_config_push_sets_the_last_error_and_the_failure_counter() -> None:
    rig = MachineRig()
    rig.client.config_error = rejecting(422, "no such interface")
    rig.deliver(Crud.CREATE)
    assert rig.state is InstanceState.ERROR, "each appliance refused it, up to the last boot"
    error = rig.machine.outcomes.last_error
    assert error is not None
    message, at = error
    assert message.startswith("5 boot attempts failed")
    assert "config push" in message and "no such interface" in message
    assert at == rig.clock.now
    assert rig.machine.outcomes.last_configured_at is None
    assert value(rig, "astara_config_pushes_total", driver="router", outcome="failed") >= 1
    assert value(rig, "astara_config_pushes_total", outcome="ok") == 0


def test_a_later_failure_keeps_the_earlier_configuration_time() -> None:
    rig = MachineRig()
    rig.converge()
    configured_at = rig.machine.outcomes.last_configured_at
    rig.clock.advance(60)
    rig.client.config_error = rejecting()
    rig.deliver(Crud.UPDATE)
    error = rig.machine.outcomes.last_error
    assert error is not None and error[1] == configured_at + 60
    assert rig.machine.outcomes.last_configured_at == configured_at


def test_config_push_latency_includes_its_retries() -> None:
    """An agent answering 503 is asked three times, one (fake) second apart."""
    rig = MachineRig(reboot_error_threshold=1)
    rig.client.config_error = ApplianceConfigError(503, "busy")
    rig.deliver(Crud.CREATE)
    pushes = value(rig, "astara_config_push_seconds_count", driver="router")
    assert pushes >= 1
    assert value(rig, "astara_config_push_seconds_sum", driver="router") == 2.0 * pushes


def test_a_failed_boot_is_recorded_and_counted() -> None:
    rig = MachineRig()
    rig.provisioner.boot_error = ProvisionerError("no host has room")
    rig.deliver(Crud.CREATE)
    error = rig.machine.outcomes.last_error
    assert error is not None and "no host has room" in error[0]
    assert value(rig, "astara_instance_boot_failures_total", driver="router") == 1
    assert value(rig, "astara_instance_boots_total") == 0


def test_a_boot_that_never_answers_counts_as_a_failed_boot() -> None:
    rig = MachineRig(boot_delay=10_000, boot_timeout=30, reboot_error_threshold=2)
    rig.converge()
    assert rig.state is InstanceState.ERROR
    assert value(rig, "astara_instance_boots_total", driver="router") == 2
    assert value(rig, "astara_instance_boot_failures_total", driver="router") == 2
    error = rig.machine.outcomes.last_error
    assert error is not None and "boot attempts failed" in error[0]


def test_an_exception_in_a_state_is_recorded_with_the_state() -> None:
    rig = MachineRig()
    rig.driver.refresh_error = RuntimeError("network model down")
    rig.deliver(Crud.CREATE)
    error = rig.machine.outcomes.last_error
    assert error is not None
    assert error[0] == "CreateInstance: RuntimeError: network model down"


def test_an_appliance_that_stops_answering_is_recorded_and_its_polls_fail() -> None:
    rig = MachineRig()
    rig.converge()
    assert value(rig, "astara_health_poll_failures_total") == 0
    rig.client.all_dead = True
    rig.deliver(Crud.POLL)
    error = rig.machine.outcomes.last_error
    assert error is not None and "stopped answering" in error[0]
    assert value(rig, "astara_health_poll_failures_total", driver="router") == 3
    assert value(rig, "astara_health_poll_seconds_count", driver="router") >= 3


def test_a_rebuild_is_counted_with_its_new_boot() -> None:
    rig = MachineRig()
    rig.converge()
    rig.converge(Crud.REBUILD)
    assert value(rig, "astara_instance_rebuilds_total", driver="router") == 1
    assert value(rig, "astara_instance_boots_total", driver="router") == 2


def test_transitions_are_counted_as_the_machine_walks() -> None:
    rig = MachineRig()
    rig.converge()
    assert value(rig, "astara_state_transitions_total", from_state="CalcAction",
                 to_state="CreateInstance") == 1  # fmt: skip
    assert value(rig, "astara_state_transitions_total", from_state="ConfigureInstance") == 1
