"""Single-host mode's network model: the local API on this host (``network_model = local``)."""

from __future__ import annotations

from oslo_config import cfg

from astara.localapi.server import DEFAULT_HOST, DEFAULT_PORT
from astara.network.neutron_api import NeutronNetworkModel
from astara.network.session import local_connection

#: Where single-host mode's API listens (see :mod:`astara.localapi.server`).
LOCAL_API_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"


def from_config(conf: cfg.ConfigOpts) -> NeutronNetworkModel:
    """The network model served by the local API (no authentication: loopback only)."""
    return NeutronNetworkModel(
        local_connection(LOCAL_API_URL),
        port_security_extension=conf.neutron_port_security_extension_enabled,
    )
