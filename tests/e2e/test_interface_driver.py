"""The Linux bridge interface driver plugs a real port that real packets reach.

The orchestrator's local management port is plugged in the host namespace
(that is where the orchestrator runs), and appliance ports in namespaces; both
are exercised against a test-owned bridge with a peer veth in a test namespace.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from astara.common.linux.interface import (
    BridgeInterfaceDriver,
    InterfaceDriverError,
    veth_outer_name,
)

MAC = "fa:16:3e:00:5a:01"
PING = ("ping", "-c", "1", "-W", "2")


@dataclass(frozen=True)
class Subnets:
    """A random private IPv4 /24 and a random ULA /64, so concurrent runs do not clash."""

    v4: str  # e.g. "10.213.77"
    v6: str  # e.g. "fd5c:1e2f:9a01:"

    @classmethod
    def pick(cls) -> Subnets:
        a, b = secrets.randbelow(200) + 20, secrets.randbelow(254) + 1
        # Hextets without leading zeros: the kernel reports addresses in that
        # canonical form, and the assertions compare text.
        hextets = (secrets.randbelow(0xFFFF) + 1 for _ in range(2))
        ula = "fd{:02x}:{:x}:{:x}:".format(secrets.randbelow(255) + 1, *hextets)
        return cls(v4=f"10.{a}.{b}", v6=ula)


def _addresses(device: str, namespace: str | None = None) -> list[dict[str, object]]:
    where = ["-n", namespace] if namespace else []
    out = subprocess.run(
        ["ip", *where, "-j", "addr", "show", "dev", device],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [info for link in json.loads(out) for info in link.get("addr_info", [])]


def _global_cidrs(device: str, namespace: str | None = None) -> set[str]:
    return {
        f"{a['local']}/{a['prefixlen']}"
        for a in _addresses(device, namespace)
        if a.get("scope") == "global"
    }


def _settled(device: str, namespace: str | None = None) -> Callable[[], bool]:
    """True once no address of ``device`` is still in duplicate address detection."""
    return lambda: not any(a.get("tentative") for a in _addresses(device, namespace))


def _link_exists(device: str, namespace: str | None = None) -> bool:
    where = ["-n", namespace] if namespace else []
    shown = subprocess.run(["ip", *where, "link", "show", "dev", device], capture_output=True)
    return shown.returncode == 0


def _bridge_members(bridge: str) -> set[str]:
    out = subprocess.run(
        ["ip", "-j", "link", "show", "master", bridge], capture_output=True, text=True, check=True
    ).stdout
    return {str(link["ifname"]) for link in json.loads(out or "[]")}


def _host_ping(address: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PING, address], capture_output=True, text=True, check=False)


@pytest.fixture
def driver() -> BridgeInterfaceDriver:
    return BridgeInterfaceDriver()


def test_local_port_in_host_namespace_reaches_a_peer_and_unplugs_cleanly(
    driver: BridgeInterfaceDriver,
    bridge_factory,
    netns_factory,
    veth_factory,
    ns_exec,
    owned_name,
    adopt_link,
    wait_until,
) -> None:
    net = Subnets.pick()
    bridge = bridge_factory()
    peer_ns = netns_factory()
    veth_factory(bridge, peer_ns, [f"{net.v4}.2/24", f"{net.v6}:2/64"])
    device = owned_name("ns-")
    outer = adopt_link(veth_outer_name(device))

    driver.plug("astt-network", "astt-port", device, MAC, bridge=bridge, mtu=1400)
    driver.init_l3(device, [f"{net.v6}:1/64", f"{net.v4}.1/24"])
    wait_until(_settled(device), f"DAD on {device}")

    assert _bridge_members(bridge) >= {outer}
    assert _global_cidrs(device) == {f"{net.v6}:1/64", f"{net.v4}.1/24"}
    # Real packets, both directions, both address families.
    assert _host_ping(f"{net.v4}.2").returncode == 0
    assert _host_ping(f"{net.v6}:2").returncode == 0
    ns_exec(peer_ns, *PING, f"{net.v4}.1")
    ns_exec(peer_ns, *PING, f"{net.v6}:1")
    # The port answers with the port's MAC, as Neutron's port security expects.
    neighbours = ns_exec(peer_ns, "ip", "-j", "neigh", "show", f"{net.v4}.1").stdout
    assert [entry["lladdr"] for entry in json.loads(neighbours)] == [MAC]

    driver.unplug(device)

    assert not _link_exists(device)
    assert not _link_exists(outer)
    assert outer not in _bridge_members(bridge)


def test_init_l3_replaces_a_changed_address_and_keeps_link_local(
    driver: BridgeInterfaceDriver, bridge_factory, owned_name, adopt_link, wait_until
) -> None:
    net = Subnets.pick()
    bridge = bridge_factory()
    device = owned_name("ns-")
    adopt_link(veth_outer_name(device))
    driver.plug("astt-network", "astt-port", device, MAC, bridge=bridge)
    driver.init_l3(device, [f"{net.v6}:1/64", f"{net.v4}.1/24"])
    wait_until(_settled(device), f"DAD on {device}")

    driver.init_l3(device, [f"{net.v6}:7/64"])

    assert _global_cidrs(device) == {f"{net.v6}:7/64"}
    assert any(a["local"].startswith("fe80:") for a in _addresses(device))
    driver.unplug(device)


def test_port_plugged_into_a_namespace_reaches_a_peer(
    driver: BridgeInterfaceDriver,
    bridge_factory,
    netns_factory,
    veth_factory,
    ns_exec,
    owned_name,
    adopt_link,
    wait_until,
) -> None:
    net = Subnets.pick()
    bridge = bridge_factory()
    appliance_ns, peer_ns = netns_factory(), netns_factory()
    veth_factory(bridge, peer_ns, [f"{net.v6}:2/64"])
    device = owned_name("ns-")
    outer = adopt_link(veth_outer_name(device))

    driver.plug("astt-network", "astt-port", device, MAC, bridge=bridge, namespace=appliance_ns)
    # Plugging an existing port again changes nothing.
    driver.plug("astt-network", "astt-port", device, MAC, bridge=bridge, namespace=appliance_ns)
    driver.init_l3(device, [f"{net.v6}:1/64"], namespace=appliance_ns)
    wait_until(_settled(device, appliance_ns), f"DAD on {device} in {appliance_ns}")

    assert not _link_exists(device)  # it lives in the namespace, not on the host
    ns_exec(appliance_ns, *PING, f"{net.v6}:2")

    driver.unplug(device, namespace=appliance_ns)

    assert not _link_exists(device, appliance_ns)
    assert not _link_exists(outer)


def test_plug_into_a_missing_bridge_fails_clearly_and_leaves_nothing(
    driver: BridgeInterfaceDriver, owned_name, adopt_link
) -> None:
    device = owned_name("ns-")
    outer = adopt_link(veth_outer_name(device))
    missing_bridge = owned_name()

    with pytest.raises(InterfaceDriverError, match=f"bridge {missing_bridge} .* does not exist"):
        driver.plug("astt-network", "astt-port", device, MAC, bridge=missing_bridge)

    assert not _link_exists(device)
    assert not _link_exists(outer)
