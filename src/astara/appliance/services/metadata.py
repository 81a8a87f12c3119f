"""The metadata service: the appliance-side metadata proxy, kept equal to the configuration.

The proxy runs inside the agent process (see ``metadata_proxy``), so there is
no daemon to restart: an apply opens the listeners of new tenant networks,
closes those of removed ones and points every listener at the orchestrator
named in the configuration.  Listeners that stay are not touched, so an
instance's request in flight survives an unrelated configuration change.
"""

from __future__ import annotations

from astara.appliance.metadata_proxy import MetadataProxy, plan_for
from astara.appliance.netns import Namespace
from astara.appliance.services.base import Target


class MetadataService:
    name = "metadata"

    def __init__(self, ns: Namespace) -> None:
        self.proxy = MetadataProxy(ns.name)

    def apply(self, current: Target, target: Target) -> None:
        self.proxy.update(plan_for(target.config))

    def rollback(self, attempted: Target, previous: Target) -> None:
        self.apply(attempted, previous)
