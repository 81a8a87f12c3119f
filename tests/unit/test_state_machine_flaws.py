"""One test per flaw of the original state machine and instance manager, named after it."""

from __future__ import annotations

import itertools
import logging

import pytest

from astara.orchestrator.event import Crud
from astara.orchestrator.instance_state import InstanceState
from astara.provisioners.base import InstanceStatus, ProvisionerError, member_name
from tests.unit.doubles import ROUTER, MachineRig

NAME = f"ak-router-{ROUTER.id}"


def test_boot_timeout_is_enforced() -> None:
    rig = MachineRig(boot_timeout=60, reboot_error_threshold=3)
    rig.client.all_dead = True  # the appliances boot but their agent never answers
    start = rig.clock.now
    rig.converge(Crud.CREATE)
    assert len(rig.provisioner.boots) == 3
    assert sorted(rig.provisioner.destroyed) == ["i-1", "i-2", "i-3"]
    assert rig.provisioner.instances == {}
    assert rig.state is InstanceState.ERROR
    assert rig.clock.now - start >= 3 * 60


def test_check_boot_does_not_busy_loop() -> None:
    rig = MachineRig(boot_delay=40)
    rig.deliver(Crud.CREATE)
    pauses = []
    while rig.state is InstanceState.BOOTING:
        assert not rig.machine.has_more_work()  # the worker has nothing to run now
        wake_at = rig.machine.wake_at()
        assert wake_at is not None
        pauses.append(wake_at - rig.clock.now)
        probes = len(rig.client.probes)
        rig.wake()
        assert len(rig.client.probes) - probes == 1  # one probe per wake-up
    assert pauses[:6] == [0.5, 1, 2, 4, 5, 5]
    assert rig.state is InstanceState.CONFIGURED


def test_read_stats_reaches_the_appliance() -> None:
    rig = MachineRig()
    rig.converge(Crud.CREATE)
    rig.deliver(Crud.READ)
    address = rig.provisioner.by_name(NAME).management_address
    assert rig.client.counter_reads == [address]
    assert rig.stats == [(ROUTER, {NAME: rig.client.counters})]


@pytest.mark.parametrize("key", ["image_uuid", "resource_image_uuid", "router_image_uuid"])
def test_rebuild_uses_the_requested_image(key: str) -> None:
    rig = MachineRig()
    rig.converge(Crud.CREATE)
    rig.converge(Crud.REBUILD, **{key: "image-custom"})
    assert [boot["image_uuid"] for boot in rig.provisioner.boots] == [
        "image-default",
        "image-custom",
    ]
    assert rig.state is InstanceState.CONFIGURED


def test_rebuild_image_survives_an_automatic_reboot_until_the_next_rebuild() -> None:
    rig = MachineRig()
    rig.converge(Crud.REBUILD, image_uuid="image-custom")
    rig.client.dead.add(rig.provisioner.by_name(NAME).id)
    rig.converge(Crud.POLL)  # the appliance died: rebooted, with the requested image
    rig.converge(Crud.REBUILD)  # no image: back to the driver's
    assert [boot["image_uuid"] for boot in rig.provisioner.boots] == [
        "image-custom",
        "image-custom",
        "image-default",
    ]


def test_rebuild_with_a_malformed_image_uses_the_default_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = MachineRig()
    with caplog.at_level(logging.ERROR, logger="astara.orchestrator.state_machine"):
        rig.converge(Crud.REBUILD, image_uuid=["not", "an", "id"])
    assert rig.provisioner.boots[-1]["image_uuid"] == "image-default"
    assert any("is not an id" in r.getMessage() for r in caplog.records)


def test_status_none_is_never_reported() -> None:
    rig = MachineRig(boot_delay=2)
    rig.converge(Crud.CREATE)
    rig.converge(Crud.REBUILD)
    rig.driver.networks.append("net-new")
    rig.converge(Crud.UPDATE)
    rig.driver.exists = False
    rig.converge(Crud.DELETE)
    reported = rig.driver.reported
    assert rig.machine.deleted
    assert all(isinstance(state, InstanceState) for state in reported)
    assert InstanceState.GONE not in reported
    assert all(a != b for a, b in itertools.pairwise(reported))
    assert reported[:3] == [InstanceState.BOOTING, InstanceState.UP, InstanceState.CONFIGURED]
    assert InstanceState.DOWN in reported  # the stop of the rebuild reports DOWN, not None


def test_replug_releases_every_detached_port() -> None:
    rig = MachineRig(ha=True)
    rig.converge(Crud.CREATE)
    leaving = [rig.driver.ensure_ports(member)[1][1] for member in (0, 1)]
    assert {port.network_id for port in leaving} == {"net-int"}
    rig.driver.networks.remove("net-int")
    rig.converge(Crud.UPDATE)
    assert sorted(rig.driver.released_ports, key=lambda p: p.port_id) == sorted(
        leaving, key=lambda p: p.port_id
    )
    assert [port for _, port in rig.provisioner.unplugged] == leaving
    for member in (0, 1):
        info = rig.provisioner.by_name(member_name(NAME, member))
        assert "net-int" not in {port.network_id for port in info.ports}
    assert rig.state is InstanceState.CONFIGURED


