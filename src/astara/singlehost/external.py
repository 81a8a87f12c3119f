"""The host on every external network: the routers' upstream and the floating IPs' peer.

Routers send their external traffic to their external subnet's gateway
address, and floating IPs are reached from "outside"; in single-host mode the
host is that outside. So whenever an external network (``router:external``)
or one of its subnets changes, the host converges: it has a port on each
external network's bridge carrying every subnet's gateway address, and none
on networks that are no longer external. Reconciling from the whole network
model (level-triggered) rather than applying each notification means a
missed or reordered notification costs nothing.

Notifications arrive on the API's request threads; they only wake this
watcher's own thread, which does the (slower) netlink work.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Callable
from typing import Any

from openstack.connection import Connection

from astara.common.linux.interface import BridgeInterfaceDriver, bridge_name_for_network
from astara.provisioners.netns_host_ports import plug_host_external_port
from astara.singlehost import host_ports
from astara.singlehost.state import StateDir

LOG = logging.getLogger(__name__)

#: Gateway cidrs the host must carry, by external network id.
Wanted = dict[str, list[str]]
#: Called after each change with host device -> IPv4 external subnets (uplink NAT).
OnChange = Callable[[dict[str, list[str]]], None]
#: Called with the id of each deleted network (to remove its bridge).
OnNetworkDeleted = Callable[[str], None]


def external_gateways(connection: Connection) -> Wanted:
    """Every external network's gateway addresses, as ``address/prefixlen`` (maybe none)."""
    return {
        network.id: [
            f"{subnet.gateway_ip}/{ipaddress.ip_network(subnet.cidr).prefixlen}"
            for subnet in connection.network.subnets(network_id=network.id)
            if subnet.gateway_ip
        ]
        for network in connection.network.networks()
        if network.is_router_external
    }


class ExternalPortWatcher:
    """Keeps the host's external ports matching the network model (see the module)."""

    def __init__(
        self,
        connection: Connection,
        state: StateDir,
        driver: BridgeInterfaceDriver,
        on_change: OnChange,
        on_network_deleted: OnNetworkDeleted,
    ) -> None:
        self._connection = connection
        self._state = state
        self._driver = driver
        self._on_change = on_change
        self._on_network_deleted = on_network_deleted
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._deleted: list[str] = []
        #: External networks as of the last reconcile and the events since.
        self._external_ids: set[str] = set()
        self._thread = threading.Thread(target=self._run, name="external-ports", daemon=True)

    def start(self) -> None:
        """Converge once now (so the host is ready before any router), then follow changes."""
        self.reconcile()
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._thread.join()

    def notify(self, event_type: str, payload: dict[str, Any], context: dict[str, Any]) -> None:
        """A bus subscriber: wake up for changes that may touch an external network.

        Tenant networks and their subnets come and go all the time and cannot
        change what the host carries, so they cost no reconcile; anything
        this cannot place (a payload without a network id) still wakes it.
        Every deleted network wakes it too: its bridge goes.
        """
        if event_type == "network.delete.end":
            self._deleted.append(str(payload.get("network_id", "")))
            self._wake.set()
        elif event_type.startswith("network."):
            network = payload.get("network")
            if not isinstance(network, dict) or self._may_be_external(network):
                self._wake.set()
        elif event_type.startswith("subnet."):
            subnet = payload.get("subnet")
            network_id = subnet.get("network_id") if isinstance(subnet, dict) else None
            if not network_id or network_id in self._external_ids:
                self._wake.set()

    def _may_be_external(self, network: dict[str, Any]) -> bool:
        """External now or before; remembered at once, so its subnets' events wake us too."""
        network_id = str(network.get("id", ""))
        if network.get("router:external"):
            self._external_ids.add(network_id)
            return True
        return not network_id or network_id in self._external_ids

    def reconcile(self) -> None:
        gateways = external_gateways(self._connection)
        wanted = {network_id: cidrs for network_id, cidrs in gateways.items() if cidrs}
        plugged = host_ports.plugged(self._state, host_ports.EXTERNAL)
        self._external_ids |= gateways.keys() | plugged.keys()
        for network_id in plugged.keys() - wanted.keys():
            host_ports.unplug(self._state, network_id, self._driver)
        devices: dict[str, list[str]] = {}
        for network_id, cidrs in wanted.items():
            device = plug_host_external_port(network_id, cidrs, driver=self._driver)
            if network_id not in plugged:
                bridge = bridge_name_for_network(network_id)
                host_ports.remember(self._state, network_id, host_ports.EXTERNAL, device, bridge)
                LOG.info("host joined external network %s as %s", network_id, ", ".join(cidrs))
            devices[device] = [
                str(ipaddress.ip_interface(c).network) for c in cidrs if ":" not in c
            ]
        self._on_change(devices)

    def _run(self) -> None:
        while True:
            self._wake.wait()
            if self._stopping.is_set():
                return
            self._wake.clear()
            deleted, self._deleted = self._deleted, []
            try:
                self.reconcile()
                for network_id in deleted:
                    self._on_network_deleted(network_id)
            except Exception:
                LOG.exception("external ports: could not converge; trying at the next change")
