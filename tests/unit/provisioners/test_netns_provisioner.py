"""The netns provisioner's decisions that need no kernel: refusals, statuses, the host protocol."""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import replace
from pathlib import Path

import pytest

from astara.common.config import parse_config
from astara.drivers.base import PortSpec
from astara.provisioners.base import InstanceStatus, ProvisionerError
from astara.provisioners.netns import NetnsProvisioner, from_config
from astara.provisioners.netns_agent_host import AgentHost
from astara.provisioners.netns_agents import ProcessAgents, SharedAgents
from astara.provisioners.netns_host_protocol import (
    HostReport,
    HostUnavailable,
    Request,
    ServingState,
    ask_host,
)
from astara.provisioners.netns_plumbing import process_start_time, stable_mac
from astara.provisioners.netns_records import AgentMode, NamespaceRecord, RecordStore

PREFIX = "fdca:3ba5:a17a:acda::/64"
#: A name no namespace on any machine has, so the namespace check says "missing".
NAME = "ak-router-unit-test-never-created"


def _management(ip: str = "fdca:3ba5:a17a:acda::2") -> PortSpec:
    return PortSpec("mgmt-port", "mgmt-net", "02:00:00:00:00:01", "management", (ip,))


def _record(root: Path, **changes: object) -> NamespaceRecord:
    fields: dict[str, object] = {
        "name": NAME,
        "management_address": "fdca:3ba5:a17a:acda::2",
        "api_port": 5000,
        "agent_mode": AgentMode.PROCESS,
        "created_at": 1700000000.0,
        **changes,
    }
    record = NamespaceRecord(**fields)  # type: ignore[arg-type]
    RecordStore(root).save(record)
    return record


@pytest.mark.parametrize(
    ("port", "reason"),
    [
        (_management("10.0.0.2"), "outside the management prefix"),
        (_management("not-an-ip"), "not an IP address"),
        (PortSpec("p", "n", "02:00:00:00:00:01", "management"), "has no address"),
    ],
)
def test_boot_refuses_a_bad_management_port_before_touching_anything(
    tmp_path: Path, port: PortSpec, reason: str
) -> None:
    provisioner = NetnsProvisioner(tmp_path, PREFIX)
    with pytest.raises(ProvisionerError, match=reason):
        provisioner.boot(NAME, None, None, port, [])
    assert RecordStore(tmp_path).all() == []


def test_boot_refuses_a_name_that_cannot_be_a_namespace(tmp_path: Path) -> None:
    with pytest.raises(ProvisionerError, match="cannot name"):
        NetnsProvisioner(tmp_path, PREFIX).boot("../x", None, None, _management(), [])


def test_an_instance_whose_namespace_vanished_is_listed_in_error(tmp_path: Path) -> None:
    _record(tmp_path, agent_pid=os.getpid(), agent_started=process_start_time(os.getpid()))
    listed = NetnsProvisioner(tmp_path, PREFIX).list_instances("ak-router-")
    assert [(i.id, i.status) for i in listed] == [(NAME, InstanceStatus.ERROR)]
    assert listed[0].management_address == "fdca:3ba5:a17a:acda::2"
    assert listed[0].created_at == 1700000000.0


def test_listing_matches_the_prefix_and_skips_instances_being_deleted(tmp_path: Path) -> None:
    _record(tmp_path)
    _record(tmp_path, name=NAME + "-ha1", deleting=True)
    provisioner = NetnsProvisioner(tmp_path, PREFIX)
    assert [i.name for i in provisioner.list_instances(NAME)] == [NAME]
    assert provisioner.list_instances("ak-loadbalancer-") == []


def test_plug_into_an_unknown_instance_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ProvisionerError, match="no netns appliance"):
        NetnsProvisioner(tmp_path, PREFIX).plug(NAME, _management())


def test_destroying_an_unknown_instance_is_not_an_error(tmp_path: Path) -> None:
    NetnsProvisioner(tmp_path, PREFIX).destroy(NAME)


