"""Cloud mode's network model: the cloud's Neutron (``network_model = neutron``)."""

from __future__ import annotations

from oslo_config import cfg

from astara.network.neutron_api import NeutronNetworkModel
from astara.network.session import keystone_connection


def from_config(conf: cfg.ConfigOpts) -> NeutronNetworkModel:
    """The network model served by Neutron, authenticated as ``[keystone_authtoken]`` says."""
    return NeutronNetworkModel(
        keystone_connection(conf),
        port_security_extension=conf.neutron_port_security_extension_enabled,
    )
