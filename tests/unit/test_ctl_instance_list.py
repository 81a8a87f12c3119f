"""``astara-ctl instance list``'s rows, and its one-line errors (no orchestrator needed)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from astara.cli.ctl import main
from astara.cli.instances import ResourceView, instance_rows, resource_of, router_view
from astara.drivers.base import PortSpec
from astara.network.base import FixedIp, Port, Router
from astara.provisioners.base import InstanceInfo, InstanceStatus

ROUTER_ID = "5a0e7cc1-8a42-4d57-9f0b-0d3e7c1c2f11"
MGT, PUBLIC, PRIVATE = "net-mgt", "net-public", "net-private"


def _port(port_id: str, network_id: str, *addresses: str) -> Port:
    return Port(
        id=port_id, name="", network_id=network_id, mac_address="fa:16:3e:00:00:01",
        device_id=ROUTER_ID, device_owner="network:router_interface", tenant_id="t-1",
        fixed_ips=tuple(FixedIp("subnet", ipaddress.ip_address(a)) for a in addresses),
    )  # fmt: skip


def _router() -> Router:
    return Router(
        id=ROUTER_ID, name="r", tenant_id="tenant-7", status="ACTIVE", admin_state_up=True,
        ha=False, routes=(), gateway_port=_port("gw", PUBLIC, "172.16.5.10"),
        interface_ports=(_port("if1", PRIVATE, "10.1.0.1"), _port("if2", PRIVATE, "10.2.0.1")),
        floating_ips=(),
    )  # fmt: skip


def _instance(name: str, status: InstanceStatus = InstanceStatus.ACTIVE) -> InstanceInfo:
    ports = (
        PortSpec("m", MGT, "fa:16:3e:00:00:02", "management", ("fdca::5",)),
        PortSpec("v1", PUBLIC, "fa:16:3e:00:00:03", "external"),
        PortSpec("v2", PRIVATE, "fa:16:3e:00:00:04", "internal"),
    )
    return InstanceInfo(name, name, status, "fdca::5", ports, created_at=0.0)


def test_resource_of_reads_driver_and_id_and_drops_an_ha_suffix() -> None:
    assert resource_of(f"ak-router-{ROUTER_ID}") == ("router", ROUTER_ID)
    assert resource_of(f"ak-router-{ROUTER_ID}-ha1") == ("router", ROUTER_ID)
    assert resource_of("ak-loadbalancer-abc") == ("loadbalancer", "abc")
    assert resource_of("web-server-1") is None
    assert resource_of("ak-router") is None


def test_a_router_appliance_row_has_its_tenant_and_every_address_by_network_name() -> None:
    names = {MGT: "astara-mgt", PUBLIC: "public"}  # the private network has no name
    seen: list[tuple[str, str]] = []

    def view_of(driver: str, resource_id: str) -> ResourceView:
        seen.append((driver, resource_id))
        return router_view(_router())

    [row] = instance_rows([_instance(f"ak-router-{ROUTER_ID}")], names, view_of)

    assert seen == [("router", ROUTER_ID)]
    assert row == (
        f"ak-router-{ROUTER_ID}", f"ak-router-{ROUTER_ID}", "tenant-7", "ACTIVE",
        f"astara-mgt=fdca::5; public=172.16.5.10; {PRIVATE}=10.1.0.1, 10.2.0.1",
    )  # fmt: skip


def test_rows_are_sorted_and_an_unknown_resource_leaves_the_tenant_blank() -> None:
    instances = [_instance("ak-router-b", InstanceStatus.ERROR), _instance("ak-router-a")]

    rows = instance_rows(instances, {}, lambda driver, resource_id: ResourceView())

    assert [(row[1], row[2], row[3]) for row in rows] == [
        ("ak-router-a", "", "ACTIVE"),
        ("ak-router-b", "", "ERROR"),
    ]
    assert rows[0][4] == f"{MGT}=fdca::5; {PUBLIC}=; {PRIVATE}="


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    try:
        status = main(argv)
    except SystemExit as exit_:  # the configuration parser exits as the orchestrator does
        status = int(exit_.code or 0)
    err = capsys.readouterr().err
    assert status != 0
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_a_missing_single_host_installation_is_one_line_that_says_where(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "state"
    line = _one_line_error(
        capsys, ["--single-host", "--state-dir", str(missing), "instance", "list"]
    )
    assert str(missing) in line and "make run" in line


def test_a_missing_config_file_is_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "orchestrator.ini"
    line = _one_line_error(capsys, ["--config-file", str(missing), "instance", "list"])
    assert str(missing) in line
