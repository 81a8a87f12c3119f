"""Kernel settings every router appliance needs, whatever its configuration."""

from __future__ import annotations

import logging

from astara.appliance.netns import Namespace
from astara.appliance.services.base import Target

LOG = logging.getLogger(__name__)

ROUTER_SYSCTLS = {
    "net.ipv4.ip_forward": "1",
    "net.ipv6.conf.all.forwarding": "1",
    # Without this, removing the router's primary address on a subnet would
    # silently remove every floating IP (secondary) of that subnet too.
    "net.ipv4.conf.all.promote_secondaries": "1",
    "net.ipv4.conf.default.promote_secondaries": "1",
}


class KernelService:
    """Turns forwarding on; writes only the settings that differ."""

    name = "kernel"

    def __init__(self, ns: Namespace) -> None:
        self._ns = ns

    def apply(self, current: Target, target: Target) -> None:
        out = self._ns.run(["sysctl", "-n", *ROUTER_SYSCTLS])
        values = dict(zip(ROUTER_SYSCTLS, out.split(), strict=True))
        wrong = [f"{k}={v}" for k, v in ROUTER_SYSCTLS.items() if values[k] != v]
        if wrong:
            self._ns.run(["sysctl", "-q", "-w", *wrong])
            LOG.info("%s: set %s", self._ns, " ".join(wrong))

    def rollback(self, attempted: Target, previous: Target) -> None:
        """Nothing to undo: the settings do not depend on the configuration."""
