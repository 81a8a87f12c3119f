"""The appliance's bird announces the tenant IPv6 prefix to an upstream bird over BGP.

::

    peer ns (bird, AS 64513) ── ext bridge ── router ns (BgpService's bird, AS 64512)
                                              └─ int bridge (tenant fd00:60::/64)

The router's addresses are set by the test (the address service is not under
test here); the BGP service runs against the router namespace as the agent
would run it.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from astara.appliance.model import RouterConfig
from astara.appliance.netns import Namespace
from astara.appliance.services.base import NOTHING, Target
from astara.appliance.services.bgp import BgpService

PEER_V6 = "fd00:50::1"
ROUTER_EXT_V6 = "fd00:50::2"
ROUTER_EXT_V4 = "172.16.50.2"
TENANT_PREFIX = "fd00:60::/64"

pytestmark = pytest.mark.skipif(shutil.which("bird") is None, reason="bird2 is not installed")


def _config(ext_mac: str, int_mac: str, neighbor_asn: int | None = 64513) -> RouterConfig:
    return RouterConfig.model_validate(
        {
            "asn": 64512,
            "neighbor_asn": neighbor_asn,
            "networks": [
                {
                    "network_id": "ext",
                    "network_type": "external",
                    "interface": {
                        "lladdr": ext_mac,
                        "addresses": [f"{ROUTER_EXT_V4}/24", f"{ROUTER_EXT_V6}/64"],
                    },
                    "subnets": [
                        {"id": "s-ext", "cidr": "172.16.50.0/24", "gateway_ip": "172.16.50.1"},
                        {"id": "s-ext6", "cidr": "fd00:50::/64", "gateway_ip": PEER_V6},
                    ],
                },
                {
                    "network_id": "int",
                    "network_type": "internal",
                    "interface": {"lladdr": int_mac, "addresses": ["fd00:60::1/64"]},
                    "subnets": [
                        {"id": "s-int6", "cidr": TENANT_PREFIX, "gateway_ip": "fd00:60::1"}
                    ],
                },
            ],
        }
    )


def _mac(namespace: str, ifname: str) -> str:
    out = subprocess.run(
        ["ip", "-n", namespace, "-o", "link", "show", "dev", ifname],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split("link/ether ", 1)[1].split()[0]


PEER_CONF = f"""
router id 172.16.50.1;
protocol device {{
}}
protocol bgp appliance {{
    local as 64513;
    neighbor {ROUTER_EXT_V6} as 64512;
    ipv6 {{
        import all;
        export none;
    }};
}}
"""


@pytest.fixture
def state_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="astt-bgp-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_peer_learns_the_tenant_prefix_and_loses_it_when_bgp_is_removed(
    netns_factory: Callable[[], str],
    bridge_factory: Callable[[], str],
    veth_factory: Callable[..., Any],
    ns_exec: Callable[..., subprocess.CompletedProcess[str]],
    wait_until: Callable[..., None],
    state_dir: Path,
) -> None:
    router, peer = netns_factory(), netns_factory()
    ext_bridge, int_bridge = bridge_factory(), bridge_factory()
    ext = veth_factory(ext_bridge, router, [f"{ROUTER_EXT_V4}/24", f"{ROUTER_EXT_V6}/64"])
    tenant = veth_factory(int_bridge, router, ["fd00:60::1/64"])
    veth_factory(ext_bridge, peer, ["172.16.50.1/24", f"{PEER_V6}/64"])
    peer_dir = state_dir / "peer"
    peer_dir.mkdir()
    (peer_dir / "bird.conf").write_text(PEER_CONF)
    peer_socket = str(peer_dir / "bird.ctl")
    ns_exec(peer, "bird", "-c", str(peer_dir / "bird.conf"), "-s", peer_socket)

    config = _config(_mac(router, ext.inner), _mac(router, tenant.inner))
    target = Target(config, {"ext": ext.inner, "int": tenant.inner})
    service = BgpService(Namespace(router), state_dir / "router")

    def peer_routes() -> str:
        return ns_exec(peer, "birdc", "-s", peer_socket, "show", "route", check=False).stdout

    service.apply(NOTHING, target)
    wait_until(lambda: TENANT_PREFIX in peer_routes(), "the peer to learn the tenant prefix")
    assert ROUTER_EXT_V6 in peer_routes()  # the appliance is the next hop
    pids = service.daemon.running_pids()
    assert len(pids) == 1

    service.apply(target, target)
    assert service.daemon.running_pids() == pids  # nothing restarted

    kernel = ns_exec(router, "ip", "-6", "route", "show", "proto", "bird").stdout
    assert kernel.strip() == ""  # nothing learned goes into the router's kernel

    without_bgp = Target(
        _config(config.networks[0].interface.lladdr, config.networks[1].interface.lladdr, None),
        target.ifnames,
    )
    service.apply(target, without_bgp)
    assert service.daemon.running_pids() == []
    wait_until(lambda: TENANT_PREFIX not in peer_routes(), "the peer to drop the tenant prefix")
