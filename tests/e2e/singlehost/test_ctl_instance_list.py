"""``astara-ctl instance list`` against a running single-host installation.

The install guide checks each router's appliance with ``nova list
--all-tenants``; the issue asks astara-ctl to show the same from the netns
provisioner: the id, ``ak-router-<router id>``, the tenant, the status and
every network with the appliance's addresses on it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.e2e.singlehost.conftest import CLI_TIMEOUT_S, SingleHost, Topology

ASTARA_CTL = str(Path(sys.executable).parent / "astara-ctl")


def _ctl(
    host: SingleHost, *argv: str, state_dir: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ASTARA_CTL, "--single-host", "--state-dir", str(state_dir or host.state_dir),
         "--config-file", str(host.config_file), *argv],
        capture_output=True, text=True, timeout=CLI_TIMEOUT_S, check=False,
    )  # fmt: skip


def test_instance_list_shows_the_router_appliance_as_nova_list_would(
    single_host: SingleHost, topology: Topology
) -> None:
    router_id = topology.router["id"]
    result = _ctl(single_host, "instance", "list", "-f", "json")
    assert result.returncode == 0, result.stderr

    rows = json.loads(result.stdout)
    by_name = {row["Name"]: row for row in rows}
    assert f"ak-router-{router_id}" in by_name, rows
    row = by_name[f"ak-router-{router_id}"]
    assert row["Status"] == "ACTIVE"
    assert row["Tenant"] == topology.router["project_id"]
    assert row["ID"]

    networks = dict(part.split("=", 1) for part in row["Networks"].split("; "))
    assert networks["astt-private"].split(", ") == [topology.private_subnet["gateway_ip"]]
    gateway = topology.router["external_gateway_info"]
    ports = single_host.openstack("port", "list", "--device-id", router_id, "--long")
    external_addresses = [
        ip["ip_address"]
        for port in ports
        if port["Device Owner"] == "network:router_gateway"
        for ip in port["Fixed IP Addresses"]
    ]
    assert gateway["network_id"] == topology.public_network["id"]
    assert networks["astt-public"].split(", ") == external_addresses
    assert "astara-mgt" in networks, "the management address is listed too, as nova list does"


def test_instance_list_without_an_installation_fails_in_one_line(
    single_host: SingleHost, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-state"
    result = _ctl(single_host, "instance", "list", state_dir=missing)

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(missing) in lines[0]
