"""The host's own ports on appliance bridges, remembered in the state dir.

The host plugs itself into the management bridge and into each external
network's bridge (:mod:`astara.provisioners.netns_host_ports`). Those ports
outlive a stop on purpose (appliances keep running and keep being reachable),
so what was plugged is recorded: the next start finds it, and a teardown
removes exactly that and nothing else.
"""

from __future__ import annotations

import logging

from astara.common.linux.interface import BridgeInterfaceDriver
from astara.provisioners.netns_plumbing import bridge_members, delete_bridge
from astara.singlehost.state import StateDir

LOG = logging.getLogger(__name__)

MANAGEMENT = "management"
EXTERNAL = "external"


def remember(state: StateDir, network_id: str, role: str, device: str, bridge: str) -> None:
    ports = state.read_host_ports()
    ports[network_id] = {"role": role, "device": device, "bridge": bridge}
    state.write_host_ports(ports)


def unplug(state: StateDir, network_id: str, driver: BridgeInterfaceDriver) -> None:
    """Remove the host's port on ``network_id``, and its bridge once nothing else is on it."""
    ports = state.read_host_ports()
    entry = ports.pop(network_id, None)
    if entry is None:
        return
    driver.unplug(entry["device"])
    if not bridge_members(entry["bridge"]):
        delete_bridge(entry["bridge"])
    state.write_host_ports(ports)
    LOG.info("host left network %s (%s)", network_id, entry["device"])


def plugged(state: StateDir, role: str) -> dict[str, dict[str, str]]:
    """The recorded ports of ``role``, by network id."""
    return {net: entry for net, entry in state.read_host_ports().items() if entry["role"] == role}
