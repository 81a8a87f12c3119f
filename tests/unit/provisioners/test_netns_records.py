"""Names and records of the netns provisioner: what survives a restart, and what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from astara.drivers.base import PortSpec
from astara.provisioners.base import ProvisionerError
from astara.provisioners.netns_records import (
    AgentMode,
    NamespaceRecord,
    RecordStore,
    check_namespace_name,
    outer_device_name,
)

PORT_ID = "0123456789abcdef-0000-0000-000000000000"


def _port(port_id: str, role: str = "internal", ips: tuple[str, ...] = ()) -> PortSpec:
    return PortSpec(port_id, "net-" + port_id, "02:00:00:00:00:01", role, ips)


def _record(name: str = "ak-router-1") -> NamespaceRecord:
    return NamespaceRecord(
        name=name,
        management_address="fdca::2",
        api_port=5000,
        agent_mode=AgentMode.PROCESS,
        created_at=1700000000.5,
        agent_pid=42,
        agent_started="12345",
    ).with_port(_port("m", "management", ("fdca::2",)), "eth0")


def test_outer_device_name_is_the_linux_bridge_drivers_tap_name() -> None:
    assert outer_device_name(PORT_ID) == "tap0123456789a"
    assert len(outer_device_name(PORT_ID)) <= 15


def test_next_ifname_follows_plug_order_and_reuses_the_lowest_free_name() -> None:
    record = _record().with_port(_port("a"), "eth1").with_port(_port("b"), "eth2")
    assert record.next_ifname() == "eth3"
    record = record.without_port("a")
    assert [p.ifname for p in record.plugged] == ["eth0", "eth2"]
    assert record.next_ifname() == "eth1"


def test_find_and_ports_keep_plug_order() -> None:
    record = _record().with_port(_port("a"), "eth1")
    assert [p.port_id for p in record.ports] == ["m", "a"]
    found = record.find("a")
    assert found is not None and found.ifname == "eth1"
    assert record.find("missing") is None


def test_record_round_trips_through_the_store(tmp_path: Path) -> None:
    store = RecordStore(tmp_path)
    record = _record().with_port(_port("a", ips=("10.0.0.1",)), "eth1")
    store.save(record)
    assert store.load(record.name) == record
    assert store.all() == [record]
    store.delete(record.name)
    store.delete(record.name)  # a missing record is not an error
    assert store.load(record.name) is None
    assert store.all() == []


def test_unreadable_record_is_an_error_for_itself_only(tmp_path: Path) -> None:
    store = RecordStore(tmp_path)
    store.save(_record("ak-router-good"))
    (tmp_path / "instances" / "ak-router-bad.json").write_text("{not json")
    with pytest.raises(ProvisionerError, match="unreadable"):
        store.load("ak-router-bad")
    assert [r.name for r in store.all()] == ["ak-router-good"]


def test_appliance_dirs_are_per_namespace_under_the_root(tmp_path: Path) -> None:
    assert RecordStore(tmp_path).appliance_dir("ak-router-1") == tmp_path / "appliances/ak-router-1"


@pytest.mark.parametrize("name", ["", "../etc", "a/b", ".hidden", "-x", "a b", "tab\there"])
def test_names_that_cannot_be_namespaces_and_files_are_refused(name: str) -> None:
    with pytest.raises(ProvisionerError):
        check_namespace_name(name)


def test_a_long_appliance_name_is_a_valid_namespace_name() -> None:
    check_namespace_name("ak-loadbalancer-01234567-89ab-cdef-0123-456789abcdef-ha1")


def test_created_bridges_are_remembered_until_forgotten(tmp_path: Path) -> None:
    store = RecordStore(tmp_path)
    assert store.created_bridges() == []
    store.remember_bridge("brqb")
    store.remember_bridge("brqa")
    assert store.created_bridges() == ["brqa", "brqb"]
    store.forget_bridge("brqa")
    store.forget_bridge("brqa")
    assert store.created_bridges() == ["brqb"]
