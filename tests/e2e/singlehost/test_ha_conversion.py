"""Turning an existing router into an HA pair: set ``ha``, then (as the original documents) rebuild.

The original needed ``astara-ctl router rebuild`` after ``ha`` was set. Here
the update that Neutron's (or the local API's) notification of the change
triggers already adds the second member, keeping the first; the documented
rebuild still works and leaves a pair. Either way exactly one member holds
the router's addresses.
"""

from __future__ import annotations

import json
import subprocess

from tests.e2e.singlehost.conftest import (
    BOOT_TIMEOUT_S,
    CLI_TIMEOUT_S,
    ROUTER_READY_TIMEOUT_S,
    SingleHost,
    Topology,
)
from tests.e2e.singlehost.test_ctl_commands import ctl_json, show


def namespace_exists(name: str) -> bool:
    listed = subprocess.run(["ip", "-j", "netns", "list"], capture_output=True, text=True,
                            check=True, timeout=CLI_TIMEOUT_S).stdout  # fmt: skip
    return name in {entry["name"] for entry in json.loads(listed or "[]")}


def addresses_in(namespace: str) -> set[str]:
    out = subprocess.run(["ip", "netns", "exec", namespace, "ip", "-j", "address", "show"],
                         capture_output=True, text=True, check=True,
                         timeout=CLI_TIMEOUT_S).stdout  # fmt: skip
    return {info["local"] for link in json.loads(out or "[]") for info in link["addr_info"]}


def test_setting_ha_and_rebuilding_turns_a_router_into_a_pair(
    single_host: SingleHost, topology: Topology
) -> None:
    router_id = topology.router["id"]
    second = f"ak-router-{router_id}-ha1"
    single_host.adopt_netns(second)
    gateway = topology.router["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
    assert not namespace_exists(second)

    single_host.openstack_text("router", "set", "--ha", router_id)
    assert single_host.openstack("router", "show", router_id)["ha"] is True
    wait_for_one_pair(single_host, router_id, gateway, "the update that follows the change")

    ctl_json(single_host, "router", "rebuild", router_id, "--reason", "astt to HA")
    wait_for_one_pair(single_host, router_id, gateway, "the documented rebuild")


def wait_for_one_pair(host: SingleHost, router_id: str, gateway: str, after: str) -> None:
    """Both members exist, the pair is configured, and one member holds the gateway."""
    members = (f"ak-router-{router_id}", f"ak-router-{router_id}-ha1")
    host.wait(lambda: all(map(namespace_exists, members)), f"both members after {after}",
              ROUTER_READY_TIMEOUT_S)  # fmt: skip
    host.wait(lambda: show(host, router_id)["Instance"] == "configured",
              f"the pair configured after {after}", BOOT_TIMEOUT_S)  # fmt: skip
    host.wait_router_active(router_id)

    def holders() -> list[str]:
        return [ns for ns in members if gateway in addresses_in(ns)]

    host.wait(lambda: len(holders()) == 1,
              f"exactly one member holding the gateway after {after}",
              ROUTER_READY_TIMEOUT_S)  # fmt: skip
