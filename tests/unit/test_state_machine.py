"""Every transition of the state diagram, driven through send_message/update.

Each test names the row of the diagram (see astara.orchestrator.states) it
exercises, sets the doubles up so the row must be taken, and checks both the
path the machine walked and what it did to the platform and the appliance.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from astara.orchestrator.event import Crud, Event, Resource
from astara.orchestrator.instance_state import InstanceState
from astara.provisioners.base import InstanceStatus, ProvisionerError, member_name
from tests.unit.doubles import ROUTER, MachineRig, rejecting

NAME = f"ak-router-{ROUTER.id}"


def configured(**kwargs: object) -> MachineRig:
    """A rig whose appliance is booted and configured."""
    rig = MachineRig(**kwargs)  # type: ignore[arg-type]
    rig.converge(Crud.CREATE)
    assert rig.state is InstanceState.CONFIGURED
    rig.transitions.clear()
    return rig


def in_error(threshold: int = 2, cooldown: float = 30) -> MachineRig:
    """A rig whose boots always fail, pushed into ERROR."""
    rig = MachineRig(reboot_error_threshold=threshold, error_state_cooldown=cooldown)
    rig.provisioner.boot_error = ProvisionerError("no capacity")
    rig.converge(Crud.CREATE)
    assert rig.state is InstanceState.ERROR
    rig.provisioner.boot_error = None
    rig.transitions.clear()
    return rig


# -- the queue ------------------------------------------------------------------------


def test_events_collapse_so_the_queue_never_holds_more_than_two() -> None:
    rig = MachineRig()
    for crud in (Crud.UPDATE, Crud.POLL, Crud.CREATE, Crud.READ, Crud.UPDATE, Crud.POLL):
        assert rig.send(crud)
        assert rig.machine.queue_depth() <= 2
    assert rig.machine.drop_queue() == (Crud.CREATE, Crud.READ)
    assert rig.machine.queue_depth() == 0
    assert not rig.machine.has_more_work()


@pytest.mark.parametrize("crud", [Crud.COMMAND, Crud.REBALANCE])
def test_worker_actions_are_refused(crud: Crud) -> None:
    rig = MachineRig()
    assert not rig.send(crud)
    assert rig.machine.queue_depth() == 0


def test_machine_refuses_a_driver_for_another_resource() -> None:
    rig = MachineRig()
    other = Resource("router", "another", "tenant-1")
    with pytest.raises(ValueError, match="another"):
        type(rig.machine)(other, rig.driver, rig.instances)


# -- CalcAction ----------------------------------------------------------------------


def test_calc_action_boots_a_resource_that_has_no_appliance() -> None:
    rig = MachineRig()
    rig.deliver(Crud.POLL)
    assert rig.path[:3] == ["CalcAction", "CreateInstance", "CheckBoot"]
    assert [boot["name"] for boot in rig.provisioner.boots] == [NAME]


def test_calc_action_sends_a_configured_resource_to_alive() -> None:
    rig = configured()
    rig.deliver(Crud.POLL)
    assert rig.path == ["CalcAction", "Alive", "CalcAction"]
    assert rig.state is InstanceState.CONFIGURED
    assert len(rig.provisioner.boots) == 1


def test_calc_action_sends_an_event_for_a_booting_resource_to_check_boot() -> None:
    rig = MachineRig(boot_delay=10)
    rig.deliver(Crud.CREATE)
    rig.transitions.clear()
    rig.deliver(Crud.UPDATE)
    assert rig.path == ["CalcAction", "CheckBoot", "CalcAction"]
    assert len(rig.provisioner.boots) == 1


def test_calc_action_sends_delete_to_stop_and_exit() -> None:
    rig = configured()
    rig.driver.exists = False
    rig.deliver(Crud.DELETE)
    assert rig.path == ["CalcAction", "StopInstance", "Exit"]
    assert rig.machine.deleted
    assert rig.provisioner.instances == {}
    assert rig.driver.release_all_calls == 1


def test_calc_action_sends_a_gone_resource_to_stop() -> None:
    rig = configured()
    rig.driver.exists = False
    rig.provisioner.destroy_error = ProvisionerError("nova is down")
    rig.deliver(Crud.POLL)  # Alive sees GONE, the stop fails and is retried later
    assert rig.state is InstanceState.GONE
    assert not rig.machine.deleted
    rig.provisioner.destroy_error = None
    rig.transitions.clear()
    assert rig.wake()
    assert rig.went("CalcAction", "StopInstance")
    assert rig.machine.deleted
    assert rig.provisioner.instances == {}


def test_calc_action_sends_rebuild_to_rebuild_instance() -> None:
    rig = configured()
    old = rig.instances.instance_ids
    rig.deliver(Crud.REBUILD)
    assert rig.path[:3] == ["CalcAction", "RebuildInstance", "CreateInstance"]
    assert rig.provisioner.destroyed == list(old)
    rig.settle()
    assert rig.state is InstanceState.CONFIGURED
    assert rig.instances.instance_ids != old


def test_calc_action_sends_cluster_rebuild_of_a_down_resource_to_create() -> None:
    rig = MachineRig()
    rig.deliver(Crud.CLUSTER_REBUILD)
    assert rig.went("CalcAction", "CreateInstance")
    assert len(rig.provisioner.boots) == 1


def test_calc_action_sends_cluster_rebuild_of_a_configured_resource_to_alive() -> None:
    rig = configured()
    rig.deliver(Crud.CLUSTER_REBUILD)
    assert rig.path[:2] == ["CalcAction", "Alive"]
    assert len(rig.provisioner.boots) == 1


def test_calc_action_restores_a_degraded_pair_without_waiting_for_an_event() -> None:
    rig = configured(ha=True)
    survivor, lost = (rig.provisioner.by_name(member_name(NAME, i)) for i in (0, 1))
    rig.client.dead.add(lost.id)
    rig.deliver(Crud.POLL)  # Alive: member 1 stopped answering -> DEGRADED
    assert rig.went("Alive", "CreateInstance")
    assert survivor.id in rig.provisioner.instances
    assert lost.id not in rig.provisioner.instances
    assert rig.provisioner.boots[-1]["name"] == member_name(NAME, 1)


# -- the ERROR overrides -----------------------------------------------------------


def test_reboot_error_threshold_puts_the_resource_in_error() -> None:
    rig = in_error(threshold=3)
    assert rig.instances.attempts == 3
    assert rig.driver.reported[-1] is InstanceState.ERROR
    assert rig.machine.wake_at() is None


def test_create_instance_goes_to_calc_action_on_error() -> None:
    rig = MachineRig(reboot_error_threshold=1)
    rig.provisioner.boot_error = ProvisionerError("no capacity")
    rig.deliver(Crud.CREATE)
    rig.transitions.clear()
    rig.wake()
    assert rig.went("CreateInstance", "CalcAction")
    assert rig.state is InstanceState.ERROR


def test_poll_is_ignored_in_error() -> None:
    rig = in_error()
    assert not rig.send(Crud.POLL)
    assert rig.machine.queue_depth() == 0


def test_poll_already_deferred_is_consumed_in_error_without_action() -> None:
    rig = in_error(cooldown=0)
    rig.machine.defer(rig.clock.now, Crud.POLL)
    assert rig.send(Crud.POLL)  # taken: it carries the deferred action
    rig.run()
    assert rig.path == ["CalcAction", "CalcAction"]
    assert rig.state is InstanceState.ERROR
    assert rig.provisioner.boots == []


def test_event_within_error_cooldown_waits_for_its_end() -> None:
    rig = in_error(cooldown=30)
    error_since = rig.instances.error_since
    assert error_since is not None
    rig.clock.advance(10)
    rig.deliver(Crud.UPDATE)
    assert rig.path == ["CalcAction", "CalcAction"]
    assert rig.state is InstanceState.ERROR
    assert rig.provisioner.boots == []
    assert rig.machine.wake_at() == error_since + 30
    rig.transitions.clear()
    rig.wake()  # the cooldown is over: the held UPDATE runs
    assert rig.path[:3] == ["CalcAction", "ClearError", "CreateInstance"]
    assert len(rig.provisioner.boots) == 1


def test_event_after_error_cooldown_clears_the_error_and_proceeds() -> None:
    rig = in_error(cooldown=30)
    rig.clock.advance(31)
    rig.deliver(Crud.UPDATE)
    assert rig.path[:3] == ["CalcAction", "ClearError", "CreateInstance"]
    rig.settle()
    assert rig.state is InstanceState.CONFIGURED
    assert rig.instances.attempts == 0


def test_clear_error_routes_rebuild_to_rebuild_instance() -> None:
    rig = in_error(cooldown=30)
    rig.clock.advance(31)
    rig.deliver(Crud.REBUILD, image_uuid="image-fixed")
    assert rig.path[:3] == ["CalcAction", "ClearError", "RebuildInstance"]
    assert rig.provisioner.boots[-1]["image_uuid"] == "image-fixed"


def test_delete_in_error_is_not_held_by_the_cooldown() -> None:
    rig = in_error(cooldown=30)
    rig.driver.exists = False
    rig.deliver(Crud.DELETE)
    assert rig.path == ["CalcAction", "StopInstance", "Exit"]
    assert rig.machine.deleted


# -- Alive ---------------------------------------------------------------------------


def test_alive_with_update_pushes_the_config() -> None:
    rig = configured()
    pushed = len(rig.client.configs)
    rig.deliver(Crud.UPDATE)
    assert rig.path == ["CalcAction", "Alive", "ConfigureInstance", "CalcAction"]
    assert len(rig.client.configs) == pushed + 1


def test_alive_with_read_goes_to_read_stats() -> None:
    rig = configured()
    rig.deliver(Crud.READ)
    assert rig.path == ["CalcAction", "Alive", "ReadStats", "CalcAction"]
    assert rig.stats == [(ROUTER, {NAME: rig.client.counters})]


def test_alive_sends_a_gone_resource_to_stop() -> None:
    rig = configured()
    rig.driver.exists = False
    rig.deliver(Crud.POLL)
    assert rig.path == ["CalcAction", "Alive", "StopInstance", "Exit"]
    assert rig.machine.deleted
    assert rig.provisioner.instances == {}


def test_alive_reboots_an_appliance_that_stopped_answering() -> None:
    rig = configured()
    (dead_id,) = rig.instances.instance_ids
    rig.client.all_dead = True
    rig.deliver(Crud.POLL)
    assert rig.went("Alive", "CreateInstance")
    assert dead_id in rig.provisioner.destroyed
    assert len(rig.provisioner.boots) == 2


def test_alive_sends_a_replaced_booting_member_to_check_boot() -> None:
    rig = configured(boot_delay=5)
    old = rig.provisioner.by_name(NAME)
    del rig.provisioner.instances[old.id]  # the platform replaced it (evacuation)
    management, ports = rig.driver.ensure_ports(0)
    rig.provisioner.add(NAME, management, ports, status=InstanceStatus.BUILDING)
    rig.deliver(Crud.POLL)
    assert rig.went("Alive", "CheckBoot")
    assert rig.state is InstanceState.BOOTING
    assert len(rig.provisioner.boots) == 1  # adopted, not booted again


# -- CreateInstance ------------------------------------------------------------------


def test_create_instance_stops_when_the_resource_is_gone() -> None:
    rig = MachineRig()
    rig.driver.exists = False
    rig.deliver(Crud.CREATE)
    assert rig.path == ["CalcAction", "CreateInstance", "StopInstance", "Exit"]
    assert rig.provisioner.boots == []
    assert rig.machine.deleted


def test_create_instance_stops_a_resource_found_gone_when_giving_up() -> None:
    rig = MachineRig(reboot_error_threshold=1)
    rig.provisioner.boot_error = ProvisionerError("no capacity")
    rig.deliver(Crud.CREATE)
    rig.driver.exists = False
    rig.transitions.clear()
    rig.wake()  # the threshold is reached, but ERROR would hold a resource that is gone
    assert rig.path == ["CalcAction", "CreateInstance", "StopInstance", "Exit"]
    assert InstanceState.ERROR not in rig.driver.reported


def test_failed_boot_is_retried_later_not_at_once() -> None:
    rig = MachineRig()
    rig.provisioner.boot_error = ProvisionerError("no capacity")
    rig.deliver(Crud.CREATE)
    assert rig.path == ["CalcAction", "CreateInstance", "CalcAction"]
    assert rig.instances.attempts == 1
    assert not rig.machine.has_more_work()
    assert rig.machine.wake_at() == rig.clock.now + 1
    rig.provisioner.boot_error = None
    rig.settle()
    assert rig.state is InstanceState.CONFIGURED


def test_create_instance_goes_to_check_boot_after_a_boot() -> None:
    rig = MachineRig(boot_delay=10)
    rig.deliver(Crud.CREATE)
    assert rig.went("CreateInstance", "CheckBoot")
    assert rig.state is InstanceState.BOOTING


# -- CheckBoot -----------------------------------------------------------------------


def test_check_boot_waits_then_configures_once_the_appliance_answers() -> None:
    rig = MachineRig(boot_delay=3)
    rig.deliver(Crud.CREATE)
    assert rig.went("CheckBoot", "CalcAction")
    assert rig.machine.wake_at() is not None
    rig.settle()
    assert rig.went("CheckBoot", "ConfigureInstance")
    assert rig.state is InstanceState.CONFIGURED


def test_check_boot_stops_a_resource_gone_while_booting() -> None:
    rig = MachineRig(boot_delay=3)
    rig.deliver(Crud.CREATE)
    rig.driver.exists = False
    rig.transitions.clear()
    rig.wake()
    assert rig.path == ["CalcAction", "CheckBoot", "StopInstance", "Exit"]
    assert rig.provisioner.instances == {}


def test_check_boot_sends_a_half_booted_pair_to_rebuild_the_missing_member() -> None:
    rig = MachineRig(ha=True, boot_delay=3, boot_timeout=60)
    rig.deliver(Crud.CREATE)
    slow = rig.provisioner.by_name(member_name(NAME, 1))
    rig.client.dead.add(slow.id)
    rig.clock.advance(61)
    rig.transitions.clear()
    rig.wake()
    assert rig.went("CheckBoot", "CalcAction")
    assert rig.went("CalcAction", "CreateInstance")  # CLUSTER_REBUILD
    assert slow.id in rig.provisioner.destroyed
    assert rig.provisioner.boots[-1]["name"] == member_name(NAME, 1)


# -- ConfigureInstance ---------------------------------------------------------------


def test_configure_instance_replugs_when_the_networks_changed() -> None:
    rig = configured()
    rig.driver.networks.append("net-new")
    rig.deliver(Crud.UPDATE)
    assert rig.path == [
        "CalcAction",
        "Alive",
        "ConfigureInstance",
        "ReplugInstance",
        "ConfigureInstance",
        "CalcAction",
    ]
    assert [port.network_id for _, port in rig.provisioner.plugged] == ["net-new"]
    assert rig.state is InstanceState.CONFIGURED


def test_configure_instance_restarts_an_appliance_that_refuses_its_config() -> None:
    rig = configured()
    rig.client.config_error = rejecting(422, "no such interface")
    rig.deliver(Crud.UPDATE)
    assert rig.went("ConfigureInstance", "StopInstance")
    assert rig.went("StopInstance", "CreateInstance")
    # Every reboot is refused too: one boot per allowed attempt, then ERROR.
    assert len(rig.provisioner.boots) == 1 + rig.machine.reboot_error_threshold
    assert rig.state is InstanceState.ERROR
    assert len(rig.provisioner.instances) == 0


def test_configure_instance_stops_a_resource_gone_meanwhile() -> None:
    rig = configured()
    rig.driver.gone_after = 1  # Alive still sees it, ConfigureInstance does not
    rig.driver.event_during_read = True  # the deletion's notification, during Alive's read
    rig.deliver(Crud.UPDATE)
    assert rig.path == ["CalcAction", "Alive", "ConfigureInstance", "StopInstance", "Exit"]
    assert rig.machine.deleted


def test_one_event_reads_the_resource_once_whatever_the_states_it_runs() -> None:
    rig = configured()
    before = rig.driver.reads
    rig.deliver(Crud.UPDATE)
    assert rig.went("Alive", "ConfigureInstance")
    assert rig.driver.reads == before + 1
    rig.deliver(Crud.UPDATE)
    assert rig.driver.reads == before + 2


def test_configure_instance_pushes_an_update_later_when_the_config_cannot_be_built() -> None:
    rig = configured()
    rig.driver.build_error = RuntimeError("neutron unreachable")
    rig.deliver(Crud.UPDATE)
    assert rig.went("ConfigureInstance", "PushUpdate")
    assert rig.went("PushUpdate", "CalcAction")
    assert rig.state is InstanceState.UP
    assert len(rig.provisioner.boots) == 1  # not the appliance's fault: no reboot
    rig.driver.build_error = None
    rig.settle()
    assert rig.state is InstanceState.CONFIGURED


def test_configure_instance_goes_to_read_stats_for_a_read() -> None:
    rig = MachineRig(boot_delay=3)
    rig.deliver(Crud.CREATE)
    rig.clock.advance(3)
    rig.deliver(Crud.READ)
    assert rig.went("CheckBoot", "ConfigureInstance")
    assert rig.went("ConfigureInstance", "ReadStats")
    assert rig.went("ReadStats", "CalcAction")
    assert len(rig.stats) == 1


def test_configure_instance_degrades_a_pair_when_one_member_refuses() -> None:
    rig = MachineRig(ha=True)
    refused: list[str] = []

    def put_config(address: str, config: object, timeout: float) -> dict[str, object]:
        member_1 = rig.provisioner.by_name(member_name(NAME, 1))
        if address == member_1.management_address and not refused:
            refused.append(member_1.id)
            raise rejecting()
        return {}

    rig.client.put_config = put_config  # type: ignore[method-assign]
    rig.deliver(Crud.CREATE)
    assert rig.went("ConfigureInstance", "CalcAction")
    assert refused and refused[0] in rig.provisioner.destroyed
    assert [boot["name"] for boot in rig.provisioner.boots] == [
        member_name(NAME, 0),
        member_name(NAME, 1),
        member_name(NAME, 1),
    ]
    assert rig.state is InstanceState.CONFIGURED


# -- ReplugInstance ------------------------------------------------------------------


def test_replug_instance_restarts_when_the_appliance_misses_a_plugged_port() -> None:
    rig = configured()
    _, ports = rig.driver.ensure_ports(0)
    rig.client.hidden_macs.add(ports[0].mac_address.lower())
    rig.deliver(Crud.UPDATE)
    assert rig.went("ConfigureInstance", "ReplugInstance")
    assert rig.went("ReplugInstance", "StopInstance")
    assert len(rig.provisioner.boots) == 2


def test_replug_instance_restarts_when_plugging_fails() -> None:
    rig = configured()
    rig.driver.networks.append("net-new")
    rig.provisioner.plug_error = ProvisionerError("attach refused")
    rig.deliver(Crud.UPDATE)
    assert rig.went("ReplugInstance", "StopInstance")
    rig.provisioner.plug_error = None
    rig.settle()
    assert rig.state is InstanceState.CONFIGURED
    assert {p.network_id for p in rig.provisioner.by_name(NAME).ports} >= {"net-new"}


# -- StopInstance and RebuildInstance ------------------------------------------------


def test_stop_instance_goes_to_exit_on_delete_even_if_the_resource_exists() -> None:
    rig = configured()
    rig.deliver(Crud.DELETE)
    assert rig.path == ["CalcAction", "StopInstance", "Exit"]
    assert rig.machine.deleted
    assert rig.provisioner.instances == {}
    assert not rig.send(Crud.UPDATE)


def test_stop_instance_that_fails_is_retried_later_and_loses_no_delete() -> None:
    rig = configured()
    rig.provisioner.destroy_error = ProvisionerError("nova is down")
    rig.deliver(Crud.DELETE)
    assert not rig.machine.deleted
    assert not rig.machine.has_more_work()
    first_wake = rig.machine.wake_at()
    assert first_wake is not None
    first_pause = first_wake - rig.clock.now
    rig.wake()
    second_wake = rig.machine.wake_at()
    assert second_wake is not None
    assert second_wake - rig.clock.now > first_pause  # the pause grows
    rig.provisioner.destroy_error = None
    rig.settle()
    assert rig.machine.deleted
    assert rig.provisioner.instances == {}


def test_rebuild_instance_exits_when_the_resource_is_gone() -> None:
    rig = configured()
    rig.driver.exists = False
    rig.deliver(Crud.REBUILD)
    assert rig.path == ["CalcAction", "RebuildInstance", "Exit"]
    assert rig.machine.deleted


def test_rebuild_instance_resets_the_boot_counter() -> None:
    rig = MachineRig(reboot_error_threshold=5, boot_delay=10)
    rig.provisioner.boot_error = ProvisionerError("no capacity")
    rig.deliver(Crud.CREATE)
    rig.wake()
    assert rig.instances.attempts == 2
    rig.provisioner.boot_error = None
    rig.deliver(Crud.REBUILD)
    assert rig.went("RebuildInstance", "CreateInstance")
    assert rig.instances.attempts == 1  # reset, then this boot


# -- failures inside states ----------------------------------------------------------


def test_an_exception_in_a_state_is_logged_with_the_resource_and_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = configured()
    rig.driver.refresh_error = RuntimeError("neutron said 503")
    with caplog.at_level(logging.DEBUG, logger="astara.orchestrator.state_machine"):
        rig.deliver(Crud.UPDATE)  # must not raise
    assert any(
        ROUTER.id in r.getMessage() and "neutron said 503" in r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING
    )
    assert not any(r.exc_info for r in caplog.records if r.levelno >= logging.WARNING)
    assert rig.machine.wake_at() is not None
    rig.driver.refresh_error = None
    pushed = len(rig.client.configs)
    rig.settle()
    assert len(rig.client.configs) == pushed + 1  # the UPDATE was not lost


def test_a_driver_that_never_settles_does_not_hold_the_worker(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = configured()
    rig.driver.reuse_ports = False  # re-plug and configure would send it to each other forever
    with caplog.at_level(logging.DEBUG, logger="astara.orchestrator.state_machine"):
        rig.deliver(Crud.UPDATE)  # returns: the walk is cut short
    assert any("no rest after" in r.getMessage() for r in caplog.records)
    assert rig.went("ReplugInstance", "ConfigureInstance")
    assert not rig.machine.has_more_work()
    assert rig.machine.wake_at() is not None
    assert rig.machine.current_state_name == "CalcAction"


def test_machine_in_exit_ignores_everything() -> None:
    rig = configured()
    rig.deliver(Crud.DELETE)
    assert rig.machine.deleted
    assert not rig.machine.send_message(Event(ROUTER, Crud.CREATE))
    assert rig.machine.wake_at() is None
    assert not rig.machine.has_more_work()
    assert rig.machine.current_state_name == "Exit"


def test_an_event_arriving_during_an_update_is_not_lost() -> None:
    rig = MachineRig()
    real_put = rig.client.put_config

    def put_config_while_an_event_arrives(address: str, config: Any, timeout: float) -> Any:
        rig.send(Crud.READ)  # another thread delivers while this one configures
        return real_put(address, config, timeout)

    rig.client.put_config = put_config_while_an_event_arrives  # type: ignore[method-assign]
    rig.deliver(Crud.CREATE)
    assert rig.state is InstanceState.CONFIGURED
    assert len(rig.stats) >= 1  # the READ that arrived mid-update was run


def _booting(rig: MachineRig) -> None:
    rig.client.boot_delay = 100
    rig.deliver(Crud.CREATE)


def _configured(rig: MachineRig) -> None:
    rig.converge(Crud.CREATE)


def _in_error(rig: MachineRig) -> None:
    rig.provisioner.boot_error = ProvisionerError("no capacity")
    rig.converge(Crud.CREATE)
    rig.provisioner.boot_error = None


def _degraded(rig: MachineRig) -> None:
    rig.driver.ha = True
    rig.converge(Crud.CREATE)
    rig.client.boot_delay = 100
    rig.client.dead.add(rig.provisioner.by_name(member_name(NAME, 1)).id)
    rig.deliver(Crud.POLL)


def _waiting_to_retry(rig: MachineRig) -> None:
    rig.converge(Crud.CREATE)
    rig.driver.build_error = RuntimeError("neutron 503")
    rig.deliver(Crud.UPDATE)
    rig.driver.build_error = None


@pytest.mark.parametrize(
    ("situation", "expected_state"),
    [
        (_booting, InstanceState.BOOTING),
        (_configured, InstanceState.CONFIGURED),
        (_in_error, InstanceState.ERROR),
        (_degraded, InstanceState.BOOTING),
        (_waiting_to_retry, InstanceState.UP),
    ],
)
def test_a_resource_gone_from_any_situation_ends_in_exit_without_appliances(
    situation: Callable[[MachineRig], None], expected_state: InstanceState
) -> None:
    rig = MachineRig()
    situation(rig)
    assert rig.state is expected_state
    rig.driver.exists = False
    rig.converge(Crud.UPDATE)  # the notification that comes with the deletion
    assert rig.machine.deleted
    assert rig.provisioner.instances == {}
    assert rig.driver.release_all_calls >= 1
    assert rig.path[-2:] == ["StopInstance", "Exit"]