def test_stale_instances_are_destroyed_not_adopted() -> None:
    rig = MachineRig()
    add = rig.provisioner.add
    management, ports = rig.driver.ensure_ports(0)
    healthy = add(NAME, management, ports)
    duplicate = add(NAME, management, ports)
    not_needed = add(member_name(NAME, 1), management, ports)
    broken = add(NAME, management, ports, status=InstanceStatus.ERROR)
    stuck = add(NAME, management, ports, status=InstanceStatus.BUILDING, created_at=0.0)
    neighbour = add(NAME + "0", management, ports)  # another resource, same prefix
    rig.converge(Crud.POLL)
    assert sorted(rig.provisioner.destroyed) == sorted(
        [duplicate.id, not_needed.id, broken.id, stuck.id]
    )
    assert rig.instances.instance_ids == (healthy.id,)
    assert neighbour.id in rig.provisioner.instances
    assert rig.provisioner.boots == []
    assert rig.state is InstanceState.CONFIGURED


def test_dead_instance_is_destroyed_not_just_forgotten() -> None:
    rig = MachineRig(ha=True)
    rig.converge(Crud.CREATE)
    dead = rig.provisioner.by_name(member_name(NAME, 0))
    rig.client.dead.add(dead.id)
    rig.converge(Crud.POLL)
    assert dead.id in rig.provisioner.destroyed
    assert dead.id not in rig.provisioner.instances


def test_cluster_rebuild_spares_the_survivor_and_is_not_a_failed_boot() -> None:
    rig = MachineRig(ha=True, boot_delay=5)
    rig.converge(Crud.CREATE)
    survivor = rig.provisioner.by_name(member_name(NAME, 0))
    lost = rig.provisioner.by_name(member_name(NAME, 1))
    del rig.provisioner.instances[lost.id]  # the platform lost it
    rig.deliver(Crud.POLL)
    assert rig.state is InstanceState.BOOTING
    assert rig.instances.attempts == 0
    rig.settle()
    assert rig.provisioner.destroyed == []
    assert survivor.id in rig.provisioner.instances
    assert [boot["name"] for boot in rig.provisioner.boots][-1] == member_name(NAME, 1)
    assert len(rig.provisioner.boots) == 3
    assert rig.state is InstanceState.CONFIGURED
    assert InstanceState.DEGRADED in rig.driver.reported


def test_cluster_rebuild_that_keeps_failing_ends_in_error_not_a_loop() -> None:
    rig = MachineRig(ha=True, reboot_error_threshold=3)
    rig.converge(Crud.CREATE)
    lost = rig.provisioner.by_name(member_name(NAME, 1))
    del rig.provisioner.instances[lost.id]
    rig.provisioner.boot_error = ProvisionerError("no capacity")
    rig.converge(Crud.POLL)
    assert rig.state is InstanceState.ERROR
    assert rig.instances.attempts == 3
    assert rig.provisioner.by_name(member_name(NAME, 0)).id in rig.provisioner.instances


def test_ha_priority_does_not_follow_instance_age() -> None:
    rig = MachineRig(ha=True)
    rig.converge(Crud.CREATE)
    first = rig.provisioner.by_name(member_name(NAME, 0))
    rig.client.dead.add(first.id)  # the oldest member is replaced
    rig.converge(Crud.POLL)
    priorities = {
        address: config["ha_config"]["priority"] for address, config in rig.client.configs
    }
    for member, priority in ((0, 100), (1, 50)):
        info = rig.provisioner.by_name(member_name(NAME, member))
        assert priorities[info.management_address] == priority
    last_push = {address: config for address, config in rig.client.configs}
    for member, peer in ((0, 1), (1, 0)):
        info = rig.provisioner.by_name(member_name(NAME, member))
        other = rig.provisioner.by_name(member_name(NAME, peer))
        assert last_push[info.management_address]["ha_config"]["peers"] == [
            other.management_address
        ]


def test_delete_is_not_swallowed_by_the_error_cooldown() -> None:
    rig = MachineRig(reboot_error_threshold=1, error_state_cooldown=600)
    rig.provisioner.boot_error = ProvisionerError("no capacity")
    rig.converge(Crud.CREATE)
    assert rig.state is InstanceState.ERROR
    rig.deliver(Crud.DELETE)
    assert rig.machine.deleted
    assert rig.driver.release_all_calls == 1


def test_event_in_error_cooldown_is_deferred_not_lost() -> None:
    rig = MachineRig(reboot_error_threshold=1, error_state_cooldown=30)
    rig.provisioner.boot_error = ProvisionerError("no capacity")
    rig.converge(Crud.CREATE)
    rig.provisioner.boot_error = None
    rig.deliver(Crud.UPDATE)  # within the cooldown
    assert rig.provisioner.boots == []
    rig.settle()  # the cooldown ends: the UPDATE runs
    assert rig.state is InstanceState.CONFIGURED


def test_unanswered_appliance_is_not_probed_for_ever() -> None:
    rig = MachineRig(boot_timeout=30, reboot_error_threshold=2)
    rig.client.all_dead = True
    rig.converge(Crud.CREATE)
    probes = len(rig.client.probes)
    assert rig.machine.wake_at() is None
    assert not rig.send(Crud.POLL)  # the health monitor's POLLs leave ERROR alone
    assert len(rig.client.probes) == probes
