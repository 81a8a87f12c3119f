"""New addresses are announced: neighbours on the external and tenant networks update ARP."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any

from astara.appliance.model import RouterConfig
from astara.appliance.netns import Namespace
from astara.appliance.services.arp import ArpService
from astara.appliance.services.base import NOTHING, Target

ROUTER_EXT = "172.16.50.2"
UPSTREAM = "172.16.50.1"
FIP = "172.16.50.10"
GATEWAY = "10.60.0.1"
VM = "10.60.0.5"
STALE_MAC = "02:00:00:00:00:99"


def _mac(namespace: str, ifname: str) -> str:
    out = subprocess.run(
        ["ip", "-n", namespace, "-o", "link", "show", "dev", ifname],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split("link/ether ", 1)[1].split()[0]


def test_upstream_and_instances_learn_the_new_addresses_macs(
    netns_factory: Callable[[], str],
    bridge_factory: Callable[[], str],
    veth_factory: Callable[..., Any],
    ns_exec: Callable[..., subprocess.CompletedProcess[str]],
    wait_until: Callable[..., None],
) -> None:
    router, upstream, vm = netns_factory(), netns_factory(), netns_factory()
    ext_bridge, lan_bridge = bridge_factory(), bridge_factory()
    ext = veth_factory(ext_bridge, router, [f"{ROUTER_EXT}/24", f"{FIP}/24"]).inner
    lan = veth_factory(lan_bridge, router, [f"{GATEWAY}/24"]).inner
    up_if = veth_factory(ext_bridge, upstream, [f"{UPSTREAM}/24"]).inner
    vm_if = veth_factory(lan_bridge, vm, [f"{VM}/24"]).inner
    ns_exec(
        upstream, "ip", "neigh", "replace", FIP, "lladdr", STALE_MAC, "dev", up_if, "nud", "stale"
    )
    # An instance that knew another MAC for its gateway (or none yet: an entry
    # being resolved is updated the same way).
    ns_exec(
        vm, "ip", "neigh", "replace", GATEWAY, "lladdr", STALE_MAC, "dev", vm_if, "nud", "stale"
    )
    router_mac = _mac(router, ext)
    config = RouterConfig.model_validate(
        {
            "networks": [
                {
                    "network_id": "ext",
                    "network_type": "external",
                    "interface": {"lladdr": router_mac, "addresses": [f"{ROUTER_EXT}/24"]},
                    "subnets": [{"id": "s-ext", "cidr": "172.16.50.0/24"}],
                },
                {
                    "network_id": "lan",
                    "network_type": "internal",
                    "interface": {"lladdr": _mac(router, lan), "addresses": [f"{GATEWAY}/24"]},
                    "subnets": [{"id": "s-lan", "cidr": "10.60.0.0/24"}],
                },
            ],
            "floating_ips": [{"floating_ip": FIP, "fixed_ip": VM}],
        }
    )

    ArpService(Namespace(router)).apply(NOTHING, Target(config, {"ext": ext, "lan": lan}))

    def upstream_entry() -> str:
        return ns_exec(upstream, "ip", "neigh", "show", FIP, "dev", up_if).stdout

    wait_until(lambda: router_mac in upstream_entry(), "the upstream to learn the FIP's MAC")
    assert STALE_MAC not in upstream_entry()

    def vm_entry() -> str:
        return ns_exec(vm, "ip", "neigh", "show", GATEWAY, "dev", vm_if).stdout

    lan_mac = _mac(router, lan)
    wait_until(lambda: lan_mac in vm_entry(), "the instance to learn its gateway's MAC")
