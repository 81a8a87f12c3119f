"""``[singlehost] uplink_nat``: the external networks reach beyond the host, masqueraded.

The host's own network is never touched: a test namespace plays the host,
with an "uplink" (its default route) towards a namespace playing the rest of
the world, and an external port towards a namespace playing an appliance.
:mod:`astara.singlehost.uplink` runs inside the host namespace, exactly as
single-host mode runs it on the real host; the packets are real.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

PEER_ECHO = str(Path(__file__).resolve().parents[1] / "appliance" / "peer_echo.py")
EXTERNAL_SUBNET = "172.29.231.0/24"
HOST_EXTERNAL = "172.29.231.1"
APPLIANCE = "172.29.231.10"
HOST_UPLINK = "10.233.17.2"
WORLD = "10.233.17.1"


def _uplink(host_ns: str, action: str, state_dir: Path, external: dict[str, list[str]]) -> None:
    """Run uplink.apply or uplink.remove inside the namespace playing the host."""
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from astara.singlehost import uplink\n"
        "from astara.singlehost.state import StateDir\n"
        "state = StateDir(Path(sys.argv[1]))\n"
        f"uplink.{action}(state{', json.loads(sys.argv[2])' if action == 'apply' else ''})\n"
    )
    subprocess.run(
        ["ip", "netns", "exec", host_ns, sys.executable, "-c", code, str(state_dir),
         json.dumps(external)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip


@pytest.fixture
def world(
    netns_factory: Callable[[], str],
    bridge_factory: Callable[[], str],
    veth_factory: Callable[..., Any],
    ns_exec: Callable[..., subprocess.CompletedProcess[str]],
) -> Iterator[dict[str, str]]:
    """Namespaces for the host, an appliance on the external network, and the world."""
    host, appliance, outside = netns_factory(), netns_factory(), netns_factory()
    external_bridge, uplink_bridge = bridge_factory(), bridge_factory()
    external_port = veth_factory(external_bridge, host, [f"{HOST_EXTERNAL}/24"]).inner
    veth_factory(external_bridge, appliance, [f"{APPLIANCE}/24"])
    uplink_port = veth_factory(uplink_bridge, host, [f"{HOST_UPLINK}/24"]).inner
    veth_factory(uplink_bridge, outside, [f"{WORLD}/24"])
    ns_exec(host, "ip", "route", "add", "default", "via", WORLD)
    ns_exec(appliance, "ip", "route", "add", "default", "via", HOST_EXTERNAL)
    server = subprocess.Popen(
        ["ip", "netns", "exec", outside, sys.executable, PEER_ECHO, "serve", WORLD, "7777"],
        stdout=subprocess.DEVNULL,
    )
    try:
        yield {"host": host, "appliance": appliance, "outside": outside,
               "external_port": external_port, "uplink_port": uplink_port}  # fmt: skip
    finally:
        server.kill()
        server.wait(timeout=10)


def _forwarding(ns: str, device: str) -> str:
    return subprocess.run(
        ["ip", "netns", "exec", ns, "sysctl", "-n", f"net.ipv4.conf.{device}.forwarding"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


def _reaches_world(appliance: str) -> bool:
    ping = ["ip", "netns", "exec", appliance, "ping", "-n", "-c", "1", "-W", "1", WORLD]
    return subprocess.run(ping, capture_output=True, check=False).returncode == 0


def test_external_traffic_leaves_masqueraded_and_removal_restores_the_host(
    world: dict[str, str], tmp_path: Path
) -> None:
    host, appliance = world["host"], world["appliance"]
    assert not _reaches_world(appliance)  # nothing forwards before uplink NAT

    _uplink(host, "apply", tmp_path, {world["external_port"]: [EXTERNAL_SUBNET]})
    assert _forwarding(host, world["uplink_port"]) == "1"
    seen = subprocess.run(
        ["ip", "netns", "exec", appliance, sys.executable, PEER_ECHO, "ask", WORLD, "7777"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.strip()  # fmt: skip
    assert seen == HOST_UPLINK  # masqueraded behind the host's uplink address

    # Applying again (a new external network appears) replaces the table, not adds to it.
    _uplink(host, "apply", tmp_path, {world["external_port"]: [EXTERNAL_SUBNET]})
    tables = subprocess.run(["ip", "netns", "exec", host, "nft", "-j", "list", "tables"],
                            capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert [t["table"]["name"] for t in json.loads(tables)["nftables"] if "table" in t] == [
        "astara_singlehost"
    ]
    rules = subprocess.run(
        ["ip", "netns", "exec", host, "nft", "-j", "list", "table", "ip", "astara_singlehost"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert sum("rule" in item for item in json.loads(rules)["nftables"]) == 1

    _uplink(host, "remove", tmp_path, {})
    assert _forwarding(host, world["uplink_port"]) == "0"  # as it was before
    tables = subprocess.run(["ip", "netns", "exec", host, "nft", "-j", "list", "tables"],
                            capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert not [t for t in json.loads(tables)["nftables"] if "table" in t]
    # The external port keeps forwarding (single-host mode's own port), but without
    # masquerading the world cannot answer the external subnet.
    assert not _reaches_world(appliance)
