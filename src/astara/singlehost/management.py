"""The management network of single-host mode, made in the local API once.

In a cloud the operator creates the management network in Neutron (the
install guide's step); in single-host mode it lives in the local API
(``astara-mgt``, one IPv6 SLAAC subnet on ``management_prefix``). It is made
at the first start and found again by name and prefix afterwards, so its id,
and with it the bridge every appliance is plugged into, stays the same. The
host joins it as in a cloud (:mod:`astara.orchestrator.management_port`).
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass

from openstack.connection import Connection

LOG = logging.getLogger(__name__)

MANAGEMENT_NETWORK_NAME = "astara-mgt"
MANAGEMENT_SUBNET_NAME = "astara-mgt-slaac"


@dataclass(frozen=True, slots=True)
class ManagementNetwork:
    network_id: str
    subnet_id: str

    def as_options(self) -> dict[str, str]:
        """The ``[DEFAULT]`` options that name it."""
        return {"management_network_id": self.network_id, "management_subnet_id": self.subnet_id}


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
