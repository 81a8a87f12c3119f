"""The orchestrator's wiring in single-host mode: the configured parts, with the API's port.

:mod:`astara.network.local` always dials ``127.0.0.1:9696``; single-host
mode lets ``[singlehost] api_port`` move the API (tests and benchmarks run
beside a user's installation), so its network model dials that port instead.
Worker processes rebuild the wiring from the command line, so this class is
named there with ``--wiring`` (see :data:`SINGLE_HOST_WIRING`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from oslo_config import cfg

from astara.network.neutron_api import NeutronNetworkModel
from astara.network.session import local_connection
from astara.orchestrator.wiring import ConfiguredWiring
from astara.singlehost.options import api_url

SINGLE_HOST_WIRING = "astara.singlehost.wiring:SingleHostWiring"


def network_model(conf: cfg.ConfigOpts) -> NeutronNetworkModel:
    """The network model served by this host's local API, wherever it listens."""
    return NeutronNetworkModel(
        local_connection(api_url(conf)),
        port_security_extension=conf.neutron_port_security_extension_enabled,
    )


class SingleHostWiring(ConfiguredWiring):
    """:class:`ConfiguredWiring` with the network model at ``[singlehost] api_port``."""

    def _network_model_builder(self) -> Callable[[cfg.ConfigOpts], Any]:
        return network_model
