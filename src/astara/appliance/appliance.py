"""One appliance: its namespace, its state directory and its manager.

All per-appliance state lives in this object, so a single agent process can
serve several appliances (one per namespace) when memory matters more than
isolation, as in single-host mode.
"""

from __future__ import annotations

import logging
from pathlib import Path

from astara.appliance.firewall.policy import AgentAccess
from astara.appliance.links import UnknownInterfaceError
from astara.appliance.manager import ApplyError, Manager
from astara.appliance.model import EMPTY_CONFIG
from astara.appliance.netns import Namespace
from astara.appliance.services.registry import router_services
from astara.appliance.state import ConfigStore

LOG = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
SERVICES = frozenset({"router"})
"""The advanced services a router appliance runs (PUT config ``services`` keys)."""


class Appliance:
    def __init__(self, namespace: str | None, state_dir: Path, access: AgentAccess) -> None:
        self.ns = Namespace(namespace)
        self.state_dir = state_dir
        self.services = SERVICES
        self.store = ConfigStore(state_dir / CONFIG_FILE)
        self.manager = Manager(self.ns, router_services(self.ns, state_dir, access), self.store)

    def start(self) -> None:
        """Restore the last good configuration, or close the appliance down to the agent API."""
        self.state_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        saved = self.store.load()
        if saved is not None:
            try:
                self.manager.apply(saved)
                LOG.info("%s: restored the saved configuration", self.ns)
                return
            except (ApplyError, UnknownInterfaceError) as exc:
                LOG.error("%s: cannot restore the saved configuration: %s", self.ns, exc)
        self.manager.apply(EMPTY_CONFIG, save=False)
