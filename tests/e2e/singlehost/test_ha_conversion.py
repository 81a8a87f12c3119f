"""Turning an existing router into an HA pair: set ``ha``, then (as the original documents) rebuild.

The original needed ``astara-ctl router rebuild`` after ``ha`` was set. Here
the update that Neutron's (or the local API's) notification of the change
triggers already adds the second member, keeping the first; the documented
rebuild still works and leaves a pair. Either way exactly one member holds
the router's addresses.
"""

from __future__ import annotations

from tests.e2e.singlehost.conftest import (
    BOOT_TIMEOUT_S,
    ROUTER_READY_TIMEOUT_S,
    SingleHost,
    Topology,
    ha_members,
)
from tests.e2e.singlehost.test_ctl_commands import ctl_json, show
from tests.ha_traffic import namespace_inode, one_holds_all


def namespace_exists(name: str) -> bool:
    return namespace_inode(name) is not None


def test_setting_ha_and_rebuilding_turns_a_router_into_a_pair(
    single_host: SingleHost, topology: Topology
) -> None:
    router_id = topology.router["id"]
    second = ha_members(router_id)[1]
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
    members = ha_members(router_id)
    host.wait(lambda: all(map(namespace_exists, members)), f"both members after {after}",
              ROUTER_READY_TIMEOUT_S)  # fmt: skip
    host.wait(lambda: show(host, router_id)["Instance"] == "configured",
              f"the pair configured after {after}", BOOT_TIMEOUT_S)  # fmt: skip
    host.wait_router_active(router_id)
    host.wait(lambda: one_holds_all({gateway}, members),
              f"exactly one member holding the gateway after {after}",
              ROUTER_READY_TIMEOUT_S)  # fmt: skip
