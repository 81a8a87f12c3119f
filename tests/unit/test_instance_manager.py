"""The instance manager on its own: naming, adoption, config pushes, reports, stop."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from astara.drivers.base import PortSpec
from astara.orchestrator.appliance_client import ApplianceError
from astara.orchestrator.event import Resource
from astara.orchestrator.instance_manager import InstanceManager
from astara.orchestrator.instance_state import InstanceState
from astara.provisioners.base import (
    InstanceStatus,
    ProvisionerError,
    is_member_of,
    member_index,
    member_name,
)
from tests.unit.doubles import (
    ORCHESTRATOR_BLOCK,
    ROUTER,
    ApplianceClientDouble,
    DriverDouble,
    FakeClock,
    ProvisionerDouble,
    rejecting,
)

NAME = f"ak-router-{ROUTER.id}"


class Parts:
    """An InstanceManager and its doubles, on a fake clock."""

    def __init__(self, *, ha: bool = False, **options: Any) -> None:
        self.clock = FakeClock()
        self.driver = DriverDouble(ha=ha)
        self.provisioner = ProvisionerDouble(clock=self.clock)
        self.client = ApplianceClientDouble(self.provisioner)
        self.sleeps: list[float] = []
        self.stats: list[Any] = []
        options.setdefault("stats_callback", lambda resource, counters: self.stats.append(counters))
        self.manager = InstanceManager(
            self.driver,
            self.provisioner,
            self.client,
            clock=self.clock,
            sleep=self.sleeps.append,
            wall_clock=self.clock,
            **options,
        )

    def bring_up(self) -> InstanceState:
        self.manager.boot("image-default")
        self.manager.check_boot()
        return self.manager.configure()


# -- naming -----------------------------------------------------------------------------


def test_appliance_name_follows_the_install_guide() -> None:
    assert DriverDouble().appliance_name == NAME
    lb = DriverDouble(Resource("loadbalancer", "lb-1", "tenant-1"))
    assert lb.appliance_name == "ak-loadbalancer-lb-1"


@pytest.mark.parametrize(
    ("instance_name", "expected"),
    [
        (NAME, 0),
        (f"{NAME}-ha1", 1),
        (f"{NAME}-ha12", 12),
        (f"{NAME}-ha01", None),
        (f"{NAME}-ha0", None),
        (f"{NAME}-ha", None),
        (f"{NAME}-ha1x", None),
        (f"{NAME}0", None),
        (f"{NAME}-ha\u0661", None),  # ARABIC-INDIC DIGIT ONE: a digit, but not ours
        ("ak-router-other", None),
    ],
)
def test_member_index_tells_members_from_neighbours(
    instance_name: str, expected: int | None
) -> None:
    assert member_index(instance_name, NAME) == expected
    assert is_member_of(instance_name, NAME) is (expected is not None)


def test_member_names_round_trip() -> None:
    for index in range(4):
        name = member_name(NAME, index)
        assert name.startswith(NAME)
        assert member_index(name, NAME) == index
    with pytest.raises(ValueError, match="-1"):
        member_name(NAME, -1)


def test_port_spec_refuses_an_unknown_role() -> None:
    with pytest.raises(ValueError, match="unknown role 'vrrp'"):
        PortSpec("p1", "net", "fa:16:3e:00:00:01", "vrrp")


# -- boot and adoption ----------------------------------------------------------------


def test_ha_pair_boots_two_members_for_one_attempt() -> None:
    parts = Parts(ha=True)
    assert parts.manager.boot("image-x") is InstanceState.BOOTING
    assert [b["name"] for b in parts.provisioner.boots] == [NAME, f"{NAME}-ha1"]
    assert parts.manager.attempts == 1
    ports = [set(p.port_id for p in i.ports) for i in parts.provisioner.instances.values()]
    assert not ports[0] & ports[1]  # each member has its own ports


def test_healthy_instance_of_a_previous_run_is_adopted_not_rebooted() -> None:
    parts = Parts()
    management, ports = parts.driver.ensure_ports(0)
    earlier = parts.provisioner.add(NAME, management, ports, created_at=parts.clock() - 3600)
    assert parts.manager.update_state() is InstanceState.UP
    assert parts.manager.instance_ids == (earlier.id,)
    assert parts.manager.configure() is InstanceState.CONFIGURED
    assert parts.provisioner.boots == []


def test_boot_with_nothing_missing_counts_no_attempt() -> None:
    parts = Parts()
    management, ports = parts.driver.ensure_ports(0)
    parts.provisioner.add(NAME, management, ports)
    assert parts.manager.boot("image-x") is InstanceState.BOOTING
    assert parts.manager.attempts == 0
    assert parts.provisioner.boots == []


def test_member_no_longer_needed_when_ha_is_turned_off_is_destroyed() -> None:
    parts = Parts(ha=True)
    assert parts.bring_up() is InstanceState.CONFIGURED
    second = parts.provisioner.by_name(f"{NAME}-ha1")
    parts.driver.ha = False
    assert parts.manager.update_state() is InstanceState.CONFIGURED
    assert parts.provisioner.destroyed == [second.id]


def test_instance_in_error_on_the_platform_is_a_failed_boot() -> None:
    parts = Parts(ha=True)
    parts.bring_up()
    broken = parts.provisioner.by_name(f"{NAME}-ha1")
    parts.provisioner.instances[broken.id] = replace(broken, status=InstanceStatus.ERROR)
    assert parts.manager.update_state() is InstanceState.DEGRADED
    assert broken.id in parts.provisioner.destroyed


def test_vanished_booting_instance_counts_as_a_failed_boot() -> None:
    parts = Parts(ha=True)
    parts.bring_up()
    lost = parts.provisioner.by_name(f"{NAME}-ha1")
    del parts.provisioner.instances[lost.id]
    assert parts.manager.update_state() is InstanceState.DEGRADED
    assert parts.manager.boot("image-x") is InstanceState.BOOTING
    assert parts.manager.attempts == 0  # restoring a member is not a failed boot
    restored = parts.provisioner.by_name(f"{NAME}-ha1")
    del parts.provisioner.instances[restored.id]  # but losing it while it boots is
    assert parts.manager.update_state() is InstanceState.DEGRADED
    assert parts.manager.attempts == 1


def test_established_appliance_gets_retries_before_it_is_declared_dead() -> None:
    parts = Parts(max_retries=3, retry_delay=2)
    parts.bring_up()
    parts.client.all_dead = True
    assert parts.manager.update_state() is InstanceState.DOWN
    assert parts.sleeps == [2, 2]
    assert len(parts.provisioner.destroyed) == 1


# -- configure ------------------------------------------------------------------------


def test_configure_sends_the_driver_config_with_its_orchestrator_block() -> None:
    parts = Parts()
    assert parts.bring_up() is InstanceState.CONFIGURED
    ((address, config),) = parts.client.configs
    assert config["orchestrator"] == ORCHESTRATOR_BLOCK
    assert config["tenant_id"] == ROUTER.tenant_id
    assert "ha_config" not in config
    management, ports = parts.driver.ensure_ports(0)
    ((built_for, interfaces),) = parts.driver.built
    assert built_for == address == management.fixed_ips[0]
    assert set(interfaces) == {p.mac_address.lower() for p in (management, *ports)}
    assert sorted(interfaces.values()) == ["eth0", "eth1", "eth2"]


def test_config_push_is_retried_when_the_appliance_fails_then_succeeds() -> None:
    parts = Parts(max_retries=3, retry_delay=1)
    failures = [ApplianceError("timed out"), rejecting(500, "nft failed")]
    real_put = parts.client.put_config

    def flaky(address: str, config: Any, timeout: float) -> dict[str, Any]:
        if failures:
            raise failures.pop(0)
        return real_put(address, config, timeout)

    parts.client.put_config = flaky  # type: ignore[method-assign]
    assert parts.bring_up() is InstanceState.CONFIGURED
    assert parts.sleeps == [1, 1]


def test_config_refused_for_an_interface_not_plugged_yet_is_retried() -> None:
    parts = Parts(max_retries=3, retry_delay=1)
    parts.client.config_error = rejecting(409, "no interface with MAC fa:16:3e:00:00:02")
    assert parts.bring_up() is InstanceState.RESTART
    assert len(parts.client.configs) == 3
    assert parts.sleeps == [1, 1]


def test_refused_config_is_not_retried() -> None:
    parts = Parts(max_retries=3)
    parts.client.config_error = rejecting(422, "invalid address")
    assert parts.bring_up() is InstanceState.RESTART
    assert len(parts.client.configs) == 1
    assert parts.sleeps == []


def test_configure_asks_for_a_replug_when_ports_differ() -> None:
    parts = Parts()
    parts.bring_up()
    parts.driver.networks.append("net-new")
    assert parts.manager.configure() is InstanceState.REPLUG


def test_configure_restarts_an_appliance_that_cannot_list_its_interfaces() -> None:
    parts = Parts()
    parts.bring_up()

    def broken(address: str) -> list[dict[str, Any]]:
        raise ApplianceError("500 from agent")

    parts.client.get_interfaces = broken  # type: ignore[method-assign]
    assert parts.manager.configure() is InstanceState.RESTART


# -- replug ----------------------------------------------------------------------------


def test_replug_fails_a_member_whose_new_port_never_shows_up() -> None:
    parts = Parts(hotplug_timeout=3)
    parts.bring_up()
    parts.driver.networks.append("net-new")
    parts.provisioner.plug_sticks = False  # the platform says yes but nothing happens
    assert parts.manager.replug() is InstanceState.RESTART
    assert len(parts.provisioner.destroyed) == 1
    assert parts.sleeps == [1.0, 1.0]  # three looks, a second apart


def test_a_port_that_cannot_be_released_does_not_stop_the_others() -> None:
    parts = Parts(ha=True)
    parts.bring_up()
    parts.driver.networks.remove("net-int")
    released: list[PortSpec] = []

    def release_port(port: PortSpec) -> None:
        released.append(port)
        if len(released) == 1:
            raise RuntimeError("neutron 500")

    parts.driver.release_port = release_port  # type: ignore[method-assign]
    assert parts.manager.replug() is InstanceState.UP
    assert len(released) == 2


# -- stop, error, status --------------------------------------------------------------


def test_stop_destroys_every_member_and_releases_the_ports() -> None:
    parts = Parts(ha=True)
    parts.bring_up()
    management, ports = parts.driver.ensure_ports(0)
    untracked = parts.provisioner.add(f"{NAME}-ha1", management, ports)
    assert parts.manager.stop() is InstanceState.DOWN
    assert parts.provisioner.instances == {}
    assert untracked.id in parts.provisioner.destroyed
    assert parts.driver.release_all_calls == 1


def test_stop_that_cannot_destroy_raises_and_keeps_the_ports() -> None:
    parts = Parts()
    parts.bring_up()
    parts.provisioner.destroy_error = ProvisionerError("nova 503")
    with pytest.raises(ProvisionerError, match="cannot destroy i-1"):
        parts.manager.stop()
    assert parts.driver.release_all_calls == 0


def test_stop_of_a_gone_resource_is_gone() -> None:
    parts = Parts()
    parts.bring_up()
    parts.driver.exists = False
    parts.driver.news()  # the deletion's event
    assert parts.manager.stop() is InstanceState.GONE
    assert InstanceState.GONE not in parts.driver.reported


def test_status_is_reported_once_per_change_and_a_failed_report_is_retried() -> None:
    parts = Parts()
    parts.bring_up()
    assert parts.driver.reported == [
        InstanceState.BOOTING,
        InstanceState.UP,
        InstanceState.CONFIGURED,
    ]
    parts.manager.update_state()
    assert parts.driver.reported[-1] is InstanceState.CONFIGURED
    assert len(parts.driver.reported) == 3
    parts.driver.report_error = RuntimeError("neutron down")
    parts.manager.set_error()
    parts.driver.report_error = None
    parts.manager.set_error()
    assert parts.driver.reported[-1] is InstanceState.ERROR


def test_set_and_clear_error() -> None:
    parts = Parts()
    parts.manager.attempts = 5
    parts.clock.advance(7)
    parts.manager.set_error()
    assert parts.manager.error_since == parts.clock()
    assert parts.manager.clear_error() is InstanceState.DOWN
    assert parts.manager.attempts == 0
    assert parts.manager.error_since is None


# -- stats -----------------------------------------------------------------------------


def test_read_stats_without_a_callback_reads_nothing() -> None:
    parts = Parts(stats_callback=None)
    parts.bring_up()
    parts.manager.read_stats()
    assert parts.client.counter_reads == []


def test_read_stats_of_a_pair_reports_both_members() -> None:
    parts = Parts(ha=True)
    parts.bring_up()
    parts.manager.read_stats()
    (counters,) = parts.stats
    assert set(counters) == {NAME, f"{NAME}-ha1"}


def test_read_stats_skips_an_appliance_that_does_not_answer() -> None:
    parts = Parts()
    parts.bring_up()
    parts.client.all_dead = True
    parts.manager.read_stats()
    assert parts.stats == []


def test_max_retries_must_allow_one_try() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        Parts(max_retries=0)