def test_process_agent_status_follows_its_process_and_its_listening_socket(
    tmp_path: Path,
) -> None:
    """The test process stands in for the agent: alive, then listening on the API port."""
    agents = ProcessAgents(RecordStore(tmp_path))
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        port = server.getsockname()[1]
        me = _record(
            tmp_path,
            api_port=port,
            agent_pid=os.getpid(),
            agent_started=process_start_time(os.getpid()),
        )
        assert agents.statuses([me]) == {NAME: InstanceStatus.BUILDING}
        server.listen()
        assert agents.statuses([me]) == {NAME: InstanceStatus.ACTIVE}
    recycled = _record(tmp_path, agent_pid=os.getpid(), agent_started="0")
    assert agents.statuses([recycled]) == {NAME: InstanceStatus.ERROR}
    assert agents.pid(recycled) is None


def test_shared_agents_are_in_error_when_no_host_answers(tmp_path: Path) -> None:
    record = _record(tmp_path, agent_mode=AgentMode.SHARED)
    agents = SharedAgents(RecordStore(tmp_path))
    assert agents.statuses([record]) == {NAME: InstanceStatus.ERROR}
    assert agents.pid(record) is None
    agents.stop(record)  # nothing to detach from: not an error


def test_host_report_round_trips_through_json() -> None:
    report = HostReport(
        pid=7,
        states={"a": ServingState.SERVING, "b": ServingState.FAILED},
        reasons={"b": "bind: address not available"},
    )
    assert HostReport.from_json(report.to_json()) == report


def test_asking_a_host_that_does_not_run_says_so(tmp_path: Path) -> None:
    with pytest.raises(HostUnavailable, match="no agent host answers"):
        ask_host(tmp_path, Request.STATUS, timeout=5)


def test_stable_mac_is_stable_unicast_and_locally_administered() -> None:
    mac = stable_mac("mgmt-net1")
    assert mac == stable_mac("mgmt-net1") != stable_mac("mgmt-net2")
    first = int(mac.split(":")[0], 16)
    assert first & 0x02 and not first & 0x01


def test_from_config_reads_the_netns_group(tmp_path: Path) -> None:
    state_root = tmp_path / "netns-state"
    ini = tmp_path / "orchestrator.ini"
    ini.write_text(
        f"[DEFAULT]\nmanagement_prefix = {PREFIX}\n"
        f"[netns]\nstate_path = {state_root}\nagent_mode = process\n"
    )
    conf = parse_config(["--config-file", str(ini)], "test", default_config_files=[])
    provisioner = from_config(conf)
    assert conf.netns.agent_mode == "process"
    _record(state_root)
    assert [i.name for i in provisioner.list_instances("ak-router-")] == [NAME]


def test_a_destroy_interrupted_halfway_is_finished_by_the_next_boot_attempt(
    tmp_path: Path,
) -> None:
    """Listed as gone, so the instance manager boots again; the leftovers must not block it."""
    _record(tmp_path, deleting=True)
    provisioner = NetnsProvisioner(tmp_path, PREFIX)
    assert provisioner.list_instances(NAME) == []
    with pytest.raises(ProvisionerError, match="outside the management prefix"):
        provisioner.boot(NAME, None, None, _management("10.0.0.2"), [])
    assert RecordStore(tmp_path).load(NAME) is None


def test_a_record_written_before_plumbed_existed_reads_as_plumbed(tmp_path: Path) -> None:
    record = _record(tmp_path)
    data = record.to_json()
    del data["plumbed"]
    assert NamespaceRecord.from_json(data).plumbed
    assert not NamespaceRecord.from_json({**data, "plumbed": False}).plumbed


def test_the_agent_host_leaves_an_appliance_alone_until_its_boot_has_plumbed_it(
    tmp_path: Path,
) -> None:
    """Another boot's SYNC must not make the host listen on an address not yet there."""
    store = RecordStore(tmp_path)
    booting = _record(tmp_path, agent_mode=AgentMode.SHARED, plumbed=False)

    async def sync_twice() -> tuple[HostReport | None, HostReport | None]:
        host = AgentHost(store)
        _record(tmp_path, name=NAME + "-other", agent_mode=AgentMode.SHARED)
        before = await host.sync()
        store.save(replace(booting, plumbed=True))
        after = await host.sync()
        await host.close()
        return before, after

    before, after = asyncio.run(sync_twice())
    assert before is not None and after is not None
    assert NAME not in before.states and NAME + "-other" in before.states
    assert NAME in after.states
