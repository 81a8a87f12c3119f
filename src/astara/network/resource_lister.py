"""Populate's view of the routers: every router in the network model, as a Resource."""

from __future__ import annotations

from astara.drivers.router_events import DRIVER as ROUTER_DRIVER
from astara.network.base import NetworkModel
from astara.orchestrator.event import Resource
from astara.orchestrator.populate import ResourceLister


class RouterLister(ResourceLister):
    """Lists the routers, so populate can take charge of each one at start."""

    driver = ROUTER_DRIVER

    def __init__(self, network: NetworkModel) -> None:
        self._network = network

    def list_resources(self) -> list[Resource]:
        return [
            Resource(self.driver, router.id, router.tenant_id)
            for router in self._network.list_routers()
        ]
