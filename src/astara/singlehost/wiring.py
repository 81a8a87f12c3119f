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

from astara.drivers.router import RouterDriverSettings
from astara.network.neutron_api import NeutronNetworkModel
from astara.network.session import local_connection
from astara.orchestrator.event import Resource
from astara.orchestrator.machine import Machine, MachineFactory
from astara.orchestrator.state_machine import StateMachine
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

    def machine_factory(self) -> MachineFactory:
        """TEMPORARY shim: ConfiguredWiring does not give the instance managers the
        orchestrator's endpoint yet, so every config pushed would carry an empty
        ``orchestrator`` block (which appliances refuse). Remove once it does."""
        build = super().machine_factory()
        endpoint = RouterDriverSettings.from_config(self.conf).orchestrator
        orchestrator = {"address": endpoint.address, "metadata_port": endpoint.metadata_port,
                        "host": endpoint.host}  # fmt: skip

        def build_with_endpoint(resource: Resource) -> Machine:
            machine = build(resource)
            manager = machine.instances if isinstance(machine, StateMachine) else None
            if manager is not None and not manager._orchestrator_config:
                manager._orchestrator_config = orchestrator
            return machine

        return build_with_endpoint
