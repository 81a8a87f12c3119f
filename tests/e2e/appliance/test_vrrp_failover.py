"""Two appliances of an HA pair: killing the master's keepalived moves the gateway to the backup.

::

    r1 ns (mgmt 192.168.100.11, priority 100) ──┬── mgmt bridge
    r2 ns (mgmt 192.168.100.12, priority 50)  ──┘
    r1, r2 ── lan bridge ── vm ns (10.60.0.5, default via the VIP 10.60.0.1)

keepalived and conntrackd run as the VRRP and conntrack-sync services start
them; the management addresses are set by the test.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from astara.appliance.model import RouterConfig
from astara.appliance.netns import Namespace
from astara.appliance.services.base import NOTHING, Target
from astara.appliance.services.conntrack_sync import ConntrackSyncService
from astara.appliance.services.vrrp import VrrpService

VIP = "10.60.0.1"
VM_IP = "10.60.0.5"
MGMT = {"r1": "192.168.100.11", "r2": "192.168.100.12"}
PRIORITY = {"r1": 100, "r2": 50}

pytestmark = pytest.mark.skipif(
    shutil.which("keepalived") is None or shutil.which("conntrackd") is None,
    reason="keepalived and conntrackd are needed",
)


def _mac(namespace: str, ifname: str) -> str:
    out = subprocess.run(
        ["ip", "-n", namespace, "-o", "link", "show", "dev", ifname],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split("link/ether ", 1)[1].split()[0]


def _config(name: str, mgt_mac: str, lan_mac: str) -> RouterConfig:
    peer = "r2" if name == "r1" else "r1"
    return RouterConfig.model_validate(
        {
            "ha_resource": True,
            "ha_config": {"peers": [MGMT[peer]], "priority": PRIORITY[name]},
            "networks": [
                {
                    "network_id": "mgt",
                    "network_type": "management",
                    "interface": {"lladdr": mgt_mac, "addresses": [f"{MGMT[name]}/24"]},
                    "subnets": [{"id": "s-mgt", "cidr": "192.168.100.0/24"}],
                },
                {
                    "network_id": "lan",
                    "network_type": "internal",
                    "interface": {"lladdr": lan_mac, "addresses": [f"{VIP}/24"]},
                    "subnets": [{"id": "s-lan", "cidr": "10.60.0.0/24", "gateway_ip": VIP}],
                },
            ],
        }
    )


@pytest.fixture
def state_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="astt-vrrp-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_the_vip_moves_to_the_backup_and_the_vm_keeps_its_gateway(
    netns_factory: Callable[[], str],
    bridge_factory: Callable[[], str],
    veth_factory: Callable[..., Any],
    ns_exec: Callable[..., subprocess.CompletedProcess[str]],
    wait_until: Callable[..., None],
    state_dir: Path,
) -> None:
    mgmt, lan = bridge_factory(), bridge_factory()
    vm = netns_factory()
    veth_factory(lan, vm, [f"{VM_IP}/24"])
    routers: dict[str, tuple[str, VrrpService, ConntrackSyncService, Target]] = {}
    for name in ("r1", "r2"):
        ns = netns_factory()
        mgt_if = veth_factory(mgmt, ns, [f"{MGMT[name]}/24"]).inner
        lan_if = veth_factory(lan, ns).inner
        target = Target(
            _config(name, _mac(ns, mgt_if), _mac(ns, lan_if)), {"mgt": mgt_if, "lan": lan_if}
        )
        directory = state_dir / name
        conntrack = ConntrackSyncService(Namespace(ns), directory / "conntrackd")
        vrrp = VrrpService(Namespace(ns), directory / "keepalived", directory / "conntrackd")
        routers[name] = (ns, vrrp, conntrack, target)

    def holds_vip(name: str) -> bool:
        out = ns_exec(routers[name][0], "ip", "-o", "addr", "show").stdout
        return f"inet {VIP}/24" in out

    def vm_reaches_gateway() -> bool:
        return ns_exec(vm, "ping", "-n", "-c", "1", "-W", "1", VIP, check=False).returncode == 0

    try:
        for name in ("r1", "r2"):
            _ns, vrrp, conntrack, target = routers[name]
            conntrack.apply(NOTHING, target)
            vrrp.apply(NOTHING, target)
            if name == "r1":
                wait_until(lambda: holds_vip("r1"), "r1 to become master")
        assert not holds_vip("r2")
        wait_until(vm_reaches_gateway, "the VM to reach its gateway through r1")

        r1_vrrp, r1_target = routers["r1"][1], routers["r1"][3]
        pids = r1_vrrp.daemon.running_pids()
        r1_vrrp.apply(r1_target, r1_target)
        assert r1_vrrp.daemon.running_pids() == pids  # re-applying restarts nothing

        for pid in pids:
            subprocess.run(["kill", f"-{signal.SIGTERM.name}", str(pid)], check=True)
        wait_until(lambda: holds_vip("r2"), "r2 to take the VIP over")
        wait_until(lambda: not holds_vip("r1"), "r1 to release the VIP")
        wait_until(vm_reaches_gateway, "the VM to reach its gateway through r2")
        neighbour = ns_exec(vm, "ip", "neigh", "show", VIP).stdout
        assert _mac(routers["r2"][0], routers["r2"][3].ifnames["lan"]) in neighbour
    finally:
        for _ns, vrrp, conntrack, target in routers.values():
            vrrp.apply(target, NOTHING)
            conntrack.apply(target, NOTHING)
