"""The management network: made in the local API once, and the host's own port on it.

Appliance APIs listen only on the management network, so the orchestrator
needs an address there. In single-host mode the network lives in the local API
(``astara-mgt``, one IPv6 SLAAC subnet on ``management_prefix``); it is made
at the first start and found again by name and prefix afterwards, so its id,
and with it the bridge every appliance is plugged into, stays the same.

The host joins it through a port named ``ASTARA:RUG:SERVICE`` (the original's
name for the orchestrator's own port) plugged by the Linux bridge interface
driver. The host carries two addresses there: the port's EUI-64 address,
which the network model records, and the prefix's first address, which the
router driver tells every appliance to send metadata requests to (it is the
subnet's gateway address, so no port is ever given it).
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass

from openstack.connection import Connection
from oslo_config import cfg

from astara.common.linux.interface import BridgeInterfaceDriver, bridge_name_for_network
from astara.drivers.router import APPLIANCE_PORT_OWNER, RouterDriverSettings
from astara.network.base import AddressRequest, NetworkModel
from astara.provisioners.netns_host_ports import plug_host_management_port

LOG = logging.getLogger(__name__)

MANAGEMENT_NETWORK_NAME = "astara-mgt"
MANAGEMENT_SUBNET_NAME = "astara-mgt-slaac"
HOST_PORT_NAME = "ASTARA:RUG:SERVICE"


@dataclass(frozen=True, slots=True)
class ManagementNetwork:
    network_id: str
    subnet_id: str

    def as_options(self) -> dict[str, str]:
        """The ``[DEFAULT]`` options that name it."""
        return {"management_network_id": self.network_id, "management_subnet_id": self.subnet_id}


@dataclass(frozen=True, slots=True)
class HostManagementPort:
    device: str
    bridge: str
    #: Where the appliances reach the orchestrator (its metadata proxy listens there).
    orchestrator_address: str
    eui64_address: str


def ensure_management_network(connection: Connection, prefix: str) -> ManagementNetwork:
    """The management network and its subnet on ``prefix``, created if missing."""
    wanted = ipaddress.ip_network(prefix)
    network = next(iter(connection.network.networks(name=MANAGEMENT_NETWORK_NAME)), None)
    if network is None:
        network = connection.network.create_network(name=MANAGEMENT_NETWORK_NAME)
        LOG.info("created management network %s", network.id)
    subnet = next(
        (
            s
            for s in connection.network.subnets(network_id=network.id)
            if ipaddress.ip_network(s.cidr) == wanted
        ),
        None,
    )
    if subnet is None:
        subnet = connection.network.create_subnet(
            network_id=network.id,
            name=MANAGEMENT_SUBNET_NAME,
            ip_version=6,
            cidr=str(wanted),
            ipv6_ra_mode="slaac",
            ipv6_address_mode="slaac",
        )
        LOG.info("created management subnet %s on %s", subnet.id, wanted)
    return ManagementNetwork(network.id, subnet.id)


def plug_host(
    conf: cfg.ConfigOpts, network: NetworkModel, driver: BridgeInterfaceDriver
) -> HostManagementPort:
    """Put the host on the management bridge (``[DEFAULT] management_network_id``).

    The port is reused when it exists, so its EUI-64 address survives restarts.
    """
    network_id, subnet_id = conf.management_network_id, conf.management_subnet_id
    port = next(iter(network.list_ports(name=HOST_PORT_NAME, network_id=network_id)), None)
    if port is None:
        port = network.create_port(
            network_id,
            HOST_PORT_NAME,
            device_owner=APPLIANCE_PORT_OWNER,
            device_id=conf.host,
            fixed_ips=[AddressRequest(subnet_id=subnet_id)],
            disable_port_security=True,
        )
    prefix = ipaddress.ip_network(conf.management_prefix)
    eui64 = next((ip for ip in port.addresses if ip in prefix), None)
    if eui64 is None:
        raise RuntimeError(f"host port {port.id} has no address in {prefix}")
    orchestrator = RouterDriverSettings.from_config(conf).orchestrator.address
    cidrs = [f"{eui64}/{prefix.prefixlen}", f"{orchestrator}/{prefix.prefixlen}"]
    device = plug_host_management_port(network_id, cidrs[0], driver=driver, port_id=port.id)
    driver.init_l3(device, cidrs)
    return HostManagementPort(device, bridge_name_for_network(network_id), orchestrator, str(eui64))
