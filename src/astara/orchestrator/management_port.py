"""The orchestrator's own port on the management network, in both ways of running.

Appliance APIs listen only on the management network, so the orchestrator
needs an address there, and appliances send their instances' metadata
requests back to it. The host joins the network through a port named
``ASTARA:RUG:SERVICE`` (the original's name for the orchestrator's own port),
found again at every start so its EUI-64 address survives restarts, and
plugged by the configured interface driver (``[DEFAULT] interface_driver``).

The host carries two addresses there: the port's EUI-64 address, which the
network model records, and the prefix's first address, which the router
driver tells every appliance to send metadata requests to (it is the
subnet's gateway address, so no port is ever given it).

With the netns provisioner the appliances and this host share one machine
and no L2 agent makes the network's bridge, so it is made here when missing;
with Nova the cloud's L2 agent owns the bridge (or the OVS integration bridge).
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass

from oslo_config import cfg

from astara.common.linux.interface import (
    BridgeInterfaceDriver,
    InterfaceDriver,
    InterfaceDriverError,
    InterfaceOptions,
    bridge_name_for_network,
    load_interface_driver,
)
from astara.common.management_address import orchestrator_address
from astara.drivers.router import APPLIANCE_PORT_OWNER
from astara.network.base import AddressRequest, NetworkModel
from astara.provisioners.netns_host_ports import plug_host_management_port

LOG = logging.getLogger(__name__)

HOST_PORT_NAME = "ASTARA:RUG:SERVICE"


@dataclass(frozen=True, slots=True)
class HostManagementPort:
    device: str
    bridge: str
    #: Where the appliances reach the orchestrator (its metadata proxy listens there).
    orchestrator_address: str
    eui64_address: str


def configured_interface_driver(conf: cfg.ConfigOpts) -> InterfaceDriver:
    """The driver ``[DEFAULT] interface_driver`` names, with its OVS options."""
    return load_interface_driver(
        conf.interface_driver,
        InterfaceOptions(
            ovs_integration_bridge=conf.ovs_integration_bridge, ovs_use_veth=conf.ovs_use_veth
        ),
    )


def plug_management_port(
    conf: cfg.ConfigOpts, network: NetworkModel, driver: InterfaceDriver
) -> HostManagementPort:
    """Put this host on ``[DEFAULT] management_network_id``; return where it is.

    The port is created in the network model when missing (``device_id`` is
    ``[DEFAULT] host``, so each orchestrator of a cluster has its own).
    Raises RuntimeError when the port has no address in ``management_prefix``
    and InterfaceDriverError when it cannot be plugged.
    """
    network_id, subnet_id = conf.management_network_id, conf.management_subnet_id
    if not network_id or not subnet_id:
        raise RuntimeError("management_network_id and management_subnet_id must be set")
    found = network.list_ports(name=HOST_PORT_NAME, network_id=network_id, device_id=conf.host)
    port = next(iter(found), None)
    if port is None:
        port = network.create_port(
            network_id,
            HOST_PORT_NAME,
            device_owner=APPLIANCE_PORT_OWNER,
            device_id=conf.host,
            fixed_ips=[AddressRequest(subnet_id=subnet_id)],
            disable_port_security=True,
        )
        LOG.info("created the management port %s of host %s", port.id, conf.host)
    prefix = ipaddress.ip_network(conf.management_prefix)
    eui64 = next((ip for ip in port.addresses if ip in prefix), None)
    if eui64 is None:
        raise RuntimeError(f"management port {port.id} has no address in {prefix}")
    orchestrator = orchestrator_address(conf)
    cidrs = [f"{eui64}/{prefix.prefixlen}", f"{orchestrator}/{prefix.prefixlen}"]
    if conf.provisioner == "netns":
        if not isinstance(driver, BridgeInterfaceDriver):
            raise InterfaceDriverError(
                "provisioner = netns plugs appliances into Linux bridges: set interface_driver = "
                "astara.common.linux.interface.BridgeInterfaceDriver"
            )
        device = plug_host_management_port(network_id, cidrs, driver=driver, port_id=port.id)
    else:
        device = driver.device_name_for_port(port.id)
        driver.plug(network_id, port.id, device, port.mac_address)
        driver.init_l3(device, cidrs)
    LOG.info("this host is %s and %s on the management network (%s)", eui64, orchestrator, device)
    return HostManagementPort(device, bridge_name_for_network(network_id), orchestrator, str(eui64))
