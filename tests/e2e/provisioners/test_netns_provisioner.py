"""The netns provisioner boots a real appliance namespace whose agent answers over IPv6.

The host is plugged into a test-owned management bridge (as single-host mode
plugs it), the appliance gets a management port and two data ports on
test-owned bridges, and everything is checked through the agent's own API
over the management network, then from the kernel once it is destroyed. Both
agent modes run the same scenario. Every name the provisioner derives
(namespace, bridges ``brq<network id>``, veth ends ``tap<port id>``) is
test-owned, because the network and port ids start with the marker.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from astara.common.linux.interface import BridgeInterfaceDriver, bridge_name_for_network
from astara.drivers.base import PortSpec
from astara.provisioners.base import InstanceStatus
from astara.provisioners.netns import NetnsProvisioner
from astara.provisioners.netns_host_ports import plug_host_management_port
from astara.provisioners.netns_plumbing import namespace_exists, process_alive
from astara.provisioners.netns_records import AgentMode, outer_device_name

API_PORT = 5000
#: The MTU of the first internal network (the others keep the kernel default).
INTERNAL_MTU = 1400


def _test_id() -> str:
    """A network or port id whose derived device names are test-owned (``brqastt…``)."""
    return "astt" + secrets.token_hex(12)


def _mac() -> str:
    return "02:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(5))


def _links() -> set[str]:
    out = subprocess.run(
        ["ip", "-j", "link", "show"], capture_output=True, text=True, check=True
    ).stdout
    return {link["ifname"] for link in json.loads(out)}


def _members(bridge: str) -> set[str]:
    out = subprocess.run(
        ["ip", "-j", "link", "show", "master", bridge], capture_output=True, text=True, check=True
    ).stdout
    return {link["ifname"] for link in json.loads(out or "[]")}


def _mtu(link: str) -> int:
    out = subprocess.run(
        ["ip", "-j", "link", "show", "dev", link], capture_output=True, text=True, check=True
    ).stdout
    return int(json.loads(out)[0]["mtu"])


@dataclass
class Lab:
    provisioner: NetnsProvisioner
    name: str
    management: PortSpec
    data: list[PortSpec]
    state_root: Path

    def api(self, path: str) -> httpx.Response:
        url = f"http://[{self.management.fixed_ips[0]}]:{API_PORT}{path}"
        with httpx.Client(trust_env=False, timeout=30) as client:
            return client.get(url)

    def answers(self) -> bool:
        try:
            return self.api("/v1/base/").status_code == 200
        except httpx.TransportError:
            return False

    def interfaces(self) -> dict[str, str]:
        """ifname -> MAC, as the agent reports them."""
        return {name: mac for name, (mac, _) in self.interfaces_with_mtu().items()}

    def interfaces_with_mtu(self) -> dict[str, tuple[str, int]]:
        reply = self.api("/v1/system/interfaces")
        assert reply.status_code == 200, reply.text
        return {i["ifname"]: (i["lladdr"], i["mtu"]) for i in reply.json()["interfaces"]}

    def status(self) -> InstanceStatus | None:
        listed = self.provisioner.list_instances(self.name)
        return listed[0].status if listed else None


@pytest.fixture(params=[AgentMode.SHARED, AgentMode.PROCESS], ids=str)
def lab(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    adopt_link: Callable[[str], str],
    adopt_netns: Callable[[str], str],
) -> Iterator[Lab]:
    management_net = ipaddress.IPv6Network((int("fd" + secrets.token_hex(7), 16) << 64, 64))
    networks = [_test_id() for _ in range(4)]  # management, three data networks
    ports = [
        PortSpec(_test_id(), networks[0], _mac(), "management", (str(management_net[2]),)),
        PortSpec(_test_id(), networks[1], _mac(), "external", ("172.16.77.2",)),
        PortSpec(_test_id(), networks[2], _mac(), "internal", ("10.77.0.1",)),
        PortSpec(_test_id(), networks[3], _mac(), "internal", ("10.78.0.1",)),
    ]
    for network in networks:
        adopt_link(bridge_name_for_network(network))
    for port in ports:
        adopt_link(outer_device_name(port.port_id))
    host_port = _test_id()
    adopt_link(outer_device_name(host_port))
    adopt_link(BridgeInterfaceDriver().device_name_for_port(host_port))
    name = adopt_netns(f"ak-router-{_test_id()}")
    plug_host_management_port(networks[0], [f"{management_net[1]}/64"], port_id=host_port)
    state_root = tmp_path / "netns"
    provisioner = NetnsProvisioner(
        state_root,
        str(management_net),
        agent_mode=request.param,
        network_mtu={networks[2]: INTERNAL_MTU}.get,
    )
    lab = Lab(provisioner, name, ports[0], ports[1:], state_root)
    try:
        yield lab
    finally:
        provisioner.destroy(name)


def test_boot_serve_replug_destroy(lab: Lab, wait_until: Callable[..., None]) -> None:
    management, (external, internal, later) = lab.management, lab.data
    info = lab.provisioner.boot(
        lab.name, "ignored-image", "ignored-flavor", management, [external, internal]
    )
    assert info.status is InstanceStatus.BUILDING
    assert info.management_address == management.fixed_ips[0]
    assert [p.port_id for p in info.ports] == [
        management.port_id,
        external.port_id,
        internal.port_id,
    ]

    wait_until(lab.answers, "the agent to answer GET /v1/base/ over the management network")
    wait_until(lambda: lab.status() is InstanceStatus.ACTIVE, "the instance to be listed ACTIVE")
    assert lab.interfaces() == {
        "eth0": management.mac_address,
        "eth1": external.mac_address,
        "eth2": internal.mac_address,
    }
    assert lab.interfaces_with_mtu()["eth2"][1] == INTERNAL_MTU
    assert _mtu(bridge_name_for_network(internal.network_id)) == INTERNAL_MTU
    for port in (management, external, internal):
        assert outer_device_name(port.port_id) in _members(bridge_name_for_network(port.network_id))
    pid = lab.provisioner.agent_pid(lab.name)
    assert pid is not None

    lab.provisioner.plug(lab.name, later)
    lab.provisioner.unplug(lab.name, external)
    assert lab.interfaces() == {
        "eth0": management.mac_address,
        "eth2": internal.mac_address,
        "eth3": later.mac_address,
    }
    assert outer_device_name(external.port_id) not in _links()
    assert lab.provisioner.agent_pid(lab.name) == pid
    listed = lab.provisioner.list_instances(lab.name)
    assert [p.port_id for p in listed[0].ports] == [
        management.port_id,
        internal.port_id,
        later.port_id,
    ]

    lab.provisioner.destroy(lab.name)
    lab.provisioner.destroy(lab.name)  # idempotent
    assert lab.provisioner.list_instances(lab.name) == []
    assert not namespace_exists(lab.name)
    links = _links()
    assert not {outer_device_name(p.port_id) for p in (management, *lab.data)} & links
    wait_until(lambda: not process_alive(pid), f"agent process {pid} to end")
    assert not (lab.state_root / "appliances" / lab.name).exists()

    data_bridges = {bridge_name_for_network(p.network_id) for p in lab.data}
    assert set(lab.provisioner.prune_bridges(set())) == data_bridges
    assert not data_bridges & _links()
    assert bridge_name_for_network(management.network_id) in _links()  # the host is on it


def test_an_agent_that_dies_is_reported_in_error(lab: Lab, wait_until: Callable[..., None]) -> None:
    lab.provisioner.boot(lab.name, None, None, lab.management, [])
    wait_until(lambda: lab.status() is InstanceStatus.ACTIVE, "the instance to be listed ACTIVE")
    pid = lab.provisioner.agent_pid(lab.name)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not process_alive(pid), f"agent process {pid} to die")
    assert lab.status() is InstanceStatus.ERROR
    lab.provisioner.destroy(lab.name)
    assert not namespace_exists(lab.name)
